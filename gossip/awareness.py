"""Lifeguard local health awareness (memberlist ``awareness.go``).

A bounded score of how badly *this* node seems to be doing: missed acks and nacks and
having to refute raise it, successful probes lower it. While it is high the node
probes more slowly (``scale``), so an overloaded node stops accusing healthy peers.
"""

from __future__ import annotations

__all__ = ["Awareness"]


class Awareness:
    """Health score in ``[0, max_multiplier - 1]``; 0 is healthy."""

    __slots__ = ("_score", "max_multiplier")

    def __init__(self, max_multiplier: int) -> None:
        if max_multiplier < 1:
            raise ValueError("max_multiplier must be >= 1")
        self.max_multiplier = max_multiplier
        self._score = 0

    @property
    def score(self) -> int:
        return self._score

    def apply_delta(self, delta: int) -> int:
        """Add ``delta`` (may be negative), clamp into range, return the new score."""
        self._score = min(self.max_multiplier - 1, max(0, self._score + delta))
        return self._score

    def scale(self, timeout_s: float) -> float:
        """``timeout_s × (score + 1)``: the stretched probe interval."""
        return timeout_s * (self._score + 1)
