"""A short real chaos run: 4 claw-node processes on loopback, kill -9, SIGSTOP, loss, heal.

The invariants are checked by ``simulations.chaos.invariants.check`` (its own unit tests
show that a broken invariant fails it); here the real cluster must keep all of them.
The loss phase needs root (iptables on our loopback ports) and is skipped otherwise.
Longer runs are documented commands (``python -m simulations.chaos --help``).
"""

from __future__ import annotations

import os

import pytest

from simulations.chaos.run import ChaosSettings, run_chaos
from simulations.realproc.netns import fabric_unavailable, lab_prefix
from simulations.realproc.agents import ClawKind

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def test_short_real_chaos_run_keeps_every_invariant(tmp_path):
    reason = ClawKind().available()
    assert reason is None, reason  # the agent is part of this project: it must run
    settings = ChaosSettings(
        nodes=4, profile="lan", pauses=1, pause_s=3.0, kill=True,
        loss=0.1 if fabric_unavailable() is None else 0.0, loss_window_s=10.0,
        partition_s=0.0, seed=7, log_dir=str(tmp_path), verbose=False)
    result = run_chaos(settings)
    logs = "\n".join(f"--- {p.name}\n" + p.read_text()[-2000:] for p in tmp_path.glob("*.log"))
    assert result.violations == [], "\n".join(result.steps) + "\n" + logs
    rec = result.record
    assert rec is not None
    # The faults really happened: one node killed and restarted, the coordinator killed.
    assert rec.coordinator_killed and len(rec.dead) == 1 and len(rec.live) == 3
    assert len(rec.registered) == 2
    assert result.figures["kill_detect_s"] is not None
    if settings.loss:
        assert rec.loss_reports, "no node list was sampled under loss"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for iptables")
def test_no_rules_or_namespaces_left_behind():
    import subprocess
    ours = f"{lab_prefix()}{os.getpid()}x"
    chains = subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True).stdout
    assert ours not in chains
    spaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert ours not in spaces
