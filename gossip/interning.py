"""One shared object per distinct byte string that many records or queues repeat.

Every core keeps a copy of what each member announced (meta, protocol versions, raw
address) and, while a rumour spreads, of the encoded broadcast itself. Equal values from
different datagrams are different objects; with many cores in one process (the
simulator) or a big table that is most of the memory per (node, member) pair. A pool
maps each value to its first copy so later ones can be dropped.

Bounded by what it describes: a pool keeps a value only while something else (a member
record, a queued broadcast, a decode memo) still holds it. After as many new values as
it kept at its last look, it drops the values only it references; an agent's pool thus
stays the size of its own queues and tables, and a simulator's (many cores, one process)
still shares everything that is alive. ``max_entries`` caps the pool when more
values than that are alive at once: the oldest go first, which only costs sharing,
never correctness.
"""

from __future__ import annotations

import sys

__all__ = ["BROADCASTS", "MIN_SWEEP_ENTRIES", "RECORD_FIELDS", "BytesPool"]

MIN_SWEEP_ENTRIES = 256
"""New values a pool takes at least between two looks for unreferenced ones (count)."""


class BytesPool:
    """Value → canonical object: the values still referenced outside the pool, at most
    ``max_entries`` of them (oldest evicted first)."""

    __slots__ = ("_added", "_pool", "_sweep_after", "max_entries", "swept")

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._pool: dict[bytes, bytes] = {}
        self._added = 0
        self._sweep_after = MIN_SWEEP_ENTRIES
        self.swept = 0
        """Values dropped because nothing but the pool held them (count)."""

    def __len__(self) -> int:
        return len(self._pool)

    def share(self, value: bytes) -> bytes:
        pool = self._pool
        got = pool.get(value)
        if got is not None:
            return got
        if self._added >= self._sweep_after:
            self._sweep()
        if len(pool) >= self.max_entries:
            del pool[next(iter(pool))]
        pool[value] = value
        self._added += 1
        return value

    def _sweep(self) -> None:
        """Drop the values only the pool references. The next sweep comes after as many
        new values as the pool keeps now (at least ``MIN_SWEEP_ENTRIES``): each sweep's
        walk is paid by as many shares, and the pool stays within about twice what is
        alive."""
        pool = self._pool
        unused = [value for value, refs in zip(pool, _refcounts(pool), strict=True)
                  if refs <= _POOL_ONLY_REFS]
        for value in unused:
            del pool[value]
        self.swept += len(unused)
        self._added = 0
        self._sweep_after = max(MIN_SWEEP_ENTRIES, len(pool))


def _refcounts(pool: dict[bytes, bytes]) -> list[int]:
    return [sys.getrefcount(value) for value in pool]


def _pool_only_refs() -> int:
    """The count ``_refcounts`` gives a value nothing but the pool holds (the dict's key
    and value, the loop's own): measured once on this interpreter, not assumed."""
    value = bytes(bytearray(b"\x00pool-only"))  # a fresh object: no constant shares it
    pool = {value: value}
    del value
    return _refcounts(pool)[0]


_POOL_ONLY_REFS = _pool_only_refs()

RECORD_FIELDS = BytesPool(65536)
"""Member meta, vsn and raw addresses (entries; each at most ``meta_max_bytes`` long)."""

BROADCASTS = BytesPool(16384)
"""Encoded broadcasts (entries; each at most one datagram). Memberlist's queue holds up
to 4,096 per core, so this covers the rumours in flight in a big simulated cluster."""
