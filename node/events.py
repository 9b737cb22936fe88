"""The cluster's events, as this agent sees them, and the bus that hands them out.

One vocabulary for everything that happens to the cluster: members joining, being
suspected, failing, leaving, coming back, moving; the coordinator changing; HTTP workers
(``api.registry``) registering, going offline, being removed; maintenance being switched.
The agent turns what the gossip core reports (``gossip.events``), what the election
decides and what the registry writes into ``ClusterEvent``s and publishes them on one
``EventBus``. Consumers subscribe instead of inventing event kinds of their own: the log
lines (``node.event_log``), an event stream for clients, replication handlers.

A consumer either listens (a synchronous callable, for cheap in-process work such as a
log line: called in order, at once) or subscribes (a bounded queue it drains at its own
pace; when it falls behind, the oldest events are dropped and counted, never the agent's
memory or its event loop).

    bus = EventBus()
    bus.add_listener(log_event)
    events = bus.subscribe(max_queued=256)
    ...
    async for event in events: ...
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from gossip import events as core
from gossip.events import Member

if TYPE_CHECKING:
    from api.registry import HttpNodeRecord

__all__ = [
    "DEFAULT_MAX_QUEUED",
    "MEMBER_CHANGES",
    "ClusterEvent",
    "EventBus",
    "EventKind",
    "EventListener",
    "MemberChange",
    "MemberEventTranslator",
    "Subscription",
    "WorkerEventTranslator",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_QUEUED = 1024
"""Events a subscription holds before it drops its oldest (count). A 1,000-node cluster
restarting produces about one event per member per observer; a consumer that falls
further behind than this learns how many it missed (``Subscription.dropped``)."""

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class EventKind(enum.Enum):
    """What happened. The value is the event's name in logs and streams."""

    MEMBER_JOIN = "member join"
    """A member became alive: new, or back after failing or leaving."""
    MEMBER_SUSPECT = "member suspect"
    """A member is suspected of having failed (details: ``accuser``)."""
    MEMBER_FAILED = "member failed"
    """A member was declared dead (details: ``accuser``)."""
    MEMBER_LEFT = "member left"
    """A member left gracefully."""
    MEMBER_ALIVE = "member alive"
    """A suspected member refuted the suspicion (details: ``incarnation``)."""
    MEMBER_ADDRESS = "member address"
    """A member now answers at another address (details: ``previous``)."""
    COORDINATOR = "coordinator"
    """The coordinator changed (details: ``term``, ``previous``; node "" when none)."""
    WORKER_REGISTERED = "worker registered"
    """An HTTP worker registered (details: ``status``)."""
    WORKER_OFFLINE = "worker offline"
    """An HTTP worker went offline (missed heartbeats, or said it shuts down)."""
    WORKER_REMOVED = "worker removed"
    """An HTTP worker's record was deleted."""
    MAINTENANCE = "maintenance"
    """A member or worker entered or left maintenance (details: ``enabled``, ``worker``)."""
    USER_EVENT = "user event"
    """A Serf user event reached this node (``serf event``, ``claw-node event``; node ""
    as events do not say who sent them; details: ``name``, ``ltime``, ``payload`` as
    UTF-8 text, ``coalesce``)."""
    QUERY = "query"
    """A Serf user query reached this node (node: who asked; details: ``name``,
    ``ltime``, ``payload`` as UTF-8 text)."""


@dataclass(frozen=True, slots=True)
class ClusterEvent:
    """One thing that happened to the cluster, as this node saw it. Don't subclass it:
    ``kind`` says what happened, ``details`` carries what only some kinds have."""

    kind: EventKind
    node: str
    """The member's or worker's id (the new coordinator's for ``COORDINATOR``)."""
    address: str
    """``host:port``: the member's gossip address, a worker's service address; "" if
    unknown."""
    time: float
    """Unix time at which this node saw it, seconds."""
    details: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    """Kind-specific facts (read-only), e.g. ``{"accuser": "n2"}``."""

    def __post_init__(self) -> None:
        if not isinstance(self.details, MappingProxyType):
            object.__setattr__(self, "details", MappingProxyType(dict(self.details)))


EventListener = Callable[[ClusterEvent], None]
"""Called synchronously with each event; must be quick and must not block."""


class Subscription:
    """A bounded queue of events for one consumer (``EventBus.subscribe``).

    Drain it with ``get()``, ``async for`` or ``drain()``. When ``max_queued`` events
    wait, a new one pushes out the oldest and ``dropped`` counts it.
    """

    def __init__(self, bus: EventBus, max_queued: int) -> None:
        if max_queued < 1:
            raise ValueError(f"max_queued must be >= 1, got {max_queued}")
        self._bus = bus
        self._queue: deque[ClusterEvent] = deque(maxlen=max_queued)
        self._ready = asyncio.Event()
        self.dropped = 0
        """Events lost because this subscriber was ``max_queued`` events behind."""
        self.closed = False

    def _put(self, event: ClusterEvent) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(event)
        self._ready.set()

    def drain(self) -> list[ClusterEvent]:
        """Every queued event, oldest first, without waiting."""
        events = list(self._queue)
        self._queue.clear()
        self._ready.clear()
        return events

    async def get(self) -> ClusterEvent:
        """The oldest queued event, waiting for one.

        Raises:
            StopAsyncIteration: the subscription was closed and is empty.
        """
        while not self._queue:
            if self.closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return self._queue.popleft()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> ClusterEvent:
        return await self.get()

    def close(self) -> None:
        """Stop receiving; a waiting ``get`` returns what is queued, then ends."""
        self.closed = True
        self._bus._unsubscribe(self)
        self._ready.set()


