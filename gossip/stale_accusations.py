"""The answer to a stale accusation (claw-node ``answer_stale_accusations``).

A suspect or dead message about us at an older incarnation than ours comes from a node
that missed our refutation (its gossip ended, or was lost). memberlist ignores it, and
that node declares us dead when its suspicion timer ends. We send it our alive message
straight back instead, rate-limited per address so a flood of stale accusations from
one sender costs one datagram a second. ``SwimProtocol``'s suspect and dead handlers
call this as a guard before applying the message.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from .membership import MemberRecord
from .outbox import Outbox
from .stats import CoreStats
from .types import Address

__all__ = ["MAX_STALE_ANSWERS", "STALE_ANSWER_INTERVAL_S", "StaleAccusationAnswers"]

STALE_ANSWER_INTERVAL_S = 1.0
"""Seconds between two answers to stale accusations sent to the same address."""
MAX_STALE_ANSWERS = 1024
"""Addresses remembered for that rate limit (oldest forgotten first), which bounds its
memory whatever the senders."""


class StaleAccusationAnswers:
    """Answers accusations of our older lives with our current alive message.

    Args:
        me: our own record (its name and current incarnation are read at each call).
        outbox: where the answer is sent, alone in its datagram.
        stats: counts ``stale_accusations_answered``.
        self_alive: our alive message, encoded at our current incarnation.
    """

    def __init__(self, me: MemberRecord, outbox: Outbox, stats: CoreStats,
                 self_alive: Callable[[], bytes]) -> None:
        self._me = me
        self._outbox = outbox
        self._stats = stats
        self._self_alive = self_alive
        self._last_answer: OrderedDict[Address, float] = OrderedDict()
        """Where we last sent our alive in answer, and when (least recent first)."""

    def on_accusation(self, node: str, incarnation: int, addr: Address, now: float) -> None:
        """An accusation of ``node`` at ``incarnation`` arrived from ``addr``: answer it
        if it is about an older life of ours and ``addr`` was not answered within
        ``STALE_ANSWER_INTERVAL_S``."""
        if node != self._me.name or incarnation >= self._me.incarnation:
            return  # not about us, or about our current life: the refutation rules apply
        last = self._last_answer.get(addr)
        if last is not None and now - last < STALE_ANSWER_INTERVAL_S:
            return
        self._last_answer[addr] = now
        self._last_answer.move_to_end(addr)
        if len(self._last_answer) > MAX_STALE_ANSWERS:
            self._last_answer.popitem(last=False)
        self._outbox.emit(addr, self._self_alive(), crc=False)
        self._stats.stale_accusations_answered += 1
