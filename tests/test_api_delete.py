"""``DELETE /api/v1/nodes/{node_id}`` over the in-memory view: a registered worker is
removed, an unknown id is 404, a bad ``prune`` is 422 naming it."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from api import create_app
from api.memory_view import MemoryClusterView
from api.models import RegisterIn


@pytest.fixture
async def client():
    view = MemoryClusterView()
    await view.register(RegisterIn(hostname="w1", platform="linux", arch="x64",
                                   available_skills=["gpu"], node_id="w1"))
    c = TestClient(TestServer(create_app(view, run_monitor=False), host="127.0.0.1"))
    await c.start_server()
    yield c
    await c.close()


async def test_deleting_a_worker_removes_it(client: TestClient) -> None:
    resp = await client.delete("/api/v1/nodes/w1")
    assert resp.status == 200
    assert await resp.json() == {"success": True, "node_id": "w1", "source": "http",
                                 "member_state": None,
                                 "message": "worker w1 (online) deleted on every node"}
    assert (await client.get("/api/v1/nodes/w1")).status == 404
    assert (await client.delete("/api/v1/nodes/w1")).status == 404


async def test_a_bad_prune_value_is_422_naming_it(client: TestClient) -> None:
    resp = await client.delete("/api/v1/nodes/w1", params={"prune": "maybe"})
    assert resp.status == 422 and "prune" in (await resp.json())["error"]
    assert (await client.get("/api/v1/nodes/w1")).status == 200
