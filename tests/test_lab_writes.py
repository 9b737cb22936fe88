"""Writes through any node, on the multi-host lab, every agent with its default flags
(API on the host's loopback): each write reaching a non-coordinator travels to the
coordinator over the cluster request channel (the gossip port), directives travel to
members the same way and are acknowledged, and the coordinator's token policy decides.

Bounds: a written record must be listed on every host within ``LISTED_WITHIN_S``;
the measured times are printed (run with ``-s``), never asserted tighter.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from simulations.realproc.netns import NetnsLab
from tests.lab import lab_eventually, nodes_of

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

LISTED_WITHIN_S = 30.0
"""A write answered by any host is listed on every host within this many seconds."""
WRITE_TIMEOUT_S = 30.0
"""HTTP timeout of one write (the coordinator may retry a directive for ~7 s)."""
LOSS = 0.3
"""Packet loss on the lossy member's link (every protocol, both gossip and TCP)."""


def answers(lab: NetnsLab, i: int) -> bool:
    return lab.request(i, "GET", "/health").status == 200


def coordinator_of(lab: NetnsLab, i: int) -> str | None:
    body = lab.request(i, "GET", "/health").body
    return ((body or {}).get("coordinator") or {}).get("node_id") if isinstance(body, dict) else None


def start_cluster(lab: NetnsLab, *seed_flags: str) -> None:
    """Host 0 (the seed, so the coordinator) with ``seed_flags``; the others with their
    defaults plus ``--join``. Returns once every host names host0 coordinator."""
    lab.start_agent(0, *seed_flags)
    lab_eventually(lambda: answers(lab, 0), what="host0 serves its API")
    for host in lab.hosts[1:]:
        lab.start_agent(host.index, "--join", lab.gossip_address(0))
    every = range(len(lab.hosts))
    lab_eventually(lambda: all(coordinator_of(lab, i) == "host0" for i in every),
                   what="every host names host0 coordinator")


