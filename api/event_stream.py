"""``EventFeed``: what ``GET /api/v1/events`` streams, numbered and kept for resumption.

Two sources feed it:

* cluster events, published by the embedding process (the agent hands each event of its
  bus, ``node.events``, to ``EventFeed.publish``): ``member_join``, ``member_failed``,
  ``coordinator`` ... (``CLUSTER_KINDS``);
* node updates, found by polling the view (``NodeChangeTracker``): a ``node`` event
  carries one node's full ``NodeInfo`` when it changed (load, status, suspicion, tasks),
  at most once per ``NODE_UPDATE_MIN_INTERVAL_S`` per node, and ``node_removed`` when a
  node left the list. Polling the view keeps ``api/`` free of gossip and works for every
  ``ClusterView``; views reuse ``NodeInfo`` objects between writes, so an unchanged node
  costs an identity check.

Every event gets an id ``<epoch>-<seq>``: ``epoch`` is random per feed (a restarted node,
or another node, does not share its numbering), ``seq`` counts up from 1. The last events
are kept: a client reconnecting with ``Last-Event-ID`` gets the events after it; one that
fell further behind, or whose id is from another epoch, gets a ``reset`` event and a fresh
``snapshot`` instead (``EventFeed.since``). How many are kept follows the number of nodes
(``fit_ring``): a snapshot holds each node once, so replaying more than a few events per
node would cost the client more than the snapshot it replaces.

Pure bookkeeping, no I/O: ``api.sse`` writes it to HTTP clients.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import NodeInfo

__all__ = [
    "CLUSTER_KINDS",
    "DEFAULT_CLIENT_QUEUE",
    "DEFAULT_RING_CAPACITY",
    "MIN_RING_CAPACITY",
    "NODE_UPDATE_MIN_INTERVAL_S",
    "RING_EVENTS_PER_NODE",
    "STREAM_KINDS",
    "EventFeed",
    "FeedClient",
    "NodeChangeTracker",
    "StreamEvent",
]

CLUSTER_KINDS = (
    "member_join", "member_suspect", "member_failed", "member_left", "member_alive",
    "member_address", "coordinator", "worker_registered", "worker_offline",
    "worker_removed", "maintenance", "user_event", "query",
)
"""Kinds of the cluster's events (``node.events.EventKind`` values, ``_`` for spaces)."""
STREAM_KINDS = (*CLUSTER_KINDS, "node", "node_removed", "snapshot", "reset")
"""Every ``event:`` name the stream writes. ``snapshot`` (all nodes, the coordinator) opens
every stream and follows every ``reset``; both are sent whatever the kind filter."""

