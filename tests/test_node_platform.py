"""Platform facts: normalisation, default-route address, Tailscale detection, sampler."""

from __future__ import annotations

import socket
from collections import namedtuple
from pathlib import Path

import pytest

from node.platform_info import (
    default_route_interface,
    default_route_ip,
    normalise_arch,
    normalise_platform,
    tailscale_ip,
)
from node.resources import HostCpuMeter, HostSampler

Addr = namedtuple("Addr", "family address")


@pytest.mark.parametrize("raw, expected", [
    ("darwin", "macos"), ("win32", "windows"), ("linux", "linux"), ("linux2", "linux"),
])
def test_platform(raw: str, expected: str) -> None:
    assert normalise_platform(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("x86_64", "x64"), ("AMD64", "x64"), ("aarch64", "arm64"), ("arm64", "arm64"),
    ("i686", "x86"), ("armv7l", "arm"), ("armv6l", "arm"),
])
def test_arch(raw: str, expected: str) -> None:
    assert normalise_arch(raw) == expected


ROUTES = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth1\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
"""


def test_default_route_interface_prefers_lowest_metric() -> None:
    assert default_route_interface(ROUTES) == "eth0"
    assert default_route_interface(ROUTES.splitlines()[0]) is None


def test_default_route_ip_uses_the_interface_address() -> None:
    ifaces = {"eth0": [Addr(socket.AF_INET, "192.0.2.5")], "wlan0": [Addr(socket.AF_INET, "10.0.0.9")]}
    assert default_route_ip(ROUTES, ifaces) == "192.0.2.5"


def test_default_route_ip_falls_back_without_route_table() -> None:
    ip = default_route_ip("", {})
    socket.inet_aton(ip)  # a valid IPv4 address, whatever this machine has


def test_tailscale_interface_name_is_trusted_first() -> None:
    ifaces = {
        "eth0": [Addr(socket.AF_INET, "100.70.0.1")],          # CGNAT on a normal NIC
        "utun3": [Addr(socket.AF_INET, "100.80.0.1")],
        "tailscale0": [Addr(socket.AF_INET, "100.101.102.103")],
    }
    assert tailscale_ip(ifaces) == "100.101.102.103"
    del ifaces["tailscale0"]
    assert tailscale_ip(ifaces) == "100.80.0.1"
    del ifaces["utun3"]
    assert tailscale_ip(ifaces) == "100.70.0.1"
    assert tailscale_ip({"eth0": [Addr(socket.AF_INET, "192.168.1.2")]}) is None
    assert tailscale_ip({"Tailscale": [Addr(socket.AF_INET6, "fd7a:115c:a1e0::1")]}) == "fd7a:115c:a1e0::1"


def test_psutil_sampler_reports_percentages(tmp_path: Path) -> None:
    sample = HostSampler(tmp_path)()
    for value in (sample.cpu_percent, sample.memory_percent, sample.disk_percent):
        assert 0.0 <= value <= 100.0
    assert sample.disk_percent > 0.0


def test_host_cpu_meter_reports_a_fraction_since_its_previous_call() -> None:
    meter = HostCpuMeter()
    assert meter() is None                    # nothing to compare with yet
    sum(i * i for i in range(300_000))        # let some CPU time pass
    busy = meter()
    assert busy is None or 0.0 <= busy <= 1.0  # None only if the counters did not move



def test_this_machines_arch_is_platform_machine_normalised() -> None:
    import platform

    assert normalise_arch() == normalise_arch(platform.machine())
