"""Several "machines" on one Linux host: namespaces, a bridge, iptables, agents.

Two fabrics, one interface (``hosts``, ``set_loss``, ``heal``, ``sent_counters``,
``close``), both root-only and both fully undone by ``close()`` (also registered with
``atexit``):

* ``NetnsLab``: N hosts, each a network namespace with one veth (``eth0``) on a Linux
  bridge that lives in the lab's own *hub* namespace, a private address in
  ``10.213.0.0/16`` and a default route, so "the default-route address" an agent
  advertises is its own ``eth0`` address, as on a real machine. Every command run on
  a host gets the host's own hostname (a UTS namespace) and every agent its own data
  dir, so ``claw-node`` runs there with its default flags. Traffic never leaves the
  machine and the host's own network namespace is never changed. Loss, partitions and
  counters are iptables rules inside each host's namespace, exact per host.
* ``LoopbackFirewall``: agents on 127.0.0.1, each on its own port. Per-agent
  counters and random loss are rules in three chains of the host's filter table that
  only match the ports given; partitions are not offered here (memberlist's TCP
  dials come from ephemeral ports on 127.0.0.1, so a group cannot be told apart).

Names: everything created is called ``<prefix><pid>x<k>…`` (``k`` counts the labs and
firewalls of one process), so parallel runs never touch each other. The prefix is
``$CLAW_LAB_PREFIX`` (default ``clawlab``): give each person or CI job sharing a machine
its own. Interface names (``br0``, ``v<i>``, ``eth0``) exist only inside the lab's
own namespaces, where they cannot clash. ``cleanup_stale()`` (run by every
constructor) removes what runs with the same prefix left behind when their process
was killed, ending the processes still inside those namespaces.

Random loss uses ``-m statistic --mode random --probability P -j DROP`` on the
receiving side (INPUT), so each packet is lost once with probability P
(``tc netem`` is not available on this machine).
"""

from __future__ import annotations

import atexit
import ctypes
import http.client
import ipaddress
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.parse
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "FabricError",
    "Host",
    "HttpAnswer",
    "LoopbackFirewall",
    "NetnsLab",
    "cleanup_stale",
    "enter_netns",
    "fabric_unavailable",
    "http_request",
    "lab_prefix",
    "ns_exec_prefix",
    "socket_in",
]

SUBNET = ipaddress.IPv4Network("10.213.0.0/16")
"""Addresses of the hosts; only ever configured inside the lab's namespaces."""
HUB_ADDRESS = "10.213.255.254"
"""The bridge's own address, inside the hub namespace (observers; the hosts' gateway)."""
MAX_HOSTS = 4000
"""Upper bound on hosts per lab (addresses stay inside SUBNET)."""
CMD_TIMEOUT_S = 20.0
"""Deadline of one ip/iptables invocation (seconds)."""
PREFIX_ENV = "CLAW_LAB_PREFIX"
DEFAULT_PREFIX = "clawlab"
"""Name prefix of namespaces and chains when ``$CLAW_LAB_PREFIX`` is unset."""
AGENT_GOSSIP_PORT = 7946
AGENT_API_PORT = 8888
"""claw-node's default ports: every host owns its addresses, so the defaults are free."""
HTTP_TIMEOUT_S = 5.0
"""Default deadline of one HTTP call into a host (seconds)."""
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
"""Largest HTTP answer read (a node list of thousands of nodes fits)."""
STOP_GRACE_S = 20.0
"""How long an agent asked to stop (SIGTERM) gets before SIGKILL (seconds)."""
CLAW_NODE = [sys.executable, "-m", "node.cli"]
"""The ``claw-node`` command (this interpreter, so a virtualenv or PYTHONPATH applies)."""

_PREFIX_OK = re.compile(r"^[a-z]{1,12}$")
_instances = itertools.count(1)


class FabricError(RuntimeError):
    """An ip/iptables command failed; the message holds the command and its stderr."""


def lab_prefix() -> str:
    """The name prefix in force (``$CLAW_LAB_PREFIX`` or ``clawlab``)."""
    prefix = os.environ.get(PREFIX_ENV) or DEFAULT_PREFIX
    if not _PREFIX_OK.match(prefix):
        raise ValueError(f"{PREFIX_ENV}={prefix!r}: want 1 to 12 lowercase letters")
    return prefix


