"""Any node answers: two real API servers on loopback, one coordinator and one follower
that relays writes to it. The follower's forwarder here replays the write straight on the
coordinator's API (``execute_write``, what the coordinator does with a write that came
over the request channel); the channel itself is tested in ``test_cluster_channel.py``.
503 when the coordinator is unknown or unreachable, 401 under the coordinator's token."""

from __future__ import annotations

import socket

import aiohttp
import pytest

from api import ApiServer, create_app
from api.errors import Unavailable
from api.forwarding import execute_write
from api.memory_view import MemoryClusterView
from api.models import CoordinatorInfo, RegisterIn
from api.relay import ForwardedAnswer, ForwardedWrite

WORKER = {"hostname": "w1", "platform": "linux", "arch": "arm64", "available_skills": ["python"]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def replay_on_coordinator(view: MemoryClusterView, session: aiohttp.ClientSession):
    """A forwarder that replays the write on the API the view names as coordinator's."""
    async def forward(write: ForwardedWrite, timeout_s: float) -> ForwardedAnswer:
        coordinator = await view.coordinator()
        if coordinator is None or not coordinator.api_url:
            raise Unavailable("coordinator: no coordinator is known")
        return await execute_write(session, coordinator.api_url, write, timeout_s)
    return forward


async def start_pair(coordinator_token: str | None, follower_token: str | None):
    coord_view = MemoryClusterView(node_id="coord")
    coord = ApiServer(create_app(coord_view, run_monitor=False, api_token=coordinator_token),
                      port=0)
    await coord.start()
    coord_view.api_url = coord.url
    follower_view = MemoryClusterView(
        node_id="follower", coordinating=False,
        coordinator_info=CoordinatorInfo(node_id="coord", api_url=coord.url, term=3))
    session = aiohttp.ClientSession()
    follower = ApiServer(create_app(follower_view, run_monitor=False, api_token=follower_token,
                                    forward_timeout_s=2.0,
                                    forwarder=replay_on_coordinator(follower_view, session)),
                         port=0)
    await follower.start()
    return coord, follower, coord_view, follower_view, session


@pytest.fixture
async def pair():
    """(coordinator server, follower server, coordinator view, follower view, client)."""
    coord, follower, coord_view, follower_view, session = await start_pair("tok", "tok")
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer tok"}) as http:
        yield coord, follower, coord_view, follower_view, http
    await follower.stop()
    await coord.stop()
    await session.close()


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


async def test_the_coordinators_token_policy_decides(pair) -> None:
    """A follower without a token relays the caller's token; the coordinator checks it."""
    coord, follower, coord_view, follower_view, session = await start_pair("tok", None)
    try:
        async with aiohttp.ClientSession() as anon:
            async with anon.post(f"{follower.url}/api/v1/nodes/register", json=WORKER) as r:
                assert r.status == 401  # the coordinator's answer, relayed
            async with anon.post(f"{follower.url}/api/v1/nodes/register", json=WORKER,
                                 headers={"Authorization": "Bearer wrong"}) as r:
                assert r.status == 401
            assert len(coord_view.registry) == 0
            async with anon.post(f"{follower.url}/api/v1/nodes/register", json=WORKER,
                                 headers={"Authorization": "Bearer tok"}) as r:
                assert r.status == 200
            assert len(coord_view.registry) == 1
    finally:
        await follower.stop()
        await coord.stop()
        await session.close()


async def test_unreachable_coordinator_is_503_reads_still_work(pair) -> None:
    coord, follower, coord_view, follower_view, http = pair
    dead = f"http://127.0.0.1:{_free_port()}"
    follower_view.coordinator_info = CoordinatorInfo(node_id="coord", api_url=dead, term=4)
    async with http.post(f"{follower.url}/api/v1/nodes/register", json=WORKER) as r:
        body = await r.json()
        assert r.status == 503 and body["success"] is False
        assert "did not answer" in body["error"] and dead in body["error"]
        assert r.headers["X-Claw-Coordinator"] == "coord"
    async with http.get(f"{follower.url}/api/v1/nodes") as r:
        assert r.status == 200
    async with http.get(f"{follower.url}/api/v1/cluster/health") as r:
        assert r.status == 200


async def test_without_a_forwarder_a_follower_answers_writes_with_503() -> None:
    view = MemoryClusterView(node_id="follower", coordinating=False,
                             coordinator_info=CoordinatorInfo(node_id="coord", api_url=None))
    server = ApiServer(create_app(view, run_monitor=False), port=0)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{server.url}/api/v1/nodes/register", json=WORKER) as r:
                body = await r.json()
                assert r.status == 503 and "cannot relay writes" in body["error"]
    finally:
        await server.stop()


async def test_never_forwards_twice(pair) -> None:
    """Two followers pointing at each other (stale views during an election) must not
    bounce a write forever: the second hop answers 503, naming both nodes."""
    coord, follower, coord_view, follower_view, http = pair
    follower_view.coordinator_info = CoordinatorInfo(node_id="coord", api_url=follower.url)
    async with http.post(f"{follower.url}/api/v1/nodes/register", json=WORKER) as r:
        body = await r.json()
        assert r.status == 503
        assert body["error"] == (
            "coordinator: follower relayed this write to follower as the coordinator, but "
            "follower is not the coordinator (the role is changing hands); retry shortly")
