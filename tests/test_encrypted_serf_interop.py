"""Encrypted gossip between real ``claw-node --encrypt K`` agents and ``serf agent
-encrypt K`` on loopback (Debian's Serf 0.9.4, memberlist 0.2.2).

* claw joins serf and serf joins claw, every datagram and stream encrypted;
* a claw agent without the key, and one with another key, join the same seed: Serf
  refuses their streams (its log says why), they never appear in any view, and the
  agents of the cluster log their decrypt failures once, not per packet.

The claw agents' views are read from the line each logs per membership event
(``member join: c1 127.0.0.1:7946``, ``node.event_log``), parsed as
``simulations.versus_serf`` does. Skipped without ``serf`` unless env ``CI``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from node.keyring_file import new_key
from simulations.realproc.agents import parse_claw_line
from simulations.realproc.monitor import ALIVE
from tests.conftest import eventually_async
from tests.serf_harness import (
    SERF_POLL_S,
    SerfAgents,
    free_port,
    serf_agents,  # noqa: F401 - the fixture
)

pytestmark = [pytest.mark.serf, pytest.mark.slow, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


@dataclass
class ClawAgent:
    name: str
    bind: tuple[str, int]
    process: subprocess.Popen[bytes]
    log_path: Path
    api: str = ""
    """The agent's REST API, HOST:PORT (``claw-node ... --api``)."""

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def observations(self, name: str) -> list[str]:
        """The states this agent logged for member ``name``, oldest first."""
        return [obs.kind for line in self.log().splitlines()
                for obs in parse_claw_line(self.name, line, 0.0) if obs.subject == name]

    def sees(self, name: str) -> bool:
        """The agent's last word on ``name`` is that it is alive."""
        states = self.observations(name)
        return bool(states) and states[-1] == ALIVE

    def ever_saw(self, name: str) -> bool:
        return bool(self.observations(name))


class ClawAgents:
    """Starts ``claw-node`` agents on loopback; ``cleanup`` kills each by PID."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.agents: list[ClawAgent] = []

    def start(self, name: str, *flags: str) -> ClawAgent:
        bind = (HOST, free_port())
        log_path = self.workdir / f"claw-{name}.log"
        api = f"{HOST}:{free_port()}"
        argv = [sys.executable, "-m", "node.cli", "--node-id", name, "--bind", f"{HOST}:{bind[1]}",
                "--api-bind", api, "--profile", "local",
                "--data-dir", str(self.workdir / f"data-{name}"), "--log-level", "INFO",
                *flags]
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("CLAW_")}
        with open(log_path, "wb") as log_file:
            process = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, cwd=ROOT, env=env)
        agent = ClawAgent(name, bind, process, log_path, api)
        self.agents.append(agent)
        return agent

    def cleanup(self) -> None:
        for agent in self.agents:
            if agent.process.poll() is None:
                agent.process.send_signal(signal.SIGKILL)
            agent.process.wait(timeout=10)
            print(f"--- {agent.name} (pid {agent.process.pid}) ---\n{agent.log()[-3000:]}")


@pytest.fixture
def claw_agents(tmp_path: Path) -> Iterator[ClawAgents]:
    agents = ClawAgents(tmp_path)
    try:
        yield agents
    finally:
        agents.cleanup()


def addr(bind: tuple[str, int]) -> str:
    return f"{bind[0]}:{bind[1]}"


async def statuses(agent) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {m["name"]: m["status"] for m in await agent.members()}


async def test_encrypted_claw_and_serf_join_both_ways_and_keyless_nodes_stay_out(
        serf_agents: SerfAgents, claw_agents: ClawAgents) -> None:  # noqa: F811
    key = new_key()
    s1 = await serf_agents.start("s1", extra_args=(f"-encrypt={key}",))
    c0 = claw_agents.start("c0", "--encrypt", key, "--join", addr(s1.bind))  # claw joins serf
    c1 = claw_agents.start("c1", "--encrypt", key)
    await eventually_async(lambda: "started: gossip on" in c1.log(), 60, interval=SERF_POLL_S)
    await s1.join(c1.bind)  # serf joins claw
    everyone = {"s1", "c0", "c1"}

    async def all_alive() -> bool:
        serf_view = await statuses(s1)
        return (all(serf_view.get(n) == "alive" for n in everyone)
                and all(c.sees(n) for c in (c0, c1) for n in everyone - {c.name}))
    took = await eventually_async(all_alive, 60, interval=SERF_POLL_S)
    print(f"encrypted serf + 2 claw converged in {took:.1f} s")

    keyless = claw_agents.start("x-plain", "--join", addr(s1.bind), "--join", addr(c0.bind))
    wrong = claw_agents.start("x-wrong", "--encrypt", new_key(), "--join", addr(s1.bind),
                              "--join", addr(c0.bind))
    intruders_started = time.monotonic()

    def serf_log() -> str:
        return s1.log_tail(100_000)
    # Evidence that both tried: Serf refused their push-pulls with memberlist's errors,
    # c0 reported the streams it could not open, and both gave up their first attempts.
    await eventually_async(lambda: "Encryption is configured but remote state is not encrypted"
                     in serf_log(), 60, interval=SERF_POLL_S)
    await eventually_async(lambda: "No installed keys could decrypt the message" in serf_log(), 60, interval=SERF_POLL_S)
    await eventually_async(lambda: "failed to decrypt" in c0.log(), 60, interval=SERF_POLL_S)
    await eventually_async(lambda: "no seed answered" in keyless.log()
                     and "no seed answered" in wrong.log(), 60, interval=SERF_POLL_S)
    members = await statuses(s1)
    assert set(members) == everyone and all(s == "alive" for s in members.values())
    for agent in (c0, c1):
        assert not agent.ever_saw("x-plain") and not agent.ever_saw("x-wrong")
    for intruder in (keyless, wrong):
        assert not any(intruder.ever_saw(n) for n in everyone)
    # Each intruder retried its join several times; c0 logged once per source and minute.
    minutes = (time.monotonic() - intruders_started) / 60
    lines = [ln for ln in c0.log().splitlines() if "failed to decrypt" in ln]
    sources = {ln.split(" from ")[1].split()[0] for ln in lines}
    assert len(lines) <= len(sources) * (1 + int(minutes) + 1), lines
