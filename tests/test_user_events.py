"""Serf user events and Serf's internal ping/conflict queries, through real cores on the
in-memory network (virtual time only), and ``UserEvents``' dedupe ring on its own."""

from __future__ import annotations

import msgpack
import pytest

from gossip.config import GossipConfig
from gossip.events import QueryReceived, UserEventReceived
from gossip.messages import SerfUserEvent
from gossip.outbox import Outbox
from gossip.serf_layer import EVENT_BUFFER, LamportClock
from gossip.serf_query import QueryParams
from gossip.stats import CoreStats
from gossip.user_events import PUSH_PULL_EVENT_BYTES, USER_EVENT_SIZE_LIMIT, UserEventError, UserEvents
from tests.core_harness import Cluster, claw_meta, converged_cluster

pytestmark = pytest.mark.usefixtures("strict_core")  # a bug the core survives fails the test

NAMES = [f"n{i}" for i in range(5)]


def _cluster(seed: int = 1) -> Cluster:
    return converged_cluster(NAMES, seed)


def _ring() -> tuple[UserEvents, list[object]]:
    emitted: list[object] = []
    return UserEvents(LamportClock(1), Outbox(GossipConfig.lan(), CoreStats(), lambda: 3),
                      emit=emitted.append), emitted


def test_a_user_event_reaches_every_node_once_and_ticks_the_clock() -> None:
    c = _cluster()
    c.core("n2").send_user_event("deploy", b"v1.2", True, c.now)
    c.run(5.0, until=lambda: all(c.events_of(n, UserEventReceived) for n in NAMES))
    c.run(3.0)  # let every re-broadcast die out
    for name in NAMES:
        (got,) = c.events_of(name, UserEventReceived)
        assert (got.name, got.payload, got.coalesce) == ("deploy", b"v1.2", True)
    assert sum(c.core(n).stats["user_event_duplicates"] for n in NAMES) > 0
    c.core("n2").send_user_event("deploy", b"v1.3", False, c.now)  # the next LTime
    c.run(5.0, until=lambda: all(len(c.events_of(n, UserEventReceived)) == 2 for n in NAMES))
    first, second = c.events_of("n0", UserEventReceived)
    assert second.ltime > first.ltime
    assert not c.internal_errors()


def test_dedupe_is_by_ltime_name_and_payload() -> None:
    events, _ = _ring()
    assert events.receive(SerfUserEvent(5, "a", b"x"))
    assert not events.receive(SerfUserEvent(5, "a", b"x"))
    assert events.receive(SerfUserEvent(5, "a", b"y"))  # same LTime, other payload: new
    assert events.receive(SerfUserEvent(5 + EVENT_BUFFER, "a", b"x"))  # slot reused
    assert events.stats.duplicates == 1 and events.stats.received == 3


def test_events_older_than_the_ring_or_min_time_are_dropped() -> None:
    events, _ = _ring()
    assert events.receive(SerfUserEvent(2000, "late", None))
    assert not events.receive(SerfUserEvent(2000 - EVENT_BUFFER - 2, "old", None))
    events.min_ltime = 3000
    assert not events.receive(SerfUserEvent(2500, "before-min", None))
    assert events.stats.too_old == 2


def test_a_flood_at_one_ltime_stops_growing_its_slot() -> None:
    events, _ = _ring()
    accepted = sum(events.receive(SerfUserEvent(7, f"e{i}", None)) for i in range(1000))
    assert accepted == 64 and events.stats.duplicates == 1000 - 64


def test_size_limits_are_serfs_with_clear_errors() -> None:
    events, emitted = _ring()
    events.send("n" * 12, b"p" * (USER_EVENT_SIZE_LIMIT - 12 - 40), False)  # fits encoded
    assert len(emitted) == 1
    with pytest.raises(UserEventError, match="exceeds limit of 512 bytes"):
        events.send("n", b"p" * USER_EVENT_SIZE_LIMIT, False)
    with pytest.raises(UserEventError, match="encoded user event exceeds limit of 512"):
        events.send("n" * 12, b"p" * (USER_EVENT_SIZE_LIMIT - 12), False)
    with pytest.raises(UserEventError, match="empty"):
        events.send("", b"", False)
    assert len(emitted) == 1 and events.stats.sent == 1


