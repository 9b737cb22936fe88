"""The Agent in-process on loopback: clock jumps, lasting registry, config errors."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from api.models import RegisterIn
from gossip.types import MemberState
from node.agent import Agent
from node.config import NodeConfig, NodeConfigError
from node.heartbeat_publisher import CLOCK_JUMP_S
from node.resources import ResourceSnapshot
from tests.conftest import eventually_async

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def config(tmp_path: Path, **extra: object) -> NodeConfig:
    flags = {"node_id": "solo", "bind": "127.0.0.1:0", "api_bind": "127.0.0.1:0",
             "data_dir": tmp_path, "profile": "local", "resource_interval": 0.2, **extra}
    return NodeConfig.load(flags)


def fake_sampler() -> ResourceSnapshot:
    return ResourceSnapshot(cpu_percent=12.0, memory_percent=34.0, disk_percent=56.0)


T = TypeVar("T")


def counting(fn: Callable[[], T]) -> tuple[Callable[[], T], list[int]]:
    """``fn`` and a one-element list counting its calls: a test waits for the agent to
    have sampled (a positive event) before it asserts that something did not happen."""
    calls = [0]

    def counted() -> T:
        calls[0] += 1
        return fn()

    return counted, calls


async def test_single_node_elects_itself_and_reports_its_load(tmp_path: Path) -> None:
    agent = Agent(config(tmp_path), sampler=fake_sampler)
    await agent.start()
    try:
        await eventually_async(lambda: agent.coordinator_state() == ("solo", 1))
        await eventually_async(lambda: agent.heartbeat_of("solo") is not None)
        node = await agent.view.get_node("solo")  # type: ignore[union-attr]
        assert (node.cpu_usage, node.memory_usage, node.disk_usage) == (12.0, 34.0, 56.0)
        assert node.status.value == "online" and node.is_coordinator
    finally:
        await agent.stop(leave=True)


async def test_clock_jump_reannounces_with_a_higher_incarnation(tmp_path: Path) -> None:
    offset = [0.0]
    import time

    agent = Agent(config(tmp_path), sampler=fake_sampler, wall_clock=lambda: time.time() + offset[0])
    await agent.start()
    try:
        before = agent.transport.core.incarnation  # type: ignore[union-attr]
        await eventually_async(lambda: agent.stats["heartbeats_sent"] >= 1)  # sampled the clock
        offset[0] += CLOCK_JUMP_S + 60.0  # the machine "slept" for a minute
        await eventually_async(lambda: agent.stats["clock_jumps"] >= 1)
        assert agent.transport.core.incarnation > before  # type: ignore[union-attr]
        assert agent.store.incarnation >= agent.transport.core.incarnation  # type: ignore[union-attr]
    finally:
        await agent.stop(leave=True)


async def test_registry_and_term_survive_a_restart(tmp_path: Path) -> None:
    agent = Agent(config(tmp_path), sampler=fake_sampler)
    await agent.start()
    try:
        await eventually_async(lambda: agent.coordinator_state()[0] == "solo")
        result = await agent.view.register(RegisterIn(  # type: ignore[union-attr]
            hostname="w", platform="linux", arch="x64", available_skills=["go"]))
        worker = result.node.node_id
        first_epoch = agent._epoch
        # the store write runs in a worker thread
        await eventually_async(lambda: worker in agent.store.registered())  # type: ignore[union-attr]
    finally:
        await agent.stop(leave=True)
    again = Agent(config(tmp_path), sampler=fake_sampler)
    await again.start()
    try:
        assert again.node_id == "solo" and again._epoch > first_epoch
        assert await again.view.get_node(worker) is not None  # type: ignore[union-attr]
        await eventually_async(lambda: again.coordinator_state() == ("solo", 2))  # terms only grow
    finally:
        await again.stop(leave=True)


async def test_too_many_skills_is_a_config_error_before_listening(tmp_path: Path) -> None:
    skills = ",".join(f"a-rather-long-skill-name-{i:02d}" for i in range(30))
    agent = Agent(config(tmp_path, skills=skills), sampler=fake_sampler)
    with pytest.raises(NodeConfigError) as info:
        await agent.start()
    assert info.value.flag == "--skills"
    assert agent.api is None and agent.store is None  # cleaned up


async def test_advertise_tailscale_without_tailscale_is_a_config_error(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("node.agent_start.tailscale_ip", lambda: None)
    agent = Agent(config(tmp_path, advertise="tailscale"), sampler=fake_sampler)
    with pytest.raises(NodeConfigError) as info:
        await agent.start()
    assert info.value.flag == "--advertise"


async def test_registration_too_big_for_a_datagram_is_still_accepted(tmp_path: Path) -> None:
    agent = Agent(config(tmp_path), sampler=fake_sampler)
    await agent.start()
    try:
        await eventually_async(lambda: agent.coordinator_state()[0] == "solo")
        result = await agent.view.register(RegisterIn(  # type: ignore[union-attr]
            hostname="h" * 200, platform="linux", arch="x64",
            available_skills=[f"skill-{i:02d}-" + "x" * 50 for i in range(64)]))
        assert result.created
        assert agent.stats["app_too_large"] == 1  # left to push-pull anti-entropy
    finally:
        await agent.stop(leave=True)


async def test_heartbeats_only_on_change_and_a_rate_limited_change_still_goes(tmp_path: Path) -> None:
    sampler, samples = counting(fake_sampler)
    agent = Agent(config(tmp_path), sampler=sampler)
    await agent.start()
    try:
        await eventually_async(lambda: agent.stats["heartbeats_sent"] >= 1)
        taken = samples[0]
        await eventually_async(lambda: samples[0] >= taken + 5)
        assert agent.stats["heartbeats_sent"] == 1  # five samples of an unchanged load: no send
        for running in range(1, 6):  # a burst of task changes: 3 tokens, then deferred
            agent.apply_tasks({"running_tasks": running})
        assert agent.stats["heartbeats_sent"] == 4
        # the last change goes when the rate limit allows, without another sample changing
        await eventually_async(lambda: agent.stats["heartbeats_sent"] >= 5)
        await eventually_async(lambda: agent.heartbeats.get("solo").running_tasks == 5)  # type: ignore[union-attr]
        assert agent.publisher.last_sent.running_tasks == 5  # type: ignore[union-attr]
    finally:
        await agent.stop(leave=True)


async def _http_get(port: int, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), timeout=30.0)
    writer.close()
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


async def test_a_member_serves_its_api_on_the_first_connection_or_as_coordinator(
        tmp_path: Path) -> None:
    first = Agent(config(tmp_path / "a", node_id="a"), sampler=fake_sampler)
    await first.start()
    second = None
    try:
        await eventually_async(lambda: first.coordinator_state()[0] == "a")
        assert first.api is not None  # the coordinator runs the heartbeat monitor: at once
        seed = f"127.0.0.1:{first.transport.address[1]}"  # type: ignore[union-attr]
        sampler, samples = counting(fake_sampler)
        second = Agent(config(tmp_path / "b", node_id="b", join=[seed]), sampler=sampler)
        await second.start()
        await eventually_async(lambda: len(second.members()) == 2)  # type: ignore[union-attr]
        taken = samples[0]
        await eventually_async(lambda: samples[0] >= taken + 5)  # a second of its life...
        assert second.api is None and second.view is None  # ...as an idle member: no REST stack

        # A client connects: it waits in the backlog while the stack loads, then is served.
        assert second.api_port is not None
        status, body = await _http_get(second.api_port, "/health")
        assert status == 200
        health = json.loads(body)
        assert health["node_id"] == "b" and health["is_coordinator"] is False
        assert second.api is not None and second.view is not None
    finally:
        if second is not None:
            await second.stop(leave=True)
        await first.stop(leave=True)


async def test_on_a_busy_host_the_rest_stack_waits_for_calm_or_a_client(tmp_path: Path) -> None:
    host_busy, busy_checks = counting(lambda: 1.0)
    agent = Agent(config(tmp_path), sampler=fake_sampler, host_busy=host_busy)
    starting = asyncio.create_task(agent.start())
    try:
        await eventually_async(lambda: agent.coordinator_state() == ("solo", 1))
        checked = busy_checks[0]
        await eventually_async(lambda: busy_checks[0] >= checked + 3)  # found busy 3 times...
        assert agent.api is None and not starting.done()  # ...so the coordinator still waits
        assert agent.api_port is not None
        status, _ = await _http_get(agent.api_port, "/health")  # a client ends the wait
        assert status == 200
        await asyncio.wait_for(starting, 30.0)
        assert agent.api is not None
    finally:
        starting.cancel()
        await agent.stop(leave=True)

    calm = Agent(config(tmp_path / "calm"), sampler=fake_sampler, host_busy=lambda: 0.2)
    await asyncio.wait_for(calm.start(), 30.0)  # no client: calm alone lets it load
    try:
        assert calm.api is not None
    finally:
        await calm.stop(leave=True)


async def test_a_member_that_becomes_coordinator_serves_its_api(tmp_path: Path) -> None:
    first = Agent(config(tmp_path / "a", node_id="a"), sampler=fake_sampler)
    await first.start()
    second = None
    try:
        await eventually_async(lambda: first.coordinator_state()[0] == "a")
        seed = f"127.0.0.1:{first.transport.address[1]}"  # type: ignore[union-attr]
        second = Agent(config(tmp_path / "b", node_id="b", join=[seed]), sampler=fake_sampler)
        await second.start()
        await eventually_async(lambda: len(second.members()) == 2)  # type: ignore[union-attr]
        assert second.api is None
        await first.stop(leave=True)  # the coordinator leaves: b takes the role
        await eventually_async(lambda: second.coordinator_state()[0] == "b")  # type: ignore[union-attr]
        await eventually_async(lambda: second.api is not None)  # type: ignore[union-attr]
    finally:
        if second is not None:
            await second.stop(leave=True)
        await first.stop(leave=True)


async def test_the_event_bus_carries_membership_and_coordinator_events(tmp_path: Path) -> None:
    from node.events import EventKind

    first = Agent(config(tmp_path / "a", node_id="a"), sampler=fake_sampler)
    first.events.add_listener(lambda event: 1 / 0)  # a broken listener is only logged
    queue = first.events.subscribe(max_queued=100)
    seen: list[tuple[EventKind, str]] = []
    first.events.add_listener(lambda event: seen.append((event.kind, event.node)))
    await first.start()
    second = None
    try:
        await eventually_async(lambda: (EventKind.COORDINATOR, "a") in seen)
        seed = f"127.0.0.1:{first.transport.address[1]}"  # type: ignore[union-attr]
        second = Agent(config(tmp_path / "b", node_id="b", join=[seed]), sampler=fake_sampler)
        await second.start()
        await eventually_async(lambda: (EventKind.MEMBER_JOIN, "b") in seen)
        await second.stop(leave=True)
        await eventually_async(lambda: (EventKind.MEMBER_LEFT, "b") in seen)
        # ... and the agent acted on them despite the broken listener.
        assert [m.name for m in first.members() if m.state.name == "LEFT"] == ["b"]
        queued = [(e.kind, e.node) for e in queue.drain()]
        assert queued == seen and queue.dropped == 0
    finally:
        if second is not None:
            await second.stop(leave=True)
        await first.stop(leave=True)


async def test_own_start_time_is_what_the_others_decode(tmp_path: Path) -> None:
    # The election compares this node's own started_at with the values others decode
    # from its metadata: they must be equal, or two agents started within the same
    # millisecond could each find the other older and neither claim the role.
    from node.metadata import decode_meta, encode_meta

    agent = Agent(config(tmp_path), sampler=fake_sampler)
    await agent.start()
    try:
        assert decode_meta(encode_meta(agent.advert.meta)).started_at == agent.advert.meta.started_at
        assert agent.advert.meta.started_at == agent.started_at > 0
    finally:
        await agent.stop(leave=True)


@pytest.mark.slow  # waits for SWIM to declare a stopped agent failed (~5-12 s)
async def test_delete_refuses_a_live_member_and_force_leaves_a_failed_one(tmp_path: Path) -> None:
    import aiohttp

    first = Agent(config(tmp_path / "a", node_id="a"), sampler=fake_sampler)
    await first.start()
    second = None
    try:
        await eventually_async(lambda: first.coordinator_state()[0] == "a" and first.api is not None)
        seed = f"127.0.0.1:{first.transport.address[1]}"  # type: ignore[union-attr]
        second = Agent(config(tmp_path / "b", node_id="b", join=[seed]), sampler=fake_sampler)
        await second.start()
        await eventually_async(lambda: len(first.members()) == 2)
        url = f"http://127.0.0.1:{first.api_port}/api/v1/nodes/b"
        async with aiohttp.ClientSession() as http:
            async with http.delete(url) as resp:
                body = await resp.json()
                assert resp.status == 409 and "'b' is a live gossip member (alive)" in body["error"]
            await second.stop(leave=False)  # gone without a word: failed
            await eventually_async(lambda: first.transport.core.member_state("b") is MemberState.DEAD)  # type: ignore[union-attr]
            async with http.delete(url, params={"prune": "false"}) as resp:
                assert resp.status == 200
                assert (await resp.json())["member_state"] == "left"
            assert first.transport.core.member_state("b") is MemberState.LEFT  # type: ignore[union-attr]
            async with http.delete(url) as resp:
                assert resp.status == 200 and (await resp.json())["member_state"] is None
            async with http.get(url) as resp:
                assert resp.status == 404
    finally:
        if second is not None:
            await second.stop(leave=True)
        await first.stop(leave=True)


async def test_a_reload_through_the_api_applies_settings_and_refuses_bad_ones(
        tmp_path: Path) -> None:
    import aiohttp

    from node.events import EventKind

    sources: dict[str, object] = {"tags": "before"}

    def load_config() -> NodeConfig:  # the agent's flags, as re-read on each reload
        return config(tmp_path, api_eager=True, **sources)

    agent = Agent(load_config(), sampler=fake_sampler, load_config=load_config,
                  host_busy=lambda: None)  # the REST stack loads whatever the host's load
    maintenance: list[bool] = []
    agent.events.add_listener(lambda e: maintenance.append(e.details["enabled"])
                              if e.kind is EventKind.MAINTENANCE else None)
    await agent.start()
    try:
        await eventually_async(lambda: agent.api is not None)
        url = f"http://127.0.0.1:{agent.api_port}"
        async with aiohttp.ClientSession() as http:
            sources.update(tags="after", maintenance=True, api_token="t0ken", profile="wan")
            async with http.post(f"{url}/api/v1/agent/reload") as answer:
                assert answer.status == 200
                body = await answer.json()
            assert body["applied"] == ["tags", "maintenance", "api_token"]
            assert body["restart_needed"] == ["profile"]
            own = next(m for m in agent.members() if m.name == "solo")
            assert agent.meta_of(own).tags == ("after",) and agent.meta_of(own).maintenance
            assert maintenance == [True]
            async with http.get(f"{url}/api/v1/nodes") as answer:
                assert answer.status == 401  # the new token is required from now on
            sources["max_concurrent_tasks"] = "many"
            async with http.post(f"{url}/api/v1/agent/reload",
                                 headers={"Authorization": "Bearer t0ken"}) as answer:
                assert answer.status == 422
                error = (await answer.json())["error"]
            assert "--max-concurrent-tasks" in error and "reload refused" in error
            assert agent.config.tags == ["after"] and agent.config.max_concurrent_tasks == 5
    finally:
        await agent.stop(leave=False)


async def test_a_reload_switches_the_gossip_verify_flags_of_the_running_gossip(
        tmp_path: Path) -> None:
    import socket

    key = base64.b64encode(bytes(range(32))).decode()
    sources: dict[str, object] = {"gossip_verify_incoming": False}

    def load_config() -> NodeConfig:
        return config(tmp_path, encrypt=key, **sources)

    agent = Agent(load_config(), sampler=fake_sampler, load_config=load_config)
    await agent.start()
    try:
        core = agent.transport.core  # type: ignore[union-attr]
        port = agent.transport.address[1]  # type: ignore[union-attr]

        def send_plaintext() -> int:
            seen = core.stats["packets_in"]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.sendto(b"\x00plaintext", ("127.0.0.1", port))
            return seen

        seen = send_plaintext()  # read as plaintext: verify_incoming is off
        await eventually_async(lambda: core.stats["packets_in"] > seen)
        assert core.stats["decrypt_failures"] == 0
        sources["gossip_verify_incoming"] = True
        outcome = agent.reload()
        assert outcome.ok and outcome.applied == ("gossip_verify_incoming",), outcome
        send_plaintext()  # refused and counted from now on, without a restart
        await eventually_async(lambda: core.stats["decrypt_failures"] == 1)
    finally:
        await agent.stop(leave=False)
