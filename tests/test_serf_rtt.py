"""Network coordinates with the real Serf agent: ``serf rtt`` and ``claw-node rtt`` agree.

A mixed cluster on loopback (``local`` profile): one ``serf agent`` and two claw-node
agents (real processes, ``python -m node.cli``). Serf learns the claw nodes' coordinates
from their probe acks, the claw nodes learn Serf's and each other's; ``serf rtt`` (asked
of the Serf agent) and ``claw-node rtt`` (asked of a claw agent's API) estimate the same
pairs within max(20 %, 0.3 ms). And the coordinate a claw node decodes for the Serf
agent is bit for bit the one Serf's RPC reports for itself. Skipped without ``serf``
unless env ``CI``.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import eventually_async
from tests.serf_harness import (
    SERF_POLL_S,
    SerfAgent,
    SerfAgents,
    free_port,
    serf_agents,  # noqa: F401 - the fixture
)

pytestmark = [pytest.mark.serf, pytest.mark.slow, pytest.mark.timeout(240)]

TOLERANCE_RELATIVE = 0.20
TOLERANCE_ABSOLUTE_MS = 0.3
_RTT_LINE = re.compile(r"^Estimated (\S+) <-> (\S+) rtt: ([0-9.]+) ms")


@dataclass
class ClawAgent:
    name: str
    bind: tuple[str, int]
    api: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def node(self, name: str) -> dict[str, Any]:
        """``GET /api/v1/nodes/{name}`` of this agent's API."""
        with urllib.request.urlopen(f"{self.api}/api/v1/nodes/{name}", timeout=15) as resp:
            return dict(json.loads(resp.read())["node"])

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@pytest.fixture
def claw_agents(tmp_path: Path) -> Iterator[list[ClawAgent]]:
    """Claw agents started by the test (append to the list); killed by PID afterwards."""
    started: list[ClawAgent] = []
    yield started
    for agent in started:
        if agent.process.poll() is None:
            agent.process.send_signal(signal.SIGKILL)
        agent.process.wait(timeout=10)
        print(f"--- claw agent {agent.name} (pid {agent.process.pid}) ---\n{agent.log_tail()}")


def start_claw(agents: list[ClawAgent], workdir: Path, name: str,
               join: tuple[str, int]) -> ClawAgent:
    bind = ("127.0.0.1", free_port())
    api_port = free_port()
    log_path = workdir / f"claw-{name}.log"
    argv = [sys.executable, "-m", "node.cli", "--node-id", name,
            "--bind", f"{bind[0]}:{bind[1]}", "--advertise", f"{bind[0]}:{bind[1]}",
            "--api-bind", f"127.0.0.1:{api_port}", "--profile", "local",
            "--data-dir", str(workdir / f"data-{name}"), "--join", f"{join[0]}:{join[1]}"]
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    agent = ClawAgent(name, bind, f"http://127.0.0.1:{api_port}", process, log_path)
    agents.append(agent)
    return agent


async def claw_rtt(agent: ClawAgent, *nodes: str) -> float | None:
    """``claw-node rtt NODES --api agent``: the estimate in ms, None if it has none yet."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "node.cli", "rtt", *nodes, "--api", agent.api,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    if proc.returncode != 0:
        assert b"Could not find a coordinate" in err, err.decode(errors="replace")
        return None
    match = _RTT_LINE.match(out.decode())
    assert match, out
    return float(match.group(3))


async def serf_rtt(agent: SerfAgent, a: str, b: str) -> float | None:
    """``serf rtt A B`` asked of ``agent``: ms, None while it has no coordinate."""
    try:
        line = await agent.rtt(a, b)
    except RuntimeError as exc:
        assert "Could not find a coordinate" in str(exc), exc
        return None
    match = _RTT_LINE.match(line)
    assert match and match.group(1, 2) == (a, b), line
    return float(match.group(3))


def agree(x_ms: float, y_ms: float) -> bool:
    return abs(x_ms - y_ms) <= max(TOLERANCE_RELATIVE * max(x_ms, y_ms), TOLERANCE_ABSOLUTE_MS)


async def test_serf_rtt_and_claw_node_rtt_agree_and_coordinates_decode_exactly(
        serf_agents: SerfAgents, claw_agents: list[ClawAgent], tmp_path: Path) -> None:  # noqa: F811
    s1 = await serf_agents.start("s1")
    c0 = start_claw(claw_agents, tmp_path, "c0", s1.bind)
    start_claw(claw_agents, tmp_path, "c1", s1.bind)

    async def all_alive() -> bool:
        return {m["name"]: m["status"] for m in await s1.members()} == {
            "s1": "alive", "c0": "alive", "c1": "alive"}
    await eventually_async(all_alive, timeout=60, interval=SERF_POLL_S)

    # Every pair, as Serf estimates it (asked of s1) and as claw does (asked of c0).
    figures: dict[tuple[str, str], tuple[float | None, float | None]] = {}

    async def estimates_agree() -> bool:
        for a, b in (("c0", "s1"), ("c0", "c1"), ("s1", "c1")):
            figures[(a, b)] = (await serf_rtt(s1, a, b), await claw_rtt(c0, a, b))
        return all(s is not None and c is not None and agree(s, c) for s, c in figures.values())
    try:
        took = await eventually_async(estimates_agree, timeout=60, interval=1.0)
    finally:
        print("serf rtt / claw-node rtt (ms):",
              {f"{a}<->{b}": v for (a, b), v in figures.items()})
    print(f"estimates agreed {took:.1f} s after the cluster formed")
    assert (await claw_rtt(c0, "s1")) is not None  # B defaults to the agent's own node

    # The coordinate c0 decoded from s1's acks is exactly what s1's RPC reports for
    # itself, whenever s1 has not moved since (it moves after each of its own probes).
    async def decoded_exactly() -> bool:
        before = await s1.get_coordinate("s1")
        seen = (await asyncio.to_thread(c0.node, "s1"))["coordinate"]
        after = await s1.get_coordinate("s1")
        return (before is not None and before == after and any(before["Vec"])
                and seen is not None
                and seen == {"vec": before["Vec"], "error": before["Error"],
                             "adjustment": before["Adjustment"], "height": before["Height"]})
    took = await eventually_async(decoded_exactly, timeout=60, interval=0.05)
    print(f"c0 held s1's own coordinate bit for bit after {took:.1f} s of polling: "
          f"{await s1.get_coordinate('s1')}")
