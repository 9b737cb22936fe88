"""Lifeguard's dynamic suspicion timeout (memberlist ``suspicion.go`` / ``util.go``),
with claw-node's optional extension below memberlist's minimum.

A suspicion starts at ``max_s`` and shrinks toward ``min_s`` as independent members
confirm it, so a node that many peers cannot reach is declared dead sooner, while a
single slow accuser cannot kill a healthy node quickly.

memberlist stops at ``min_s = suspicion_mult × log10(n) × probe_interval`` after
``k = suspicion_mult - 2`` confirmations. claw-node (``GossipConfig.suspicion_floor_mult``
above 0) keeps counting: each further independent confirmation (a failed direct + indirect
+ TCP probe by yet another member) shrinks the timeout on the same logarithmic curve from
``min_s`` to ``floor_s = suspicion_floor_mult × probe_interval`` (never above ``min_s``),
reached after ``2k`` confirmations. The floor does not grow with ``log10(n)``: it only has
to outlast a paused or slow suspect's refutation, which takes a few gossip rounds, not a
few probe intervals per decade of cluster size.

Everything here is pure arithmetic on explicit times: no clock, no timers. The
protocol asks ``Suspicion.deadline`` and fires when its own ``now`` passes it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import GossipConfig

__all__ = [
    "Suspicion",
    "confirmations_needed",
    "remaining_suspicion_time",
    "suspicion_bounds",
    "suspicion_floor",
    "suspicion_timeout",
]


def suspicion_bounds(
    suspicion_mult: int, max_mult: int, n: int, probe_interval_s: float
) -> tuple[float, float]:
    """``(min_s, max_s)`` of a suspicion timeout in a cluster of ``n`` members.

    ``min = suspicion_mult × max(1, log10(max(1, n))) × probe_interval_s`` with the node
    scale truncated to 1/1000 (memberlist keeps it in an integer Duration), and
    ``max = max_mult × min``.
    """
    node_scale = max(1.0, math.log10(max(1.0, float(n))))
    min_s = suspicion_mult * math.floor(node_scale * 1000.0) * probe_interval_s / 1000.0
    return min_s, max_mult * min_s


def suspicion_floor(floor_mult: float, probe_interval_s: float, min_s: float) -> float:
    """claw-node's lowest suspicion timeout: ``floor_mult × probe_interval_s``, capped
    at ``min_s``. ``floor_mult`` 0 (or a product above ``min_s``) gives ``min_s``, i.e.
    memberlist's behaviour."""
    if floor_mult <= 0:
        return min_s
    return min(min_s, floor_mult * probe_interval_s)


def confirmations_needed(suspicion_mult: int, n: int) -> int:
    """``k``: independent confirmations that bring the timeout down to its minimum.

    ``suspicion_mult - 2``, or 0 when the cluster is too small to provide that many
    confirmers besides the accuser and the suspect (``n - 2 < k``), or when
    ``suspicion_mult < 2`` (memberlist then also starts at the minimum).
    """
    k = suspicion_mult - 2
    if n - 2 < k:
        k = 0
    return max(0, k)


def suspicion_timeout(
    c: int, k: int, min_s: float, max_s: float, floor_s: float | None = None
) -> float:
    """Total suspicion timeout (seconds from its start) after ``c`` confirmations.

    * ``k < 1`` (nobody can confirm): ``min_s``.
    * ``c <= k`` (memberlist): ``max - (ln(c + 1) / ln(k + 1)) × (max - min)``, floored to
      whole milliseconds and never below ``min``.
    * ``c > k`` with ``floor_s < min_s`` (claw-node): the same curve from ``min`` toward
      ``floor``: ``min - (ln(c - k + 1) / ln(k + 1)) × (min - floor)``, floored to whole
      milliseconds and never below ``floor``, so ``floor`` is reached at ``c = 2k``.
      With ``floor_s`` None or ``>= min_s`` the timeout stays at ``min`` (memberlist).
    """
    if k < 1:
        return min_s
    if c <= k or floor_s is None or floor_s >= min_s:
        frac = math.log(min(c, k) + 1.0) / math.log(k + 1.0)
        raw = max_s - frac * (max_s - min_s)
        return max(min_s, math.floor(1000.0 * raw) / 1000.0)
    frac = math.log(c - k + 1.0) / math.log(k + 1.0)
    raw = min_s - frac * (min_s - floor_s)
    return max(floor_s, math.floor(1000.0 * raw) / 1000.0)


