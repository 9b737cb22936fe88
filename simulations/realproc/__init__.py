"""Real processes on one machine, shared by ``simulations.chaos`` and ``simulations.versus_serf``
(and the multi-host tests): ``agents`` starts and watches claw-node and Serf agents,
``monitor`` turns their log lines into membership observations, ``netns`` builds the
namespaces and iptables rules that stand for several machines, ``browser`` drives headless
chromium."""
