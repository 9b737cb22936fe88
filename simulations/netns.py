"""Real network faults for real processes: namespaces, a bridge and iptables.

Two fabrics, one interface (``hosts``, ``set_loss``, ``partition``, ``heal``,
``sent_counters``, ``close``), both root-only and both fully undone by ``close()``
(also registered with ``atexit``):

* ``NetnsLab``: N network namespaces, each with one veth on a Linux bridge that
  lives in its own *hub* namespace, private addresses ``10.77.0.0/16`` that exist
  only inside those namespaces. Traffic never leaves the machine and the host's own
  network namespace is never changed. Loss, partitions and counters are iptables
  rules inside each agent's namespace, so they are exact per agent and touch
  nobody else's rules.
* ``LoopbackFirewall``: agents on 127.0.0.1, each on its own port. Per-agent
  counters and random loss are rules in two chains of the host's filter table that
  only match the ports given; partitions are not offered here (memberlist's TCP
  dials come from ephemeral ports on 127.0.0.1, so a group cannot be told apart).

Everything created carries a per-process prefix (``cl<pid>``) so concurrent runs
never touch each other; ``cleanup_stale()`` removes leftovers of dead runs.

Random loss uses ``-m statistic --mode random --probability P -j DROP`` on the
receiving side (INPUT), so each packet is lost once with probability P
(``tc netem`` is not available on this machine).
"""

from __future__ import annotations

import atexit
import ctypes
import ipaddress
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from typing import Iterable, Sequence

__all__ = [
    "Host", "NetnsLab", "LoopbackFirewall", "FabricError", "fabric_unavailable",
    "cleanup_stale", "enter_netns", "ns_exec_prefix",
]

SUBNET = ipaddress.IPv4Network("10.77.0.0/16")
"""Addresses of the agents' namespaces; only ever configured inside them."""
HUB_ADDRESS = "10.77.255.254"
"""The bridge's own address, inside the hub namespace (for observers that poll)."""
MAX_HOSTS = 4000
"""Upper bound on namespaces per lab (addresses and interface names stay valid)."""
CMD_TIMEOUT_S = 20.0
"""Deadline of one ip/iptables invocation (seconds)."""

_PREFIX_RE = re.compile(r"^cl(\d+)[ha]\d*$")


class FabricError(RuntimeError):
    """An ip/iptables command failed; the message holds the command and its stderr."""


def fabric_unavailable() -> str | None:
    """Why no fabric can be built here (not root, tools missing), or None if it can."""
    if os.geteuid() != 0:
        return "needs root (network namespaces and iptables)"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"{tool} not installed"
    return None


