"""node.identity and node.identity_guard: who keeps a node id two processes claim, the
UUID in the metadata, and the guard that carries the rule out for an agent."""

from __future__ import annotations

import secrets

import pytest

from gossip.events import AddressChecked, Member, NameConflict
from gossip.types import MemberState
from node.identity import Holder, Resolution, conflict_line, holder_of, resolve
from node.identity_guard import MAX_CHECKS, IdentityGuard
from node.metadata import NodeMeta, decode_meta, encode_meta
from node.store import NodeStore
from tests.conftest import eventually_async

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


# --- IdentityGuard: the rule carried out for a running agent ------------------------


class Harness:
    """An ``IdentityGuard`` for node 'pi' at A with UUID U1, started at 100.0."""

    def __init__(self, *, joining: bool, recheck_after_s: float = 15.0) -> None:
        self.joining = joining
        self.checks: list[tuple[str, tuple[str, int]]] = []
        self.outbids: list[tuple[int, tuple[str, int]]] = []
        self.lines: list[str] = []
        self.guard = IdentityGuard(
            node_id="pi", mine=lambda: Holder(U1, 100.0, A), joining=lambda: self.joining,
            check_address=lambda name, addr: self.checks.append((name, addr)),
            outbid=lambda incarnation, addr: self.outbids.append((incarnation, addr)),
            give_up=self.lines.append,
            recheck_after_s=recheck_after_s)

    def claim(self, uuid: bytes, started_at: float, *, by=B, incarnation: int = 500,
              name: str = "pi") -> None:
        me = Member(name=name, address=A, meta=b"", incarnation=1, state=MemberState.ALIVE,
                    state_since=0.0, vsn=b"", is_claw=True)
        meta = encode_meta(NodeMeta(uuid=uuid, started_at=started_at))
        self.guard.on_conflict(NameConflict(existing=me, claimed_by=by, claimed_meta=meta,
                                            claimed_incarnation=incarnation))

    def answer(self, answered: bool, by=B) -> None:
        self.guard.on_address_checked(AddressChecked("pi", by, answered))


def test_a_joiner_yields_at_once_to_another_data_dir() -> None:
    h = Harness(joining=True)
    h.claim(U2, 50.0)
    assert h.checks == [] and h.outbids == []
    [line] = h.lines
    assert "10.0.0.2:7946" in line and "--node-id" in line and "copied" not in line
    assert h.guard.gave_up and h.guard.in_doubt
    h.claim(U2, 50.0)  # later claims change nothing
    assert len(h.lines) == 1


def test_a_joiner_with_our_uuid_probes_then_restarts_or_yields() -> None:
    h = Harness(joining=True)
    h.claim(U1, 50.0)
    assert h.checks == [("pi", B)] and h.guard.in_doubt  # no heartbeat meanwhile
    h.answer(False)                                       # our old life is gone
    assert not h.lines and not h.outbids and not h.guard.in_doubt

    h = Harness(joining=True)
    h.claim(U1, 50.0)
    h.answer(True)                                        # a copy of our data dir runs
    [line] = h.lines
    assert "copied" in line and "--data-dir" in line


def test_a_member_keeps_its_id_and_outbids_the_highest_claim() -> None:
    h = Harness(joining=False)
    h.claim(U2, 200.0, incarnation=700)
    h.claim(U2, 200.0, incarnation=900)  # while the probe runs: one probe, highest kept
    h.claim(U2, 200.0, incarnation=800)
    assert h.checks == [("pi", B)] and not h.guard.in_doubt
    h.answer(True)
    assert h.outbids == [(900, B)] and not h.lines


def test_answers_about_other_names_or_unasked_addresses_are_ignored() -> None:
    h = Harness(joining=False)
    h.claim(U2, 200.0, name="other")      # another member's conflict: logged only
    h.guard.on_address_checked(AddressChecked("other", B, True))
    h.answer(True)                          # nothing was asked of B
    assert h.checks == [] and h.outbids == [] and h.lines == []


def test_checks_at_once_are_bounded() -> None:
    h = Harness(joining=False)
    for i in range(MAX_CHECKS + 5):
        h.claim(U2, 200.0, by=(f"10.9.0.{i + 1}", 7946))
    assert len(h.checks) == MAX_CHECKS


@pytest.mark.slow
async def test_a_member_that_ranks_second_yields_only_if_the_other_stays() -> None:
    h = Harness(joining=False, recheck_after_s=0.01)
    h.claim(U2, 50.0)                      # started earlier than us
    h.answer(True)
    assert h.lines == [] and h.outbids == []
    await eventually_async(lambda: len(h.checks) == 2)
    assert h.checks == [("pi", B), ("pi", B)]  # probed again after the wait
    h.answer(True)
    assert len(h.lines) == 1 and h.guard.gave_up

    h = Harness(joining=False, recheck_after_s=0.01)
    h.claim(U2, 50.0, incarnation=600)
    h.answer(True)
    await eventually_async(lambda: len(h.checks) == 2)  # the recheck after the wait
    h.answer(False)                         # it was a joiner and gave up meanwhile
    assert h.lines == [] and h.outbids == [(600, B)]
    h.guard.close()
