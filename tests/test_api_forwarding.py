"""Any node answers: two real API servers on loopback, one coordinator and one follower
that forwards writes to it; 503 when the coordinator is unknown or unreachable."""

from __future__ import annotations

import socket

import aiohttp
import pytest

from api import ApiServer, create_app
from api.memory_view import MemoryClusterView
from api.models import CoordinatorInfo, RegisterIn

WORKER = {"hostname": "w1", "platform": "linux", "arch": "arm64", "available_skills": ["python"]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def pair():
    """(coordinator server, follower server, coordinator view, follower view)."""
    coord_view = MemoryClusterView(node_id="coord")
    coord = ApiServer(create_app(coord_view, run_monitor=False, api_token="tok"), port=0)
    await coord.start()
    coord_view.api_url = coord.url
    follower_view = MemoryClusterView(
        node_id="follower", coordinating=False,
        coordinator_info=CoordinatorInfo(node_id="coord", api_url=coord.url, term=3))
    follower = ApiServer(create_app(follower_view, run_monitor=False, api_token="tok",
                                    forward_timeout_s=2.0), port=0)
    await follower.start()
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer tok"}) as http:
        yield coord, follower, coord_view, follower_view, http
    await follower.stop()
    await coord.stop()


async def test_writes_are_forwarded_and_answers_relayed(pair) -> None:
    coord, follower, coord_view, follower_view, http = pair
    async with http.post(f"{follower.url}/api/v1/nodes/register", json=WORKER) as r:
        body = await r.json()
        assert r.status == 200 and body["success"] is True
        assert r.headers["X-Claw-Coordinator"] == "coord"
        assert r.headers["X-Claw-Coordinator-Url"] == coord.url
    node_id = body["node_id"]
    # Executed on the coordinator, not on the follower.
    assert node_id in coord_view.registry and len(follower_view.registry) == 0
    async with http.post(f"{follower.url}/api/v1/nodes/{node_id}/heartbeat",
                         json={"cpu_usage": 12.5}) as r:
        assert r.status == 200 and (await r.json())["node"]["cpu_usage"] == 12.5
    # The coordinator's errors are relayed unchanged (status and body).
    async with http.post(f"{follower.url}/api/v1/nodes/register", json={**WORKER, "arch": "z80"}) as r:
        body = await r.json()
        assert r.status == 422 and "arch" in body["error"]
    async with http.post(f"{follower.url}/api/v1/nodes/ghost/shutdown") as r:
        assert r.status == 404
    # Query strings survive forwarding; check-heartbeat runs on the coordinator.
    async with http.post(f"{follower.url}/api/v1/cluster/check-heartbeat") as r:
        assert r.status == 200 and (await r.json())["checked"] == 1
    # The coordinator's read sees the write (read-your-writes on the coordinator).
    async with http.get(f"{coord.url}/api/v1/nodes/{node_id}") as r:
        assert (await r.json())["node"]["cpu_usage"] == 12.5


async def test_reads_are_local(pair) -> None:
    coord, follower, coord_view, follower_view, http = pair
    await follower_view.register(RegisterIn(**WORKER, node_id="local-only"))
    async with http.get(f"{follower.url}/api/v1/nodes") as r:
        body = await r.json()
        assert [n["node_id"] for n in body["nodes"]] == ["local-only"]
        assert r.headers["X-Claw-Coordinator"] == "coord"
    async with http.get(f"{follower.url}/health") as r:
        body = await r.json()
        assert body["is_coordinator"] is False and body["coordinator"]["term"] == 3


async def test_token_is_checked_before_forwarding(pair) -> None:
    coord, follower, coord_view, follower_view, http = pair
    async with aiohttp.ClientSession() as anon:
        async with anon.post(f"{follower.url}/api/v1/nodes/register", json=WORKER) as r:
            assert r.status == 401
    assert len(coord_view.registry) == 0


async def test_unreachable_coordinator_is_503_reads_still_work(pair) -> None:
    coord, follower, coord_view, follower_view, http = pair
    dead = f"http://127.0.0.1:{_free_port()}"
    follower_view.coordinator_info = CoordinatorInfo(node_id="coord", api_url=dead, term=4)
    async with http.post(f"{follower.url}/api/v1/nodes/register", json=WORKER) as r:
        body = await r.json()
        assert r.status == 503 and body["success"] is False
        assert "unreachable" in body["error"] and dead in body["error"]
        assert r.headers["X-Claw-Coordinator"] == "coord"
    async with http.get(f"{follower.url}/api/v1/nodes") as r:
        assert r.status == 200
    async with http.get(f"{follower.url}/api/v1/cluster/health") as r:
        assert r.status == 200


async def test_no_coordinator_is_503(pair) -> None:
    coord, follower, coord_view, follower_view, http = pair
    follower_view.coordinator_info = None
    async with http.post(f"{follower.url}/api/v1/nodes/register", json=WORKER) as r:
        body = await r.json()
        assert r.status == 503 and "no coordinator" in body["error"]
        assert "X-Claw-Coordinator" not in r.headers
    async with http.get(f"{follower.url}/api/v1/cluster/health") as r:
        body = await r.json()
        assert r.status == 200 and body["status"] == "critical" and body["coordinator"] is None
    # A coordinator without an API URL cannot take writes either.
    follower_view.coordinator_info = CoordinatorInfo(node_id="coord", api_url=None)
    async with http.post(f"{follower.url}/api/v1/nodes/register", json=WORKER) as r:
        assert r.status == 503 and "no API URL" in (await r.json())["error"]


async def test_never_forwards_twice(pair) -> None:
    """Two followers pointing at each other (stale views during an election) must not
    bounce a write forever: the second hop answers 503."""
    coord, follower, coord_view, follower_view, http = pair
    follower_view.coordinator_info = CoordinatorInfo(node_id="coord", api_url=follower.url)
    async with http.post(f"{follower.url}/api/v1/nodes/register", json=WORKER) as r:
        body = await r.json()
        assert r.status == 503 and "forwarded" in body["error"]
