"""Serf user events without I/O: stamp, dedupe, re-broadcast, deliver once.

A Serf user event (``serf event NAME PAYLOAD``; ``serf/serf.go`` ``UserEvent`` and
``handleUserEvent``) is a ``messageUserEvent`` broadcast stamped with the event Lamport
clock. Every node that sees it for the first time hands it to its handlers and
re-broadcasts it as received. Dedupe is Serf's: a ring of ``EVENT_BUFFER`` slots keyed
by ``LTime % EVENT_BUFFER``, each holding the (name, payload) pairs seen at that LTime;
events older than the ring (or than ``min_ltime``) are dropped, since we could no
longer tell whether they were seen. Coalescing (``CC``) is the handler side's business
in Serf's agent and is only passed on here.

``UserEvents`` keeps that state and carries out its decisions: a new event is queued
as received on the core's Serf broadcast queue and reported as ``UserEventReceived``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from . import codec
from .errors import LocalProtocolError, MalformedPacket
from .events import Event, UserEventReceived
from .messages import SerfUserEvent, UserMsg
from .msgpack_fields import U64, as_map, get_bytes, get_str, get_uint, go_str
from .outbox import Outbox
from .serf_codec import encode_serf
from .serf_layer import EVENT_BUFFER, LamportClock

__all__ = [
    "MAX_EVENTS_PER_LTIME", "PUSH_PULL_EVENT_BYTES", "USER_EVENT_SIZE_LIMIT", "UserEventError",
    "UserEventStats", "UserEvents",
]

USER_EVENT_SIZE_LIMIT = 512
"""Serf ``UserEventSizeLimit`` default (bytes): the most a user event's name + payload
may hold, and the most its encoded message may take."""

MAX_EVENTS_PER_LTIME = 64
"""Distinct events remembered at one LTime (Serf has no cap; a flood of distinct events
at one LTime must not grow a slot without bound). Beyond it, events are dropped."""


PUSH_PULL_EVENT_BYTES = 64 * 1024
"""Most name + payload bytes of user events our push-pull carries (newest LTimes first;
older slots go as empty). Serf sends its whole ring; a flood of distinct events must not
make every push-pull megabytes long."""


class UserEventError(LocalProtocolError):
    """A user event this node wanted to send was refused; the message says why."""


@dataclass(slots=True)
class UserEventStats:
    """Counters of user events (all only grow)."""

    received: int = 0
    """New events delivered (ours included)."""
    duplicates: int = 0
    too_old: int = 0
    """Older than ``min_ltime`` or than the dedupe ring."""
    sent: int = 0


class UserEvents:
    """One node's user-event state: the event clock's ring of recent events.

    Args:
        clock: Serf's event Lamport clock (``SerfLayer.event_clock``).
        outbox: where re-broadcasts and our own events go.
        emit: queues an event for the application.
    """

    def __init__(self, clock: LamportClock, outbox: Outbox, *, emit: Callable[[Event], None]) -> None:
        self._clock = clock
        self._outbox = outbox
        self._emit = emit
        self._seen: list[tuple[int, list[tuple[str, bytes]]] | None] = [None] * EVENT_BUFFER
        self.min_ltime = 0
        """Serf ``eventMinTime``: events below it are ignored."""
        self.stats = UserEventStats()

    def on_message(self, msg: SerfUserEvent, payload: bytes) -> None:
        """A user event arrived (``payload``: its Serf bytes as received)."""
        if self.receive(msg):
            self._deliver(msg, payload)

    def send(self, name: str, payload: bytes, coalesce: bool) -> None:
        """Serf ``UserEvent``: stamp, process locally, broadcast (raises ``UserEventError``)."""
        msg, raw = self.create(name, payload, coalesce)
        if self.receive(msg):
            self._deliver(msg, raw)

    def _deliver(self, msg: SerfUserEvent, raw: bytes) -> None:
        self._outbox.serf.push(codec.encode_message(UserMsg(raw)))
        self._emit(UserEventReceived(msg.ltime, msg.name, msg.payload or b"", msg.cc))

    # --- push-pull (Serf ``LocalState`` / ``MergeRemoteState``) ------------------------

    def local_events(self) -> tuple[dict[bytes, Any] | None, ...]:
        """The ring as Serf's push-pull ``Events`` (``[]*userEvents``; nil slots empty),
        so peers that missed an event's gossip still get it; at most
        ``PUSH_PULL_EVENT_BYTES`` of them, the newest."""
        out: list[dict[bytes, Any] | None] = [None] * EVENT_BUFFER
        budget = PUSH_PULL_EVENT_BYTES
        filled = sorted((i for i, slot in enumerate(self._seen) if slot is not None),
                        key=lambda i: -self._seen[i][0])  # type: ignore[index]
        for i in filled:
            ltime, events = self._seen[i]  # type: ignore[misc]
            budget -= sum(len(name) + len(payload) for name, payload in events)
            if budget < 0:
                break
            out[i] = {b"LTime": ltime, b"Events": [
                {b"Name": go_str(name), b"Payload": payload} for name, payload in events]}
        return tuple(out)

    def merge_remote(self, events: tuple[Any, ...] | None, event_ltime: int, *,
                     ignore_old: bool) -> None:
        """A peer's push-pull ``Events``: each new one is delivered (not re-broadcast).

        ``ignore_old``: this is the answer to our own join (Serf's ``Join`` without
        replay): events up to the peer's ``EventLTime`` happened before we came and are
        ignored, then and afterwards.
        """
        if ignore_old and event_ltime > self.min_ltime:
            self.min_ltime = event_ltime
        for slot in (events or ())[:EVENT_BUFFER]:
            if slot is None:
                continue
            for msg in _slot_events(slot):
                if self.receive(msg):
                    self._emit(UserEventReceived(msg.ltime, msg.name, msg.payload or b"", msg.cc))

    def receive(self, msg: SerfUserEvent) -> bool:
        """Serf ``handleUserEvent``: witness the clock; True if the event is new (deliver
        it and re-broadcast it), False if seen already or too old to tell."""
        self._clock.witness(msg.ltime)
        if msg.ltime < self.min_ltime:
            self.stats.too_old += 1
            return False
        cur = self._clock.time()
        if cur > EVENT_BUFFER and msg.ltime < cur - EVENT_BUFFER:
            self.stats.too_old += 1
            return False
        idx = msg.ltime % EVENT_BUFFER
        slot = self._seen[idx]
        event = (msg.name, msg.payload or b"")
        if slot is not None and slot[0] == msg.ltime:
            if event in slot[1] or len(slot[1]) >= MAX_EVENTS_PER_LTIME:
                self.stats.duplicates += 1
                return False
        else:
            slot = (msg.ltime, [])
            self._seen[idx] = slot
        slot[1].append(event)
        self.stats.received += 1
        return True

    def create(self, name: str, payload: bytes, coalesce: bool) -> tuple[SerfUserEvent, bytes]:
        """Serf ``UserEvent``: stamp a new event with the clock, then tick it.

        Returns:
            (the event, its Serf encoding). The caller processes it locally with
            ``receive`` and broadcasts the bytes.
        Raises:
            UserEventError: name + payload, or the encoded event, exceed
                ``USER_EVENT_SIZE_LIMIT`` bytes, or the name is empty.
        """
        if not name:
            raise UserEventError("user event name must not be empty")
        size = len(name.encode()) + len(payload)
        if size > USER_EVENT_SIZE_LIMIT:
            raise UserEventError(f"user event exceeds limit of {USER_EVENT_SIZE_LIMIT} bytes "
                                 f"(name + payload: {size} bytes)")
        msg = SerfUserEvent(ltime=self._clock.time(), name=name, payload=payload, cc=coalesce)
        raw = encode_serf(msg)
        if len(raw) > USER_EVENT_SIZE_LIMIT:
            raise UserEventError(f"encoded user event exceeds limit of {USER_EVENT_SIZE_LIMIT} "
                                 f"bytes ({len(raw)} bytes)")
        self._clock.increment()
        self.stats.sent += 1
        return msg, raw


def _slot_events(slot: Any) -> Iterator[SerfUserEvent]:
    """The events of one remote ``userEvents`` slot; a malformed slot or entry ends it
    (what decoded before stays)."""
    try:
        d = as_map(slot, "pushPull.Events[]")
        ltime = get_uint(d, b"LTime", U64, "pushPull.Events[]")
        entries = d.get(b"Events") or []
        if not isinstance(entries, list):
            return
        for entry in entries[:MAX_EVENTS_PER_LTIME]:
            e = as_map(entry, "pushPull.Events[].Events[]")
            yield SerfUserEvent(ltime, get_str(e, b"Name", "userEvent"),
                                get_bytes(e, b"Payload", "userEvent"))
    except MalformedPacket:
        return
