"""``node.linux_host``: the psutil figures the agent needs, read from Linux's own files.

The parser is checked on hand-built netlink messages; on Linux, every function is also
checked against psutil itself on this machine, and in a network namespace holding the
kinds of addresses a laptop on a LAN and a tailnet has.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from node import linux_host
from node.linux_host import CpuPercent, IfAddr, parse_addr_dump
from simulations.realproc.netns import lab_prefix
from tests.lab import require_fabric

on_linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

RTM_NEWADDR, NLMSG_DONE = 20, 3
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL = 1, 2, 3


def _attr(kind: int, data: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(data), kind) + data
    return raw + b"\0" * (-len(raw) % 4)


def _addr_msg(family: int, index: int, *attrs: bytes, kind: int = RTM_NEWADDR) -> bytes:
    body = struct.pack("=BBBBI", family, 24, 0, 0, index) + b"".join(attrs)
    return struct.pack("=IHHII", 16 + len(body), kind, 2, 1, 0) + body


def _done() -> bytes:
    return struct.pack("=IHHII", 20, NLMSG_DONE, 2, 1, 0) + b"\0" * 4


V4, V6 = socket.AF_INET, socket.AF_INET6


def _ip(family: int, text: str) -> bytes:
    return socket.inet_pton(family, text)


def test_addresses_by_label_local_first_and_scoped_link_local() -> None:
    dump = (_addr_msg(V4, 2, _attr(IFA_ADDRESS, _ip(V4, "192.0.2.5")),
                      _attr(IFA_LOCAL, _ip(V4, "192.0.2.5")), _attr(IFA_LABEL, b"eth0\0"))
            + _addr_msg(V4, 2, _attr(IFA_LOCAL, _ip(V4, "192.0.2.6")),
                        _attr(IFA_LABEL, b"eth0:1\0"))
            # point-to-point: IFA_ADDRESS is the peer, IFA_LOCAL this end
            + _addr_msg(V4, 3, _attr(IFA_ADDRESS, _ip(V4, "10.0.0.1")),
                        _attr(IFA_LOCAL, _ip(V4, "100.101.102.103")),
                        _attr(IFA_LABEL, b"tailscale0\0"))
            + _addr_msg(V6, 2, _attr(IFA_ADDRESS, _ip(V6, "fe80::1")))
            + _addr_msg(V6, 3, _attr(IFA_ADDRESS, _ip(V6, "fd7a:115c:a1e0::1")))
            + _addr_msg(V6, 9, _attr(IFA_ADDRESS, _ip(V6, "2001:db8::1")))  # unknown index
            + _done())
    found, done = parse_addr_dump(dump, {2: "eth0", 3: "tailscale0"})
    assert done
    assert found == {
        "eth0": [IfAddr(V4, "192.0.2.5"), IfAddr(V6, "fe80::1%eth0")],
        "eth0:1": [IfAddr(V4, "192.0.2.6")],
        "tailscale0": [IfAddr(V4, "100.101.102.103"), IfAddr(V6, "fd7a:115c:a1e0::1")],
    }


def test_garbage_and_truncated_messages_are_skipped() -> None:
    good = _addr_msg(V4, 1, _attr(IFA_LOCAL, _ip(V4, "127.0.0.1")))
    odd_size = _addr_msg(V4, 1, _attr(IFA_LOCAL, b"\x01\x02\x03"))    # not 4 bytes
    bad_attr = _addr_msg(V4, 1, struct.pack("=HH", 200, IFA_LOCAL) + b"\0" * 4)
    for dump in (odd_size + good, bad_attr + good):
        assert parse_addr_dump(dump, {1: "lo"}) == ({"lo": [IfAddr(V4, "127.0.0.1")]}, False)
    assert parse_addr_dump(good[:-3], {1: "lo"}) == ({}, False)
    assert parse_addr_dump(b"\xff" * 7, {}) == ({}, False)
    assert parse_addr_dump(struct.pack("=IHHII", 3, RTM_NEWADDR, 0, 0, 0), {}) == ({}, False)


def test_a_refused_dump_raises_for_the_psutil_fallback() -> None:
    refused = struct.pack("=IHHII", 20, 2, 0, 1, 0) + struct.pack("=i", -1)  # NLMSG_ERROR, EPERM
    with pytest.raises(OSError) as caught:
        parse_addr_dump(refused, {})
    assert caught.value.errno == 1
    ack = struct.pack("=IHHII", 20, 2, 0, 1, 0) + struct.pack("=i", 0)
    assert parse_addr_dump(ack, {}) == ({}, True)


def test_cpu_percent_leaves_out_guest_time_and_clamps_backward_columns(
        monkeypatch: pytest.MonkeyPatch) -> None:
    readings = iter([
        [100, 0, 100, 800, 0, 0, 0, 0, 0, 0],
        # +50 user (of which 20 guest), +30 system, +100 idle, +20 iowait; nice went back
        [150, -5, 130, 900, 20, 0, 0, 0, 20, 0],
        [150, -5, 130, 900, 20, 0, 0, 0, 20, 0],   # no time passed
    ])
    monkeypatch.setattr(linux_host, "_cpu_ticks", lambda: [float(v) for v in next(readings)])
    meter = CpuPercent()
    assert meter() == round(80 / 200 * 100, 1)   # total 220 - 20 guest; busy 200 - 120 idle
    assert meter() == 0.0


@on_linux
def test_the_same_figures_as_psutil_on_this_machine(tmp_path: object) -> None:
    psutil = pytest.importorskip("psutil")
    assert linux_host.readable()
    theirs = {name: [(a.family, a.address) for a in addrs if a.family in (V4, V6)]
              for name, addrs in psutil.net_if_addrs().items()}
    ours = {name: [(a.family, a.address) for a in addrs]
            for name, addrs in linux_host.net_if_addrs().items()}
    assert ours == {name: addrs for name, addrs in theirs.items() if addrs}
    assert abs(linux_host.disk_percent(str(tmp_path)) - psutil.disk_usage(str(tmp_path)).percent) <= 0.5
    assert abs(linux_host.memory_percent() - psutil.virtual_memory().percent) <= 2.0
    idle0, total0 = linux_host.cpu_idle_and_total()
    t = psutil.cpu_times()
    idle1, total1 = linux_host.cpu_idle_and_total()
    assert idle0 - 1e-6 <= t.idle + t.iowait <= idle1 + 1e-6
    assert total0 - 1e-6 <= sum(t) <= total1 + 1e-6


_COMPARE_IN_NAMESPACE = """
import json, socket, psutil
from node import linux_host, platform_info
fams = (socket.AF_INET, socket.AF_INET6)
theirs = {n: sorted([a.family, a.address] for a in v if a.family in fams)
          for n, v in psutil.net_if_addrs().items()}
