"""What arrives inside memberlist's user messages: Serf's intents and claw app messages
(Serf's queries are passed on to ``query_router``, user events to ``user_events``).

memberlist hands a user message (type 8) to its delegate; Serf's delegate reads join and
leave intents, user events and queries from it, and claw nodes add their own application
messages. ``UserMessages`` applies the intents (the decisions are ``SerfLayer``'s),
re-broadcasts what Serf re-broadcasts, and delivers each claw app message once, relaying
it so it spreads epidemically. It changes the member table only through the callables
the core hands it (``set_state``, ``emit``), so the core stays the one place that moves
a member between states.
"""

from __future__ import annotations

from collections.abc import Callable

from . import codec, serf_codec
from .app_relay import AppVersion, AppVersionOf, SeenAppMessages
from .decode_cache import DecodeCache
from .events import AppMessage, Event, MemberLeft
from .membership import MemberRecord, Membership
from .messages import (
    ClawAppMessage,
    SerfJoin,
    SerfLeave,
    SerfPushPull,
    SerfQuery,
    SerfQueryResponse,
    SerfRelay,
    SerfUnknown,
    SerfUserEvent,
    UserMsg,
)
from .outbox import Outbox
from .serf_layer import IntentOutcome, SerfLayer
from .stats import CoreStats
from .types import MemberState

__all__ = ["UserMessages", "serf_payload"]


def serf_payload(msg: object) -> bytes:
    """A Serf (or claw) message wrapped as a memberlist user message, encoded."""
    return codec.encode_message(UserMsg(serf_codec.encode_serf(msg)))  # type: ignore[arg-type]


