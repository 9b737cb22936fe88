"""The multi-host lab for tests: a ``make_lab`` fixture and its pace of polling.

``make_lab(n)`` builds a ``simulations.realproc.netns.NetnsLab`` of ``n`` hosts whose
directories live under the test's ``tmp_path``; every lab is closed after the test
(agents killed, namespaces deleted), also when the test fails, and the tail of each
agent's log is printed (pytest shows it for failed tests). Without root or the tools
the lab needs, tests skip with the reason, except in CI (``CI=true``), where they fail:
CI must run them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from simulations.realproc.netns import CLAW_NODE, NetnsLab, fabric_unavailable

__all__ = ["CLAW_NODE", "lab_eventually", "make_lab", "nodes_of", "online_everywhere",
           "require_fabric"]

POLL_INTERVAL_S = 0.5
"""Pause between two checks of ``lab_eventually`` (seconds)."""
WAIT_S = 90.0
"""Default bound of one ``lab_eventually``: generous, a loaded 2-core CI box is slow."""


def require_fabric() -> None:
    """Skip the test when no lab can be built here; fail instead in CI."""
    reason = fabric_unavailable()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"multi-host lab prerequisite missing in CI: {reason}")
    pytest.skip(f"multi-host lab unavailable: {reason}")


@pytest.fixture
def make_lab(tmp_path: Path) -> Iterator[Callable[..., NetnsLab]]:
    """Factory: ``make_lab(n, hostnames=None) -> NetnsLab``, closed after the test."""
    require_fabric()
    labs: list[NetnsLab] = []

    def make(n: int, **kwargs: Any) -> NetnsLab:
        lab = NetnsLab(n, workdir=tmp_path / f"lab{len(labs)}", **kwargs)
        labs.append(lab)
        return lab

    try:
        yield make
    finally:
        for lab in labs:
            for host in lab.hosts:
                tail = lab.log_tail(host.index)
                if tail:
                    print(f"--- {host.hostname} agent log (tail) ---\n{tail}")
            lab.close()


def lab_eventually(check: Callable[[], Any], timeout: float = WAIT_S, *, what: str,
                   hold: float = 0.0) -> float:
    """``tests.conftest.eventually`` at the lab's pace: a check every ``POLL_INTERVAL_S``
    (each one asks every host over HTTP) for up to ``WAIT_S`` by default."""
    from tests.conftest import eventually  # conftest imports this module for make_lab

    return eventually(check, timeout, POLL_INTERVAL_S, what=what, hold=hold)


def nodes_of(lab: NetnsLab, i: int) -> dict[str, dict[str, Any]]:
    """Host ``i``'s ``GET /api/v1/nodes`` by node id ({} when it does not answer)."""
    answer = lab.request(i, "GET", "/api/v1/nodes")
    if answer.status != 200 or not isinstance(answer.body, dict):
        return {}
    return {n["node_id"]: n for n in answer.body.get("nodes") or []}


def online_everywhere(lab: NetnsLab, observers: list[int], subjects: set[str]) -> bool:
    """Every observer lists every subject, each online."""
    for i in observers:
        view = nodes_of(lab, i)
        if not all(view.get(s, {}).get("status") == "online" for s in subjects):
            return False
    return True