ours = {n: sorted([a.family, a.address] for a in v) for n, v in linux_host.net_if_addrs().items()}
print(json.dumps({"theirs": {n: v for n, v in theirs.items() if v}, "ours": ours,
                  "default": platform_info.default_route_ip(),
                  "tailnet": platform_info.tailscale_ip()}))
"""


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_same_addresses_as_psutil_on_a_host_with_secondary_p2p_and_tun_interfaces() -> None:
    """A namespace set up like a laptop on a LAN and a tailnet: a labelled secondary
    address, a second subnet on one interface, a point-to-point link (its peer must not
    be taken for ours), global IPv6, and a ``tailscale0`` tun device."""
    pytest.importorskip("psutil")
    require_fabric()
    netns = f"{lab_prefix()}{os.getpid()}ifa"
    setup = [
        "link set lo up",
        "link add va type veth peer name vb", "link set va up", "link set vb up",
        "addr add 10.77.0.1/24 dev va", "addr add 10.77.0.2/24 dev va label va:1",
        "addr add 10.88.0.5/24 dev va", "addr add 10.99.0.1 peer 10.99.0.2 dev vb",
        "-6 addr add fd00::5/64 dev va nodad",
        "tuntap add mode tun tailscale0", "link set tailscale0 up",
        "addr add 100.101.102.103/32 dev tailscale0",
        "-6 addr add fd7a:115c:a1e0::1/128 dev tailscale0 nodad",
        "route add default via 10.77.0.254 dev va",
    ]
    subprocess.run(["ip", "netns", "add", netns], check=True, timeout=30)
    try:
        for command in setup:
            subprocess.run(["ip", "-n", netns, *command.split()], check=True, timeout=30,
                           capture_output=True)
        repo = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [repo, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        out = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c",
                              _COMPARE_IN_NAMESPACE], check=True, timeout=60,
                             capture_output=True, text=True, env=env).stdout
    finally:
        subprocess.run(["ip", "netns", "del", netns], timeout=30)
    found = json.loads(out)
    assert found["ours"] == found["theirs"]
    assert [V4, "10.99.0.1"] in found["ours"]["vb"]  # the local end, not the peer
    assert found["ours"]["va:1"] == [[V4, "10.77.0.2"]]
    assert found["default"] == "10.77.0.1"
    assert found["tailnet"] == "100.101.102.103"
