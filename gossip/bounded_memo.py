"""A memo bounded by entries and by a total cost that the caller states per entry.

The core memoises pure functions of wire bytes (``gossip.decode_cache`` for broadcasts,
``gossip.stream_memo`` for big push-pulls). Those bytes may be hostile, so every memo
is bounded twice: by its entry count and by the sum of the costs of its entries. The
caller chooses the unit of the cost when it stores an entry: estimated bytes of memory
(both users above), or 1 per entry to bound by count alone. An entry costlier than
``max_entry_cost`` is not stored; otherwise the oldest inserted entries are evicted
until the new one fits. Flooding a memo with distinct keys thus only evicts useful
entries, which costs speed, never memory or correctness.

Only successes should be stored, and only values that every reader may share
(immutable ones): a memo hands out the same object for every hit.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["BoundedMemo"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedMemo(Generic[K, V]):
    """key → value, oldest inserted evicted first.

    Args:
        max_entries: most entries kept (0: the memo stores nothing).
        max_cost: most total cost kept, in the unit of the costs given to ``put``.
        max_entry_cost: costliest single entry stored (None: ``max_cost``).

    Raises:
        ValueError: a negative bound.
    """

    __slots__ = ("_cost", "_costs", "_map", "hits", "lookup", "max_cost", "max_entries",
                 "max_entry_cost", "misses")

    def __init__(self, max_entries: int, max_cost: int, max_entry_cost: int | None = None) -> None:
        entry_bound = max_cost if max_entry_cost is None else max_entry_cost
        if max_entries < 0 or max_cost < 0 or entry_bound < 0:
            raise ValueError("memo bounds must be >= 0")
        self.max_entries = max_entries
        self.max_cost = max_cost
        self.max_entry_cost = entry_bound
        self._map: dict[K, V] = {}
        self._costs: dict[K, int] = {}
        """Each entry's cost, apart so that ``lookup`` hands out the value itself."""
        self._cost = 0
        self.hits = 0
        """Lookups through ``get`` that found a value."""
        self.misses = 0
        """Lookups that found nothing: counted by ``get``, or by a caller of ``lookup``."""
        self.lookup: Callable[[K], V | None] = self._map.get
        """``lookup(key)``: the stored value or None, uncounted (the hot path: the
        dict's own bound method, no Python frame)."""

    def get(self, key: K) -> V | None:
        """The stored value or None, counted as a hit or a miss."""
        found = self._map.get(key)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, key: K, value: V, cost: int = 1) -> None:
        """Store ``value`` for ``key`` charged ``cost`` (default 1: a bound by count),
        evicting the oldest entries until it fits; not stored if the key is already
        there or ``cost`` exceeds ``max_entry_cost`` or ``max_cost``."""
        if key in self._map or cost > self.max_entry_cost or cost > self.max_cost \
                or self.max_entries == 0:
            return
        m, costs = self._map, self._costs
        while m and (len(m) >= self.max_entries or self._cost + cost > self.max_cost):
            old = next(iter(m))
            del m[old]
            self._cost -= costs.pop(old)
        m[key] = value
        costs[key] = cost
        self._cost += cost

    def __len__(self) -> int:
        return len(self._map)

    @property
    def total_cost(self) -> int:
        """Sum of the costs of the entries kept."""
        return self._cost

    def clear(self) -> None:
        self._map.clear()
        self._costs.clear()
        self._cost = 0

    def __getstate__(self) -> tuple[int, int, int]:
        # A pickled memo (simulator snapshots of cores) carries its bounds, not its
        # entries: they are only a speed-up and would make every snapshot bigger.
        return (self.max_entries, self.max_cost, self.max_entry_cost)

    def __setstate__(self, state: tuple[int, int, int]) -> None:
        self.__init__(*state)  # type: ignore[misc]
