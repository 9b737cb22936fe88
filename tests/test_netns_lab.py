"""The multi-host lab itself: hosts, hostnames, HTTP inside a host, loss, partitions,
counters and cleanup (plain sockets and small commands, no agents: quick)."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from simulations.realproc.netns import LoopbackFirewall, NetnsLab, lab_prefix
from tests.lab import lab_eventually, require_fabric

pytestmark = [pytest.mark.timeout(120)]

SEND = """
import socket, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((src, 0))
for _ in range(n):
    s.sendto(b"x" * 100, (dst, 9))   # discard port: nobody listens; iptables counts
"""


def send(lab: NetnsLab, a: int, b: int, n: int) -> None:
    done = lab.run(a, [sys.executable, "-c", SEND, lab.hosts[a].ip, lab.hosts[b].ip, str(n)],
                   timeout_s=30)
    assert done.returncode == 0, done.stderr


def arrived(lab: NetnsLab, i: int) -> int:
    return lab.received_counters()[i][0]


def netns_list() -> list[str]:
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in listing.splitlines() if line.split()]


@pytest.mark.slow
def test_lab_counts_drops_partitions_and_cleans_up(make_lab):
    lab = make_lab(3)
    names = lab.namespaces()
    send(lab, 0, 1, 200)
    assert lab.sent_counters()[0][0] >= 200
    assert arrived(lab, 1) >= 200

    lab.set_loss(0.5, which=[2])
    send(lab, 0, 2, 1000)
    got = arrived(lab, 2)
    assert 300 < got < 700  # binomial(1000, 0.5): far outside this is a broken rule

    lab.heal()
    lab.partition([[0], [1, 2]])
    before1, before2 = arrived(lab, 1), arrived(lab, 2)
    send(lab, 0, 1, 50)
    send(lab, 2, 1, 50)
    # Only 2 -> 1 got through. (Receivers answer port 9 with rate-limited ICMP
    # port-unreachable, hence the slack above the exact count.)
    assert before1 + 50 <= arrived(lab, 1) < before1 + 60
    send(lab, 1, 2, 50)
    assert before2 + 50 <= arrived(lab, 2) < before2 + 70
    mid1 = arrived(lab, 1)

    lab.heal()
    send(lab, 0, 1, 50)
    assert mid1 + 50 <= arrived(lab, 1) < mid1 + 70
    lab.close()
    assert not set(names) & set(netns_list())


@pytest.mark.slow
def test_each_host_has_its_hostname_address_and_default_route(make_lab):
    lab = make_lab(2, hostnames=["alpha", "beta"])
    for host in lab.hosts:
        assert lab.run(host.index, ["hostname"]).stdout.strip() == host.hostname
        route = lab.run(host.index, [sys.executable, "-c",
                                     "from node.platform_info import default_route_ip as d; "
                                     "print(d())"])
        assert route.stdout.strip() == host.ip, route.stderr
    assert socket.gethostname() not in ("alpha", "beta")  # ours is untouched
    assert len({h.ip for h in lab.hosts}) == 2
    assert lab.data_dir(0) != lab.data_dir(1)


@pytest.mark.slow
def test_request_reaches_the_hosts_own_loopback_only(make_lab, tmp_path):
    lab = make_lab(2)
    (tmp_path / "x.json").write_text('{"on": "host1"}')
    lab.popen(1, [sys.executable, "-m", "http.server", "8888", "--bind", "127.0.0.1",
                  "--directory", str(tmp_path)])
    lab_eventually(lambda: lab.request(1, "GET", "/x.json").status == 200,
                   what="a server on host1's loopback")
    assert lab.request(1, "GET", "/x.json").body == {"on": "host1"}
    assert lab.request(0, "GET", "/x.json").status == 0  # host0's loopback: nobody there


@pytest.mark.slow
def test_close_after_a_failure_ends_its_processes_and_namespaces():
    require_fabric()
    with pytest.raises(RuntimeError, match="test failed here"), NetnsLab(2) as lab:
        names = lab.namespaces()
        sleeper = lab.popen(0, ["sleep", "300"])
        workdir = lab.workdir
        raise RuntimeError("test failed here")
    assert sleeper.poll() is not None
    assert not set(names) & set(netns_list())
    assert not workdir.exists()


@pytest.mark.slow
def test_a_new_lab_removes_leftovers_of_a_killed_run():
    require_fabric()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"{lab_prefix()}{dead.pid}x1-0"
    subprocess.run(["ip", "netns", "add", stale], check=True, timeout=20)
    orphan = subprocess.Popen(["ip", "netns", "exec", stale, "sleep", "300"])
    try:
        lab_eventually(lambda: str(orphan.pid) in subprocess.run(
            ["ip", "netns", "pids", stale], capture_output=True, text=True).stdout.split(), timeout=20,
            what="the orphan runs in the stale namespace")
        with NetnsLab(1):
            assert stale not in netns_list()
        assert orphan.wait(timeout=20) == -9
    finally:
        if orphan.poll() is None:
            orphan.kill()
        subprocess.run(["ip", "netns", "del", stale], capture_output=True, timeout=20)


@pytest.mark.slow
def test_loopback_firewall_counts_per_port_and_removes_its_chains():
    require_fabric()
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.bind(("127.0.0.1", 0))
    port = tx.getsockname()[1]
    with LoopbackFirewall([port]) as fw:
        chain = fw._out
        for _ in range(30):
            tx.sendto(b"y" * 50, rx.getsockname())
        pkts, nbytes = fw.sent_counters()[port]["udp"]
        assert pkts == 30 and nbytes == 30 * (50 + 28)
    rx.close()
    tx.close()
    rules = subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True).stdout
    assert chain not in rules


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception),
                                              ("", pytest.skip.Exception)])
def test_missing_prerequisites_skip_except_in_ci(monkeypatch, ci, outcome):
    monkeypatch.setattr("tests.lab.fabric_unavailable", lambda: "unshare not installed")
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="unshare not installed"):
        require_fabric()