def remaining_suspicion_time(
    n: int, k: int, elapsed: float, min_s: float, max_s: float
) -> float:
    """memberlist ``remainingSuspicionTime``: seconds left after ``elapsed`` seconds,
    given ``n`` of ``k`` confirmations (negative: already overdue).

    ``suspicion_timeout(n, k, min_s, max_s) - elapsed``: ``max - (ln(n + 1) / ln(k + 1))
    × (max - min)``, floored to whole milliseconds and never below ``min``.
    """
    return suspicion_timeout(n, k, min_s, max_s) - elapsed


class Suspicion:
    """One running suspicion: who confirmed it and when it expires.

    The accuser (``from_`` of the first suspect message) is pre-counted and never
    confirms; every other distinct name confirms once, up to ``k`` confirmations, or up
    to ``2k`` when ``floor_s`` is below ``min_s`` (claw-node; see ``suspicion_timeout``).
    """

    __slots__ = ("_confirmers", "confirm_probed", "confirmations", "deadline", "floor_s",
                 "k", "last_chance", "limit", "max_s", "min_s", "not_before", "started_at")

    def __init__(self, accuser: str, k: int, min_s: float, max_s: float, start: float,
                 floor_s: float | None = None) -> None:
        self.k = k
        self.min_s = min_s
        self.max_s = max_s
        self.floor_s = floor_s
        self.started_at = start
        self.confirmations = 0
        self.limit = 2 * k if floor_s is not None and floor_s < min_s else k
        """Confirmations beyond this change nothing."""
        self.confirm_probed = False
        """claw-node: this node already sent its one confirmation probe of the suspect."""
        self.not_before = -math.inf
        """claw-node: no verdict before this (set when the suspect acks us, ``answered``)."""
        self.last_chance = False
        """claw-node: the verdict already waited for one last probe (``last_chance_probe``)."""
        self._confirmers: set[str] = {accuser}
        # Without anyone to confirm, waiting for confirmations only delays detection.
        self.deadline = start + (max_s if k >= 1 else min_s)

    @classmethod
    def start(cls, accuser: str, now: float, *, n: int, config: GossipConfig,
              floor: bool) -> Suspicion:
        """A suspicion raised by ``accuser`` at ``now`` in a cluster of ``n`` members,
        with the bounds ``config`` gives (``suspicion_bounds``, ``confirmations_needed``);
        ``floor``: may it shrink below memberlist's minimum toward
        ``config.suspicion_floor_mult`` (claw-node)?"""
        min_s, max_s = suspicion_bounds(config.suspicion_mult, config.suspicion_max_mult,
                                        n, config.probe_interval_s)
        k = confirmations_needed(config.suspicion_mult, n)
        floor_s = (suspicion_floor(config.suspicion_floor_mult, config.probe_interval_s, min_s)
                   if floor else None)
        return cls(accuser, k, min_s, max_s, now, floor_s)

    @property
    def weak(self) -> bool:
        """Fewer than ``k`` independent confirmations: the timeout is still above
        memberlist's minimum, the evidence that of a few accusers only."""
        return self.confirmations < self.k

    @property
    def saturated(self) -> bool:
        """True once more confirmations cannot shorten the timeout."""
        return self.confirmations >= self.limit

    def confirm(self, from_: str, now: float) -> bool:
        """Count ``from_`` as an independent confirmation; True if it was new.

        A new confirmation moves ``deadline`` earlier (possibly into the past).
        """
        if self.confirmations >= self.limit:
            return False  # already at the floor: more confirmations change nothing
        if from_ in self._confirmers:
            return False  # the same member repeating itself is not independent
        self._confirmers.add(from_)
        self.confirmations += 1
        self.deadline = max(self.not_before, self.started_at + suspicion_timeout(
            self.confirmations, self.k, self.min_s, self.max_s, self.floor_s))
        return True

    def answered(self, now: float) -> None:
        """claw-node: the suspect acked our probe at ``now``; the deadline is at least
        ``min_s`` later, whatever confirmations follow, and a weak verdict then waits
        for one more last-chance probe (``GossipConfig.last_chance_probe``)."""
        self.not_before = max(self.not_before, now + self.min_s)
        self.last_chance = False
        self.deadline = max(self.deadline, self.not_before)
