"""Virtual time for the simulator: a float that only moves forward when told to.

It never reads the wall clock, so a run is a pure function of its seed.
"""

from __future__ import annotations

__all__ = ["SimClock"]


class SimClock:
    """Simulated seconds (the same scale the core sees as ``now``)."""

    __slots__ = ("_now",)

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    @property
    def now(self) -> float:
        return self._now

    def advance_to(self, t: float) -> None:
        """Move to ``t``. Raises ValueError if ``t`` is in the past (a simulator bug)."""
        if t < self._now:
            raise ValueError(f"time cannot go backwards: {t!r} < {self._now!r}")
        self._now = t
