"""Lifeguard's dynamic suspicion timeout (memberlist ``suspicion.go`` / ``util.go``).

A suspicion starts at ``max_s`` and shrinks toward ``min_s`` as independent members
confirm it, so a node that many peers cannot reach is declared dead sooner, while a
single slow accuser cannot kill a healthy node quickly.

Everything here is pure arithmetic on explicit times: no clock, no timers. The
protocol asks ``Suspicion.deadline`` and fires when its own ``now`` passes it.
"""

from __future__ import annotations

import math

__all__ = [
    "Suspicion",
    "confirmations_needed",
    "remaining_suspicion_time",
    "suspicion_bounds",
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


def remaining_suspicion_time(
    n: int, k: int, elapsed: float, min_s: float, max_s: float
) -> float:
    """Seconds left after ``elapsed`` seconds, given ``n`` of ``k`` confirmations.

    The total timeout is ``max - (ln(n + 1) / ln(k + 1)) × (max - min)``, floored to
    whole milliseconds and never below ``min``; the result is that total minus
    ``elapsed`` (negative: already overdue). ``k`` must be ≥ 1 whenever ``n`` ≥ 1.
    """
    if k < 1:
        total = min_s
    else:
        frac = math.log(n + 1.0) / math.log(k + 1.0)
        raw = max_s - frac * (max_s - min_s)
        total = max(min_s, math.floor(1000.0 * raw) / 1000.0)
    return total - elapsed


class Suspicion:
    """One running suspicion: who confirmed it and when it expires.

    The accuser (``from_`` of the first suspect message) is pre-counted and never
    confirms; every other distinct name confirms once, up to ``k`` confirmations.
    """

    __slots__ = ("_confirmers", "confirmations", "deadline", "k", "max_s", "min_s", "start")

    def __init__(self, accuser: str, k: int, min_s: float, max_s: float, start: float) -> None:
        self.k = k
        self.min_s = min_s
        self.max_s = max_s
        self.start = start
        self.confirmations = 0
        self._confirmers: set[str] = {accuser}
        # Without anyone to confirm, waiting for confirmations only delays detection.
        self.deadline = start + (max_s if k >= 1 else min_s)

    def confirm(self, from_: str, now: float) -> bool:
        """Count ``from_`` as an independent confirmation; True if it was new.

        A new confirmation moves ``deadline`` earlier (possibly into the past).
        """
        if self.confirmations >= self.k:
            return False  # already at the floor: more confirmations change nothing
        if from_ in self._confirmers:
            return False  # the same member repeating itself is not independent
        self._confirmers.add(from_)
        self.confirmations += 1
        remaining = remaining_suspicion_time(
            self.confirmations, self.k, now - self.start, self.min_s, self.max_s
        )
        self.deadline = now + remaining
        return True