DEFAULT_RING_CAPACITY = 4096
"""Most events kept for ``Last-Event-ID`` resumption (count; ~0.7 KiB each), whatever
the number of nodes."""
RING_EVENTS_PER_NODE = 2
"""Events kept per node listed (``EventFeed.fit_ring``): beyond two missed events per
node a snapshot is smaller than the replay."""
MIN_RING_CAPACITY = 256
"""Fewest events kept (count), so a small cluster's membership events stay resumable."""
DEFAULT_CLIENT_QUEUE = 2048
"""Events queued for one slow stream client (count) before it is reset instead."""
NODE_UPDATE_MIN_INTERVAL_S = 1.0
"""Least time, seconds, between two ``node`` events of the same node: a node
heart-beating fast, or a burst of changes, costs clients one event per second at most
(the latest state wins)."""


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One numbered event and its Server-Sent Events frame (encoded once, sent to all)."""

    seq: int
    id: str
    kind: str
    node: str
    frame: bytes
    """``id: …\\nevent: …\\ndata: {json}\\n\\n``."""


def sse_frame(event_id: str, kind: str, data: bytes) -> bytes:
    """An SSE frame. ``data`` is compact JSON, so it holds no newline."""
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (event_id.encode(), kind.encode(), data)


class FeedClient:
    """One stream's bounded queue. When ``max_queued`` events wait, it stops queueing and
    sets ``overflowed``: the stream then sends a ``reset`` and a new snapshot, cheaper than
    replaying what it could not keep up with."""

    def __init__(self, max_queued: int) -> None:
        self.max_queued = max_queued
        self.overflowed = False
        self._queue: deque[StreamEvent] = deque()
        self._ready = asyncio.Event()

    def put(self, event: StreamEvent) -> None:
        if self.overflowed:
            return
        if len(self._queue) >= self.max_queued:
            self.overflowed = True
            self._queue.clear()
        else:
            self._queue.append(event)
        self._ready.set()

    def wake(self) -> None:
        """End a pending ``wait`` now."""
        self._ready.set()

    def drain(self) -> list[StreamEvent]:
        """Every queued event, oldest first, without waiting."""
        events = list(self._queue)
        self._queue.clear()
        self._ready.clear()
        return events

    async def wait(self, timeout_s: float) -> None:
        """Until an event is queued (or the client overflowed), at most ``timeout_s``."""
        if self._queue or self.overflowed:
            return
        self._ready.clear()
        try:
            await asyncio.wait_for(self._ready.wait(), timeout_s)
        except TimeoutError:
            pass


class EventFeed:
    """Numbers events, keeps the last ones for resumption, hands each to every client.

    Args:
        ring_capacity: most events kept for resumption (``fit_ring`` keeps fewer).
        epoch: the id prefix (default: 8 random hex digits).
    """

    def __init__(self, ring_capacity: int = DEFAULT_RING_CAPACITY, epoch: str | None = None
                 ) -> None:
        if ring_capacity < 1:
            raise ValueError(f"ring_capacity must be >= 1, got {ring_capacity}")
        self.epoch = epoch or secrets.token_hex(4)
        self._seq = 0
        self.max_ring = ring_capacity
        self.ring_capacity = ring_capacity
        """Events kept now (``fit_ring``)."""
        self._ring: deque[StreamEvent] = deque()
        self._clients: set[FeedClient] = set()
        self._client_attached = asyncio.Event()
        self.published = 0
        """Events published since start (count)."""
        self.closed = False
        """Set by ``close`` (the server stops): open streams end."""

    @property
    def last_id(self) -> str:
        """The id of the newest event (``<epoch>-0`` before any)."""
        return f"{self.epoch}-{self._seq}"

    def last_seq(self) -> int:
        """The sequence number of the newest event (0 before any)."""
        return self._seq

    @property
    def clients(self) -> int:
        """Clients attached now (open streams)."""
        return len(self._clients)

    def fit_ring(self, nodes: int) -> None:
        """Keep ``RING_EVENTS_PER_NODE`` events per node listed (``nodes``), at least
        ``MIN_RING_CAPACITY`` and at most the ``ring_capacity`` given at construction."""
        self.ring_capacity = min(self.max_ring, max(MIN_RING_CAPACITY, RING_EVENTS_PER_NODE * nodes))
        self._trim()

    def _keep(self, event: StreamEvent) -> None:
        self._ring.append(event)
        self._trim()

    def _trim(self) -> None:
        while len(self._ring) > self.ring_capacity:
            self._ring.popleft()

    def publish(self, kind: str, node: str, data: Mapping[str, Any]) -> StreamEvent:
        """Number, keep and deliver one event; ``data`` becomes its JSON (``kind`` and
        ``node`` are added to it)."""
        self._seq += 1
        self.published += 1
        event_id = f"{self.epoch}-{self._seq}"
        body = {"kind": kind, "node": node, **data}
        payload = json.dumps(body, separators=(",", ":"), default=str).encode()
        event = StreamEvent(self._seq, event_id, kind, node, sse_frame(event_id, kind, payload))
        self._keep(event)
        for client in self._clients:
            client.put(event)
        return event

    def publish_node(self, node: NodeInfo, node_json: bytes, now: float) -> StreamEvent:
        """A ``node`` event from a node's JSON (``NodeJsonCache`` bytes, not re-encoded)."""
        self._seq += 1
        self.published += 1
        event_id = f"{self.epoch}-{self._seq}"
        payload = b'{"kind":"node","node":%s,"time":%s,"info":%s}' % (
            json.dumps(node.node_id).encode(), repr(now).encode(), node_json)
        event = StreamEvent(self._seq, event_id, "node", node.node_id,
                            sse_frame(event_id, "node", payload))
        self._keep(event)
        for client in self._clients:
            client.put(event)
        return event

    def since(self, last_event_id: str | None) -> list[StreamEvent] | None:
        """The kept events after ``last_event_id``, oldest first.

        Returns:
            ``[]`` when nothing was missed; None when they cannot be given without a
            gap (no id, an id of another epoch, a malformed id, or one older than the
            ring): the client needs a snapshot.
        """
        if not last_event_id:
            return None
        epoch, _, seq_text = last_event_id.strip().rpartition("-")
        if epoch != self.epoch or not seq_text.isdigit() or len(seq_text) > 18:
            return None
        seq = int(seq_text)
        if seq > self._seq:
            return None
        if seq == self._seq:
            return []
        oldest = self._ring[0].seq if self._ring else self._seq + 1
        if seq + 1 < oldest:
            return None
        return [e for e in self._ring if e.seq > seq]

    def attach(self, max_queued: int = DEFAULT_CLIENT_QUEUE) -> FeedClient:
        """A new client receiving every event published from now on."""
        client = FeedClient(max_queued)
        self._clients.add(client)
        self._client_attached.set()
        return client

    def detach(self, client: FeedClient) -> None:
        self._clients.discard(client)
        if not self._clients:
            self._client_attached.clear()

    async def wait_for_client(self) -> None:
        """Until a client is attached."""
        await self._client_attached.wait()

    def close(self) -> None:
        """Wake every client for good (their streams see ``closed`` and end)."""
        self.closed = True
        for client in self._clients:
            client.wake()