def write(lab: NetnsLab, i: int, path: str, body: dict[str, Any] | None = None,
          token: str | None = None) -> tuple[int, Any, float]:
    """POST through host ``i``: (status, body, seconds it took)."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    t0 = time.monotonic()
    answer = lab.request(i, "POST", path, body if body is not None else {},
                         timeout_s=WRITE_TIMEOUT_S, headers=headers)
    return answer.status, answer.body, time.monotonic() - t0


def listed_everywhere(lab: NetnsLab, what: str, check) -> float:  # type: ignore[no-untyped-def]
    """Poll until ``check(node_view_of_host)`` holds on every host; seconds it took."""
    every = range(len(lab.hosts))
    return lab_eventually(lambda: all(check(nodes_of(lab, i)) for i in every), timeout=LISTED_WITHIN_S,
                          what=what)


def test_every_write_through_every_member_with_default_flags(make_lab):
    lab = make_lab(3)
    start_cluster(lab)
    members = [1, 2]  # not the coordinator
    figures: list[str] = []

    # An HTTP-registered worker per member host: register, heartbeat, maintenance and
    # shutdown, each through that member; each listed on every host.
    for i in members:
        status, body, took = write(lab, i, "/api/v1/nodes/register", {
            "hostname": f"worker-{i}", "platform": "linux", "arch": "x64",
            "available_skills": ["python"]})
        assert status == 200, (i, body)
        worker = body["node_id"]
        listed = listed_everywhere(lab, f"{worker} listed everywhere",
                                   lambda view, w=worker: w in view)
        figures.append(f"host{i} register: answered {took:.2f} s, listed everywhere {listed:.1f} s")

        status, body, took = write(lab, i, f"/api/v1/nodes/{worker}/heartbeat", {"cpu_usage": 42.5})
        assert status == 200 and body["node"]["cpu_usage"] == 42.5, (i, body)
        listed = listed_everywhere(lab, f"{worker} heartbeat everywhere",
                                   lambda view, w=worker: view.get(w, {}).get("cpu_usage") == 42.5)
        figures.append(f"host{i} heartbeat: answered {took:.2f} s, listed everywhere {listed:.1f} s")

        status, body, took = write(lab, i, f"/api/v1/nodes/{worker}/maintenance", {"enabled": True})
        assert status == 200, (i, body)
        listed = listed_everywhere(
            lab, f"{worker} in maintenance everywhere",
            lambda view, w=worker: view.get(w, {}).get("status") == "maintenance")
        figures.append(f"host{i} maintenance: answered {took:.2f} s, listed everywhere {listed:.1f} s")

        status, body, took = write(lab, i, f"/api/v1/nodes/{worker}/shutdown")
        assert status == 200, (i, body)
        listed = listed_everywhere(lab, f"{worker} offline everywhere",
                                   lambda view, w=worker: view.get(w, {}).get("status") == "offline")
        figures.append(f"host{i} shutdown: answered {took:.2f} s, listed everywhere {listed:.1f} s")

    # Directives to gossip members, relayed through the other member: task counters
    # (busy), maintenance; acknowledged by the member before the write is answered.
    status, body, took = write(lab, 1, "/api/v1/nodes/host2/heartbeat", {"running_tasks": 5})
    assert status == 200, body
    listed = listed_everywhere(lab, "host2 busy everywhere",
                               lambda view: view.get("host2", {}).get("status") == "busy")
    figures.append(f"host1 -> tasks directive to host2: answered {took:.2f} s, "
                   f"listed everywhere {listed:.1f} s")
    write(lab, 1, "/api/v1/nodes/host2/heartbeat", {"running_tasks": 0})
    status, body, took = write(lab, 2, "/api/v1/nodes/host1/maintenance", {"enabled": True})
    assert status == 200, body
    listed = listed_everywhere(lab, "host1 in maintenance everywhere",
                               lambda view: view.get("host1", {}).get("status") == "maintenance")
    figures.append(f"host2 -> maintenance directive to host1: answered {took:.2f} s, "
                   f"listed everywhere {listed:.1f} s")

    # A directive to a member whose link drops 30 % of packets: applied (then seen
    # everywhere) or reported failed in the answer, never silently lost.
    lab.set_loss(LOSS, which=[2])
    outcomes = []
    for enabled in (True, False, True):
        status, body, took = write(lab, 1, "/api/v1/nodes/host2/maintenance", {"enabled": enabled})
        outcomes.append(f"{status} in {took:.2f} s")
        if status == 200:  # acknowledged: host2 has applied it
            lab_eventually(lambda e=enabled: (
                nodes_of(lab, 2).get("host2", {}).get("status") == "maintenance") == e, timeout=LISTED_WITHIN_S,
                what=f"host2 applied maintenance={enabled}")
        else:
            assert status == 503, body
            assert "directive to host2 was not acknowledged" in body["error"], body
    lab.set_loss(0.0)
    figures.append(f"maintenance directives to host2 at {LOSS:.0%} loss: {', '.join(outcomes)}")

    # Shutdown of a gossip member through the other member: it leaves, everywhere.
    status, body, took = write(lab, 1, "/api/v1/nodes/host2/shutdown")
    assert status == 200, body
    assert lab.agent(2).wait(timeout=30) == 0
    left = lab_eventually(lambda: all(
        nodes_of(lab, i).get("host2", {}).get("status") == "offline" for i in (0, 1)), timeout=LISTED_WITHIN_S,
        what="host2 offline on host0 and host1")
    figures.append(f"host1 -> shutdown directive to host2: answered {took:.2f} s, "
                   f"offline on the others {left:.1f} s")

    # A member cut off entirely: the directive cannot be delivered, and the answer says so.
    lab.partition([[0], [1]])
    status, body, took = write(lab, 0, "/api/v1/nodes/host1/maintenance", {"enabled": False})
    lab.heal()
    assert status == 503, body
    assert body["error"].startswith(
        "directive: maintenance directive to host1 was not acknowledged after 3 attempts"), body
    figures.append(f"maintenance directive to a cut-off host1: 503 in {took:.2f} s")
    print("\n" + "\n".join(figures))
    for i in (0, 1):
        assert lab.stop_agent(i) == 0, lab.log_tail(i)


def test_the_coordinators_token_decides_for_relayed_writes(make_lab):
    lab = make_lab(2)
    start_cluster(lab, "--api-token", "s3cret")  # host1: no token of its own
    worker = {"hostname": "w", "platform": "linux", "arch": "x64", "available_skills": ["python"]}
    status, body, _ = write(lab, 1, "/api/v1/nodes/register", worker)
    assert status == 401, body  # the coordinator's answer, relayed by a tokenless member
    status, body, _ = write(lab, 1, "/api/v1/nodes/register", worker, token="wrong")
    assert status == 401, body
    status, body, _ = write(lab, 1, "/api/v1/nodes/register", worker, token="s3cret")
    assert status == 200, body
    lab_eventually(lambda: body["node_id"] in nodes_of(lab, 1), timeout=LISTED_WITHIN_S,
                   what="the worker registered with the token is listed on host1")
    # Only that one: the refused attempts registered nothing.
    assert [n["node_id"] for n in nodes_of(lab, 1).values() if n["hostname"] == "w"] == [
        body["node_id"]]
    for i in (0, 1):
        assert lab.stop_agent(i) == 0, lab.log_tail(i)
