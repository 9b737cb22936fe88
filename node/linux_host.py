"""This Linux machine's CPU, memory and disk usage and its interface addresses, read with
the standard library: ``/proc/stat``, ``/proc/meminfo``, ``statvfs`` and a netlink
address dump.

These are the psutil calls the agent makes, from the same sources with the same
arithmetic as psutil on Linux, so a member need not import psutil (~1.3 MiB of RSS and
~10 ms of CPU at every start). ``node.resources`` and ``node.platform_info`` use them when
``readable()`` and fall back to psutil elsewhere (or when a read fails).
"""

from __future__ import annotations

import functools
import os
import socket
import struct
import sys
from typing import NamedTuple

__all__ = ["CpuPercent", "IfAddr", "cpu_idle_and_total", "disk_percent", "memory_percent",
           "net_if_addrs", "parse_addr_dump", "readable"]

_CPU_FIELDS = 10
"""``/proc/stat``'s ``cpu`` columns psutil reads: user nice system idle iowait irq softirq
steal guest guest_nice (older kernels have fewer)."""
_IDLE, _IOWAIT, _GUEST = 3, 4, 8


@functools.cache
def readable() -> bool:
    """Whether this is Linux with the files the functions here read (``MemAvailable``
    appeared in Linux 3.14)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        _cpu_ticks()
        _meminfo_kib("MemAvailable")
    except (OSError, ValueError, LookupError):
        return False
    return True


def _cpu_ticks() -> list[float]:
    with open("/proc/stat", "rb") as f:
        fields = f.readline().split()
    if not fields or fields[0] != b"cpu":
        raise ValueError("/proc/stat: no cpu line")
    return [float(v) for v in fields[1:_CPU_FIELDS + 1]]


def cpu_idle_and_total() -> tuple[float, float]:
    """Host CPU seconds since boot, (idle + iowait, all columns): what
    ``psutil.cpu_times()`` gives as ``idle + iowait`` and ``sum(...)``."""
    ticks = _cpu_ticks()
    per_s = os.sysconf("SC_CLK_TCK")
    idle = ticks[_IDLE] + (ticks[_IOWAIT] if len(ticks) > _IOWAIT else 0.0)
    return idle / per_s, sum(ticks) / per_s


class CpuPercent:
    """``psutil.cpu_percent(interval=None)``: host CPU busy % since the previous call (the
    constructor takes the first reading, as psutil's first call does).

    Busy is everything but idle and iowait; guest time is already counted in user and
    nice, so it is left out of the total; a column that went backwards counts as 0.
    """

    def __init__(self) -> None:
        self._last = _cpu_ticks()

    def __call__(self) -> float:
        now = _cpu_ticks()
        deltas = [max(0.0, b - a) for a, b in zip(self._last, now, strict=False)]
        self._last = now
        total = sum(deltas) - sum(deltas[_GUEST:])
        idle = sum(deltas[_IDLE:_IOWAIT + 1])
        if total <= 0:
            return 0.0
        return round((total - idle) / total * 100, 1)


def _meminfo_kib(*names: str) -> list[int]:
    found: dict[bytes, int] = {}
    with open("/proc/meminfo", "rb") as f:
        for line in f:
            key, _, rest = line.partition(b":")
            found[key] = int(rest.split()[0])
    return [found[name.encode()] for name in names]  # KeyError (a LookupError) if missing


def memory_percent() -> float:
    """``psutil.virtual_memory().percent``: (MemTotal - MemAvailable) / MemTotal."""
    total, available = _meminfo_kib("MemTotal", "MemAvailable")
    return round((total - available) / total * 100, 1) if total else 0.0


def disk_percent(path: str) -> float:
    """``psutil.disk_usage(path).percent``: used / (used + available to users)."""
    st = os.statvfs(path)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    total_user = used + st.f_bavail * st.f_frsize
    return round(used / total_user * 100, 1) if total_user else 0.0


class IfAddr(NamedTuple):
    """One address of an interface, shaped as psutil's ``snicaddr`` where it is read."""

    family: int
    address: str


# Netlink constants (linux/netlink.h, linux/rtnetlink.h, linux/if_addr.h).
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_RTM_NEWADDR, _RTM_GETADDR = 20, 22
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_IFA_ADDRESS, _IFA_LOCAL, _IFA_LABEL = 1, 2, 3
_NLMSG_HDR = struct.Struct("=IHHII")   # length, type, flags, sequence, port id
_IFADDRMSG = struct.Struct("=BBBBI")   # family, prefix length, flags, scope, interface index
_RTATTR = struct.Struct("=HH")          # length, type
_DUMP_TIMEOUT_S = 2.0
"""Longest wait for the kernel's answer (it answers at once; the bound only guards a hang)."""
_MAX_DUMP_BYTES = 4 * 1024 * 1024
"""Largest dump read (thousands of addresses fit); more is cut off, never unbounded."""


def _align(n: int) -> int:
    return (n + 3) & ~3


def parse_addr_dump(data: bytes, index_name: dict[int, str]) -> tuple[dict[str, list[IfAddr]], bool]:
    """Netlink ``RTM_NEWADDR`` messages → interface name → its addresses, and whether the
    dump's end (``NLMSG_DONE``) was in ``data``.

    As glibc's ``getifaddrs`` (which psutil reads): the address is ``IFA_LOCAL`` when
    present (on a point-to-point link ``IFA_ADDRESS`` is the peer), else ``IFA_ADDRESS``;
    an IPv4 address is listed under its label (``eth0:1``), any other under its
    interface's name (``index_name``); an IPv6 link-local address carries its scope
    (``fe80::1%eth0``). Truncated or malformed parts are skipped.

    Raises:
        OSError: the kernel answered with an error instead of the dump.
    """
    out: dict[str, list[IfAddr]] = {}
    at = 0
    while at + _NLMSG_HDR.size <= len(data):
        length, kind, _, _, _ = _NLMSG_HDR.unpack_from(data, at)
        if length < _NLMSG_HDR.size or at + length > len(data):
            break
        if kind == _NLMSG_ERROR and length >= _NLMSG_HDR.size + 4:
            (code,) = struct.unpack_from("=i", data, at + _NLMSG_HDR.size)
            if code:  # the kernel refused the dump: the caller falls back to psutil
                raise OSError(-code, f"netlink address dump: {os.strerror(-code)}")
        if kind in (_NLMSG_DONE, _NLMSG_ERROR):
            return out, True
        body, end = at + _NLMSG_HDR.size, at + length
        at += _align(length)
        if kind != _RTM_NEWADDR or body + _IFADDRMSG.size > end:
            continue
        family, _, _, _, index = _IFADDRMSG.unpack_from(data, body)
        attrs: dict[int, bytes] = {}
        pos = body + _IFADDRMSG.size
        while pos + _RTATTR.size <= end:
            alen, atype = _RTATTR.unpack_from(data, pos)
            if alen < _RTATTR.size or pos + alen > end:
                break
            attrs.setdefault(atype, data[pos + _RTATTR.size:pos + alen])
            pos += _align(alen)
        raw = attrs.get(_IFA_LOCAL) or attrs.get(_IFA_ADDRESS)
        if family not in (socket.AF_INET, socket.AF_INET6) or raw is None:
            continue
        try:
            address = socket.inet_ntop(family, raw)
        except ValueError:
            continue
        label = attrs.get(_IFA_LABEL, b"").split(b"\0")[0].decode(errors="replace")
        name = (label if family == socket.AF_INET and label else None) or index_name.get(index)
        if not name:
            continue
        if family == socket.AF_INET6 and raw[0] == 0xFE and raw[1] & 0xC0 == 0x80:
            address += f"%{name}"  # link-local: scoped to its interface, as getnameinfo says
        out.setdefault(name, []).append(IfAddr(family, address))
    return out, False


def net_if_addrs() -> dict[str, list[IfAddr]]:
    """This machine's IPv4 and IPv6 addresses by interface (``psutil.net_if_addrs()``
    without its link-layer entries), from the kernel's address dump.

    Raises:
        OSError: netlink cannot be used here (the caller falls back to psutil).
    """
    index_name = dict(socket.if_nameindex())
    request = (_NLMSG_HDR.pack(_NLMSG_HDR.size + _IFADDRMSG.size, _RTM_GETADDR,
                               _NLM_F_REQUEST | _NLM_F_DUMP, 1, 0)
               + _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0))
    out: dict[str, list[IfAddr]] = {}
    received = 0
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as sock:
        sock.settimeout(_DUMP_TIMEOUT_S)
        sock.sendto(request, (0, 0))
        while received < _MAX_DUMP_BYTES:
            chunk = sock.recv(65536)  # one datagram: whole messages
            received += len(chunk)
            found, done = parse_addr_dump(chunk, index_name)
            for name, addresses in found.items():
                out.setdefault(name, []).extend(addresses)
            if done or not chunk:
                break
    return out
