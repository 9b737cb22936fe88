"""The one bounded memo (``gossip.bounded_memo``) behind the decode cache and the
push-pull memo: bounded by entries and by the caller's costs, whatever the keys."""

from __future__ import annotations

import pickle

import pytest

from gossip.bounded_memo import BoundedMemo


def test_hits_return_the_stored_object_and_are_counted() -> None:
    memo: BoundedMemo[tuple[int, bytes], object] = BoundedMemo(4, 1000)
    value = object()
    key = (7, b"push-pull bytes")
    memo.put(key, value, cost=100)
    assert memo.get((7, b"push-pull bytes")) is value  # an equal key, not the same object
    assert memo.lookup(key) is value                    # uncounted
    assert memo.get((8, b"push-pull bytes")) is None    # another key of the same shape
    assert (memo.hits, memo.misses) == (1, 1)


def test_many_distinct_keys_stay_within_the_cost_bound() -> None:
    memo: BoundedMemo[bytes, int] = BoundedMemo(max_entries=10_000, max_cost=5_000)
    for i in range(2_000):
        key = i.to_bytes(4, "big") * 100
        memo.put(key, i, cost=len(key) + 100)  # a caller charging bytes
        assert memo.total_cost <= 5_000
    assert len(memo) == 5_000 // 500 and memo.total_cost == 5_000
    assert memo.get((1999).to_bytes(4, "big") * 100) == 1999  # newest kept, oldest gone
    assert memo.get((0).to_bytes(4, "big") * 100) is None


def test_many_distinct_keys_stay_within_the_entry_bound() -> None:
    memo: BoundedMemo[int, str] = BoundedMemo(max_entries=3, max_cost=1 << 30)
    for i in range(1_000):
        memo.put(i, str(i))  # default cost 1: a bound by count
        assert len(memo) <= 3
    assert [memo.lookup(i) for i in (996, 997, 998, 999)] == [None, "997", "998", "999"]
    assert memo.total_cost == 3


def test_an_entry_too_costly_is_not_stored_and_evicts_nothing() -> None:
    memo: BoundedMemo[str, str] = BoundedMemo(10, max_cost=100, max_entry_cost=40)
    memo.put("a", "kept", cost=40)
    memo.put("b", "too big", cost=41)
    memo.put("c", "beyond the total", cost=101)
    assert memo.lookup("a") == "kept" and len(memo) == 1 and memo.total_cost == 40
    memo.put("d", "x", cost=40)
    memo.put("e", "evicts a", cost=40)  # 120 > 100: the oldest goes
    assert memo.lookup("a") is None and memo.total_cost == 80


def test_a_key_already_stored_keeps_its_first_value() -> None:
    memo: BoundedMemo[str, int] = BoundedMemo(4, 100)
    memo.put("k", 1, cost=10)
    memo.put("k", 2, cost=50)
    assert memo.lookup("k") == 1 and memo.total_cost == 10


def test_a_disabled_memo_stores_nothing_and_bounds_must_not_be_negative() -> None:
    off: BoundedMemo[bytes, int] = BoundedMemo(0, 0)
    off.put(b"a", 1, cost=0)
    assert len(off) == 0 and off.total_cost == 0
    with pytest.raises(ValueError):
        BoundedMemo(1, -1)
    with pytest.raises(ValueError):
        BoundedMemo(1, 10, max_entry_cost=-1)


def test_clear_forgets_entries_and_their_costs() -> None:
    memo: BoundedMemo[str, int] = BoundedMemo(4, 100)
    memo.put("k", 1, cost=30)
    memo.clear()
    assert len(memo) == 0 and memo.total_cost == 0 and memo.lookup("k") is None
    memo.put("k", 2, cost=100)
    assert memo.lookup("k") == 2


def test_pickled_memo_keeps_its_bounds_not_its_entries() -> None:
    memo: BoundedMemo[bytes, int] = BoundedMemo(7, 9999, 55)
    memo.put(b"abc", 1, cost=5)
    copy = pickle.loads(pickle.dumps(memo))
    assert len(copy) == 0 and copy.total_cost == 0
    assert (copy.max_entries, copy.max_cost, copy.max_entry_cost) == (7, 9999, 55)
    copy.put(b"abc", 2, cost=5)
    assert copy.lookup(b"abc") == 2
