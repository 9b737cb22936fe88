"""Transmit-limited broadcast queue (memberlist queue.go semantics)."""

from __future__ import annotations

import pytest

from gossip.dissemination import BroadcastQueue, retransmit_limit


@pytest.mark.parametrize("mult,n,limit", [
    (4, 1, 4), (4, 5, 4), (4, 9, 4), (4, 10, 8), (4, 99, 8), (4, 100, 12),
    (2, 5, 2), (3, 1000, 12), (4, 0, 0),
])
def test_retransmit_limit(mult, n, limit) -> None:
    assert retransmit_limit(mult, n) == limit


def test_each_broadcast_is_sent_exactly_limit_times() -> None:
    q = BroadcastQueue(retransmit_mult=4)
    q.push(b"x" * 10, key="a")
    sent = 0
    for _ in range(20):
        sent += len(q.take(2, 1000, n_members=5))
    assert sent == retransmit_limit(4, 5) == 4
    assert len(q) == 0


def test_limit_follows_cluster_size_at_take_time() -> None:
    q = BroadcastQueue(retransmit_mult=4)
    q.push(b"m")
    assert sum(len(q.take(2, 100, n_members=50)) for _ in range(20)) == 8


def test_order_fewest_transmits_then_longest_then_newest() -> None:
    q = BroadcastQueue(retransmit_mult=10)
    q.push(b"short-old")
    q.push(b"a-much-longer-one")
    q.push(b"short-new")
    assert q.take(0, 1000, 5) == [b"a-much-longer-one", b"short-new", b"short-old"]
    q.push(b"fresh")                                # never sent: goes first now
    assert q.take(0, 1000, 5)[0] == b"fresh"
    # A budget for one message takes the least-sent, longest that fits.
    q2 = BroadcastQueue(retransmit_mult=10)
    q2.push(b"aaaa")
    q2.push(b"bb")
    assert q2.take(0, 3, 5) == [b"bb"]              # "aaaa" does not fit, skip it
    assert q2.take(0, 4, 5) == [b"aaaa"]


def test_budget_counts_overhead_per_message() -> None:
    q = BroadcastQueue(retransmit_mult=10)
    for i in range(5):
        q.push(bytes([i]) * 8)
    # each costs 8 + 2 bytes: 35 bytes fit three
    assert len(q.take(2, 35, 5)) == 3
    assert len(q.take(2, 1000, 5, max_count=2)) == 2


def test_newer_broadcast_with_same_key_replaces_older() -> None:
    q = BroadcastQueue(retransmit_mult=4)
    h_old = q.push(b"alive-1", key="node-x")
    q.push(b"other", key="node-y")
    h_new = q.push(b"dead-1", key="node-x")
    assert not q.is_pending(h_old) and q.is_pending(h_new)
    assert len(q) == 2
    assert sorted(q.take(0, 1000, 5)) == [b"dead-1", b"other"]


def test_unique_broadcasts_are_never_replaced() -> None:
    q = BroadcastQueue(retransmit_mult=4)
    q.push(b"same")
    q.push(b"same")
    assert len(q) == 2


def test_queue_is_bounded_and_drops_most_sent_first() -> None:
    q = BroadcastQueue(retransmit_mult=100, max_queued=3)
    old = q.push(b"old")
    q.take(0, 1000, 5)                              # "old" now has 1 transmit
    for i in range(3):
        q.push(bytes([65 + i]))
    assert len(q) == 3 and q.dropped == 1
    assert not q.is_pending(old)


def test_once_per_member_broadcasts_go_to_each_address_once_and_never_to_the_start_set() -> None:
    q = BroadcastQueue(retransmit_mult=2)
    a, b, c, querier = ("10.0.0.1", 1), ("10.0.0.2", 1), ("10.0.0.3", 1), ("10.0.0.9", 1)
    q.push(b"query", once_per_member=[querier])
    q.push(b"plain")
    n = 10  # limit 4: the query could go out 4 times, but only to different members
    assert q.take(0, 100, n, to=querier) == [b"plain"]
    assert q.take(0, 100, n, to=a) == [b"query", b"plain"]
    assert q.take(0, 100, n, to=a) == [b"plain"]  # a has it
    assert q.take(0, 100, n) == [b"plain"]  # destination unknown: not the query
    assert q.take(0, 100, n, to=b) == [b"query"]
    assert len(q) == 1
    # Everyone but us has it (querier, a, b of 4 members): it leaves the queue.
    assert q.take(0, 100, 4, to=c) == [] and len(q) == 0