def test_ping_is_acked_and_not_handed_to_handlers() -> None:
    c = _cluster()
    query = c.core("n0").start_query("_serf_ping", None, QueryParams(request_ack=True), c.now)
    c.run(5.0, until=lambda: len(query.acks) == 5)
    assert sorted(query.acks) == NAMES and not query.responses
    assert not any(c.events_of(n, QueryReceived) for n in NAMES)


def test_conflict_is_answered_with_our_view_of_the_named_member() -> None:
    c = _cluster()
    query = c.core("n0").start_query("_serf_conflict", b"n3", QueryParams(), c.now)
    c.run(5.0, until=lambda: len(query.responses) == 4)
    assert sorted(query.responses) == ["n0", "n1", "n2", "n4"]  # n3 does not answer about itself
    raw = query.responses["n1"]
    assert raw[0] == 6  # Serf messageConflictResponseType
    member = msgpack.unpackb(raw[1:], raw=True)  # Go writes strings and []byte as raw
    n3 = next(m for m in c.core("n1").members() if m.name == "n3")
    assert member[b"Name"] == b"n3" and member[b"Status"] == 1  # Serf StatusAlive
    assert member[b"Tags"][b"role"] == b"gpu" and member[b"Port"] == n3.address[1]
    assert member[b"Addr"] == bytes(int(x) for x in n3.address[0].split("."))
    assert member[b"ProtocolMax"] >= member[b"ProtocolMin"] > 0
    unknown = c.core("n0").start_query("_serf_conflict", b"nobody", QueryParams(), c.now)
    c.run(5.0, until=lambda: len(unknown.responses) == 5)
    assert set(unknown.responses.values()) == {b"\x06\xc0"}  # Serf encodes a nil member


def test_a_node_that_missed_the_gossip_gets_the_event_by_push_pull() -> None:
    c = _cluster()
    others = [n for n in c.live() if n != "n4"]
    c.partition(["n4"], others)  # hears nothing while the event's gossip runs its course
    c.core("n0").send_user_event("deploy", b"v1", False, c.now)
    c.run(3.0)
    assert not c.events_of("n4", UserEventReceived)
    c.heal()
    c.run(120.0, until=lambda: bool(c.events_of("n4", UserEventReceived)))
    (got,) = c.events_of("n4", UserEventReceived)
    assert (got.name, got.payload) == ("deploy", b"v1")


def test_a_late_joiner_ignores_events_from_before_it_came() -> None:
    c = _cluster()
    c.core("n0").send_user_event("old-news", b"", False, c.now)
    c.run(5.0)
    c.add_node("late", meta=claw_meta())
    c.join("late", ["n1"])
    c.run(90.0)  # several push-pulls, each carrying a ring with the old event
    assert len(c.core("late").members()) == 6
    assert not c.events_of("late", UserEventReceived)
    assert c.core("late").stats["user_event_too_old"] >= 1
    c.core("n2").send_user_event("news", b"", False, c.now)  # but new ones arrive
    c.run(5.0, until=lambda: bool(c.events_of("late", UserEventReceived)))
    assert [e.name for e in c.events_of("late", UserEventReceived)] == ["news"]


def test_hostile_push_pull_event_slots_are_skipped() -> None:
    events, emitted = _ring()
    events.merge_remote(({b"LTime": "x"}, {b"LTime": 3, b"Events": "no"}, 7,
                         {b"LTime": 4, b"Events": [{b"Name": b"ok", b"Payload": b"1"}, 5]}),
                        10, ignore_old=False)
    assert [(e.ltime, e.name) for e in emitted] == [(4, "ok")]


def test_the_push_pull_ring_is_bounded_newest_first() -> None:
    events, _ = _ring()
    for ltime in range(1, 401):
        events.receive(SerfUserEvent(ltime, "e", b"p" * 400))
    ring = events.local_events()
    kept = sorted(slot[b"LTime"] for slot in ring if slot is not None)
    assert len(ring) == EVENT_BUFFER and kept == list(range(401 - len(kept), 401))
    assert sum(401 for _ in kept) <= PUSH_PULL_EVENT_BYTES < (len(kept) + 1) * 401