def fabric_unavailable() -> str | None:
    """Why no fabric can be built here (not root, tools missing), or None if it can."""
    if not sys.platform.startswith("linux"):
        return "needs Linux (network namespaces)"
    if os.geteuid() != 0:
        return "needs root (network namespaces and iptables)"
    for tool in ("ip", "iptables", "unshare", "hostname"):
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

    Only for threads that do nothing else afterwards; ``socket_in`` wraps it. Python
    3.11 has no ``os.setns``, hence libc.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise FabricError(f"setns({netns}): {os.strerror(err)}")
    finally:
        os.close(fd)


def socket_in(netns: str | None, family: int = socket.AF_INET,
              kind: int = socket.SOCK_STREAM) -> socket.socket:
    """A socket that lives in ``netns`` (None: ours), usable from any thread.

    A socket belongs to the network namespace of the thread that created it, for its
    whole life. So a throw-away thread enters the namespace, creates the socket and
    ends; the caller's threads never change namespace, and nothing is left inside.
    """
    if netns is None:
        return socket.socket(family, kind)
    made: list[Any] = []

    def create() -> None:
        try:
            enter_netns(netns)
            made.append(socket.socket(family, kind))
        except BaseException as exc:  # handed to the caller
            made.append(exc)

    worker = threading.Thread(target=create, name=f"socket-in-{netns}", daemon=True)
    worker.start()
    worker.join(CMD_TIMEOUT_S)
    if not made:
        raise FabricError(f"creating a socket in {netns} did not finish")
    if isinstance(made[0], BaseException):
        raise made[0]
    return made[0]


