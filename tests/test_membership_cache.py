"""The member table's cached gossip targets equal a fresh scan after any sequence of
joins, state changes, removals and evictions (same members, same order: the order feeds
``rng.sample``, so the simulator's traces depend on it)."""

from __future__ import annotations

import random

from gossip.membership import MemberRecord, Membership
from gossip.types import MemberState

G2D = 30.0


def _record(name: str, state: MemberState, now: float) -> MemberRecord:
    return MemberRecord(name=name, ip="10.0.0.1", port=7946, meta=b"", incarnation=1,
                        state=state, state_since=now, vsn=b"\x01\x05\x02", is_claw=False,
                        ip_bytes=b"\x0a\x00\x00\x01")


def _scan(m: Membership, now: float, me: MemberRecord) -> list[MemberRecord]:
    return [r for r in m if r is not me and (
        r.state in (MemberState.ALIVE, MemberState.SUSPECT)
        or (r.state == MemberState.DEAD and now - r.state_since <= G2D))]


def test_cached_gossip_targets_match_a_scan() -> None:
    rng = random.Random(7)
    m = Membership(max_members=40)
    me = _record("me", MemberState.ALIVE, 0.0)
    m.add(me)
    now = 0.0
    for _ in range(5000):
        now += rng.choice((0.0, 0.5, 3.0, 20.0))
        name = f"n{rng.randrange(60)}"
        rec = m.get(name)
        op = rng.random()
        if rec is None or op < 0.2:
            m.add(_record(name, rng.choice(list(MemberState)), now))
        elif op < 0.8:
            m.set_state(rec, rng.choice(list(MemberState)), now)
        elif op < 0.9:
            m.remove(name)
        else:
            m.reap(now, G2D * 2, "me")
        assert m.gossip_candidates(now, G2D, me) == _scan(m, now, me)
