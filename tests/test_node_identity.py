"""node.identity: who keeps a node id two processes claim; the UUID in the metadata."""

from __future__ import annotations

import secrets

import pytest

from node.identity import Holder, Resolution, conflict_line, holder_of, resolve
from node.metadata import NodeMeta, decode_meta, encode_meta
from node.store import NodeStore

U1, U2 = b"\x01" * 16, b"\x02" * 16
A, B = ("10.0.0.1", 7946), ("10.0.0.2", 7946)
KEEP, RESTART, YIELD, RECHECK = (Resolution.KEEP, Resolution.RESTART, Resolution.YIELD,
                                 Resolution.RECHECK)


@pytest.mark.parametrize(
    ("mine", "other", "answers", "joining", "rechecked", "expected"),
    [
        # Same UUID: our own previous life if its address is silent, else a copied data dir.
        ((U1, 200.0, B), (U1, 100.0, A), False, True, False, RESTART),
        ((U1, 200.0, B), (U1, 100.0, A), False, False, False, RESTART),
        ((U1, 200.0, B), (U1, 100.0, A), True, True, False, YIELD),
        # Another UUID: a conflict whether or not the other answers; a joiner yields.
        ((U2, 200.0, B), (U1, 100.0, A), True, True, False, YIELD),
        ((U2, 200.0, B), (U1, 100.0, A), False, True, False, YIELD),
        ((U2, 50.0, B), (U1, 100.0, A), True, True, False, YIELD),  # even if older
        # A member already: keeps against a joiner (which yields) and a silent other.
        ((U1, 100.0, A), (U2, 200.0, B), True, False, False, KEEP),
        ((U1, 100.0, A), (U2, 50.0, B), False, False, False, KEEP),
        ((U1, 100.0, A), (U1, 50.0, B), False, False, False, RESTART),
        # Two members: the earlier started_at keeps; the later one checks again first.
        ((U1, 200.0, A), (U2, 100.0, B), True, False, False, RECHECK),
        ((U1, 200.0, A), (U2, 100.0, B), True, False, True, YIELD),
        ((U1, 200.0, A), (U2, 100.0, B), False, False, True, KEEP),  # it went away
        ((U2, 100.0, B), (U1, 200.0, A), True, False, False, KEEP),
        # Same started_at: the smaller UUID keeps; same UUID too: the smaller address.
        ((U1, 100.0, A), (U2, 100.0, B), True, False, False, KEEP),
        ((U2, 100.0, A), (U1, 100.0, B), True, False, True, YIELD),
        ((U1, 100.0, A), (U1, 100.0, B), True, False, False, KEEP),
        ((U1, 100.0, B), (U1, 100.0, A), True, False, True, YIELD),
        # No UUID (an older claw-node): never taken for our own previous life.
        ((b"", 200.0, B), (b"", 100.0, A), False, True, False, YIELD),
    ],
)
def test_resolve(mine, other, answers, joining, rechecked, expected) -> None:
    got = resolve(Holder(*mine), Holder(*other), other_answers=answers, joining=joining,
                  rechecked=rechecked)
    assert got is expected


def test_exactly_one_of_two_members_keeps_the_name() -> None:
    # Both members, both answering: whatever their facts, one keeps and one yields.
    facts = [(U1, 100.0, A), (U2, 100.0, B), (U1, 100.0, B), (U2, 99.999, A)]
    for x in facts:
        for y in facts:
            if x == y:
                continue
            a = resolve(Holder(*x), Holder(*y), other_answers=True, joining=False, rechecked=True)
            b = resolve(Holder(*y), Holder(*x), other_answers=True, joining=False, rechecked=True)
            assert {a, b} == {KEEP, YIELD}, (x, y)


def test_the_conflict_line_names_the_live_node_and_the_flag() -> None:
    line = conflict_line("pi", Holder(U1, 1.0, ("10.0.0.1", 7946)), same_uuid=False)
    assert "\n" not in line
    assert "'pi'" in line and "10.0.0.1:7946" in line and "--node-id" in line
    copied = conflict_line("pi", Holder(U1, 1.0, ("fd00::1", 7946)), same_uuid=True)
    assert "[fd00::1]:7946" in copied and "--data-dir" in copied


def test_the_uuid_travels_in_the_metadata_as_16_raw_bytes() -> None:
    meta = NodeMeta(version="0.9.0", platform="linux", arch="arm64", hostname="raspberrypi",
                    ip_address="192.168.178.123", started_at=1765000000.123,
                    api="192.168.178.123:8888", term=12)
    without = encode_meta(meta)
    for _ in range(500):  # any bytes round-trip (Serf tags are Go strings)
        uuid = secrets.token_bytes(16)
        raw = encode_meta(meta.replace(uuid=uuid))
        assert decode_meta(raw).uuid == uuid
        assert holder_of(raw, A) == Holder(uuid, 1765000000.123, A)
    assert len(raw) - len(without) == 20  # 'id' key and a 16-byte value: 20 of 512 bytes
    assert decode_meta(without).uuid == b""


def test_a_uuid_of_the_wrong_length_reads_as_none() -> None:
    from gossip.tags import encode_tags
    assert decode_meta(encode_tags({"claw": "1", "id": "short"})).uuid == b""


def test_the_store_uuid_fits_the_metadata(tmp_path) -> None:
    store = NodeStore(tmp_path)
    uuid = store.claim_node_uuid()
    store.close()
    assert decode_meta(encode_meta(NodeMeta(uuid=uuid))).uuid == uuid
