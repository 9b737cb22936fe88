"""A small, name-keyed face of ``SimWorld`` for unit tests and micro-benchmarks.

The world (``world.SimWorld``) is the one discrete-event driver; this module only
gives it the API short tests want: nodes added by name with their own config, address,
keyring or app state, every node's events kept in a list, faults by name, and ``run``
with a stop condition::

    c = Cluster(GossipConfig.local(), seed=1)
    for i in range(5):
        c.add_node(f"n{i}")
    c.join_all()                      # every node joins n0
    c.run(10.0)                       # advance virtual time by 10 s
    assert c.converged()
    c.crash("n3"); c.run(30.0)
    assert c.all_see("n3", MemberState.DEAD)

Links have a fixed one-way latency (``latency_s``, no jitter) and optional random
``loss``; ``drop_hook(src, dst, data)`` (names; True drops one datagram),
``partition(a, b)``, ``block(src, dst)`` (one way) and ``heal()`` cut them. A crashed
node's core is dropped (``core(name)`` still returns it, to inspect): datagrams to it
vanish and TCP to it is refused. ``add_node`` with an existing name starts its next
life. Calls made directly on a core are routed at the next ``run`` (or ``flush``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable

from gossip.config import GossipConfig
from gossip.events import Event
from gossip.keyring import Keyring
from gossip.protocol import SwimProtocol
from gossip.tags import CLAW_TAG, encode_tags
from gossip.types import Address, MemberState

from .clock import SimClock
from .network import NetworkOptions
from .world import SimNode, SimWorld, WorldOptions

__all__ = ["Cluster", "claw_meta"]

CHECK_EVERY_S = 0.01
"""Default virtual time (seconds) between two checks of ``run``'s stop condition."""


def claw_meta(**extra: str) -> bytes:
    """Serf-tag meta of a claw node (``claw=1`` plus ``extra``)."""
    return encode_tags({CLAW_TAG: "1", **extra})