class UserMessages:
    """Serf intents and claw app messages for one core.

    Args:
        members: the core's member table (``adopt`` replaces it).
        me: the core's own record.
        serf, outbox, stats, decode_cache: the core's collaborators.
        emit: queues an event for the application.
        set_state: moves a member to a state (the core bumps its version).
        leaving: whether the core has started a graceful leave.
        erase: removes a left member from the table (a leave intent with ``prune``).
        on_query: takes Serf queries, responses and relays with whether they arrived
            encrypted (``QueryRouter.on_message``).
        on_user_event: takes Serf user events (``UserEvents.on_message``).
        app_version_of: names the record and version an app message carries, so a
            relay replaces the queued relay of an older version (``app_relay``).
    """

    def __init__(self, members: Membership, me: MemberRecord, serf: SerfLayer,
                 outbox: Outbox, stats: CoreStats, decode_cache: DecodeCache, *,
                 emit: Callable[[Event], None],
                 set_state: Callable[[MemberRecord, MemberState, float], None],
                 leaving: Callable[[], bool],
                 erase: Callable[[MemberRecord], None],
                 on_query: Callable[[SerfQuery | SerfQueryResponse | SerfRelay, bytes, float, bool], None],
                 on_user_event: Callable[[SerfUserEvent, bytes], None],
                 app_version_of: AppVersionOf | None = None,
                 ) -> None:
        self._members = members
        self._self = me
        self._serf = serf
        self._outbox = outbox
        self._stats = stats
        self._decode_cache = decode_cache
        self._emit = emit
        self._set_state = set_state
        self._leaving = leaving
        self._erase = erase
        self._on_query = on_query
        self._on_user_event = on_user_event
        self._seen_app = SeenAppMessages(app_version_of, self._member_count)

    def _member_count(self) -> int:
        return len(self._members)

    def adopt(self, members: Membership) -> None:
        """Use ``members`` from now on (the core replaced its table)."""
        self._members = members

    def on_user(self, payload: bytes, now: float, *, encrypted: bool) -> None:
        """A user message's payload arrived (in a datagram or a stream; ``encrypted``:
        sealed under one of our keys, which Serf queries carry on)."""
        msg = serf_codec.decode_serf(payload, self._decode_cache)
        if isinstance(msg, ClawAppMessage):
            self._on_app(msg.body)
        elif isinstance(msg, SerfJoin):
            self._stats.serf_intents += 1
            rec = self._members.get(msg.node)
            outcome = self._serf.on_join(rec, msg, now, writable=self._members.writable)
            if outcome in (IntentOutcome.APPLIED, IntentOutcome.REMEMBERED):
                # Serf re-broadcasts new intents, as received: 0x08 + payload.
                self._outbox.serf.push(codec.encode_message(UserMsg(payload)))
        elif isinstance(msg, SerfLeave):
            self._stats.serf_intents += 1
            self.on_leave_intent(msg, now, rebroadcast=codec.encode_message(UserMsg(payload)))
        elif isinstance(msg, SerfUserEvent):
            self._on_user_event(msg, payload)
        elif isinstance(msg, (SerfQuery, SerfQueryResponse, SerfRelay)):
            self._on_query(msg, payload, now, encrypted)
        elif isinstance(msg, (SerfUnknown, SerfPushPull)):
            self._stats.serf_ignored += 1
        else:
            self._stats.unknown_type += 1

    def on_leave_intent(self, msg: SerfLeave, now: float, *, rebroadcast: bytes | None) -> None:
        """Apply a leave intent; ``rebroadcast``: what to re-broadcast if it was news."""
        rec = self._members.get(msg.node)
        outcome = self._serf.on_leave(rec, msg, now, is_self=msg.node == self._self.name,
                                      self_leaving=self._leaving(),
                                      writable=self._members.writable)
        if outcome is IntentOutcome.REFUTE:
            # Serf answers a leave intent about a live self with a newer join intent.
            self._outbox.serf.push(serf_payload(self._serf.new_join_intent(self._self)))
            return
        if outcome is IntentOutcome.LEFT:
            assert rec is not None
            rec = self._members.writable(rec)
            self._set_state(rec, MemberState.LEFT, now)
            self._stats.leaves += 1
            self._emit(MemberLeft(rec.snapshot()))
        if rebroadcast is not None and outcome in (
                IntentOutcome.APPLIED, IntentOutcome.REMEMBERED, IntentOutcome.LEFT):
            self._outbox.serf.push(rebroadcast)
        if msg.prune and outcome in (IntentOutcome.APPLIED, IntentOutcome.LEFT):
            # Serf's handlePrune erases a member that has left. A live member marked
            # leaving stays: it refutes if it is alive, or is reaped once it has gone.
            rec = self._members.get(msg.node)
            if rec is not None and rec is not self._self and rec.state == MemberState.LEFT:
                self._erase(rec)

    def on_join_status(self, name: str, ltime: int, now: float) -> None:
        """A peer's push-pull says ``name`` joined at ``ltime`` (Serf's status LTime)."""
        self._serf.on_join(self._members.get(name), SerfJoin(ltime, name), now,
                           writable=self._members.writable)

    def apply_recent_intent(self, rec: MemberRecord, now: float) -> None:
        """``rec`` is new: apply an intent about it that arrived before it did."""
        intent = self._serf.take_recent(rec.name, now)
        if isinstance(intent, SerfJoin):
            self._serf.on_join(rec, intent, now)
        elif isinstance(intent, SerfLeave):
            self.on_leave_intent(intent, now, rebroadcast=None)

    def remember_app(self, body: bytes, version: AppVersion | None = None) -> bool:
        """Record the body as seen (our own broadcast); False if it was already known.
        ``version``: the body's record and version, when the caller knows them
        (``SeenAppMessages.admit``)."""
        return self._seen_app.admit(body, version)[0]

    def _on_app(self, body: bytes) -> None:
        new, key = self._seen_app.admit(body)
        if not new:
            self._stats.app_duplicates += 1  # seen, or an older version of its record
            return
        self._stats.app_messages_in += 1
        self._emit(AppMessage(body))
        payload = serf_payload(ClawAppMessage(body))
        if self._outbox.fits(payload):
            # Relay, so it spreads epidemically; a newer version of the same record
            # replaces this relay while it is still queued.
            self._outbox.push_app(payload, None if key is None else f"app:{key}")
        else:
            self._stats.app_too_large_to_relay += 1
