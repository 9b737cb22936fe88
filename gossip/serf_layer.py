"""The thin part of Serf a claw node speaks so mixed clusters agree (reference §7).

* Lamport clocks (member, event, query) as Serf keeps them.
* Join and leave *intents*: a memberlist-level leave alone shows as ``failed`` in
  ``serf members``; the leave intent (with an LTime newer than anything Serf has seen
  for us) turns it into ``left``.
* Per-member ``statusLTime`` and the intents for members not known yet (Serf's
  ``recentIntents``).
* Serf's push-pull user state (the user event ring, clocks, status LTimes, left
  members) plus claw's ``claw`` extension.

Decisions only; ``SwimProtocol`` queues the broadcasts and emits events.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from .membership import MemberRecord
from .messages import SerfJoin, SerfLeave, SerfPushPull
from .types import MemberState

__all__ = [
    "EVENT_BUFFER",
    "MAX_RECENT_INTENTS",
    "RECENT_INTENT_S",
    "IntentOutcome",
    "LamportClock",
    "SerfLayer",
]

EVENT_BUFFER = 512
"""Serf ``EventBuffer``: its push-pull state always carries this many event slots."""

RECENT_INTENT_S = 300.0
"""Serf ``RecentIntentTimeout`` (5 min): how long an intent for an unknown member is kept."""

_U64_MAX = (1 << 64) - 1

MAX_RECENT_INTENTS = 4096
"""Cap on remembered intents for unknown members (Serf has none; hostile input could
name millions)."""


class LamportClock:
    """Serf's ``LamportClock``: starts at 0; Serf increments it once at creation."""

    __slots__ = ("_t",)

    def __init__(self, start: int = 0) -> None:
        self._t = start

    def time(self) -> int:
        return self._t

    def increment(self) -> int:
        self._t = min(self._t + 1, _U64_MAX)
        return self._t

    def witness(self, v: int) -> None:
        """Move past ``v``: afterwards ``time() > v``."""
        if v >= self._t:
            self._t = min(v + 1, _U64_MAX)  # a hostile 2**64-1 must not overflow the wire type


class IntentOutcome(enum.Enum):
    IGNORED = "ignored"
    """Not newer than the member's statusLTime."""
    APPLIED = "applied"
    """Newer: statusLTime moved (re-broadcast it)."""
    REMEMBERED = "remembered"
    """About a member we do not know yet: kept for when it shows up (re-broadcast it)."""
    REFUTE = "refute"
    """A leave intent about us while we are not leaving: answer with a join intent."""
    LEFT = "left"
    """A leave intent about a member we consider dead: it left after all."""


def _same(record: MemberRecord) -> MemberRecord:
    return record


