"""memberlist's alive/suspect/dead rules (plus claw-node's two changes) as tables."""

from __future__ import annotations

import pytest

from gossip.membership import (
    AliveVerdict,
    DeadVerdict,
    MemberRecord,
    Membership,
    SuspectVerdict,
    decide_alive,
    decide_dead,
    decide_suspect,
    meta_is_claw,
    vsn_is_valid,
)
from gossip.messages import VSN_SERF
from gossip.suspicion import Suspicion
from gossip.tags import encode_tags
from gossip.types import MemberState as S

HOME = ("10.0.0.1", 7946)
ELSEWHERE = ("10.0.0.9", 7946)


def rec(state: S = S.ALIVE, inc: int = 5, *, since: float = 0.0, name: str = "x",
        suspicion: bool = False) -> MemberRecord:
    r = MemberRecord(name=name, ip=HOME[0], port=HOME[1], meta=b"m", incarnation=inc,
                     state=state, state_since=since, vsn=VSN_SERF, is_claw=False)
    if suspicion:
        r.suspicion = Suspicion("a", 2, 4.0, 24.0, since)
    return r


def alive(record, inc, *, address=HOME, meta=b"m", vsn=VSN_SERF, is_self=False,
          self_left=False, now=100.0, reclaim=0.0, restart_elsewhere=True):
    return decide_alive(record, incarnation=inc, address=address, meta=meta, vsn=vsn,
                        is_self=is_self, self_left=self_left, now=now,
                        dead_node_reclaim_s=reclaim,
                        accept_restart_elsewhere=restart_elsewhere)


A = AliveVerdict


@pytest.mark.parametrize("record,inc,kw,verdict", [
    # unknown names
    (None, 1, {}, A.NEW),
    (None, 0, {}, A.UNKNOWN_ZERO),
    (None, 1, {"vsn": bytes([0, 5, 2, 2, 5, 5])}, A.BAD_VSN),
    (None, 1, {"vsn": bytes([3, 2, 2, 2, 5, 5])}, A.BAD_VSN),
    (None, 1, {"vsn": b""}, A.NEW),
    # same address: incarnation decides
    (rec(S.ALIVE), 5, {}, A.IGNORE),
    (rec(S.ALIVE), 4, {}, A.IGNORE),
    (rec(S.ALIVE), 6, {}, A.UPDATE),
    (rec(S.SUSPECT), 6, {}, A.UPDATE),
    (rec(S.LEFT), 5, {}, A.IGNORE),
    (rec(S.LEFT), 6, {}, A.UPDATE),
    (rec(S.DEAD), 6, {}, A.UPDATE),
    (rec(S.DEAD), 5, {}, A.STALE),               # claw: make it refute
    (rec(S.DEAD), 1, {}, A.STALE),
    # another address
    (rec(S.ALIVE), 9, {"address": ELSEWHERE}, A.CONFLICT),
    (rec(S.SUSPECT), 9, {"address": ELSEWHERE}, A.CONFLICT),
    (rec(S.LEFT), 1, {"address": ELSEWHERE}, A.UPDATE),       # memberlist: left may move
    (rec(S.DEAD), 6, {"address": ELSEWHERE}, A.UPDATE),       # claw: restart elsewhere
    (rec(S.DEAD), 5, {"address": ELSEWHERE}, A.STALE),
    (rec(S.DEAD, since=0.0), 1, {"address": ELSEWHERE, "reclaim": 50.0}, A.UPDATE),
    (rec(S.DEAD, since=80.0), 1, {"address": ELSEWHERE, "reclaim": 50.0}, A.STALE),
    # ... memberlist (accept_restart_elsewhere off): a dead name stays where it died
    (rec(S.DEAD), 6, {"address": ELSEWHERE, "restart_elsewhere": False}, A.CONFLICT),
    (rec(S.DEAD), 5, {"address": ELSEWHERE, "restart_elsewhere": False}, A.CONFLICT),
    (rec(S.DEAD, since=0.0), 1, {"address": ELSEWHERE, "reclaim": 50.0,
                                 "restart_elsewhere": False}, A.UPDATE),
    (rec(S.LEFT), 1, {"address": ELSEWHERE, "restart_elsewhere": False}, A.UPDATE),
    (rec(S.DEAD), 6, {"restart_elsewhere": False}, A.UPDATE),  # same address: a refute
    # about ourselves
    (rec(S.ALIVE), 5, {"is_self": True}, A.IGNORE),
    (rec(S.ALIVE), 4, {"is_self": True, "meta": b"other"}, A.IGNORE),
    (rec(S.ALIVE), 5, {"is_self": True, "meta": b"other"}, A.REFUTE),
    (rec(S.ALIVE), 5, {"is_self": True, "vsn": bytes([1, 5, 2, 2, 5, 4])}, A.REFUTE),
    (rec(S.ALIVE), 6, {"is_self": True}, A.REFUTE),
    (rec(S.ALIVE), 6, {"is_self": True, "address": ELSEWHERE}, A.CONFLICT),
    (rec(S.LEFT), 9, {"is_self": True, "self_left": True}, A.IGNORE),
])
def test_decide_alive(record, inc, kw, verdict) -> None:
    assert alive(record, inc, **kw) is verdict


