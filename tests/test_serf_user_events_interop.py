"""Serf user events and queries between a claw agent and a real ``serf agent``, both
ways, through the real front ends: ``serf event``/``serf query`` on one side,
``claw-node event``/``claw-node query`` (the CLI, through the agent's REST API) on the
other, and each side's ``-event-handler`` scripts."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from node.agent import Agent
from tests.conftest import eventually_async
from tests.serf_harness import SERF_POLL_S, SerfAgents, serf_agents  # noqa: F401 - fixture
from tests.test_node_agent import config, fake_sampler

pytestmark = [pytest.mark.serf, pytest.mark.slow, pytest.mark.timeout(180)]

CLI_TIMEOUT_S = 60.0


async def _claw_node(*args: str) -> tuple[int, str]:
    """``claw-node ARGS`` in a subprocess (this checkout first on the path)."""
    path = [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "node.cli", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env=env)
    out, _ = await asyncio.wait_for(proc.communicate(), CLI_TIMEOUT_S)
    return proc.returncode or 0, out.decode(errors="replace")


async def _step(what: str, done, serf, agent: Agent) -> None:  # type: ignore[no-untyped-def]
    """Wait for ``done``; on a timeout, fail naming the step, with both sides' state."""
    try:
        await eventually_async(done, 40.0, 0.05)
    except TimeoutError:
        stats = agent.transport.core.stats if agent.transport else {}  # type: ignore[union-attr]
        handlers = agent.user_events.runner.stats if agent.user_events else None
        pytest.fail(f"{what}: not within 40 s; claw user events "
                    f"{ {k: v for k, v in stats.items() if k.startswith('user_event')} }, "
                    f"handlers {handlers}\nserf log:\n{serf.log_tail(60)}")


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


async def test_events_and_queries_both_ways_with_a_serf_agent(serf_agents: SerfAgents,  # noqa: F811
                                                              tmp_path: Path) -> None:
    got_serf = tmp_path / "serf-got.txt"
    s1 = await serf_agents.start("s1", extra_args=(
        f"-event-handler=user:from-claw=cat > {got_serf}",
        "-event-handler=query:ask-serf=echo serf-says-hi"))
    got_claw = tmp_path / "claw-got.txt"
    handlers = [
        (f'user:to-claw=printf "%s|%s|%s|%s|" "$SERF_EVENT" "$SERF_USER_EVENT" "$SERF_SELF_NAME" '
         f'"$SERF_USER_LTIME" > {got_claw}.tmp; cat >> {got_claw}.tmp; mv {got_claw}.tmp {got_claw}'),
        'query:ask-claw=printf "claw-says-%s" "$(cat)"',
    ]
    agent = Agent(config(tmp_path / "c0", node_id="c0", api_eager=True, event_handler=handlers,
                         join=[f"{s1.bind[0]}:{s1.bind[1]}"]), sampler=fake_sampler)
    await agent.start()
    try:
        async def both_alive() -> bool:
            return {m["name"]: m["status"] for m in await s1.members()} == {"s1": "alive", "c0": "alive"}
        await eventually_async(both_alive, 40.0, interval=SERF_POLL_S)
        api = f"127.0.0.1:{agent.api_port}"

        # serf event -> the claw agent's user:to-claw handler, with Serf's environment.
        code, out = await s1.event("to-claw", "payload-1")
        assert code == 0, out
        await _step("serf event reaches the claw handler", lambda: _read(got_claw) != "", s1, agent)
        kind, name, self_name, ltime, payload = _read(got_claw).split("|")
        assert (kind, name, self_name, payload) == ("user", "to-claw", "c0", "payload-1\n")
        assert int(ltime) >= 1

        # serf query -> acked by both, answered by the claw agent's query handler.
        code, out = await s1.query("-timeout=3s", "ask-claw", "q")
        assert code == 0 and "Ack from 'c0'" in out and "Total Acks: 2" in out, out
        assert "Response from 'c0': claw-says-q" in out, out

        # claw-node event -> Serf's user:from-claw handler.
        code, out = await _claw_node("event", "from-claw", "hello-serf", "--api", api)
        assert code == 0 and "Event 'from-claw' dispatched! Coalescing enabled: true" in out, out
        await _step("claw-node event reaches Serf's handler",
                    lambda: _read(got_serf) == "hello-serf\n", s1, agent)

        # claw-node query -> Serf's ack and its handler's response, printed as serf does.
        code, out = await _claw_node("query", "ask-serf", "--timeout", "3", "--api", api)
        assert code == 0, out
        assert "Query 'ask-serf' dispatched" in out and "Ack from 's1'" in out, out
        assert "Response from 's1': serf-says-hi" in out and "Total Acks: 2" in out, out

        # A Serf agent joining through the claw agent decodes its push-pull, whose event
        # ring now holds the events above (Serf's LocalState format), and ignores them
        # as history (serf agent without -replay).
        got_s2 = tmp_path / "s2-got.txt"
        s2 = await serf_agents.start("s2", join=((agent.transport.address[0], agent.transport.address[1]),),  # type: ignore[union-attr]
                                     extra_args=(f"-event-handler=user=cat >> {got_s2}",))
        async def three_alive() -> bool:
            return {m["status"] for m in await s2.members()} == {"alive"} and len(await s2.members()) == 3
        await eventually_async(three_alive, 40.0, interval=SERF_POLL_S)
        assert "Failed to decode remote state" not in s2.log_tail(10_000)
        assert _read(got_s2) == ""

        # Over-limit requests are refused with a clear error naming the limit.
        code, out = await _claw_node("event", "big", "x" * 600, "--api", api)
        assert code == 1 and "exceeds limit of 512 bytes" in out, out
        code, out = await _claw_node("query", "big", "x" * 1000, "--api", api)
        assert code == 1 and "exceeds limit of 1024 bytes" in out, out
    finally:
        await agent.stop(leave=True)

