"""Facts about this machine: normalised platform and architecture, addresses.

Everything takes its inputs as arguments with the real machine as the default, so tests
(and users, through ``--advertise``) can override each fact.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import linux_host

__all__ = [
    "default_route_interface",
    "default_route_ip",
    "hostname",
    "interface_ipv4",
    "normalise_arch",
    "normalise_platform",
    "tailscale_ip",
]

_TAILSCALE_V4 = ipaddress.ip_network("100.64.0.0/10")
"""Tailscale's IPv4 range; carrier-grade NAT uses it too, so it is only a hint."""
_TAILSCALE_V6 = ipaddress.ip_network("fd7a:115c:a1e0::/48")
"""Tailscale's IPv6 ULA range."""
_TEST_NET = "192.0.2.1"
"""RFC 5737 TEST-NET-1: a connected UDP socket to it picks the default-route source
address without sending a packet."""


def normalise_platform(sys_platform: str | None = None) -> str:
    """``sys.platform`` → macos | windows | linux (other values are passed through)."""
    value = sys.platform if sys_platform is None else sys_platform
    if value == "darwin":
        return "macos"
    if value in ("win32", "cygwin", "msys"):
        return "windows"
    if value.startswith("linux"):
        return "linux"
    return value


_ARCHES = {
    "x86_64": "x64", "amd64": "x64", "x64": "x64",
    "aarch64": "arm64", "arm64": "arm64", "armv8l": "arm64",
    "i386": "x86", "i486": "x86", "i586": "x86", "i686": "x86", "x86": "x86",
    "armv6l": "arm", "armv7l": "arm", "armv7": "arm", "arm": "arm",
}


def normalise_arch(machine: str | None = None) -> str:
    """``platform.machine()`` → x64 | arm64 | x86 | arm (other values lower-cased)."""
    value = (_machine() if machine is None else machine).lower()
    return _ARCHES.get(value, value)


def _machine() -> str:
    if hasattr(os, "uname"):  # POSIX: what platform.machine() returns, without importing it
        return os.uname().machine
    import platform  # Windows: from the environment and the registry

    return platform.machine()


def hostname() -> str:
    """This machine's short host name."""
    return socket.gethostname().split(".")[0] or "localhost"


def default_route_interface(route_table: str | None = None) -> str | None:
    """Name of the interface carrying the IPv4 default route, from Linux ``/proc/net/route``.

    Args:
        route_table: the file's text (tests); None reads the real file.
    Returns:
        the interface name, or None when there is no such file or no default route.
    """
    if route_table is None:
        try:
            route_table = Path("/proc/net/route").read_text()
        except OSError:
            return None
    best: tuple[int, str] | None = None
    for line in route_table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        iface, destination, flags, metric, mask = fields[0], fields[1], fields[3], fields[6], fields[7]
        try:
            up = int(flags, 16) & 0x1
            is_default = int(destination, 16) == 0 and int(mask, 16) == 0
            rank = int(metric)
        except ValueError:
            continue
        if up and is_default and (best is None or rank < best[0]):
            best = (rank, iface)
    return best[1] if best else None


def interface_ipv4(interfaces: Mapping[str, Sequence[object]], name: str) -> str | None:
    """First IPv4 address of interface ``name`` in a ``psutil.net_if_addrs()``-shaped map."""
    for addr in interfaces.get(name, ()):
        if getattr(addr, "family", None) == socket.AF_INET:
            return str(getattr(addr, "address", ""))
    return None


def _net_if_addrs() -> Mapping[str, Sequence[object]]:
    if linux_host.readable():
        try:
            return linux_host.net_if_addrs()
        except OSError:  # netlink refused (a sandbox): psutil reads it its own way
            pass
    import psutil

    return psutil.net_if_addrs()


def _udp_connect_source() -> str | None:
    # connect() on a UDP socket only selects a route and source address; nothing is sent.
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect((_TEST_NET, 9))
            address = str(sock.getsockname()[0])
    except OSError:
        return None
    return None if address.startswith("0.") else address


def default_route_ip(
    route_table: str | None = None,
    interfaces: Mapping[str, Sequence[object]] | None = None,
) -> str:
    """The IPv4 address of the default-route interface.

    Linux: the interface from ``/proc/net/route``, its address from the kernel's address
    list (``node.linux_host``). Elsewhere (or
    if that fails): the source address the kernel picks for a UDP socket connected to a
    TEST-NET address (no packet is sent). Last resort: ``127.0.0.1``.
    """
    iface = default_route_interface(route_table)
    if iface is not None:
        found = interface_ipv4(interfaces if interfaces is not None else _net_if_addrs(), iface)
        if found:
            return found
    return _udp_connect_source() or "127.0.0.1"


def tailscale_ip(interfaces: Mapping[str, Sequence[object]] | None = None) -> str | None:
    """This machine's Tailscale IPv4 address, or None.

    Trust order: an interface named ``tailscale*`` (Linux ``tailscale0``, Windows
    ``Tailscale``); then a ``utun*`` interface (macOS; other VPNs use utun too) holding an
    address in 100.64.0.0/10; then any interface with such an address (carrier-grade NAT
    also uses the range, so this is the weakest hint). IPv6 tailnet addresses
    (fd7a:115c:a1e0::/48) count on the same terms when no IPv4 one exists.
    """
    table = interfaces if interfaces is not None else _net_if_addrs()

    def in_tailnet(name: str) -> str | None:
        found_v6 = None
        for addr in table.get(name, ()):
            text = str(getattr(addr, "address", "")).split("%")[0]
            try:
                ip = ipaddress.ip_address(text)
            except ValueError:
                continue
            if ip.version == 4 and ip in _TAILSCALE_V4:
                return text
            if ip.version == 6 and ip in _TAILSCALE_V6:
                found_v6 = found_v6 or text
        return found_v6

    def any_v4(name: str) -> str | None:
        return interface_ipv4(table, name)

    names = sorted(table)
    for name in names:
        if name.lower().startswith("tailscale"):
            found = in_tailnet(name) or any_v4(name)
            if found:
                return found
    for name in names:
        if name.startswith("utun"):
            found = in_tailnet(name)
            if found:
                return found
    for name in names:
        found = in_tailnet(name)
        if found:
            return found
    return None