def _run(args: Sequence[str], check: bool = True) -> str:
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=CMD_TIMEOUT_S)
    if check and proc.returncode != 0:
        raise FabricError(f"{' '.join(args)}: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def ns_exec_prefix(netns: str | None) -> list[str]:
    """argv prefix that runs a command inside ``netns`` (empty for the host)."""
    return ["ip", "netns", "exec", netns] if netns else []


_CLONE_NEWNET = 0x40000000


def enter_netns(netns: str) -> None:
    """Move the *calling thread* into ``netns`` (Linux namespaces are per thread).

    For observer threads that must reach agents inside a lab; call it first thing in
    the thread. Python 3.11 has no ``os.setns``, hence libc.
    """
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise FabricError(f"setns({netns}): {os.strerror(err)}")
    finally:
        os.close(fd)


def _parse_counters(listing: str) -> list[tuple[str, int, int]]:
    """``iptables -S CHAIN -v`` → [(rule text without counters, packets, bytes)]."""
    out = []
    for line in listing.splitlines():
        m = re.match(r"^-A \S+ (.*?)\s*-c (\d+) (\d+)(.*)$", line)
        if m:
            text = (m.group(1) + m.group(4)).strip()
            out.append((text, int(m.group(2)), int(m.group(3))))
    return out


def cleanup_stale() -> list[str]:
    """Delete namespaces left by runs of this module whose process is gone."""
    removed = []
    for line in _run(["ip", "netns", "list"], check=False).splitlines():
        name = line.split()[0] if line.split() else ""
        m = _PREFIX_RE.match(name)
        if m and not _pid_alive(int(m.group(1))):
            _run(["ip", "netns", "del", name], check=False)
            removed.append(name)
    listing = _run(["iptables", "-w", "-S"], check=False)
    for chain in set(re.findall(r"^-N (cl(\d+)[oil])$", listing, re.M)):
        name, pid = chain
        if not _pid_alive(int(pid)):
            _drop_host_chain(name)
            removed.append(name)
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _drop_host_chain(chain: str) -> None:
    for parent in ("OUTPUT", "INPUT"):
        while True:
            ok = subprocess.run(["iptables", "-w", "-D", parent, "-j", chain],
                                capture_output=True, timeout=CMD_TIMEOUT_S).returncode == 0
            if not ok:
                ok = subprocess.run(["iptables", "-w", "-D", parent, "-o", "lo", "-j", chain],
                                    capture_output=True, timeout=CMD_TIMEOUT_S).returncode == 0
            if not ok:
                ok = subprocess.run(["iptables", "-w", "-D", parent, "-i", "lo", "-j", chain],
                                    capture_output=True, timeout=CMD_TIMEOUT_S).returncode == 0
            if not ok:
                break
    _run(["iptables", "-w", "-F", chain], check=False)
    _run(["iptables", "-w", "-X", chain], check=False)


@dataclass(frozen=True, slots=True)
class Host:
    """One place an agent runs: its namespace (None on loopback) and address."""

    index: int
    ip: str
    netns: str | None

    def exec_prefix(self) -> list[str]:
        return ns_exec_prefix(self.netns)


class NetnsLab:
    """N namespaces on one bridge; per-agent loss, partitions and sent counters.

    Use as a context manager. ``hosts[i].netns`` is where agent i must run
    (``hosts[i].exec_prefix() + argv``); it binds ``hosts[i].ip``.
    """

    def __init__(self, n: int) -> None:
        if not 1 <= n <= MAX_HOSTS:
            raise ValueError(f"n must be in 1..{MAX_HOSTS}, got {n}")
        reason = fabric_unavailable()
        if reason:
            raise FabricError(reason)
        self.prefix = f"cl{os.getpid()}"
        self.hub = f"{self.prefix}h"
        self.hosts: list[Host] = []
        self._n = n
        self._closed = False
        self._lock = threading.Lock()
        atexit.register(self.close)
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    # -- construction -------------------------------------------------------------

    def _build(self) -> None:
        if self.hub in _run(["ip", "netns", "list"]).split():
            raise FabricError(f"namespace {self.hub} already exists")
        _run(["ip", "netns", "add", self.hub])
        hub = ["ip", "-n", self.hub]
        _run(hub + ["link", "set", "lo", "up"])
        _run(hub + ["link", "add", "br0", "type", "bridge"])
        _run(hub + ["addr", "add", f"{HUB_ADDRESS}/16", "dev", "br0"])
        _run(hub + ["link", "set", "br0", "up"])
        for i in range(self._n):
            ns = f"{self.prefix}a{i}"
            ip = str(SUBNET.network_address + 256 * (i // 250) + (i % 250) + 1)
            veth = f"{self.prefix}v{i}"
            _run(["ip", "netns", "add", ns])
            self.hosts.append(Host(i, ip, ns))
            # Create the pair inside the agent namespace, then push the peer to the hub.
            nsip = ["ip", "-n", ns]
            _run(nsip + ["link", "add", "eth0", "type", "veth", "peer", "name", veth])
            _run(nsip + ["link", "set", veth, "netns", self.hub])
            _run(hub + ["link", "set", veth, "master", "br0"])
            _run(hub + ["link", "set", veth, "up"])
            _run(nsip + ["link", "set", "lo", "up"])
            _run(nsip + ["addr", "add", f"{ip}/16", "dev", "eth0"])
            _run(nsip + ["link", "set", "eth0", "up"])
            # Chains: CLAWCOUNT counts what this agent sends; CLAWLOSS and CLAWPART
            # hold the faults (flushed independently on heal).
            self._ipt(i, "-N", "CLAWLOSS")
            self._ipt(i, "-N", "CLAWPART")
            self._ipt(i, "-A", "INPUT", "-i", "eth0", "-j", "CLAWPART")
            self._ipt(i, "-A", "INPUT", "-i", "eth0", "-j", "CLAWLOSS")
            self._ipt(i, "-A", "INPUT", "-i", "eth0")  # counting what survived the faults
            self._ipt(i, "-A", "OUTPUT", "-o", "eth0")  # counting only

    def _ipt(self, i: int, *args: str) -> str:
        return _run(["ip", "netns", "exec", self.hosts[i].netns, "iptables", "-w", *args])

    # -- faults ---------------------------------------------------------------------

    def set_loss(self, probability: float, which: Iterable[int] | None = None) -> None:
        """Drop each packet arriving at the chosen agents (default all) with ``probability``.

        0 removes the loss. Applies to every protocol (UDP gossip and TCP streams).
        """
        if not 0.0 <= probability < 1.0:
            raise ValueError(f"probability must be in [0, 1), got {probability}")
        for i in (range(len(self.hosts)) if which is None else which):
            self._ipt(i, "-F", "CLAWLOSS")
            if probability > 0:
                self._ipt(i, "-A", "CLAWLOSS", "-m", "statistic", "--mode", "random",
                          "--probability", f"{probability:.6f}", "-j", "DROP")

    def partition(self, groups: Sequence[Sequence[int]]) -> None:
        """Cut every pair of agents in different groups (both directions, all protocols).

        Agents not named in any group keep talking to everyone. Replaces any previous
        partition.
        """
        group_of = {i: g for g, members in enumerate(groups) for i in members}
        for i in range(len(self.hosts)):
            self._ipt(i, "-F", "CLAWPART")
        for i, gi in group_of.items():
            for j, gj in group_of.items():
                if gi != gj:
                    self._ipt(i, "-A", "CLAWPART", "-s", self.hosts[j].ip, "-j", "DROP")

    def heal(self) -> None:
        """Remove partitions and loss."""
        for i in range(len(self.hosts)):
            self._ipt(i, "-F", "CLAWPART")
            self._ipt(i, "-F", "CLAWLOSS")

    def sent_counters(self) -> dict[int, tuple[int, int]]:
        """agent index → (packets, bytes) it sent on its link since the lab was built."""
        out = {}
        for i in range(len(self.hosts)):
            rules = _parse_counters(self._ipt(i, "-S", "OUTPUT", "-v"))
            out[i] = next(((p, b) for text, p, b in rules if text == "-o eth0"), (0, 0))
        return out

    def received_counters(self) -> dict[int, tuple[int, int]]:
        """agent index → (packets, bytes) delivered to it (after loss and partitions)."""
        out = {}
        for i in range(len(self.hosts)):
            rules = _parse_counters(self._ipt(i, "-S", "INPUT", "-v"))
            out[i] = next(((p, b) for text, p, b in rules if text.strip() == "-i eth0"), (0, 0))
        return out

    # -- teardown -------------------------------------------------------------------

    def close(self) -> None:
        """Delete every namespace of this lab (veths, bridge and rules go with them)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        names = [h.netns for h in self.hosts] + [self.hub]
        present = set(_run(["ip", "netns", "list"], check=False).split())
        for name in names:
            if name in present:
                _run(["ip", "netns", "del", name], check=False)
        atexit.unregister(self.close)

    def __enter__(self) -> "NetnsLab":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LoopbackFirewall:
    """Per-port counters and random loss for agents on 127.0.0.1, in chains of our own.

    Sent counters: UDP by source port is exact per agent (memberlist and claw send
    every datagram from the bound port). TCP is counted by the agent port at either
    end, which counts every stream byte once but attributes an initiator's bytes to
    the responder: use the TCP figures summed over agents (or averaged), not per agent.
    """

    def __init__(self, ports: Sequence[int]) -> None:
        reason = fabric_unavailable()
        if reason:
            raise FabricError(reason)
        self.ports = list(ports)
        pid = os.getpid()
        self._out, self._in, self._loss = f"cl{pid}o", f"cl{pid}i", f"cl{pid}l"
        self._closed = False
        self._lock = threading.Lock()
        atexit.register(self.close)
        try:
            for chain in (self._out, self._in, self._loss):
                _run(["iptables", "-w", "-N", chain])
            _run(["iptables", "-w", "-I", "OUTPUT", "-o", "lo", "-j", self._out])
            _run(["iptables", "-w", "-I", "INPUT", "-i", "lo", "-j", self._in])
            for port in self.ports:
                self._add_port(port)
        except BaseException:
            self.close()
            raise

    def _add_port(self, port: int) -> None:
        p = str(port)
        ipt = ["iptables", "-w", "-A"]
        _run(ipt + [self._out, "-p", "udp", "--sport", p])
        _run(ipt + [self._out, "-p", "tcp", "--sport", p])
        _run(ipt + [self._out, "-p", "tcp", "--dport", p])
        # One jump per packet at most: UDP by destination, TCP by either end.
        _run(ipt + [self._in, "-p", "udp", "--dport", p, "-j", self._loss])
        _run(ipt + [self._in, "-p", "tcp", "--dport", p, "-j", self._loss])
        _run(ipt + [self._in, "-p", "tcp", "--sport", p, "-j", self._loss])

    def add_ports(self, ports: Iterable[int]) -> None:
        """Start counting (and subjecting to loss) more agent ports."""
        for port in ports:
            if port not in self.ports:
                self.ports.append(port)
                self._add_port(port)

    @property
    def hosts(self) -> list[Host]:
        return [Host(i, "127.0.0.1", None) for i in range(len(self.ports))]

    def set_loss(self, probability: float) -> None:
        """Drop each packet to or from our ports with ``probability`` (0 removes it)."""
        if not 0.0 <= probability < 1.0:
            raise ValueError(f"probability must be in [0, 1), got {probability}")
        _run(["iptables", "-w", "-F", self._loss])
        if probability > 0:
            _run(["iptables", "-w", "-A", self._loss, "-m", "statistic", "--mode", "random",
                  "--probability", f"{probability:.6f}", "-j", "DROP"])
        # A packet that survives is accepted here, so it never meets a second jump.
        _run(["iptables", "-w", "-A", self._loss, "-j", "ACCEPT"])

    def heal(self) -> None:
        self.set_loss(0.0)

    def sent_counters(self) -> dict[int, dict[str, tuple[int, int]]]:
        """port → {"udp": (pkts, bytes) sent from it, "tcp": (pkts, bytes) on streams
        with this port at either end}."""
        rules = _parse_counters(_run(["iptables", "-w", "-S", self._out, "-v"]))
        out: dict[int, dict[str, list[int]]] = {}
        for text, pkts, nbytes in rules:
            m = re.search(r"-p (udp|tcp) .*--([sd])port (\d+)", text)
            if not m:
                continue
            proto, port = m.group(1), int(m.group(3))
            slot = out.setdefault(port, {"udp": [0, 0], "tcp": [0, 0]})[proto]
            slot[0] += pkts
            slot[1] += nbytes
        return {port: {k: (v[0], v[1]) for k, v in d.items()} for port, d in out.items()}

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for chain in (self._out, self._in, self._loss):
            _drop_host_chain(chain)
        atexit.unregister(self.close)

    def __enter__(self) -> "LoopbackFirewall":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
