"""``GET /api/v1/events``: the feed's numbering and resumption, the per-node throttle
(fake clock), and the stream over a real loopback server (``MemoryClusterView``):
snapshot, node updates, filters, ``Last-Event-ID`` resumption without a gap, reset."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

import api.sse
from api import create_app
from api.event_stream import MIN_RING_CAPACITY, RING_EVENTS_PER_NODE, EventFeed, NodeChangeTracker
from api.json_cache import NodeJsonCache
from api.keys import EVENTS
from api.memory_view import MemoryClusterView
from api.models import HeartbeatIn, RegisterIn
from tests.conftest import eventually_async

STREAM = {"Accept": "text/event-stream"}


def _register(node_id: str) -> RegisterIn:
    return RegisterIn(hostname=node_id, platform="linux", arch="x64",
                      available_skills=["python"], node_id=node_id)


# --- the feed -------------------------------------------------------------------------


def test_feed_ids_resume_from_the_ring_and_refuse_a_gap() -> None:
    feed = EventFeed(ring_capacity=3, epoch="e1")
    assert feed.since(None) is None and feed.since("e1-0") == []
    events = [feed.publish("member_join", f"n{i}", {}) for i in range(5)]
    assert [e.id for e in events] == ["e1-1", "e1-2", "e1-3", "e1-4", "e1-5"]
    assert [e.id for e in feed.since("e1-2")] == ["e1-3", "e1-4", "e1-5"]
    assert feed.since("e1-5") == []
    assert feed.since("e1-1") is None  # e1-2 fell out of the ring: a gap
    assert feed.since("e2-4") is None  # another node's (or an earlier life's) id
    assert feed.since("e1-99") is None and feed.since("e1-x") is None
    assert feed.since("garbage" * 1000) is None
    frame = events[0].frame.decode()
    assert frame.startswith("id: e1-1\nevent: member_join\ndata: ")
    assert json.loads(frame.split("data: ", 1)[1]) == {"kind": "member_join", "node": "n0"}


def test_the_ring_keeps_a_few_events_per_node_within_its_bounds() -> None:
    feed = EventFeed(ring_capacity=4096, epoch="e1")
    feed.fit_ring(1000)
    assert feed.ring_capacity == RING_EVENTS_PER_NODE * 1000
    for i in range(3000):
        feed.publish("member_join", f"n{i}", {})
    assert feed.since("e1-999") is None                      # trimmed: a snapshot instead
    assert len(feed.since(f"e1-{3000 - feed.ring_capacity}")) == feed.ring_capacity
    feed.fit_ring(10)                                        # nodes left: the ring shrinks now
    assert feed.ring_capacity == MIN_RING_CAPACITY
    assert feed.since(f"e1-{3000 - MIN_RING_CAPACITY - 1}") is None
    assert len(feed.since(f"e1-{3000 - MIN_RING_CAPACITY}")) == MIN_RING_CAPACITY
    feed.fit_ring(10**6)                                     # never beyond the constructor's
    assert feed.ring_capacity == 4096


def test_a_slow_client_overflows_instead_of_growing() -> None:
    feed = EventFeed(epoch="e")
    client = feed.attach(max_queued=2)
    for i in range(5):
        feed.publish("member_join", f"n{i}", {})
    assert client.overflowed and client.drain() == []
    feed.detach(client)
    assert feed.clients == 0


def test_node_updates_are_throttled_per_node_latest_state_wins() -> None:
    view = MemoryClusterView(clock=lambda: 0.0)
    asyncio.run(view.register(_register("a")))
    asyncio.run(view.register(_register("b")))
    tracker = NodeChangeTracker(NodeJsonCache().encode, min_interval_s=1.0)
    tracker.prime(view.registry.node_infos(), now=0.0)
    assert tracker.poll(view.registry.node_infos(), 0.1) == ([], [])

    def beat(node_id: str, cpu: float) -> None:
        asyncio.run(view.heartbeat(node_id, HeartbeatIn(cpu_usage=cpu)))

    beat("a", 10.0)
    changed, _ = tracker.poll(view.registry.node_infos(), 0.2)
    assert [(n.node_id, n.cpu_usage) for n, _ in changed] == [("a", 10.0)]
    beat("a", 20.0)
    beat("a", 30.0)
    beat("b", 5.0)
    changed, _ = tracker.poll(view.registry.node_infos(), 0.5)
    assert [n.node_id for n, _ in changed] == ["b"]  # a was reported 0.3 s ago
    changed, _ = tracker.poll(view.registry.node_infos(), 1.3)
    assert [(n.node_id, n.cpu_usage) for n, _ in changed] == [("a", 30.0)]
    remaining = [n for n in view.registry.node_infos() if n.node_id != "b"]
    assert tracker.poll(remaining, 2.0) == ([], ["b"])  # b left the list


# --- over HTTP -------------------------------------------------------------------------


class SseReader:
    """Parses a Server-Sent Events body: ``next()`` returns one event's fields."""

    def __init__(self, response: Any) -> None:
        self.response = response

    async def next(self, timeout_s: float = 30.0) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        while True:
            line = await asyncio.wait_for(self.response.content.readline(), timeout_s)
            if not line:
                raise EOFError("stream ended")
            text = line.decode().rstrip("\n")
            if not text:
                if "event" in fields:
                    fields["data"] = json.loads(fields["data"])
                    return fields
                fields = {}
                continue
            if text.startswith(":"):
                continue
            name, _, value = text.partition(": ")
            fields[name] = value

    async def until(self, kind: str, timeout_s: float = 30.0) -> dict[str, Any]:
        while True:
            event = await self.next(timeout_s)
            if event["event"] == kind:
                return event


