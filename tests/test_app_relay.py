"""App-message relays: one queued relay and one remembered version per record, memories
bounded by the member count (``gossip.app_relay``, ``node.app_messages.record_version``)."""

from __future__ import annotations

import math

import msgpack
import pytest

from gossip import serf_codec
from gossip.app_relay import MIN_REMEMBERED, REMEMBERED_PER_MEMBER, AppVersionOf, SeenAppMessages
from gossip.events import AppMessage
from gossip.messages import ClawAppMessage, UserMsg
from node.app_messages import (
    APP_HEARTBEAT,
    APP_REGISTRY,
    Directive,
    encode_app,
    encode_directive,
    heartbeat_message,
    record_version,
    registered_version,
)
from node.heartbeat import HeartbeatRecord
from tests.test_protocol import advance, drain, feed, make_core, with_peers
from tests.test_registry_feed import record as registered


def hb(node: str, seq: int, epoch: int = 1) -> bytes:
    return heartbeat_message(HeartbeatRecord(node=node, epoch=epoch, seq=seq, sampled_at=100.0))


def by_name(body: bytes) -> tuple[str, tuple[int | float, ...]] | None:
    """Test naming: ``b"name:version"`` bodies; anything else unnamed."""
    name, _, version = body.partition(b":")
    return (name.decode(), (int(version),)) if version.isdigit() else None


def counted(version_of: AppVersionOf, calls: list[bytes]) -> AppVersionOf:
    """``version_of`` that appends every body it is asked to name to ``calls``."""
    def naming(body: bytes) -> tuple[str, tuple[int | float, ...]] | None:
        calls.append(body)
        return version_of(body)
    return naming


# --- the memory -----------------------------------------------------------------------


def test_a_record_is_new_only_when_its_version_grows() -> None:
    seen = SeenAppMessages(by_name, member_count=lambda: 3)
    assert seen.admit(b"a:2") == (True, "a")
    assert seen.admit(b"a:2") == (False, None)     # the same body again
    assert seen.admit(b"a:1") == (False, None)     # older: superseded, not news
    assert seen.admit(b"a:3") == (True, "a")
    assert seen.admit(b"b:1") == (True, "b")       # another record
    assert len(seen) == 2                           # one entry per record, not per message


def test_equal_versions_settle_on_one_body_whatever_the_arrival_order() -> None:
    def same_version(body: bytes) -> tuple[str, tuple[int, ...]]:
        return "a", (1,)

    winners = []
    for order in ((b"x", b"y"), (b"y", b"x")):
        seen = SeenAppMessages(same_version, member_count=lambda: 3)
        admitted = [body for body in order if seen.admit(body)[0]]
        # re-arrivals of either body never re-admit one: no pair can alternate
        assert not any(seen.admit(body)[0] for body in order * 3)
        winners.append(admitted[-1])
    assert winners[0] == winners[1]


def test_memories_are_bounded_by_the_member_count() -> None:
    members = [10]
    seen = SeenAppMessages(by_name, member_count=lambda: members[0])
    assert seen.capacity() == MIN_REMEMBERED       # small clusters keep the floor
    members[0] = 1000
    cap = seen.capacity()
    assert cap == REMEMBERED_PER_MEMBER * 1000
    for i in range(cap + 50):
        seen.admit(f"r{i}:1".encode())             # named records
        seen.admit(f"directive {i}".encode())       # unnamed: digests
    assert len(seen) == 2 * cap
    # the least recently changed record went first; a recent one is still known
    assert seen.admit(b"r0:1") == (True, "r0")
    assert seen.admit(f"r{cap + 49}:1".encode()) == (False, None)


def test_a_body_seen_before_is_not_named_again() -> None:
    calls: list[bytes] = []
    seen = SeenAppMessages(counted(by_name, calls), member_count=lambda: 3)
    for body in (b"a:2", b"a:1", b"directive"):    # new, older, unnamed: each named once
        seen.admit(body)
    assert calls == [b"a:2", b"a:1", b"directive"]
    for body in (b"a:2", b"a:1", b"directive") * 5:  # copies relayed back by the members
        assert seen.admit(body) == (False, None)
    assert calls == [b"a:2", b"a:1", b"directive"]
    assert seen.admit(b"a:3") == (True, "a") and calls[-1] == b"a:3"


def test_a_version_handed_along_spares_the_decode_and_counts_as_the_named_one() -> None:
    named: list[bytes] = []
    seen = SeenAppMessages(counted(by_name, named), member_count=lambda: 3)
    assert seen.admit(b"a:2", ("a", (2,))) == (True, "a")  # our own broadcast
    assert named == []
    assert seen.admit(b"a:1") == (False, None)     # an older one arriving: superseded
    assert seen.admit(b"a:2") == (False, None)     # our own relayed back
    assert named == [b"a:1"]
    bare = SeenAppMessages(None, member_count=lambda: 3)  # no naming: digests only
    assert bare.admit(b"a:2", ("a", (2,))) == (True, None)
    assert bare.admit(b"a:3", ("a", (3,))) == (True, None)


def test_our_own_registered_record_broadcast_with_its_version_is_not_decoded() -> None:
    named: list[bytes] = []
    core = make_core(app_version_of=counted(record_version, named))
    with_peers(core, 2)
    advance(core, 30.0)
    rec = registered("w1")
    body = encode_app(APP_REGISTRY, rec.to_bytes())
    core.broadcast_app(body, 30.0, key="reg:w1", version=registered_version("w1", 1, 10.0))
    assert named == []
    feed(core, app(body), now=30.1)                 # relayed back to us
    assert [e for e in drain(core) if isinstance(e, AppMessage)] == []
    assert core.stats["app_duplicates"] == 1 and named == []


