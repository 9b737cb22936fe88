"""Launching real agents (Serf or claw-node) and turning what they say into observations.

A ``Kind`` knows how to start one agent of its family, how to make it leave
gracefully, and how to read its output. ``Cluster`` runs agents of one kind, on
loopback or in the namespaces of a ``NetnsLab``, and ends every process it started
(by PID) when closed.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from ..realproc.netns import Host
from .monitor import ALIVE, FAILED, LEFT, REFUTE, SUSPECT, LineReader, MembershipBook, Obs

__all__ = ["Kind", "SerfKind", "ClawKind", "Agent", "Cluster", "free_port", "KINDS",
           "proc_cpu_seconds", "proc_rss_bytes"]

GOSSIP_PORT_IN_NETNS = 7946
"""Inside a namespace every agent owns its address, so the default ports are free."""
API_PORT_IN_NETNS = 8888
RPC_PORT_IN_NETNS = 7373
STOP_GRACE_S = 5.0
"""How long a process asked to stop gets before SIGKILL."""


PORT_FLOOR = 10000
"""Lowest port ``free_port`` hands out."""
_handed_out: set[int] = set()
"""Ports ``free_port`` returned in this process, never returned twice (random picks would
repeat; bounded by the size of the range)."""


def _ephemeral_low() -> int:
    """First port of the kernel's ephemeral range (Linux; 32768 elsewhere)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both TCP and UDP on ``host`` right now (gossip uses both).

    Chosen at random below the ephemeral range: a port the kernel handed out for
    ``bind(0)`` can be taken, before the agent binds it, by another agent's outgoing TCP
    connection (joins of agents started together), which draws from that range."""
    high = max(PORT_FLOOR + 1000, _ephemeral_low())
    for _ in range(200):
        port = random.randrange(PORT_FLOOR, high)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            try:
                t.bind((host, port))
            except OSError:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind((host, port))
                except OSError:
                    continue
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port")


def proc_cpu_seconds(pid: int) -> float | None:
    """utime + stime of ``pid`` from /proc (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


@dataclass
class Agent:
    """One running agent process."""

    name: str
    host: Host
    port: int
    api_port: int
    rpc_port: int
    proc: subprocess.Popen
    started_at: float
    data_dir: str
    alive: bool = True
    extra: dict = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def addr(self) -> str:
        return f"{self.host.ip}:{self.port}"


class Kind:
    """One agent family. Subclasses fill in argv, leave and the line parser."""

    name = "?"
    prefix = "x"
    encrypt: str | None = None
    """Gossip encryption key (base64) every agent of this kind starts with, or None."""

    def available(self) -> str | None:
        """Why this kind cannot run here, or None."""
        raise NotImplementedError

    def argv(self, agent_name: str, host: Host, port: int, api_port: int, rpc_port: int,
             seed: str | None, profile: str, data_dir: str) -> list[str]:
        raise NotImplementedError

    def parse(self, agent: str, line: str, t: float) -> list[Obs]:
        raise NotImplementedError

    def leave(self, agent: Agent) -> None:
        """Ask ``agent`` to leave the cluster gracefully and exit."""
        agent.proc.send_signal(signal.SIGINT)

    def ready(self, book: MembershipBook, agent: str) -> bool:
        """The agent is up (it reported itself alive)."""
        return book.state(agent, agent) == ALIVE


class SerfKind(Kind):
    """Debian's real Serf agent, observed through its INFO log lines.

    ``EventMemberJoin/Failed/Leave`` are logged by serf's memberlist delegate the
    moment memberlist changes state (before event coalescing, which delays
    ``-event-handler`` by ~1 s); ``Suspect X has failed`` is logged by the prober that
    starts a suspicion, ``Refuting a suspect message`` by the suspected node.
    INFO level is enough for all of them and cheaper than DEBUG.
    """

    name = "serf"
    prefix = "s"
    _join = re.compile(r"serf: EventMemberJoin: (\S+)")
    _failed = re.compile(r"serf: EventMemberFailed: (\S+)")
    _left = re.compile(r"serf: EventMemberLeave(?: \(forced\))?: (\S+)")
    _suspect = re.compile(r"memberlist: Suspect (\S+) has failed")
    _refute = re.compile(r"memberlist: Refuting a (?:suspect|dead) message")

    def __init__(self, binary: str = "serf") -> None:
        self.binary = binary

    def available(self) -> str | None:
        return None if shutil.which(self.binary) else "serf not installed (apt-get install serf)"

    def argv(self, agent_name, host, port, api_port, rpc_port, seed, profile, data_dir):
        argv = host.exec_prefix() + [
            shutil.which(self.binary) or self.binary, "agent", f"-node={agent_name}",
            f"-bind={host.ip}:{port}", f"-rpc-addr=127.0.0.1:{rpc_port}",
            f"-profile={profile}", "-log-level=info",
        ]
        if self.encrypt:
            argv.append(f"-encrypt={self.encrypt}")
        if seed:
            argv.append(f"-join={seed}")
        return argv

    def parse(self, agent, line, t):
        for regex, kind in ((self._join, ALIVE), (self._failed, FAILED), (self._left, LEFT),
                            (self._suspect, SUSPECT)):
            m = regex.search(line)
            if m:
                return [Obs(t, agent, kind, m.group(1))]
        if self._refute.search(line):
            return [Obs(t, agent, REFUTE, agent)]
        return []


class ClawKind(Kind):
    """The unmodified claw-node agent (``python -m node.cli``), text log at INFO.

    Observations: its cluster event lines ``member join|alive|suspect|failed|left: <name>``
    (``node.event_log``), ``node <id> started`` (the agent is up: it sees itself alive)
    and ``refuted a rumour``.
    """

    name = "claw"
    prefix = "c"

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python

    def available(self) -> str | None:
        probe = subprocess.run([self.python, "-m", CLAW_CLI, "--help"], capture_output=True,
                               text=True, timeout=60)
        if probe.returncode != 0 or "--api-bind" not in probe.stdout:
            return f"claw-node not runnable: {(probe.stderr or probe.stdout).strip()[-300:]}"
        return None

    def argv(self, agent_name, host, port, api_port, rpc_port, seed, profile, data_dir):
        argv = host.exec_prefix() + [
            self.python, "-m", CLAW_CLI, "--node-id", agent_name,
            "--bind", f"{host.ip}:{port}", "--advertise", f"{host.ip}:{port}",
            "--api-bind", f"{host.ip}:{api_port}", "--profile", profile,
            "--data-dir", data_dir, "--log-level", "INFO",
        ]
        if host.ip != "127.0.0.1":
            argv.append("--insecure-api")  # lab-private address, no token needed
        if self.encrypt:
            argv += ["--encrypt", self.encrypt]
        if seed:
            argv += ["--join", seed]
        return argv

    def parse(self, agent, line, t):
        return parse_claw_line(agent, line, t)

    def leave(self, agent: Agent) -> None:
        agent.proc.send_signal(signal.SIGTERM)


CLAW_CLI = "node.cli"
_CLAW_MEMBER = re.compile(r"\bmember (join|alive|suspect|failed|left): (\S+)")
_CLAW_STATE = {"join": ALIVE, "alive": ALIVE, "suspect": SUSPECT, "failed": FAILED,
               "left": LEFT}
_CLAW_STARTED = re.compile(r"\bnode (\S+) started: gossip")
_CLAW_REFUTED = re.compile(r"\brefuted a rumour\b")


def parse_claw_line(agent: str, line: str, t: float) -> list[Obs]:
    """claw-node output line → observations (see ClawKind)."""
    m = _CLAW_MEMBER.search(line)
    if m:
        return [Obs(t, agent, _CLAW_STATE[m.group(1)], m.group(2))]
    m = _CLAW_STARTED.search(line)
    if m:
        return [Obs(t, agent, ALIVE, m.group(1))]
    if _CLAW_REFUTED.search(line):
        return [Obs(t, agent, REFUTE, agent)]
    return []


KINDS = {"serf": SerfKind, "claw": ClawKind}


class Cluster:
    """Agents of one kind; every process it starts is ended (by PID) on close."""

    def __init__(self, kind: Kind, hosts: list[Host] | None, profile: str,
                 log_dir: str | None = None) -> None:
        self.kind = kind
        self.profile = profile
        self.book = MembershipBook()
        self.reader = LineReader(self.book, log_dir)
        self.hosts = hosts  # None: loopback with fresh ports per agent
        self.agents: dict[str, Agent] = {}
        self._tmp = tempfile.mkdtemp(prefix=f"versus-{kind.name}-")

    def start(self, index: int, seed: Agent | None, like: Agent | None = None) -> Agent:
        """Start agent ``index`` joining through ``seed``; ``like``: restart a dead agent
        with the same name, address, ports and data directory."""
        name = f"{self.kind.prefix}{index}"
        if like is not None:
            host, port, api_port, rpc_port = like.host, like.port, like.api_port, like.rpc_port
        elif self.hosts is None:
            host = Host(index, "127.0.0.1", None)
            port, api_port, rpc_port = free_port(), free_port(), free_port()
        else:
            host = self.hosts[index]
            port, api_port, rpc_port = GOSSIP_PORT_IN_NETNS, API_PORT_IN_NETNS, RPC_PORT_IN_NETNS
        data_dir = os.path.join(self._tmp, name)
        os.makedirs(data_dir, exist_ok=True)
        self.book.first_output.pop(name, None)  # a restart starts its own clock
        argv = self.kind.argv(name, host, port, api_port, rpc_port,
                              seed.addr if seed else None, self.profile, data_dir)
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        agent = Agent(name, host, port, api_port, rpc_port, proc, time.monotonic(), data_dir)
        self.agents[name] = agent
        # The reader owns a duplicate of the pipe; Popen's file object is closed now.
        self.reader.watch(name, os.dup(proc.stdout.fileno()), self.kind.parse)  # type: ignore[union-attr]
        proc.stdout.close()  # type: ignore[union-attr]
        return agent

    def wait_ready(self, agent: Agent, timeout_s: float) -> bool:
        return self.book.wait_for(lambda b: self.kind.ready(b, agent.name)
                                  or agent.proc.poll() is not None, timeout_s) \
            and agent.proc.poll() is None

    def live(self) -> list[Agent]:
        return [a for a in self.agents.values() if a.alive]

    def kill9(self, agent: Agent) -> float:
        t = time.monotonic()
        os.kill(agent.pid, signal.SIGKILL)
        agent.alive = False
        agent.proc.wait(timeout=10)
        return t

    def pause(self, agent: Agent) -> None:
        os.kill(agent.pid, signal.SIGSTOP)

    def resume(self, agent: Agent) -> None:
        os.kill(agent.pid, signal.SIGCONT)

    def leave(self, agent: Agent) -> float:
        t = time.monotonic()
        self.kind.leave(agent)
        agent.alive = False
        return t

    def tail(self, agent: str, n: int = 20) -> str:
        return "\n".join(list(self.reader.tails.get(agent, []))[-n:])

    def close(self) -> None:
        for agent in self.agents.values():
            if agent.proc.poll() is None:
                try:
                    os.kill(agent.pid, signal.SIGCONT)
                    os.kill(agent.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for agent in self.agents.values():
            try:
                agent.proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                pass
        self.reader.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
