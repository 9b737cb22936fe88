"""``CoreTimers``: every timer of ``SwimProtocol`` in one table, and what they run.

A base class of ``gossip.protocol.SwimProtocol``. ``_TIMERS`` lists each timer with its
deadline and what fires it: suspicion timeouts, the prober's rounds, probes,
confirmation probes and relays, gossip rounds, push-pull, catch-ups and reconnects, stream
expiry, the leave phases, the reaper and query expiry. ``next_deadline`` (what the
driver waits for) and ``_run_timers`` (what ``handle_timer`` runs) both read that one
table, so no timer is scheduled by one and forgotten by the other. ``_carry_out`` does
what the prober decides (from a timer or from a packet). The suspicion timers'
own steps (``_suspicion_deadline``, ``_expire_suspicions``) and the sending of a
packet stay with ``SwimProtocol``; they are declared here for the type checker.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from .core_assembly import CoreAssembly
from .membership import TOMBSTONE_S, MemberRecord
from .messages import Suspect
from .probe import OpenTcpPing, ProbeAction, Prober, Send, SendAlone
from .types import Address

__all__ = ["REAP_INTERVAL_S", "CoreTimers"]

REAP_INTERVAL_S = 1.0
"""How often dead/left records and stale bookkeeping are swept."""


@dataclass(frozen=True, slots=True)
class _Timer:
    """One row of the core's timer table (``_TIMERS``)."""

    deadline: Callable[[CoreTimers], float]
    """When it is due next (core time; inf: not scheduled)."""
    fire: Callable[[CoreTimers, float], None]
    """Runs it; called by ``handle_timer`` once ``now`` reached ``deadline(core)``."""
    every_call: bool = False
    """Fire on every ``handle_timer`` call, due or not (it checks its own conditions)."""
    stops_when_leaving: bool = False
    """Never due once a graceful leave started (probing and push-pull stop at once)."""


class CoreTimers(CoreAssembly):
    """Runs the core's timers from ``_TIMERS``."""

    _next_reap: float
    """When the reaper runs next (core time)."""
    _suspicion_deadline: Callable[[], float]
    _expire_suspicions: Callable[[float], None]
    _send: Callable[[Address, bytes, MemberRecord | None], None]
    _catch_up_due: Callable[[float], None]

    def next_deadline(self) -> float | None:
        """When ``handle_timer`` must be called next (core time): the earliest deadline
        in the timer table (``_TIMERS``)."""
        t = math.inf
        # A plain loop over the rows that can be due: called after every input.
        for deadline in _DEADLINES_WHILE_LEAVING if self._leave.phase else _DEADLINES:
            due = deadline(self)
            if due < t:
                t = due
        # When the driver should call handle_timer: a deadline already past (a suspicion
        # shortened by confirmations) is due now, not late (``late_timer_s``).
        self._timer_expected = max(t, self._now)
        return t

    def _run_timers(self, now: float) -> None:
        for timer in _TIMERS:
            # Deadlines are read one by one: a timer may move a later one's deadline
            # (or start a leave).
            if timer.stops_when_leaving and self._leave.phase:
                continue
            if timer.every_call or now >= timer.deadline(self):
                timer.fire(self, now)

    def _reap_tick(self, now: float) -> None:
        self._next_reap = now + REAP_INTERVAL_S
        self._reap(now)

    def _start_probe(self, now: float) -> None:
        self._carry_out(self._prober.tick(now), now)  # a verdict first: the next round
        self._carry_out(self._prober.start_round(now), now)  # may probe the accused

    def _reap(self, now: float) -> None:
        gone = self._members.reap(now, self._cfg.gossip_to_the_dead_s + TOMBSTONE_S,
                                  self._self.name)
        self._stats.reaped += len(gone)
        if gone:
            self._version += 1
        if self._coordinates is not None:
            for name in gone:  # Serf's eraseNode: the coordinate goes with the member
                self._coordinates.forget(name)
        self._serf.expire(now)

    def _carry_out(self, actions: list[ProbeAction], now: float) -> None:
        """Do what the prober decided, in its order."""
        for action in actions:
            if isinstance(action, Send):
                self._send(action.address, action.message, action.to)
            elif isinstance(action, SendAlone):
                self._outbox.emit(action.address, action.data, crc=action.crc)
            elif isinstance(action, OpenTcpPing):
                self._exchanges.open_tcp_ping(action.ping, action.address, action.deadline)
            else:
                self._on_suspect(Suspect(action.incarnation, action.name, self._self.name), now)


def _prober_timer(decide: Callable[[Prober, float], list[ProbeAction]]) -> Callable[[CoreTimers, float], None]:
    """A timer that does what the prober decides at ``now``."""
    return lambda core, now: core._carry_out(decide(core._prober, now), now)


_TIMERS = (
    _Timer(lambda core: core._suspicion_deadline(), lambda core, now: core._expire_suspicions(now)),
    _Timer(lambda core: core._prober.round_deadline(), _prober_timer(Prober.run_round)),
    _Timer(lambda core: core._prober.next_probe, CoreTimers._start_probe,
           stops_when_leaving=True),
    _Timer(lambda core: core._prober.confirm_at, _prober_timer(Prober.start_confirm_probe),
           stops_when_leaving=True),
    _Timer(lambda core: core._prober.relay_deadline(), _prober_timer(Prober.run_relays)),
    _Timer(lambda core: core._gossiper.deadline(core._now),
           lambda core, now: core._gossiper.tick(now)),
    _Timer(lambda core: core._exchanges.next_push_pull,
           lambda core, now: core._exchanges.push_pull_tick(now), stops_when_leaving=True),
    _Timer(lambda core: core._exchanges.next_reconnect,
           lambda core, now: core._exchanges.reconnect_tick(now), stops_when_leaving=True),
    _Timer(lambda core: core._catch_up.deadline(core._exchanges.last_merge),
           lambda core, now: core._catch_up_due(now), stops_when_leaving=True),
    _Timer(lambda core: core._exchanges.streams.deadline(),
           lambda core, now: core._exchanges.expire(now)),
    # Also on every call in between: a leave moves on as soon as its broadcast drained.
    _Timer(lambda core: core._leave.deadline, lambda core, now: core._leave.advance(now),
           every_call=True),
    _Timer(lambda core: core._next_reap, CoreTimers._reap_tick),
    _Timer(lambda core: core._queries.queries.next_deadline(),
           lambda core, now: core._queries.expire(now)),
)
"""Every timer of the core, in the order ``handle_timer`` fires them. ``next_deadline``
and ``_run_timers`` both read this one table, so no timer is scheduled by one and
forgotten by the other."""

_DEADLINES = tuple(timer.deadline for timer in _TIMERS)
"""The deadline of each row of ``_TIMERS``, for ``next_deadline``."""
_DEADLINES_WHILE_LEAVING = tuple(timer.deadline for timer in _TIMERS if not timer.stops_when_leaving)
"""The same, without the rows a leave stops."""