class _NetnsConnection(http.client.HTTPConnection):
    """An HTTP connection whose socket is opened inside a network namespace."""

    def __init__(self, netns: str | None, host: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._netns = netns

    def connect(self) -> None:
        sock = socket_in(self._netns)
        try:
            sock.settimeout(self.timeout)
            sock.connect((self.host, self.port))
        except BaseException:
            sock.close()
            raise
        self.sock = sock


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """Status (0: no answer: refused, timed out, reset) and the JSON body (None if none)."""

    status: int
    body: Any


def http_request(netns: str | None, method: str, url: str, body: Any = None,
                 timeout_s: float = HTTP_TIMEOUT_S,
                 headers: dict[str, str] | None = None) -> HttpAnswer:
    """One JSON call to ``url`` from inside ``netns`` (None: from here).

    ``127.0.0.1`` in ``url`` is the namespace's own loopback, where claw-node's API
    listens by default. Never raises for network trouble: that is status 0.
    """
    parts = urllib.parse.urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    data = None if body is None else json.dumps(body).encode()
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    conn = _NetnsConnection(netns, parts.hostname or "127.0.0.1", parts.port or 80, timeout_s)
    try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read(MAX_RESPONSE_BYTES)
        status = resp.status
    except (OSError, http.client.HTTPException, ValueError):
        return HttpAnswer(0, None)
    finally:
        conn.close()
    try:
        return HttpAnswer(status, json.loads(raw) if raw else None)
    except ValueError:
        return HttpAnswer(status, None)


def _parse_counters(listing: str) -> list[tuple[str, int, int]]:
    """``iptables -S CHAIN -v`` → [(rule text without counters, packets, bytes)]."""
    out = []
    for line in listing.splitlines():
        m = re.match(r"^-A \S+ (.*?)\s*-c (\d+) (\d+)(.*)$", line)
        if m:
            text = (m.group(1) + m.group(4)).strip()
            out.append((text, int(m.group(2)), int(m.group(3))))
    return out


def _new_name(prefix: str) -> str:
    return f"{prefix}{os.getpid()}x{next(_instances)}"


def cleanup_stale(prefix: str | None = None) -> list[str]:
    """Remove namespaces and chains named with ``prefix`` whose creating process is gone.

    Processes still running inside a stale namespace (agents of a killed run) are
    killed first: they were started there by that run, so they are ours. Returns the
    names removed.
    """
    prefix = prefix or lab_prefix()
    owner = re.compile(rf"^{re.escape(prefix)}(\d+)x\d+")
    removed = []
    for line in _run(["ip", "netns", "list"], check=False).splitlines():
        name = line.split()[0] if line.split() else ""
        m = owner.match(name)
        if m and not _pid_alive(int(m.group(1))):
            _kill_inside(name)
            _run(["ip", "netns", "del", name], check=False)
            removed.append(name)
    if shutil.which("iptables"):
        listing = _run(["iptables", "-w", "-S"], check=False)
        for name in sorted(set(re.findall(r"^-N (\S+)$", listing, re.MULTILINE))):
            m = owner.match(name)
            if m and not _pid_alive(int(m.group(1))):
                _drop_host_chain(name)
                removed.append(name)
    return removed


def _kill_inside(netns: str) -> None:
    """SIGKILL every process in ``netns`` (a namespace of our own, so our processes)."""
    for pid in _run(["ip", "netns", "pids", netns], check=False).split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


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
        for match in ([], ["-o", "lo"], ["-i", "lo"]):
            while subprocess.run(["iptables", "-w", "-D", parent, *match, "-j", chain],
                                 capture_output=True, timeout=CMD_TIMEOUT_S).returncode == 0:
                pass
    _run(["iptables", "-w", "-F", chain], check=False)
    _run(["iptables", "-w", "-X", chain], check=False)


@dataclass(frozen=True, slots=True)
class Host:
    """One place an agent runs: its namespace (None on loopback), address, hostname."""

    index: int
    ip: str
    netns: str | None
    hostname: str | None = None

    def exec_prefix(self) -> list[str]:
        """argv prefix entering the host's network (its hostname: ``NetnsLab.command``)."""
        return ns_exec_prefix(self.netns)


class NetnsLab:
    """N hosts on one bridge: commands, agents and HTTP inside each; loss and partitions.

    Use as a context manager. ``hosts[i]`` has its namespace, address and hostname;
    ``command(i, argv)`` runs ``argv`` as on that machine, ``start_agent(i, ...)``
    starts claw-node there with its data dir under ``workdir``, ``request(i, ...)``
    calls that host's API on its own loopback.

    Args:
        n: number of hosts (1..MAX_HOSTS).
        workdir: where each host's directory (data dir, agent log) goes; default a
            temporary directory removed on close (a given one is kept).
        hostnames: one per host; default ``host0``..``host<n-1>``. Duplicates are
            allowed (two machines cloned from one image).
        prefix: name prefix (default ``lab_prefix()``).
    """

    def __init__(self, n: int, workdir: str | Path | None = None,
                 hostnames: Sequence[str] | None = None, prefix: str | None = None) -> None:
        if not 1 <= n <= MAX_HOSTS:
            raise ValueError(f"n must be in 1..{MAX_HOSTS}, got {n}")
        names = list(hostnames) if hostnames is not None else [f"host{i}" for i in range(n)]
        if len(names) != n:
            raise ValueError(f"{len(names)} hostnames for {n} hosts")
        reason = fabric_unavailable()
        if reason:
            raise FabricError(reason)
        self.prefix = prefix or lab_prefix()
        cleanup_stale(self.prefix)
        self.name = _new_name(self.prefix)
        self.hub = f"{self.name}-hub"
        self.hosts: list[Host] = []
        self._hostnames = names
        self._own_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{self.name}-")) if workdir is None \
            else Path(workdir)
        self._procs: list[subprocess.Popen] = []
        self._agents: dict[int, subprocess.Popen] = {}
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
        _run(["ip", "netns", "add", self.hub])
        hub = ["ip", "-n", self.hub]
        _run(hub + ["link", "set", "lo", "up"])
        _run(hub + ["link", "add", "br0", "type", "bridge"])
        _run(hub + ["addr", "add", f"{HUB_ADDRESS}/{SUBNET.prefixlen}", "dev", "br0"])
        _run(hub + ["link", "set", "br0", "up"])
        for i, hostname in enumerate(self._hostnames):
            ns = f"{self.name}-{i}"
            ip = str(SUBNET.network_address + 256 * (i // 250) + (i % 250) + 1)
            _run(["ip", "netns", "add", ns])
            self.hosts.append(Host(i, ip, ns, hostname))
            self.host_dir(i).mkdir(parents=True, exist_ok=True)
            # Create the pair inside the host namespace, then push the peer to the hub.
            nsip = ["ip", "-n", ns]
            _run(nsip + ["link", "add", "eth0", "type", "veth", "peer", "name", f"v{i}"])
            _run(nsip + ["link", "set", f"v{i}", "netns", self.hub])
            _run(hub + ["link", "set", f"v{i}", "master", "br0"])
            _run(hub + ["link", "set", f"v{i}", "up"])
            _run(nsip + ["link", "set", "lo", "up"])
            _run(nsip + ["addr", "add", f"{ip}/{SUBNET.prefixlen}", "dev", "eth0"])
            _run(nsip + ["link", "set", "eth0", "up"])
            # The hub does not forward: the route only makes eth0 the default-route
            # interface, as on a real machine; nothing leaves the lab.
            _run(nsip + ["route", "add", "default", "via", HUB_ADDRESS, "dev", "eth0"])
            # Chains: CLAWLOSS and CLAWPART hold the faults (flushed independently on
            # heal); the bare INPUT/OUTPUT rules only count.
            self._ipt(i, "-N", "CLAWLOSS")
            self._ipt(i, "-N", "CLAWPART")
            self._ipt(i, "-A", "INPUT", "-i", "eth0", "-j", "CLAWPART")
            self._ipt(i, "-A", "INPUT", "-i", "eth0", "-j", "CLAWLOSS")
            self._ipt(i, "-A", "INPUT", "-i", "eth0")  # counting what survived the faults
            self._ipt(i, "-A", "OUTPUT", "-o", "eth0")  # counting only

    def _ipt(self, i: int, *args: str) -> str:
        return _run(["ip", "netns", "exec", self.hosts[i].netns, "iptables", "-w", *args])

    # -- running things on a host ---------------------------------------------------

    def host_dir(self, i: int) -> Path:
        """Host ``i``'s own directory (data dir and logs), like its disk."""
        return self.workdir / f"{i}-{self._hostnames[i]}"

    def data_dir(self, i: int) -> Path:
        return self.host_dir(i) / "data"

    def log_path(self, i: int) -> Path:
        """Where the agent of host ``i`` writes stdout and stderr (appended on restart)."""
        return self.host_dir(i) / "agent.log"

    def gossip_address(self, i: int) -> str:
        """What another host passes to ``--join`` to reach host ``i``'s agent."""
        return f"{self.hosts[i].ip}:{AGENT_GOSSIP_PORT}"

    def command(self, i: int, argv: Sequence[str]) -> list[str]:
        """argv that runs ``argv`` on host ``i``: its network and its hostname.

        ``unshare --uts`` gives the command a UTS namespace of its own, in which ``sh``
        sets the host's name and then ``exec``s ``argv``: the process started is the
        command itself (same PID), so it can be signalled directly.
        """
        host = self.hosts[i]
        return host.exec_prefix() + ["unshare", "--uts", "sh", "-c",
                                     'hostname "$0" && exec "$@"', host.hostname or "", *argv]

    def popen(self, i: int, argv: Sequence[str], log: Path | None = None,
              env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start ``argv`` on host ``i`` (stdout+stderr appended to ``log``, else dropped).

        The process gets its own session; ``close()`` kills it if it is still running.
        """
        out = open(log, "ab") if log is not None else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(self.command(i, argv), stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
        finally:
            if log is not None:
                out.close()  # type: ignore[union-attr]
        self._procs.append(proc)
        return proc

    def run(self, i: int, argv: Sequence[str], timeout_s: float = 60.0,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` on host ``i`` to completion; output captured as text."""
        return subprocess.run(self.command(i, argv), capture_output=True, text=True,
                              timeout=timeout_s, env=env, stdin=subprocess.DEVNULL,
                              check=False)

    def request(self, i: int, method: str, path: str, body: Any = None,
                port: int = AGENT_API_PORT, timeout_s: float = HTTP_TIMEOUT_S,
                headers: dict[str, str] | None = None) -> HttpAnswer:
        """Call host ``i``'s API at its own ``127.0.0.1:port`` (see ``http_request``)."""
        return http_request(self.hosts[i].netns, method, f"http://127.0.0.1:{port}{path}",
                            body, timeout_s, headers)

    @staticmethod
    def agent_env() -> dict[str, str]:
        """Our environment without ``CLAW_*`` settings: agents see only their flags."""
        return {k: v for k, v in os.environ.items() if not k.upper().startswith("CLAW_")}

    def start_agent(self, i: int, *flags: str) -> subprocess.Popen:
        """Start ``claw-node --data-dir <host's data dir> *flags`` on host ``i``.

        Nothing else is added: with no flags the agent runs with its defaults (gossip
        on 0.0.0.0:7946 advertised at the host's address, API on 127.0.0.1:8888, node
        id from the hostname). Raises if the host's agent is still running.
        """
        running = self._agents.get(i)
        if running is not None and running.poll() is None:
            raise RuntimeError(f"host {i} already runs an agent (pid {running.pid})")
        argv = CLAW_NODE + ["--data-dir", str(self.data_dir(i)), *flags]
        proc = self.popen(i, argv, log=self.log_path(i), env=self.agent_env())
        self._agents[i] = proc
        return proc

    def agent(self, i: int) -> subprocess.Popen | None:
        """Host ``i``'s last started agent process (None if never started)."""
        return self._agents.get(i)

    def kill_agent(self, i: int) -> None:
        """``kill -9`` host ``i``'s agent and reap it."""
        proc = self._agents[i]
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=CMD_TIMEOUT_S)

    def stop_agent(self, i: int, grace_s: float = STOP_GRACE_S) -> int | None:
        """SIGTERM host ``i``'s agent (graceful leave); its exit code, None if it had to
        be killed after ``grace_s``. An agent that already exited: its code."""
        proc = self._agents[i]
        if proc.poll() is not None:
            return proc.returncode
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=CMD_TIMEOUT_S)
            return None

    def log_tail(self, i: int, lines: int = 20) -> str:
        """The last ``lines`` lines of host ``i``'s agent log ('' if none)."""
        try:
            with open(self.log_path(i), errors="replace") as f:
                return "".join(deque(f, maxlen=lines))
        except OSError:
            return ""

    # -- faults ---------------------------------------------------------------------

    def set_loss(self, probability: float, which: Iterable[int] | None = None) -> None:
        """Drop each packet arriving at the chosen hosts (default all) with ``probability``.

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
        """Cut every pair of hosts in different groups (both directions, all protocols).

        Hosts not named in any group keep talking to everyone. Replaces any previous
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
        """host index → (packets, bytes) it sent on its link since the lab was built."""
        out = {}
        for i in range(len(self.hosts)):
            rules = _parse_counters(self._ipt(i, "-S", "OUTPUT", "-v"))
            out[i] = next(((p, b) for text, p, b in rules if text == "-o eth0"), (0, 0))
        return out

    def received_counters(self) -> dict[int, tuple[int, int]]:
        """host index → (packets, bytes) delivered to it (after loss and partitions)."""
        out = {}
        for i in range(len(self.hosts)):
            rules = _parse_counters(self._ipt(i, "-S", "INPUT", "-v"))
            out[i] = next(((p, b) for text, p, b in rules if text.strip() == "-i eth0"), (0, 0))
        return out

    # -- teardown -------------------------------------------------------------------

    def namespaces(self) -> list[str]:
        """Every namespace of this lab (hosts, then the hub)."""
        return [h.netns for h in self.hosts if h.netns] + [self.hub]

    def close(self) -> None:
        """End our processes, delete every namespace of this lab (veths, bridge and rules
        go with them) and the workdir if we created it. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for proc in self._procs:  # by PID: only what we started
            if proc.poll() is None:
                try:
                    os.kill(proc.pid, signal.SIGCONT)  # a paused agent must die too
                    proc.kill()
                except ProcessLookupError:
                    pass
        for proc in self._procs:
            try:
                proc.wait(timeout=CMD_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pass
        present = set(_run(["ip", "netns", "list"], check=False).split())
        for name in self.namespaces():
            if name in present:
                _kill_inside(name)  # e.g. a child an agent forked
                _run(["ip", "netns", "del", name], check=False)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        atexit.unregister(self.close)

    def __enter__(self) -> NetnsLab:
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
        prefix = lab_prefix()
        cleanup_stale(prefix)
        name = _new_name(prefix)
        self._out, self._in, self._loss = f"{name}o", f"{name}i", f"{name}l"
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

    def __enter__(self) -> LoopbackFirewall:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
