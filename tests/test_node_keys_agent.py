"""Cluster-wide key rotation through two in-process agents' REST API on loopback.

The agents hold keyrings (``encrypt`` set) and answer Serf's key queries; whether their
packets are encrypted is the transport's business, not this test's.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import aiohttp
import pytest

from node.agent import Agent
from node.keyring_file import KEYRING_FILE, read_keyring_file
from tests.conftest import eventually_async
from tests.test_node_agent import config, fake_sampler

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

K1, K2, K3 = (base64.b64encode(bytes([i]) * 32).decode() for i in (1, 2, 3))


async def test_rotation_across_agents_through_the_api(tmp_path: Path) -> None:
    first = Agent(config(tmp_path / "a", node_id="a", encrypt=K1, api_eager=True), sampler=fake_sampler)
    await first.start()
    second = None
    try:
        seed = f"127.0.0.1:{first.transport.address[1]}"  # type: ignore[union-attr]
        second = Agent(config(tmp_path / "b", node_id="b", encrypt=K1, join=[seed]),
                       sampler=fake_sampler)
        await second.start()
        await eventually_async(lambda: len(first.members()) == 2 and len(second.members()) == 2)  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{first.api_port}/api/v1/keys"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            async def call(method: str, path: str = "", key: str | None = None) -> tuple[int, dict]:
                body = None if key is None else {"key": key}
                async with http.request(method, base + path, json=body) as r:
                    return r.status, json.loads(await r.text())

            status, listed = await call("GET")
            assert status == 200 and listed["success"], listed
            assert listed["num_nodes"] == 2 and listed["keys"] == [{"key": K1, "nodes": 2, "primary_nodes": 2}]
            assert (await call("POST", "/install", K2))[1]["success"]
            status, refused = await call("POST", "/use", K3)
            assert status == 409 and "a, b" in refused["error"]
            assert (await call("POST", "/use", K2))[1]["success"]
            status, refused = await call("POST", "/remove", K2)
            assert status == 409 and "primary key of 2 live node(s)" in refused["error"]
            assert (await call("POST", "/remove", K1))[1]["success"]
            status, listed = await call("GET")
            assert listed["keys"] == [{"key": K2, "nodes": 2, "primary_nodes": 2}]
        for agent, name in ((first, "a"), (second, "b")):
            assert agent.keyring.keys == (base64.b64decode(K2),)
            assert read_keyring_file(tmp_path / name / KEYRING_FILE) == [base64.b64decode(K2)]
    finally:
        if second is not None:
            await second.stop(leave=True)
        await first.stop(leave=True)
    await asyncio.sleep(0)