SV = SuspectVerdict


@pytest.mark.parametrize("record,inc,is_self,verdict", [
    (None, 5, False, SV.IGNORE),
    (rec(S.ALIVE), 4, False, SV.IGNORE),
    (rec(S.ALIVE), 5, False, SV.SUSPECT),
    (rec(S.ALIVE), 7, False, SV.SUSPECT),
    (rec(S.SUSPECT, suspicion=True), 5, False, SV.CONFIRM),
    (rec(S.SUSPECT, suspicion=True), 6, False, SV.RESTART),
    (rec(S.SUSPECT, suspicion=True), 4, False, SV.IGNORE),
    (rec(S.DEAD), 5, False, SV.IGNORE),
    (rec(S.LEFT), 9, False, SV.IGNORE),
    (rec(S.ALIVE), 5, True, SV.REFUTE),
    (rec(S.ALIVE), 4, True, SV.IGNORE),
])
def test_decide_suspect(record, inc, is_self, verdict) -> None:
    assert decide_suspect(record, incarnation=inc, is_self=is_self) is verdict


def test_memberlist_confirms_a_suspicion_of_a_newer_incarnation() -> None:
    record = rec(S.SUSPECT, suspicion=True)
    assert decide_suspect(record, incarnation=6, is_self=False, restart_newer=False) is SV.CONFIRM


DV = DeadVerdict


@pytest.mark.parametrize("record,inc,from_,is_self,leaving,verdict", [
    (None, 5, "a", False, False, DV.IGNORE),
    (rec(S.ALIVE), 4, "a", False, False, DV.IGNORE),
    (rec(S.ALIVE), 5, "a", False, False, DV.DEAD),
    (rec(S.SUSPECT), 6, "a", False, False, DV.DEAD),
    (rec(S.ALIVE), 5, "x", False, False, DV.LEFT),
    (rec(S.DEAD), 9, "a", False, False, DV.IGNORE),
    (rec(S.LEFT), 9, "x", False, False, DV.IGNORE),
    (rec(S.ALIVE), 5, "a", True, False, DV.REFUTE),
    (rec(S.ALIVE), 5, "x", True, True, DV.IGNORE),
])
def test_decide_dead(record, inc, from_, is_self, leaving, verdict) -> None:
    assert decide_dead(record, incarnation=inc, from_=from_, is_self=is_self,
                       self_leaving=leaving) is verdict


def test_vsn_and_claw_helpers() -> None:
    assert vsn_is_valid(None) and vsn_is_valid(b"") and vsn_is_valid(VSN_SERF)
    assert not vsn_is_valid(bytes([1, 0, 2]))
    assert meta_is_claw(encode_tags({"claw": "1", "role": "x"}))
    assert not meta_is_claw(encode_tags({"role": "x"}))
    assert not meta_is_claw(b"")
    assert not meta_is_claw(b"\xff\xc1garbage")