def test_a_forgotten_body_is_named_and_compared_again() -> None:
    calls: list[bytes] = []
    seen = SeenAppMessages(counted(by_name, calls), member_count=lambda: 1)
    seen.admit(b"a:5")
    for i in range(MIN_REMEMBERED):                # other records' bodies push a:5's out
        seen.admit(f"x{i % 10}:{i}".encode())
    calls.clear()
    assert seen.admit(b"a:5") == (False, None)     # still the newest of "a": a duplicate
    assert calls == [b"a:5"]


def test_without_a_version_function_every_distinct_body_is_new_once() -> None:
    seen = SeenAppMessages(None, member_count=lambda: 3)
    assert seen.admit(b"a:1") == (True, None)
    assert seen.admit(b"a:1") == (False, None)
    assert seen.admit(b"a:2") == (True, None)


# --- the core -------------------------------------------------------------------------


def app(body: bytes) -> UserMsg:
    return UserMsg(serf_codec.encode_serf(ClawAppMessage(body)))


@pytest.mark.parametrize("named", [True, False])
def test_a_newer_heartbeat_replaces_the_queued_relay_of_the_older(named: bool) -> None:
    core = make_core(app_version_of=record_version if named else None)
    with_peers(core, 3)
    advance(core, 30.0)                            # the peers' alive rumours are spent
    base = core.pending_broadcasts
    for seq in (1, 2, 3):
        feed(core, app(hb("p1", seq)), now=30.0)
    feed(core, app(hb("p2", 1)), now=30.0)
    delivered = [e.body for e in drain(core) if isinstance(e, AppMessage)]
    assert delivered == [hb("p1", 1), hb("p1", 2), hb("p1", 3), hb("p2", 1)]
    # named: one relay per node; unnamed: one per message (the old behaviour)
    assert core.pending_broadcasts - base == (2 if named else 4)
    feed(core, app(hb("p1", 2)), now=30.1)         # a late copy of an older heartbeat
    assert [e for e in drain(core) if isinstance(e, AppMessage)] == []  # seen before
    feed(core, app(hb("p1", 0, epoch=2)), now=30.2)  # a restarted node's new epoch wins
    assert [e.body for e in drain(core) if isinstance(e, AppMessage)] == [hb("p1", 0, epoch=2)]
    assert core.pending_broadcasts - base == (2 if named else 5)


def test_our_own_heartbeat_relayed_back_is_not_delivered_or_relayed() -> None:
    core = make_core(app_version_of=record_version)
    with_peers(core, 2)
    advance(core, 30.0)
    core.broadcast_app(hb("me", 5), 30.0, key="hb:me")
    queued = core.pending_broadcasts
    feed(core, app(hb("me", 4)), now=30.1)         # an older one still circulating
    assert [e for e in drain(core) if isinstance(e, AppMessage)] == []
    assert core.pending_broadcasts == queued and core.stats["app_duplicates"] == 1


def test_a_core_names_each_distinct_heartbeat_once_however_many_copies_arrive() -> None:
    named: list[bytes] = []
    core = make_core(app_version_of=counted(record_version, named))
    with_peers(core, 3)
    advance(core, 30.0)
    for copy in range(4):                          # each peer relays it, and again later
        feed(core, app(hb("p1", 1)), app(hb("p1", 2)), now=30.0 + copy)
    assert named == [hb("p1", 1), hb("p1", 2)]
    assert core.stats["app_messages_in"] == 2 and core.stats["app_duplicates"] == 6


# --- naming records in bodies (hostile input) -------------------------------------------


def test_record_version_names_heartbeats_and_registered_records_like_their_senders() -> None:
    assert record_version(hb("n1", 9, epoch=3)) == ("hb:n1", (3, 9))
    rec = {"node_id": "w1", "version": 4, "updated_at": 12.5, "hostname": "h"}
    body = encode_app(APP_REGISTRY, msgpack.packb(rec))
    assert record_version(body) == ("reg:w1", (4, 12.5))
    real = registered("w2")
    assert record_version(encode_app(APP_REGISTRY, real.to_bytes())) == (
        "reg:w2", (real.version, real.updated_at))


@pytest.mark.parametrize("body", [
    b"", b"\x01", b"\x01\xc1", b"\x02garbage", b"\x09" + msgpack.packb([1]),
    encode_app(APP_HEARTBEAT, msgpack.packb(["n", True, 1])),          # bool version
    encode_app(APP_HEARTBEAT, msgpack.packb(["", 1, 1])),              # empty node
    encode_app(APP_HEARTBEAT, msgpack.packb(["n", 1])),                # too short
    encode_app(APP_HEARTBEAT, msgpack.packb({"node": "n"})),
    encode_app(APP_REGISTRY, msgpack.packb({"node_id": "n", "version": 1, "updated_at": math.nan})),
    encode_app(APP_REGISTRY, msgpack.packb({"node_id": 5, "version": 1, "updated_at": 1.0})),
    encode_app(APP_REGISTRY, msgpack.packb({"node_id": "n", "version": "1", "updated_at": 1.0})),
    encode_app(APP_REGISTRY, msgpack.packb(["n", 1, 1.0])),
    encode_app(APP_REGISTRY, b"\xdc\xff\xff" + b"\x00" * 10),             # huge array header
    encode_directive(Directive("n", "shutdown", True, "x:1")),         # unnamed by design
])
def test_record_version_returns_none_for_unreadable_or_unnamed_bodies(body: bytes) -> None:
    assert record_version(body) is None
