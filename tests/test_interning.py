"""``BytesPool``: one shared copy per value, kept only while something else holds it."""

from __future__ import annotations

from gossip import dissemination
from gossip.dissemination import BroadcastQueue
from gossip.interning import MIN_SWEEP_ENTRIES, BytesPool


def fresh(text: str) -> bytes:
    """A new bytes object (never a cached constant)."""
    return bytes(bytearray(text.encode()))


def test_equal_values_share_the_first_copy() -> None:
    pool = BytesPool(100)
    first = pool.share(fresh("meta"))
    again = fresh("meta")
    assert again is not first
    assert pool.share(again) is first


def test_values_only_the_pool_holds_are_dropped_the_held_ones_stay_shared() -> None:
    pool = BytesPool(1_000_000)
    held = [pool.share(fresh(f"held-{i}")) for i in range(100)]
    for i in range(50_000):  # each dropped by its sender at once, like a relayed rumour
        pool.share(fresh(f"gone-{i}"))
    # Bounded by what is alive (100) plus at most one doubling since the last sweep,
    # not by the 50,100 distinct values seen nor by max_entries.
    assert len(pool) <= 2 * (len(held) + MIN_SWEEP_ENTRIES)
    assert pool.swept >= 50_000 - 2 * (len(held) + MIN_SWEEP_ENTRIES)
    assert all(pool.share(fresh(f"held-{i}")) is value for i, value in enumerate(held))


def test_max_entries_still_caps_values_that_are_all_alive() -> None:
    pool = BytesPool(300)
    held = [pool.share(fresh(f"v{i}")) for i in range(2_000)]
    assert len(pool) <= 300
    assert pool.share(fresh("v1999")) is held[1999]  # the newest kept, the oldest evicted


def test_a_broadcast_queue_bounds_the_pool_by_what_it_queues(monkeypatch) -> None:
    pool = BytesPool(16384)
    monkeypatch.setattr(dissemination, "BROADCASTS", pool)
    queue = BroadcastQueue(retransmit_mult=1, max_queued=64)
    # A member relaying a stream of newer records (200 records, 20,000 versions): the
    # queue holds at most 64 of them, and so, give or take one doubling, does the pool.
    for i in range(20_000):
        queue.push(fresh(f"record-{i % 200}-version-{i}"), key=f"reg:{i % 200}")
        queue.take(2, 1400, n_members=3)
    assert len(queue) <= 64
    assert len(pool) <= 2 * (64 + MIN_SWEEP_ENTRIES)