class SerfLayer:
    """Clocks and intents. Members' ``status_ltime``/``leaving`` live on their records."""

    def __init__(self) -> None:
        self.clock = LamportClock()
        self.event_clock = LamportClock()
        self.query_clock = LamportClock()
        for c in (self.clock, self.event_clock, self.query_clock):
            c.increment()  # Serf's Create() starts every clock at 1
        self._recent: OrderedDict[str, tuple[float, SerfJoin | SerfLeave]] = OrderedDict()
        self.local_events: Callable[[], tuple[dict[bytes, Any] | None, ...]] | None = None
        """The user event ring for our push-pull (``UserEvents.local_events``; None:
        ``EVENT_BUFFER`` empty slots)."""

    # --- our own intents -------------------------------------------------------

    def new_join_intent(self, self_record: MemberRecord) -> SerfJoin:
        """Serf ``broadcastJoin(clock.Time())``, applied to ourselves first."""
        msg = SerfJoin(ltime=self.clock.time(), node=self_record.name)
        self.clock.witness(msg.ltime)
        self_record.status_ltime = max(self_record.status_ltime, msg.ltime)
        return msg

    def new_leave_intent(self, self_record: MemberRecord) -> SerfLeave:
        """Serf ``Leave``: an LTime greater than anything witnessed, then tick."""
        msg = SerfLeave(ltime=self.clock.time(), node=self_record.name, prune=False)
        self.clock.increment()
        self_record.status_ltime = max(self_record.status_ltime, msg.ltime)
        self_record.leaving = True
        return msg

    def new_force_leave_intent(self, name: str, *, prune: bool) -> SerfLeave:
        """Serf ``forceLeave``: a leave intent about another member at the current LTime,
        then tick (applied like any received intent; ``prune``: erase it once left)."""
        msg = SerfLeave(ltime=self.clock.time(), node=name, prune=prune)
        self.clock.increment()
        return msg

    # --- intents from others -------------------------------------------------------

    def on_join(self, record: MemberRecord | None, msg: SerfJoin, now: float, *,
                writable: Callable[[MemberRecord], MemberRecord] = _same) -> IntentOutcome:
        """``writable`` turns the record into one that may be changed
        (``Membership.writable`` for tables that share records)."""
        self.clock.witness(msg.ltime)
        if record is None:
            return self._remember(msg, now)
        if msg.ltime <= record.status_ltime:
            return IntentOutcome.IGNORED  # older than what we applied last
        record = writable(record)
        record.status_ltime = msg.ltime
        record.leaving = False  # a newer join cancels a pending leave
        return IntentOutcome.APPLIED

    def on_leave(
        self, record: MemberRecord | None, msg: SerfLeave, now: float, *, is_self: bool,
        self_leaving: bool, writable: Callable[[MemberRecord], MemberRecord] = _same,
    ) -> IntentOutcome:
        self.clock.witness(msg.ltime)
        if record is None:
            return self._remember(msg, now)
        if msg.ltime <= record.status_ltime:
            return IntentOutcome.IGNORED  # older than what we applied last
        if is_self and not self_leaving:
            return IntentOutcome.REFUTE  # someone says we leave; we do not
        record = writable(record)
        record.status_ltime = msg.ltime
        if record.state in (MemberState.ALIVE, MemberState.SUSPECT):
            record.leaving = True
            return IntentOutcome.APPLIED
        if record.state == MemberState.DEAD:
            return IntentOutcome.LEFT  # Serf: a leave intent for a failed member -> left
        return IntentOutcome.APPLIED  # already left: nothing changes, but pass it on

    def take_recent(self, name: str, now: float) -> SerfJoin | SerfLeave | None:
        """The remembered intent for a member that just appeared (if still fresh)."""
        entry = self._recent.pop(name, None)
        if entry is None or now - entry[0] > RECENT_INTENT_S:
            return None
        return entry[1]

    def expire(self, now: float) -> None:
        while self._recent:
            name, (t, _) = next(iter(self._recent.items()))
            if now - t <= RECENT_INTENT_S:
                break
            del self._recent[name]

    def _remember(self, msg: SerfJoin | SerfLeave, now: float) -> IntentOutcome:
        old = self._recent.get(msg.node)
        if old is not None and msg.ltime <= old[1].ltime:
            return IntentOutcome.IGNORED
        self._recent.pop(msg.node, None)
        self._recent[msg.node] = (now, msg)
        while len(self._recent) > MAX_RECENT_INTENTS:
            self._recent.popitem(last=False)
        return IntentOutcome.REMEMBERED

    # --- push-pull ------------------------------------------------------------------

    def local_state(self, records: Iterable[MemberRecord], claw: bytes | None, *,
                    statuses: tuple[dict[str, int], tuple[str, ...]] | None = None) -> SerfPushPull:
        """Our Serf push-pull state for ``records``; ``statuses``: their status LTimes
        and left names, already worked out (``shared_push_pull``)."""
        if statuses is None:
            status: dict[str, int] = {}
            left: list[str] = []
            for r in records:
                status[r.name] = r.status_ltime
                if r.state == MemberState.LEFT:
                    left.append(r.name)
            statuses = status, tuple(left)
        return SerfPushPull(
            ltime=self.clock.time(), status_ltimes=statuses[0], left_members=statuses[1],
            event_ltime=self.event_clock.time(),
            events=(None,) * EVENT_BUFFER if self.local_events is None else self.local_events(),
            query_ltime=self.query_clock.time(), claw=claw,
        )

    def witness_remote(self, pp: SerfPushPull) -> None:
        """Serf ``MergeRemoteState`` witnesses each remote clock minus one."""
        if pp.ltime > 0:
            self.clock.witness(pp.ltime - 1)
        if pp.event_ltime > 0:
            self.event_clock.witness(pp.event_ltime - 1)
        if pp.query_ltime > 0:
            self.query_clock.witness(pp.query_ltime - 1)
