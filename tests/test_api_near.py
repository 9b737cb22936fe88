"""``GET /api/v1/nodes?near=``: nearest first by estimated RTT, over a view with known
coordinates (``GossipClusterView`` on a fake agent), combined with filters and load."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from api import create_app
from api.models import RegisterIn
from api.registry import HttpNodeRegistry
from gossip.coordinate import Coordinate
from node.view import GossipClusterView
from tests.test_node_view import FakeAgent, hb, member

T0 = 1_700_000_000.0


def at(x_ms: float, height_ms: float = 0.0) -> Coordinate:
    """A coordinate on the first axis (8 dimensions, no adjustment), in milliseconds."""
    return Coordinate((x_ms / 1e3,) + (0.0,) * 7, 0.2, 0.0, height_ms / 1e3)


@pytest.fixture
def agent() -> FakeAgent:
    """``me`` at 0 ms; peers a/b/c/d at 10, 3, 3, 25 ms on a line; ``e`` not probed yet."""
    a = FakeAgent()
    a.table = [member("me", skills=("gpu",)), member("a", skills=("gpu",)),
               member("b", skills=("gpu",), max_concurrent_tasks=4),
               member("c", skills=("gpu",), max_concurrent_tasks=4),
               member("d"), member("e", skills=("gpu",))]
    a.coordinates = {"me": at(0), "a": at(10), "b": at(3), "c": at(3), "d": at(-25)}
    a.beats = {"b": hb("b", running_tasks=3), "c": hb("c", running_tasks=1)}
    return a


@pytest.fixture
async def client(agent: FakeAgent):
    view = GossipClusterView(agent, HttpNodeRegistry(), clock=lambda: T0)
    await view.register(RegisterIn(hostname="w", platform="linux", arch="x64",
                                   available_skills=["gpu"], node_id="worker-1"))
    c = TestClient(TestServer(create_app(view, clock=lambda: T0, run_monitor=False),
                              host="127.0.0.1"))
    await c.start_server()
    yield c
    await c.close()


async def ids(client: TestClient, **query: Any) -> list[str]:
    resp = await client.get("/api/v1/nodes", params=query)
    assert resp.status == 200, await resp.text()
    return [n["node_id"] for n in (await resp.json())["nodes"]]


async def test_nodes_carry_coordinate_and_rtt_from_the_answering_node(client: TestClient) -> None:
    resp = await client.get("/api/v1/nodes/a")
    node = (await resp.json())["node"]
    assert node["coordinate"] == {"vec": [0.01] + [0.0] * 7, "error": 0.2,
                                  "adjustment": 0.0, "height": 0.0}
    assert node["estimated_rtt_ms"] == 10.0
    me = (await (await client.get("/api/v1/nodes/me")).json())["node"]
    assert me["estimated_rtt_ms"] == 0.0
    for unknown in ("e", "worker-1"):
        other = (await (await client.get(f"/api/v1/nodes/{unknown}")).json())["node"]
        assert other["coordinate"] is None and other["estimated_rtt_ms"] is None


async def test_near_self_sorts_by_estimated_rtt_unknown_last(client: TestClient) -> None:
    # b and c tie at 3 ms: node_id breaks the tie; e and worker-1 have no coordinate.
    assert await ids(client, near="self") == ["me", "b", "c", "a", "d", "e", "worker-1"]


async def test_near_another_node_measures_from_its_coordinate(client: TestClient) -> None:
    assert await ids(client, near="a") == ["a", "b", "c", "me", "d", "e", "worker-1"]


async def test_load_breaks_ties_and_filters_combine(client: TestClient) -> None:
    # c (1 of 4 slots busy) before b (3 of 4); unknown ones ordered by load too.
    assert await ids(client, near="self", sort="load") == ["me", "c", "b", "a", "d", "e", "worker-1"]
    # "nearest online node with skill gpu and a free slot": d has no gpu skill.
    assert await ids(client, near="self", skill="gpu", available="true", sort="load") == [
        "me", "c", "b", "a", "e", "worker-1"]
    assert await ids(client, near="d", skill="gpu", available="true") == [
        "me", "b", "c", "a", "e", "worker-1"]


@pytest.mark.parametrize("near, status, text", [
    ("nobody", 404, "near: no node 'nobody'"),
    ("e", 409, "near: no network coordinate is known for 'e'"),
    ("worker-1", 409, "near: no network coordinate is known for 'worker-1'"),
    ("", 422, "near"),
    ("x" * 300, 422, "near"),
])
async def test_near_errors_name_the_parameter(client: TestClient, near: str, status: int,
                                              text: str) -> None:
    resp = await client.get("/api/v1/nodes", params={"near": near})
    assert resp.status == status
    assert text in (await resp.json())["error"]