@pytest.fixture
async def served(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(api.sse, "POLL_INTERVAL_S", 0.02)
    view = MemoryClusterView(node_id="coord-1")
    for node_id in ("w1", "w2"):
        await view.register(_register(node_id))
    client = TestClient(TestServer(create_app(view, run_monitor=False), host="127.0.0.1"))
    await client.start_server()
    yield client, view
    await client.close()


async def test_a_stream_opens_with_a_snapshot_then_sends_node_updates(served) -> None:
    client, view = served
    resp = await client.get("/api/v1/events", headers=STREAM)
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    sse = SseReader(resp)
    snap = await sse.next()
    assert snap["event"] == "snapshot" and snap["data"]["node"] == "coord-1"
    assert sorted(n["node_id"] for n in snap["data"]["nodes"]) == ["w1", "w2"]
    assert snap["data"]["coordinator"]["node_id"] == "coord-1"
    await view.heartbeat("w2", HeartbeatIn(cpu_usage=42.0))
    update = await sse.until("node")
    assert update["data"]["node"] == "w2" and update["data"]["info"]["cpu_usage"] == 42.0
    client.app[EVENTS].publish("member_failed", "w1", {"address": "", "details": {}})
    failed = await sse.until("member_failed")
    assert failed["data"]["node"] == "w1"
    resp.close()


async def test_filters_by_kind_and_node(served) -> None:
    client, _view = served
    feed = client.app[EVENTS]
    resp = await client.get("/api/v1/events?kind=member_failed&node=w2", headers=STREAM)
    sse = SseReader(resp)
    snap = await sse.next()
    assert [n["node_id"] for n in snap["data"]["nodes"]] == ["w2"]
    feed.publish("member_failed", "w1", {})
    feed.publish("member_join", "w2", {})
    feed.publish("member_failed", "w2", {})
    event = await sse.next()
    assert (event["event"], event["data"]["node"]) == ("member_failed", "w2")
    resp.close()


async def test_unknown_parameters_and_kinds_get_422(served) -> None:
    client, _ = served
    for query in ("kinds=node", "kind=explosion"):
        resp = await client.get(f"/api/v1/events?{query}", headers=STREAM)
        assert resp.status == 422, query
        assert "query." in (await resp.json())["details"][0]["field"]


@pytest.mark.slow
async def test_resumes_with_last_event_id_without_a_gap(served) -> None:
    client, view = served
    feed = client.app[EVENTS]
    resp = await client.get("/api/v1/events", headers=STREAM)
    sse = SseReader(resp)
    await sse.next()
    feed.publish("member_join", "w1", {})
    seen = await sse.next()
    resp.close()  # the client is cut
    for i in range(3):  # what happens while it is away
        feed.publish("member_suspect", f"n{i}", {})
    await view.heartbeat("w1", HeartbeatIn(memory_usage=77.0))
    await eventually_async(lambda: feed.published >= 4 + 1)
    resp = await client.get("/api/v1/events", headers={**STREAM, "Last-Event-ID": seen["id"]})
    sse = SseReader(resp)
    epoch, seq = seen["id"].rsplit("-", 1)
    resumed = [await sse.next() for _ in range(4)]
    assert [e["id"] for e in resumed] == [f"{epoch}-{int(seq) + k}" for k in range(1, 5)]
    assert [e["event"] for e in resumed] == ["member_suspect"] * 3 + ["node"]
    feed.publish("member_left", "n9", {})  # and it goes on live
    assert (await sse.next())["id"] == f"{epoch}-{int(seq) + 5}"
    resp.close()


async def test_an_id_out_of_the_ring_gets_reset_and_a_snapshot(served) -> None:
    client, _ = served
    resp = await client.get("/api/v1/events", headers={**STREAM, "Last-Event-ID": "ffff-12"})
    sse = SseReader(resp)
    reset = await sse.next()
    assert reset["event"] == "reset" and "ring" in reset["data"]["reason"]
    assert (await sse.next())["event"] == "snapshot"
    resp.close()


async def test_without_accept_event_stream_the_answer_ends(served) -> None:
    client, _ = served
    resp = await client.get("/api/v1/events")
    text = await asyncio.wait_for(resp.text(), 30)
    assert "event: snapshot" in text and text.endswith("\n\n")


async def test_streams_end_when_the_server_stops(served) -> None:
    client, _ = served
    resp = await client.get("/api/v1/events", headers=STREAM)
    sse = SseReader(resp)
    await sse.next()
    client.app[EVENTS].close()
    with pytest.raises(EOFError):
        while True:
            await sse.next()