class NodeChangeTracker:
    """Which nodes changed between two polls of the view, throttled per node.

    ``poll(nodes, now)`` returns the nodes whose ``NodeInfo`` differs from the one last
    reported (by identity first, then by JSON) and that were not reported within
    ``min_interval_s``; a change inside the interval is reported at the first poll after
    it (the latest state). It also returns the ids that disappeared.

    Args:
        min_interval_s: ``NODE_UPDATE_MIN_INTERVAL_S`` by default.
        encode: a node's JSON (``NodeJsonCache.encode``).
    """

    def __init__(self, encode: Any, min_interval_s: float = NODE_UPDATE_MIN_INTERVAL_S) -> None:
        self.min_interval_s = min_interval_s
        self._encode = encode
        # node_id -> (object last seen, JSON last reported, when reported)
        self._known: dict[str, tuple[NodeInfo, bytes, float]] = {}

    def prime(self, nodes: Iterable[NodeInfo], now: float) -> None:
        """Take ``nodes`` as already reported (the feed starts from the view's state)."""
        for node in nodes:
            self._known[node.node_id] = (node, self._encode(node), now - self.min_interval_s)

    def poll(self, nodes: Iterable[NodeInfo], now: float
             ) -> tuple[list[tuple[NodeInfo, bytes]], list[str]]:
        """``(changed nodes with their JSON, removed ids)`` since the previous poll."""
        changed: list[tuple[NodeInfo, bytes]] = []
        seen: set[str] = set()
        for node in nodes:
            node_id = node.node_id
            seen.add(node_id)
            known = self._known.get(node_id)
            if known is not None and known[0] is node:
                continue
            if known is not None and now - known[2] < self.min_interval_s:
                continue  # reported recently: wait (the object stays "unseen" until then)
            data = self._encode(node)
            if known is not None and known[1] == data:
                self._known[node_id] = (node, data, known[2])
                continue
            self._known[node_id] = (node, data, now)
            changed.append((node, data))
        removed = [node_id for node_id in self._known if node_id not in seen]
        for node_id in removed:
            del self._known[node_id]
        return changed, removed