def test_table_cap_size_estimate_and_reap() -> None:
    t = Membership(max_members=3)
    me = rec(name="me")
    assert t.add(me) and t.add(rec(name="a")) and t.add(rec(S.DEAD, since=0.0, name="d"))
    assert t.add(rec(name="a", inc=9))              # replacing a known name is fine
    full = Membership(max_members=2)
    assert full.add(rec(name="a")) and full.add(rec(name="b"))
    assert not full.add(rec(name="c"))              # full of live members: refused
    assert t.estimated_size(10.0, gossip_to_the_dead_s=30.0) == 3
    assert t.estimated_size(31.0, gossip_to_the_dead_s=30.0) == 2
    assert t.reap(100.0, keep_s=50.0, self_name="me") == ["d"]
    assert len(t) == 2 and "d" not in t
    assert t.add(rec(S.DEAD, since=5.0, name="d1")) and len(t) == 3
    t.set_state(t.get("a"), S.DEAD, 6.0)            # a went down after d1
    assert t.add(rec(name="new"))                   # full: the longest-dead record makes room
    assert "d1" not in t and "new" in t and "a" in t
    t.set_state(t.get("a"), S.ALIVE, 7.0)           # back alive: no longer evictable
    assert not t.add(rec(name="another"))


# --- Serf status (serf_layer): Lamport clocks and intents ------------------------------------

from gossip.messages import SerfJoin, SerfLeave, SerfPushPull  # noqa: E402 - this section's own imports
from gossip.serf_layer import EVENT_BUFFER, IntentOutcome, LamportClock, SerfLayer  # noqa: E402 - this section's own imports


def test_lamport_clock_witness_and_bounds() -> None:
    c = LamportClock()
    assert c.time() == 0 and c.increment() == 1
    c.witness(0)
    assert c.time() == 1                  # older than us: no change
    c.witness(1)
    assert c.time() == 2                  # equal: move past it
    c.witness(10)
    assert c.time() == 11
    c.witness(2**64 - 1)
    assert c.time() == 2**64 - 1 and c.increment() == 2**64 - 1   # stays a uint64


def test_serf_intents_follow_status_ltime() -> None:
    serf = SerfLayer()
    x = rec(name="x")
    assert serf.on_join(x, SerfJoin(5, "x"), 0.0) is IntentOutcome.APPLIED and x.status_ltime == 5
    assert serf.on_join(x, SerfJoin(5, "x"), 0.0) is IntentOutcome.IGNORED
    assert serf.on_leave(x, SerfLeave(4, "x"), 0.0, is_self=False, self_leaving=False) \
        is IntentOutcome.IGNORED
    assert serf.on_leave(x, SerfLeave(6, "x"), 0.0, is_self=False, self_leaving=False) \
        is IntentOutcome.APPLIED
    assert x.leaving and x.status_ltime == 6
    assert serf.on_join(x, SerfJoin(7, "x"), 0.0) is IntentOutcome.APPLIED and not x.leaving
    d = rec(S.DEAD, name="d")
    assert serf.on_leave(d, SerfLeave(1, "d"), 0.0, is_self=False, self_leaving=False) \
        is IntentOutcome.LEFT
    me = rec(name="me")
    assert serf.on_leave(me, SerfLeave(3, "me"), 0.0, is_self=True, self_leaving=False) \
        is IntentOutcome.REFUTE
    assert serf.clock.time() > 7          # every LTime seen was witnessed


def test_serf_intents_for_unknown_members_are_remembered_briefly() -> None:
    serf = SerfLayer()
    assert serf.on_leave(None, SerfLeave(3, "ghost"), 0.0, is_self=False, self_leaving=False) \
        is IntentOutcome.REMEMBERED
    assert serf.on_join(None, SerfJoin(2, "ghost"), 0.0) is IntentOutcome.IGNORED  # older
    assert serf.take_recent("ghost", 10.0) == SerfLeave(3, "ghost")
    assert serf.take_recent("ghost", 10.0) is None
    serf.on_join(None, SerfJoin(1, "late"), 0.0)
    assert serf.take_recent("late", 301.0) is None                  # older than 5 min


def test_own_leave_intent_is_newer_than_anything_witnessed() -> None:
    serf = SerfLayer()
    me = rec(name="me")
    serf.on_join(rec(name="x"), SerfJoin(41, "x"), 0.0)
    join = serf.new_join_intent(me)
    leave = serf.new_leave_intent(me)
    assert join.ltime == 42 and leave.ltime > 42 and me.leaving
    state = serf.local_state([me, rec(S.LEFT, name="gone")], claw=b"app")
    assert isinstance(state, SerfPushPull)
    assert state.left_members == ("gone",) and state.status_ltimes["me"] == leave.ltime
    assert state.events == (None,) * EVENT_BUFFER and state.claw == b"app"
