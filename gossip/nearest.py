"""Order candidates by estimated RTT from one coordinate (the API's ``near=`` query).

Pure functions over coordinates the caller already holds: nothing is measured here.
A candidate whose coordinate is unknown (``None``), of another dimensionality or not
finite has no estimate and sorts after every candidate that has one. The sort is
stable, so a caller wanting a tie-break (e.g. load) sorts by it first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from gossip.coordinate import Coordinate

__all__ = ["estimated_rtt", "sort_by_estimated_rtt"]

T = TypeVar("T")


def estimated_rtt(origin: Coordinate, coord: Coordinate | None) -> float | None:
    """Estimated RTT (seconds) from ``origin`` to ``coord``; ``None`` if it has none."""
    if coord is None or not origin.is_compatible_with(coord) or not coord.is_valid():
        return None
    return origin.distance_to(coord)


def sort_by_estimated_rtt(
    origin: Coordinate,
    candidates: Iterable[T],
    coordinate_of: Callable[[T], Coordinate | None],
) -> list[T]:
    """``candidates`` nearest first; those without an estimate last, in their given order."""
    keyed = [(estimated_rtt(origin, coordinate_of(c)), c) for c in candidates]
    known = [(rtt, c) for rtt, c in keyed if rtt is not None]
    unknown = [c for rtt, c in keyed if rtt is None]
    known.sort(key=lambda item: item[0])
    return [c for _, c in known] + unknown