class Cluster:
    """N cores in a ``SimWorld``, known by name. Time only moves inside ``run``/``run_until``.

    Args:
        config: the gossip configuration of nodes added without their own.
        seed: the one seed of every random draw (cores, loss).
        latency_s: one-way delay of every link (seconds).
        loss: probability that a datagram is lost (TCP is not subject to it).
        start: virtual time at the start (seconds).
        keep_events: keep every node's events for ``events``/``events_of``; False for
            long runs that watch them through ``world.observers`` instead.
    """

    def __init__(self, config: GossipConfig | None = None, *, seed: int = 0,
                 latency_s: float = 0.001, loss: float = 0.0, start: float = 0.0,
                 keep_events: bool = True) -> None:
        self.config = config or GossipConfig.local()
        self.seed = seed
        network = NetworkOptions(one_way_delay_min_s=latency_s, one_way_delay_mean_s=0.0,
                                 loss_probability=loss)
        self.world = SimWorld(self.config, seed, network, WorldOptions(trace_packets=False))
        self.world.clock = SimClock(start)
        if keep_events:
            self.world.observers.append(self._record)
        self.rng = self.world.rng
        """For tests: random choices of their own, apart from the cores' and the links'."""
        self._cores: dict[str, SwimProtocol] = {}
        self._events: dict[str, list[Event]] = {}
        self._drop_hook: Callable[[str, str, bytes], bool] | None = None

    @property
    def now(self) -> float:
        return self.world.now

    @property
    def nodes(self) -> dict[str, SimNode]:
        """Every node ever added, by name (``.address``; ``.core`` is None once crashed)."""
        return {node.name: node for node in self.world.nodes}

    # --- topology ------------------------------------------------------------------

    def add_node(self, name: str, *, address: Address | None = None, meta: bytes | None = None,
                 incarnation: int = 1, config: GossipConfig | None = None,
                 app_state: Callable[[], bytes] | None = None,
                 keyring: Keyring | None = None, label: str | None = None) -> SwimProtocol:
        """Start the core called ``name`` (or its next life, if the cluster knows it).

        ``keyring``: its gossip keys (None: plaintext). ``label``: the name this cluster
        knows the node by (default ``name``); a second core with an existing member name
        (a clone) needs its own label.
        """
        key = label or name
        address = self.world.new_address() if address is None else address
        core = SwimProtocol(
            config or self.config, name=name, address=address,
            meta=claw_meta() if meta is None else meta,
            rng=random.Random(self.rng.getrandbits(64)), now=self.now,
            incarnation=incarnation, app_state=app_state, strict=True, keyring=keyring,
        )
        self._cores[key] = core
        self._events[key] = []
        self.world.start_core(key, address, core)
        return core

    def core(self, name: str) -> SwimProtocol:
        """The node's latest core (a crashed node's too)."""
        return self._cores[name]

    def events(self, name: str) -> list[Event]:
        """Every event the node's latest core emitted, oldest first."""
        return self._events[name]

    def events_of(self, name: str, kind: type) -> list:
        return [e for e in self._events[name] if isinstance(e, kind)]

    def live(self) -> list[str]:
        """Names of the running nodes, in the order they were added."""
        return [node.name for node in self.world.nodes if node.core is not None]

    def join(self, name: str, seeds: Iterable[str]) -> None:
        self.core(name).join([self.world.node(s).address for s in seeds], self.now)

    def join_all(self, seed: str | None = None) -> None:
        """Every node except ``seed`` (default: the first) joins ``seed``."""
        names = [node.name for node in self.world.nodes]
        seed = seed or names[0]
        for n in names:
            if n != seed:
                self.join(n, [seed])

    def crash(self, name: str) -> None:
        """Stop a node without leaving: its core no longer sends, receives or runs timers."""
        self.world.crash(name)

    def partition(self, a: Iterable[str], b: Iterable[str]) -> None:
        """Drop all traffic between every member of ``a`` and every member of ``b``."""
        b = list(b)
        for x in a:
            for y in b:
                self.block(x, y)
                self.block(y, x)

    def block(self, src: str, dst: str) -> None:
        """Drop datagrams from ``src`` to ``dst`` only (TCP between them fails too)."""
        self.world.network.block(self.world.node(src).address, self.world.node(dst).address)

    def heal(self) -> None:
        """Remove every partition and block."""
        self.world.network.heal()

    @property
    def drop_hook(self) -> Callable[[str, str, bytes], bool] | None:
        """``hook(src, dst, data)`` by node name; True drops that one datagram."""
        return self._drop_hook

    @drop_hook.setter
    def drop_hook(self, hook: Callable[[str, str, bytes], bool] | None) -> None:
        self._drop_hook = hook
        self.world.network.drop_hook = None if hook is None else self._drop_by_name

    def _drop_by_name(self, src: Address, dst: Address, data: bytes) -> bool:
        assert self._drop_hook is not None
        names = {node.address: node.name for node in self.world.nodes}
        if src not in names or dst not in names:
            return False  # a forged or unowned address: nobody receives it anyway
        return self._drop_hook(names[src], names[dst], data)

    # --- views -----------------------------------------------------------------------

    def state_of(self, observer: str, target: str) -> MemberState | None:
        return self.core(observer).member_state(target)

    def all_see(self, target: str, state: MemberState, observers: Iterable[str] | None = None) -> bool:
        obs = [o for o in (observers or self.live()) if o != target]
        return all(self.state_of(o, target) == state for o in obs)

    def converged(self, names: Iterable[str] | None = None) -> bool:
        """Every listed live node sees every other listed node alive."""
        names = list(names or self.live())
        return all(self.state_of(o, t) == MemberState.ALIVE
                   for o in names for t in names if o != t)

    def internal_errors(self) -> dict[str, int]:
        return {n: core.stats["internal_errors"] for n, core in self._cores.items()
                if core.stats["internal_errors"]}

    # --- time ---------------------------------------------------------------------------

    def run(self, duration: float, *, until: Callable[[], bool] | None = None,
            check_every_s: float = CHECK_EVERY_S) -> float:
        return self.run_until(self.now + duration, until=until, check_every_s=check_every_s)

    def run_until(self, t_end: float, *, until: Callable[[], bool] | None = None,
                  check_every_s: float = CHECK_EVERY_S) -> float:
        """Advance virtual time to ``t_end`` (or until ``until()`` holds); return now.

        ``until`` is evaluated once per ``check_every_s`` of virtual time, so the
        returned time may overshoot the exact moment by that much.
        """
        for name in self.live():  # tests may have called cores directly since the last run
            self.world.flush(name)
        if until is None:
            self.world.run_until(t_end)
            return self.now
        while not until() and self.now < t_end:
            self.world.run_until(min(t_end, self.now + check_every_s))
        return self.now

    def inject(self, dst: str, data: bytes, src_addr: Address = ("192.0.2.1", 9999)) -> None:
        """Deliver raw bytes to ``dst`` now, as if from ``src_addr`` (hostile-input tests)."""
        self.core(dst).receive_datagram(data, src_addr, self.now)
        self.world.flush(dst)

    def flush(self, name: str) -> None:
        """Route what ``name``'s core produced after a direct call, without running time."""
        self.world.flush(name)

    def _record(self, now: float, node: SimNode, event: Event) -> None:
        self._events[node.name].append(event)
