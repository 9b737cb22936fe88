"""``Histogram``: counts of observed values in fixed buckets, as Prometheus keeps them.

The core measures durations on its own clock (a probe's round trip, a push-pull's
exchange) and keeps them here; the agent exposes them as Prometheus histograms
(``node.metrics``). Fixed buckets keep the memory constant whatever the traffic.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

__all__ = ["PROBE_RTT_BUCKETS_S", "PUSH_PULL_BUCKETS_S", "Histogram"]

PROBE_RTT_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5)
"""Upper bounds, seconds, of the probe round-trip buckets (LAN to a slow WAN link; the
probe timeout is 0.5 s by default)."""
PUSH_PULL_BUCKETS_S = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds, seconds, of the push-pull duration buckets (the TCP timeout is 10 s)."""


class Histogram:
    """Cumulative-bucket histogram of non-negative values.

    Args:
        bounds: increasing upper bounds; a last ``+Inf`` bucket is implied.
    """

    __slots__ = ("_counts", "bounds", "count", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        if list(bounds) != sorted(set(bounds)) or not bounds:
            raise ValueError("bounds must be strictly increasing and not empty")
        self.bounds = tuple(float(b) for b in bounds)
        self._counts = [0] * (len(self.bounds) + 1)
        self.count = 0
        """Values observed (count)."""
        self.sum = 0.0
        """Their sum."""

    def observe(self, value: float) -> None:
        """Count ``value`` (a negative or NaN value, a clock hiccup, is ignored)."""
        if not value >= 0.0 or math.isinf(value):
            return
        self._counts[bisect.bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value

    def cumulative(self) -> list[tuple[float, int]]:
        """``(upper bound, values <= it)`` per bucket, ending with ``(inf, count)``."""
        out, running = [], 0
        for bound, n in zip((*self.bounds, math.inf), self._counts, strict=True):
            running += n
            out.append((bound, running))
        return out
