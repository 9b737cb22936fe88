"""One shared object per distinct byte string that many records or queues repeat.

Every core keeps a copy of what each member announced (meta, protocol versions, raw
address) and, while a rumour spreads, of the encoded broadcast itself. Equal values from
different datagrams are different objects; with many cores in one process (the
simulator) or a big table that is most of the memory per (node, member) pair. A pool
maps each value to its first copy so later ones can be dropped. Bounded: the oldest
entries go first, which only costs sharing, never correctness.
"""

from __future__ import annotations

__all__ = ["BROADCASTS", "RECORD_FIELDS", "BytesPool"]


class BytesPool:
    """Value → canonical object, at most ``max_entries`` entries (oldest evicted first)."""

    __slots__ = ("_pool", "max_entries")

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._pool: dict[bytes, bytes] = {}

    def __len__(self) -> int:
        return len(self._pool)

    def share(self, value: bytes) -> bytes:
        got = self._pool.get(value)
        if got is not None:
            return got
        if len(self._pool) >= self.max_entries:
            del self._pool[next(iter(self._pool))]
        self._pool[value] = value
        return value


RECORD_FIELDS = BytesPool(65536)
"""Member meta, vsn and raw addresses (entries; each at most ``meta_max_bytes`` long)."""

BROADCASTS = BytesPool(16384)
"""Encoded broadcasts (entries; each at most one datagram). Memberlist's queue holds up
to 4,096 per core, so this covers the rumours in flight in a big simulated cluster."""
