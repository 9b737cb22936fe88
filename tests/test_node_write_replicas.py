"""Acknowledged means replicated, with real agents in-process on loopback: when the
coordinator answers a registration 200, the record is already in a member's store; when
too few members can confirm, the answer is 503 with ``applied: unknown``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from node.agent import Agent
from tests.conftest import eventually_async
from tests.test_node_agent import config, fake_sampler

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

WORKER = {"hostname": "worker-1", "platform": "linux", "arch": "x64",
          "available_skills": ["python"], "node_id": "worker-1"}


async def post(agent: Agent, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(
            f"http://127.0.0.1:{agent.api_port}{path}", json=body,
            timeout=aiohttp.ClientTimeout(total=30)) as resp:
        return resp.status, await resp.json()


async def delete(agent: Agent, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.delete(
            f"http://127.0.0.1:{agent.api_port}{path}",
            timeout=aiohttp.ClientTimeout(total=30)) as resp:
        return resp.status, await resp.json()


async def pair(tmp_path: Path, **coordinator_flags: object) -> tuple[Agent, Agent]:
    first = Agent(config(tmp_path / "a", node_id="a", api_eager=True, **coordinator_flags),
                  sampler=fake_sampler)
    await first.start()
    await eventually_async(lambda: first.coordinator_state()[0] == "a")
    seed = f"127.0.0.1:{first.transport.address[1]}"  # type: ignore[union-attr]
    second = Agent(config(tmp_path / "b", node_id="b", join=[seed]), sampler=fake_sampler)
    await second.start()
    await eventually_async(lambda: len(first.replicas_candidates()) == 1)
    await eventually_async(lambda: first.api is not None)
    return first, second


async def test_a_registration_answered_200_is_already_in_the_members_store(
        tmp_path: Path) -> None:
    first, second = await pair(tmp_path)
    try:
        status, body = await post(first, "/api/v1/nodes/register", WORKER)
        assert status == 200, body
        stored = second.store.registered()  # type: ignore[union-attr]
        assert stored["worker-1"]["version"] == 1
        status, body = await post(first, "/api/v1/nodes/worker-1/shutdown", {})
        assert status == 200, body
        assert second.store.registered()["worker-1"]["status"] == "offline"  # type: ignore[union-attr]
    finally:
        await second.stop(leave=True)
        await first.stop(leave=True)


async def test_too_few_confirmations_answer_503_applied_unknown(tmp_path: Path) -> None:
    first, second = await pair(tmp_path, write_replicas=2)  # only one member can confirm
    try:
        status, body = await post(first, "/api/v1/nodes/register", WORKER)
        assert status == 503 and body["applied"] == "unknown", body
        assert "needs 2 replica(s)" in body["error"] and "retry" in body["error"]
        # The write is in effect on the coordinator: a retry is a re-registration.
        status, body = await post(first, "/api/v1/nodes/register", WORKER)
        assert status == 503 and first.registry.get("worker-1").version == 2  # type: ignore[union-attr]
    finally:
        await second.stop(leave=True)
        await first.stop(leave=True)


async def test_alone_the_own_store_is_enough(tmp_path: Path) -> None:
    solo = Agent(config(tmp_path, api_eager=True), sampler=fake_sampler)
    await solo.start()
    try:
        await eventually_async(lambda: solo.api is not None and solo.coordinator_state()[0] == "solo")
        status, body = await post(solo, "/api/v1/nodes/register", WORKER)
        assert status == 200, body
        assert "worker-1" in solo.store.registered()  # type: ignore[union-attr]
    finally:
        await asyncio.wait_for(solo.stop(leave=False), 30)


async def test_a_delete_is_a_replicated_tombstone_that_survives_a_full_restart(
        tmp_path: Path) -> None:
    first, second = await pair(tmp_path)
    try:
        status, body = await post(first, "/api/v1/nodes/register", WORKER)
        assert status == 200, body
        live = first.registry.get("worker-1")
        assert live is not None
        status, body = await delete(first, "/api/v1/nodes/worker-1")
        assert status == 200, body  # answered once b confirmed its store commit
        tomb = first.registry.tombstone("worker-1")
        assert tomb is not None
        assert second.store.registered()["worker-1"]["removed"] is True  # type: ignore[union-attr]
    finally:
        await second.stop(leave=False)
        await first.stop(leave=False)
    # Both restart from their stores: the record stays deleted, and a late copy of the
    # live record (a peer's gossip, a partitioned node's push-pull) does not revive it.
    again = [Agent(config(tmp_path / d, node_id=d), sampler=fake_sampler) for d in ("a", "b")]
    for agent in again:
        await agent.start()
    try:
        for agent in again:
            assert agent.registry.get("worker-1") is None
            assert [t.version for t in agent.registry.tombstones()] == [tomb.version]
            assert not agent.registry.merge(live)
    finally:
        for agent in again:
            await agent.stop(leave=False)
