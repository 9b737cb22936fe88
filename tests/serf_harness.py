"""Real ``serf agent`` processes on loopback, for interop tests.

Each agent gets random free ports (gossip and RPC), a name, tags and a timing profile;
its output goes to a log file in the test's tmp dir (printed when a test fails, see
``SerfAgent.log_tail``). The ``serf_agents`` fixture kills every agent it started, by
PID, when the test ends. Without the ``serf`` binary the tests skip, except when the env
var ``CI`` is set: then they fail.

    async def test_x(serf_agents):
        agent = await serf_agents.start("s1", tags={"role": "db"})
        await agent.join(("127.0.0.1", port))
        members = await agent.members()      # serf members -format=json
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import pytest

from simulations.realproc.agents import free_port  # one port finder for TCP+UDP
from tests.conftest import eventually_async

__all__ = ["SERF", "SERF_POLL_S", "SerfAgent", "SerfAgents", "free_port", "require_serf", "serf_agents"]

SERF = shutil.which("serf")
"""Path of the serf binary, or None."""

HOST = "127.0.0.1"
START_TIMEOUT_S = 15.0
"""Time an agent gets to answer RPC after being spawned."""
COMMAND_TIMEOUT_S = 10.0
"""Time one ``serf`` CLI command (members, join, leave) gets."""
SERF_POLL_S = 0.2
"""Pause (seconds) between two checks that ask serf agents (each one runs the serf CLI)."""


def require_serf() -> str:
    """The serf binary; skip the test without it, fail instead when env ``CI`` is set."""
    if SERF is None:
        if os.environ.get("CI"):
            pytest.fail("serf is not installed but CI is set (apt-get install -y serf)")
        pytest.skip("serf is not installed (apt-get install -y serf)")
    return SERF

async def _run_serf(*args: str, timeout: float = COMMAND_TIMEOUT_S) -> tuple[int, str, str]:
    """Run one serf CLI command without blocking the event loop."""
    assert SERF is not None
    proc = await asyncio.create_subprocess_exec(
        SERF, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


@dataclass
class SerfAgent:
    """One running ``serf agent`` process."""

    name: str
    bind: tuple[str, int]
    """Gossip address (UDP and TCP)."""
    rpc: tuple[str, int]
    process: subprocess.Popen[bytes]
    log_path: Path
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def rpc_arg(self) -> str:
        return f"-rpc-addr={self.rpc[0]}:{self.rpc[1]}"

    def running(self) -> bool:
        return self.process.poll() is None

    async def members(self) -> list[dict[str, Any]]:
        """``serf members -format=json``: dicts with name, addr, port, tags, status."""
        code, out, err = await _run_serf("members", "-format=json", self.rpc_arg)
        if code != 0:
            raise RuntimeError(f"serf members failed ({code}): {err.strip()}")
        return list(json.loads(out)["members"])

    async def member(self, name: str) -> dict[str, Any] | None:
        for member in await self.members():
            if member["name"] == name:
                return member
        return None

    async def status_of(self, name: str) -> str | None:
        """The status ``serf members`` shows for ``name`` (alive, leaving, left, failed)."""
        member = await self.member(name)
        return None if member is None else str(member["status"])

    async def rtt(self, a: str, b: str | None = None) -> str:
        """``serf rtt A [B]``'s output line; RuntimeError if serf reports a failure."""
        code, out, err = await _run_serf("rtt", self.rpc_arg, a, *((b,) if b else ()))
        if code != 0:
            raise RuntimeError(f"serf rtt failed ({code}): {(out + err).strip()}")
        return out.strip()

    async def get_coordinate(self, node: str) -> dict[str, Any] | None:
        """The coordinate the agent's RPC reports for ``node`` (Serf's ``get-coordinate``:
        its cached one, its own for its own name), as ``{"Vec", "Error", "Adjustment",
        "Height"}`` with the exact float64 values; ``None`` if it has none. The serf CLI
        prints only distances, so this speaks Serf's msgpack RPC itself."""
        reader, writer = await asyncio.wait_for(asyncio.open_connection(*self.rpc),
                                                COMMAND_TIMEOUT_S)
        try:
            unpacker = msgpack.Unpacker(raw=False)

            async def call(command: str, seq: int, body: dict[str, Any], answer: bool) -> Any:
                writer.write(msgpack.packb({"Command": command, "Seq": seq})
                             + msgpack.packb(body))
                await writer.drain()
                wanted = 2 if answer else 1
                values: list[Any] = []
                while len(values) < wanted:
                    chunk = await asyncio.wait_for(reader.read(65536), COMMAND_TIMEOUT_S)
                    if not chunk:
                        raise RuntimeError(f"serf RPC {command}: connection closed")
                    unpacker.feed(chunk)
                    values.extend(unpacker)
                if values[0].get("Error"):
                    raise RuntimeError(f"serf RPC {command}: {values[0]['Error']}")
                return values[1] if answer else None

            await call("handshake", 0, {"Version": 1}, answer=False)
            resp = await call("get-coordinate", 1, {"Node": node}, answer=True)
        finally:
            writer.close()
        return dict(resp["Coord"]) if resp.get("Ok") else None

    async def join(self, *addresses: tuple[str, int]) -> None:
        """``serf join host:port ...``; RuntimeError if serf reports a failure."""
        targets = [f"{host}:{port}" for host, port in addresses]
        code, out, err = await _run_serf("join", self.rpc_arg, *targets)
        if code != 0:
            raise RuntimeError(f"serf join failed ({code}): {(out + err).strip()}")

    async def query(self, *args: str) -> tuple[int, str]:
        """``serf query ARGS``: (exit code, stdout + stderr)."""
        code, out, err = await _run_serf("query", self.rpc_arg, *args, timeout=2 * COMMAND_TIMEOUT_S)
        return code, out + err

    async def event(self, *args: str) -> tuple[int, str]:
        """``serf event ARGS``: (exit code, stdout + stderr)."""
        code, out, err = await _run_serf("event", self.rpc_arg, *args)
        return code, out + err

    async def keys(self, *args: str) -> tuple[int, str]:
        """``serf keys ARGS``: (exit code, stdout + stderr)."""
        code, out, err = await _run_serf("keys", self.rpc_arg, *args, timeout=2 * COMMAND_TIMEOUT_S)
        return code, out + err

    async def leave(self, timeout: float = COMMAND_TIMEOUT_S) -> None:
        """``serf leave``: graceful leave, then the agent exits; waits for the exit."""
        await _run_serf("leave", self.rpc_arg, timeout=timeout)
        with contextlib.suppress(TimeoutError):  # still running: the caller kills it
            await eventually_async(lambda: not self.running(), timeout, what=f"{self.name} exits")

    def kill(self) -> None:
        """SIGKILL (``kill -9``): no leave, no goodbye; reaps the process."""
        if self.running():
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait(timeout=5)

    def log_tail(self, lines: int = 80) -> str:
        """The last ``lines`` lines of the agent's log, without the RPC client noise."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        kept = [line for line in text.splitlines() if "agent.ipc: Accepted client" not in line]
        return "\n".join(kept[-lines:])


class SerfAgents:
    """Starts serf agents and remembers them so ``cleanup`` can kill each by PID."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.agents: list[SerfAgent] = []

    async def start(
        self,
        name: str,
        *,
        tags: dict[str, str] | None = None,
        profile: str = "local",
        join: tuple[tuple[str, int], ...] = (),
        extra_args: tuple[str, ...] = (),
    ) -> SerfAgent:
        """Spawn ``serf agent`` on random loopback ports; return once its RPC answers."""
        serf = require_serf()
        tags = dict(tags or {})
        for attempt in range(3):
            bind = (HOST, free_port())
            rpc = (HOST, free_port())
            log_path = self.workdir / f"serf-{name}-{attempt}.log"
            args = [
                serf, "agent", f"-bind={bind[0]}:{bind[1]}", f"-rpc-addr={rpc[0]}:{rpc[1]}",
                f"-node={name}", f"-profile={profile}", "-log-level=debug",
            ]
            for key, value in tags.items():
                args.append(f"-tag={key}={value}")
            for host, port in join:
                args.append(f"-join={host}:{port}")
            args.extend(extra_args)
            with open(log_path, "wb") as log_file:
                process = subprocess.Popen(
                    args, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            agent = SerfAgent(name, bind, rpc, process, log_path, tags)
            self.agents.append(agent)
            try:
                await eventually_async(lambda a=agent: self._rpc_ready(a), START_TIMEOUT_S, 0.1)
                return agent
            except (TimeoutError, _AgentExited):
                agent.kill()
                if attempt == 2 or "address already in use" not in agent.log_tail().lower():
                    raise RuntimeError(
                        f"serf agent {name} did not start:\n{agent.log_tail()}") from None
        raise AssertionError("unreachable")

    @staticmethod
    async def _rpc_ready(agent: SerfAgent) -> bool:
        if not agent.running():
            raise _AgentExited()
        code, _, _ = await _run_serf("members", agent.rpc_arg, timeout=5.0)
        return code == 0

    def cleanup(self) -> None:
        """Kill -9 every agent still running (by PID) and reap it."""
        for agent in self.agents:
            try:
                agent.kill()
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass

    def logs(self) -> str:
        """The tail of every agent's log, for failure messages."""
        return "\n".join(f"--- {a.name} (pid {a.pid}) ---\n{a.log_tail()}" for a in self.agents)


class _AgentExited(Exception):
    """The agent process ended before its RPC answered."""


@pytest.fixture
def serf_agents(tmp_path: Path) -> Iterator[SerfAgents]:
    """A ``SerfAgents`` whose agents are killed by PID after the test. The agents' logs
    are printed at teardown; pytest shows captured output only for failed tests."""
    require_serf()
    agents = SerfAgents(tmp_path)
    started = time.monotonic()
    try:
        yield agents
    finally:
        agents.cleanup()
        print(f"serf agent logs ({time.monotonic() - started:.1f} s):\n{agents.logs()}")
