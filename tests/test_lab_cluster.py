"""Real ``claw-node`` agents on the multi-host lab: one agent per host, each with its own
hostname, address and data dir.

Every agent starts as a new user would (no flags but ``--join`` and ``--data-dir``; the
API on the host's loopback). ``test_forwarded_writes_*`` is the full life of a cluster:
convergence, writes through non-coordinators (carried to the coordinator over the
gossip port), fail-over, rejoin with a lasting identity, graceful leave, SIGTERM.

Timing figures are printed (run with ``-s``), never asserted: the machine may be slow.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

import pytest

from simulations.realproc.netns import NetnsLab
from tests.lab import CLAW_NODE, lab_eventually, nodes_of, online_everywhere

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

def answers(lab: NetnsLab, i: int) -> bool:
    return lab.request(i, "GET", "/health").status == 200


def coordinator_of(lab: NetnsLab, i: int) -> tuple[str | None, int]:
    health = lab.request(i, "GET", "/health").body
    c = (health or {}).get("coordinator") or {} if isinstance(health, dict) else {}
    return c.get("node_id"), c.get("term", 0)


def agreed_coordinator(lab: NetnsLab, hosts: list[int]) -> tuple[str, int] | None:
    """(coordinator, term) when every host in ``hosts`` names the same one, else None."""
    views = {coordinator_of(lab, i) for i in hosts}
    if len(views) != 1:
        return None
    (name, term), = views
    return (name, term) if name is not None and term > 0 else None


def post(lab: NetnsLab, i: int, path: str, body: dict[str, Any]) -> Any:
    answer = lab.request(i, "POST", path, body, timeout_s=30)
    assert answer.status in (200, 201), (i, path, answer)
    return answer.body


def claw(lab: NetnsLab, i: int, *args: str) -> subprocess.CompletedProcess[str]:
    """``claw-node *args`` on host ``i``, with no ``CLAW_*`` settings of ours."""
    return lab.run(i, CLAW_NODE + list(args), env=lab.agent_env())


def start(lab: NetnsLab, *flags: str) -> None:
    """Host 0 first (the seed, so the longest running), then the others joining it."""
    t0 = time.monotonic()
    lab.start_agent(0, *flags)
    lab_eventually(lambda: answers(lab, 0), what="host0 serves its API")
    for host in lab.hosts[1:]:
        lab.start_agent(host.index, "--join", lab.gossip_address(0), *flags)
    lab_eventually(lambda: all(answers(lab, h.index) for h in lab.hosts),
                   what="every agent serves its API")
    print(f"\n{len(lab.hosts)} agents answer their API {time.monotonic() - t0:.1f} s after "
          "the first start")


def test_default_flags_three_hosts_converge_fail_and_return(make_lab):
    lab = make_lab(3)
    every = [0, 1, 2]
    names = {h.hostname for h in lab.hosts}
    start(lab)
    took = lab_eventually(lambda: online_everywhere(lab, every, names),
                          what="3 hosts list all three online")
    print(f"converged {took:.1f} s after every API answered")

    # A host's node id is its hostname, and it advertises its own address.
    for host in lab.hosts:
        assert lab.request(host.index, "GET", "/health").body["node_id"] == host.hostname
        assert lab.run(host.index, ["hostname"]).stdout.strip() == host.hostname
    view = nodes_of(lab, 1)
    for host in lab.hosts:
        assert view[host.hostname]["ip_address"] == host.ip
        assert view[host.hostname]["hostname"] == host.hostname
    lab_eventually(lambda: agreed_coordinator(lab, every), what="one coordinator everywhere")
    assert agreed_coordinator(lab, every)[0] == "host0"  # the longest-running node

    # The operator CLI inside a host, with its defaults (the host's own API).
    listing = claw(lab, 2, "members")
    assert listing.returncode == 0, listing.stderr
    for name in names:
        assert name in listing.stdout
    assert "host0 *" in listing.stdout and listing.stdout.count("online") == 3
    print(listing.stdout)

    # kill -9 one host's agent: the others see it offline; restarted, it comes back.
    lab.kill_agent(2)
    took = lab_eventually(lambda: all(
        nodes_of(lab, i).get("host2", {}).get("status") == "offline" for i in (0, 1)),
        what="host0 and host1 see host2 offline")
    print(f"host2 offline everywhere {took:.1f} s after kill -9")
    lab.start_agent(2, "--join", lab.gossip_address(0))
    took = lab_eventually(lambda: online_everywhere(lab, every, names),
                          what="restarted host2 online everywhere")
    print(f"restarted host2 online everywhere after {took:.1f} s")
    assert agreed_coordinator(lab, every)[0] == "host0"
    for i in every:
        assert lab.stop_agent(i) == 0, lab.log_tail(i)


def test_forwarded_writes_failover_rejoin_leave(make_lab):
    lab = make_lab(4)
    every = [0, 1, 2, 3]
    names = {h.hostname for h in lab.hosts}
    t0 = time.monotonic()
    start(lab)

    # 1. Convergence: every node sees every node online, with its resources.
    def converged() -> bool:
        for i in every:
            view = nodes_of(lab, i)
            if set(view) != names:
                return False
            for node in view.values():
                if node["status"] != "online" or node["last_heartbeat"] is None:
                    return False
                if node["memory_usage"] <= 0 or node["disk_usage"] <= 0:
                    return False
        return True

    took = lab_eventually(converged, what="4 nodes converge with resources")
    print(f"converged with resources: {took:.1f} s ({time.monotonic() - t0:.1f} s after "
          "the first start)")
    lab_eventually(lambda: agreed_coordinator(lab, every),
                   what="every node names the same coordinator")
    first, first_term = agreed_coordinator(lab, every)
    assert first == "host0"  # the longest-running eligible node
    listing = claw(lab, 2, "members")
    assert listing.returncode == 0, listing.stderr
    assert "host0 *" in listing.stdout and "online" in listing.stdout

    # An HTTP-registered worker, registered through a non-coordinator (forwarded), is
    # replicated to every node through gossip.
    worker = post(lab, 1, "/api/v1/nodes/register", {
        "hostname": "worker-1", "platform": "linux", "arch": "x64",
        "available_skills": ["python"]})["node_id"]
    lab_eventually(lambda: all(worker in nodes_of(lab, i) for i in every),
                   what="the HTTP-registered worker is known everywhere")

    # A task report for a gossip member (forwarded to the coordinator, relayed to the
    # member) makes it busy everywhere.
    post(lab, 2, "/api/v1/nodes/host1/heartbeat", {"running_tasks": 5})
    lab_eventually(lambda: all(
        nodes_of(lab, i).get("host1", {}).get("status") == "busy" for i in every),
        what="host1 busy everywhere")
    post(lab, 2, "/api/v1/nodes/host1/heartbeat", {"running_tasks": 0})
    lab_eventually(lambda: all(
        nodes_of(lab, i).get("host1", {}).get("status") == "online" for i in every),
        what="host1 online again everywhere")

    # 2. kill -9 the coordinator: the survivors agree on a new one with a higher term.
    lab.kill_agent(0)
    killed_at = time.monotonic()
    survivors = [1, 2, 3]

    def failed_over() -> bool:
        agreed = agreed_coordinator(lab, survivors)
        return agreed is not None and agreed[0] != "host0" and agreed[1] > first_term

    took = lab_eventually(failed_over, what="survivors agree on a new coordinator")
    new_coordinator, new_term = agreed_coordinator(lab, survivors)
    print(f"fail-over after kill -9 of {first}: {took:.1f} s -> {new_coordinator} "
          f"(term {new_term})")
    lab_eventually(lambda: all(
        nodes_of(lab, i).get("host0", {}).get("status") == "offline" for i in survivors),
        what="survivors see host0 offline")
    # The new coordinator has the registry: a heartbeat for the worker succeeds.
    beat = post(lab, 3, f"/api/v1/nodes/{worker}/heartbeat", {"cpu_usage": 12.5})
    assert beat["node"]["cpu_usage"] == 12.5

    # 3. Restart host0 with the same data dir and no --join: it rejoins from its
    # remembered peers under the same id, is online everywhere, and does not take the
    # role back.
    lab.start_agent(0)
    took = lab_eventually(lambda: all(
        nodes_of(lab, i).get("host0", {}).get("status") == "online" for i in every),
        what="restarted host0 online everywhere")
    print(f"restarted host0 back online everywhere: {took:.1f} s "
          f"({time.monotonic() - killed_at:.1f} s after the kill)")
    assert lab.request(0, "GET", "/health").body["node_id"] == "host0"
    lab_eventually(lambda: agreed_coordinator(lab, every) == (new_coordinator, new_term), hold=3.0,
                   what="every node, host0 too, keeps naming the new coordinator for 3 s")

    # Maintenance through the CLI on host3 (forwarded, relayed to host3): everywhere.
    result = claw(lab, 3, "maintenance", "on")
    assert result.returncode == 0, result.stderr
    lab_eventually(lambda: all(
        nodes_of(lab, i).get("host3", {}).get("status") == "maintenance" for i in every),
        what="host3 in maintenance everywhere")
    info = claw(lab, 0, "info")
    assert info.returncode == 0 and f"{new_coordinator} (term {new_term})" in info.stdout, info

    # 4. `claw-node leave` on host3: offline everywhere, as left (not failed), exit 0.
    result = claw(lab, 3, "leave")
    assert result.returncode == 0, result.stderr
    assert lab.agent(3).wait(timeout=30) == 0
    rest = [0, 1, 2]
    lab_eventually(lambda: all(
        nodes_of(lab, i).get("host3", {}).get("status") == "offline"
        and nodes_of(lab, i).get("host3", {}).get("gossip_state") == "left" for i in rest),
        what="host3 offline (left) everywhere")
    gossip_online = {name for name, node in nodes_of(lab, 1).items()
                     if node["source"] == "gossip" and node["status"] == "online"}
    assert gossip_online == {"host0", "host1", "host2"}

    # 5. SIGTERM: graceful leave, exit 0.
    assert lab.stop_agent(2) == 0, lab.log_tail(2)
    lab_eventually(lambda: nodes_of(lab, 1).get("host2", {}).get("gossip_state") == "left",
                   what="host2 left after SIGTERM")
    for i in (0, 1):
        assert lab.stop_agent(i) == 0, lab.log_tail(i)