class EventBus:
    """Hands every published ``ClusterEvent`` to each listener, then to each subscription.

    Not thread-safe: publish and subscribe from the agent's event loop.
    """

    def __init__(self) -> None:
        self._listeners: list[EventListener] = []
        self._subscriptions: list[Subscription] = []
        self.published = 0
        """Events published since start."""

    def add_listener(self, listener: EventListener) -> None:
        """Call ``listener`` with every event from now on. One that raises is logged and
        the others still run."""
        self._listeners.append(listener)

    def subscribe(self, max_queued: int = DEFAULT_MAX_QUEUED) -> Subscription:
        """A new queue that receives every event from now on (see ``Subscription``)."""
        subscription = Subscription(self, max_queued)
        self._subscriptions.append(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    def publish(self, event: ClusterEvent) -> None:
        """Deliver ``event``: listeners at once, subscriptions by queue."""
        self.published += 1
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("event listener %r failed on %s", listener, event.kind.value)
        for subscription in self._subscriptions:
            subscription._put(event)


MEMBER_CHANGES = (core.MemberJoined, core.MemberUpdated, core.MemberRecovered,
                  core.MemberSuspected, core.MemberFailed, core.MemberLeft)
"""The gossip core's member change classes, for ``isinstance``."""
MemberChange = (core.MemberJoined | core.MemberUpdated | core.MemberRecovered
                | core.MemberSuspected | core.MemberFailed | core.MemberLeft)
"""A change of one member's state, as the gossip core reports it."""


def _address(member: Member) -> str:
    host, port = member.address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class MemberEventTranslator:
    """Turns the gossip core's member events into ``ClusterEvent``s.

    The core reports an address or metadata change as one ``MemberUpdated``; this keeps
    each member's last address and maintenance flag to tell which (if either) changed.

    Args:
        wall_clock: Unix time, seconds (tests inject a fake one).
        maintenance_of: whether a member's metadata says it is in maintenance.
    """

    def __init__(self, wall_clock: Callable[[], float],
                 maintenance_of: Callable[[Member], bool]) -> None:
        self._wall = wall_clock
        self._maintenance_of = maintenance_of
        self._known: dict[str, tuple[str, bool]] = {}

    def translate(self, change: MemberChange) -> list[ClusterEvent]:
        """The cluster events ``change`` amounts to (none, one or two)."""
        member = change.member
        address, now = _address(member), self._wall()
        in_maintenance = self._maintenance_of(member)
        before = self._known.get(member.name)
        self._known[member.name] = (address, in_maintenance)
        events: list[ClusterEvent] = []

        def emit(kind: EventKind, **details: Any) -> None:
            events.append(ClusterEvent(kind, member.name, address, now, details))

        if isinstance(change, core.MemberJoined):
            emit(EventKind.MEMBER_JOIN, incarnation=member.incarnation)
        elif isinstance(change, core.MemberSuspected):
            emit(EventKind.MEMBER_SUSPECT, accuser=change.accuser)
        elif isinstance(change, core.MemberFailed):
            emit(EventKind.MEMBER_FAILED, accuser=change.accuser)
        elif isinstance(change, core.MemberLeft):
            emit(EventKind.MEMBER_LEFT)
        elif isinstance(change, core.MemberRecovered):
            emit(EventKind.MEMBER_ALIVE, incarnation=member.incarnation)
        if before is None:
            if in_maintenance and isinstance(change, core.MemberJoined):
                emit(EventKind.MAINTENANCE, enabled=True, worker=False)
            return events
        if isinstance(change, core.MemberUpdated) and before[0] != address:
            emit(EventKind.MEMBER_ADDRESS, previous=before[0])
        if before[1] != in_maintenance:
            emit(EventKind.MAINTENANCE, enabled=in_maintenance, worker=False)
        return events

    def forget_missing(self, names: Iterable[str]) -> None:
        """Drop what is kept about members no longer listed (reaped by the core)."""
        present = set(names)
        for name in [n for n in self._known if n not in present]:
            del self._known[name]


class WorkerEventTranslator:
    """Turns the writes of HTTP workers' records (``api.registry.HttpNodeRecord``,
    written here or merged from gossip) into ``ClusterEvent``s, keeping each worker's
    last status.

    Args:
        wall_clock: Unix time, seconds.
    """

    def __init__(self, wall_clock: Callable[[], float]) -> None:
        self._wall = wall_clock
        self._status: dict[str, str] = {}

    def prime(self, records: Iterable[HttpNodeRecord]) -> None:
        """Records known before events are wanted (the store's, at start): no events."""
        for record in records:
            self._status[record.node_id] = record.status

    def observe(self, record: HttpNodeRecord) -> list[ClusterEvent]:
        """The events of one written or merged record."""
        before = self._status.get(record.node_id)
        status = record.status
        self._status[record.node_id] = status
        address = f"{record.ip_address}:{record.port}" if record.ip_address else ""
        now = self._wall()
        events: list[ClusterEvent] = []
        if before is None:
            events.append(ClusterEvent(EventKind.WORKER_REGISTERED, record.node_id, address,
                                       now, {"status": status}))
        elif status == "offline" and before != "offline":
            events.append(ClusterEvent(EventKind.WORKER_OFFLINE, record.node_id, address,
                                       now, {"previous": before}))
        if (before == "maintenance") != (status == "maintenance") and (
                before is not None or status == "maintenance"):
            events.append(ClusterEvent(EventKind.MAINTENANCE, record.node_id, address, now,
                                       {"enabled": status == "maintenance", "worker": True}))
        return events

    def removed(self, node_id: str) -> list[ClusterEvent]:
        """The event of a deleted record (none if it was unknown)."""
        if self._status.pop(node_id, None) is None:
            return []
        return [ClusterEvent(EventKind.WORKER_REMOVED, node_id, "", self._wall())]
