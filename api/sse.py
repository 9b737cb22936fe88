"""``GET /api/v1/events`` over HTTP: the ``EventFeed`` as Server-Sent Events.

A stream opens with a ``snapshot`` (every node and the coordinator), or, for a client
reconnecting with ``Last-Event-ID``, with the events it missed; then it sends each new
event, and a comment line every ``KEEPALIVE_S`` so proxies and the client see it alive.
A client that missed more than the ring holds (or asks another node, whose ids differ)
gets ``reset`` then a new ``snapshot``.

A request without ``Accept: text/event-stream`` gets the same opening (snapshot or the
missed events) and the answer ends: one-shot polling for scripts (``curl``), and no
request that a generic HTTP client waits on forever.

``feed_ctx`` (in the app's ``cleanup_ctx``) runs the poller that turns changes of the
view's nodes into ``node`` events (``api.event_stream.NodeChangeTracker``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Collection

from aiohttp import web

from .cors import cors_headers
from .errors import Unavailable
from .event_stream import EventFeed, NodeChangeTracker, StreamEvent, sse_frame
from .keys import CONFIG, EVENTS, JSON_CACHE, VIEW

__all__ = ["KEEPALIVE_S", "MAX_STREAMS", "POLL_INTERVAL_S", "RESUME_GRACE_S", "feed_ctx",
           "serve_events"]

log = logging.getLogger(__name__)

KEEPALIVE_S = 15.0
"""Seconds of silence after which a stream sends a comment line (keeps proxies from
closing it, and finds a vanished client)."""
MAX_STREAMS = 64
"""Concurrent event streams one node serves (count); one more gets 503."""
POLL_INTERVAL_S = 0.5
"""Seconds between two looks at the view's nodes for ``node`` events."""
RESUME_GRACE_S = 120.0
"""The poller keeps running this long (seconds) after the last stream closed, so a
client that reconnects within it resumes without a gap; then it sleeps until a stream
opens (an idle API costs nothing)."""
RETRY_MS = 2000
"""The ``retry:`` the stream advises EventSource clients to wait before reconnecting, ms."""


async def _snapshot(request: web.Request, nodes_wanted: Collection[str], event_id: str,
                    kind: str = "snapshot") -> bytes:
    app = request.app
    view, cache = app[VIEW], app[JSON_CACHE]
    nodes = await view.list_nodes()
    if nodes_wanted:
        nodes = [n for n in nodes if n.node_id in nodes_wanted]
    coordinator = await view.coordinator()
    info = await view.cluster_info()
    head = json.dumps({
        "kind": kind, "node": info.node_id, "time": app[CONFIG].clock(),
        "coordinator": coordinator.model_dump(mode="json") if coordinator else None,
    }, separators=(",", ":")).encode()
    body = head[:-1] + b',"nodes":[%s]}' % b",".join(cache.encode(n) for n in nodes)
    return sse_frame(event_id, kind, body)


def _reset_frame(event_id: str, reason: str) -> bytes:
    body = json.dumps({"kind": "reset", "node": "", "reason": reason}).encode()
    return sse_frame(event_id, "reset", body)


def _wanted(event: StreamEvent, kinds: Collection[str], nodes: Collection[str]) -> bool:
    return (not kinds or event.kind in kinds) and (not nodes or event.node in nodes)


async def serve_events(request: web.Request, kinds: Collection[str], nodes: Collection[str]
                       ) -> web.StreamResponse:
    """Answer one ``GET /api/v1/events`` (module docstring)."""
    feed = request.app[EVENTS]
    streaming = "text/event-stream" in request.headers.get("Accept", "")
    if streaming and feed.clients >= MAX_STREAMS:
        raise Unavailable(f"events: {MAX_STREAMS} streams already open on this node; "
                          "retry later or ask another node")
    last_id = request.headers.get("Last-Event-ID")
    client = feed.attach() if streaming else None  # before the opening: nothing slips by
    try:
        resp = web.StreamResponse(headers={
            "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no", **cors_headers(request)})
        await resp.prepare(request)
        await resp.write(b"retry: %d\n\n" % RETRY_MS)
        sent = await _write_opening(request, resp, feed, last_id, kinds, nodes)
        if client is None:
            await resp.write_eof()
            return resp
        while not feed.closed:
            await client.wait(KEEPALIVE_S)
            if feed.closed:
                break
            if client.overflowed:
                client.overflowed = False
                client.drain()
                sent = feed.last_seq()
                await resp.write(_reset_frame(feed.last_id, "client too slow"))
                await resp.write(await _snapshot(request, nodes, feed.last_id))
                continue
            events = [e for e in client.drain() if e.seq > sent]
            if not events:
                await resp.write(b": keepalive\n\n")
                continue
            sent = events[-1].seq
            chunk = b"".join(e.frame for e in events if _wanted(e, kinds, nodes))
            if chunk:
                await resp.write(chunk)
        return resp
    except ConnectionError:
        return resp  # the client went away
    finally:
        if client is not None:
            feed.detach(client)


async def _write_opening(request: web.Request, resp: web.StreamResponse, feed: EventFeed,
                         last_id: str | None, kinds: Collection[str],
                         nodes: Collection[str]) -> int:
    """The snapshot, or the missed events; returns the seq the client has seen up to."""
    missed = feed.since(last_id)
    if missed is None:
        seq, event_id = feed.last_seq(), feed.last_id
        if last_id:
            await resp.write(_reset_frame(event_id, "Last-Event-ID is not in this node's "
                                                    "ring (too old, or another node's)"))
        await resp.write(await _snapshot(request, nodes, event_id))
        return seq
    chunk = b"".join(e.frame for e in missed if _wanted(e, kinds, nodes))
    if chunk:
        await resp.write(chunk)
    return missed[-1].seq if missed else feed.last_seq()


async def feed_ctx(app: web.Application) -> AsyncIterator[None]:
    """Runs the node poller while the app serves; ends open streams at shutdown."""
    feed, view, cache, config = app[EVENTS], app[VIEW], app[JSON_CACHE], app[CONFIG]
    tracker = NodeChangeTracker(cache.encode)
    loop = asyncio.get_running_loop()

    async def poll() -> None:
        primed = False  # the view's nodes at start: the snapshot every stream opens with
        idle_since = loop.time()
        while True:
            if primed:
                if feed.clients:
                    idle_since = loop.time()
                elif loop.time() - idle_since > RESUME_GRACE_S:
                    await feed.wait_for_client()
                    idle_since = loop.time()
                await asyncio.sleep(POLL_INTERVAL_S)
            try:
                now = config.clock()
                nodes = await view.list_nodes()
                cache.retain(nodes)
                feed.fit_ring(len(nodes))  # resumption sized by the nodes a snapshot holds
                if not primed:
                    tracker.prime(nodes, now)
                    primed = True
                    continue
                changed, removed = tracker.poll(nodes, now)
                for node, data in changed:
                    feed.publish_node(node, data, now)
                for node_id in removed:
                    feed.publish("node_removed", node_id, {"time": now})
            except asyncio.CancelledError:
                raise
            except Exception:  # the next poll may succeed; never stop streaming
                log.exception("event feed: polling the view failed")
                if not primed:
                    await asyncio.sleep(POLL_INTERVAL_S)

    task = loop.create_task(poll(), name="event-feed-poller")
    yield
    feed.close()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def close_streams(app: web.Application) -> None:
    """``on_shutdown``: wake every stream so it ends before the server waits for it."""
    app[EVENTS].close()
