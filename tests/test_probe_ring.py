"""Aligned probe order (``gossip.probe_ring``): every member probed once per slot."""

from __future__ import annotations

import random

from gossip.converged import converged_table
from gossip.membership import MemberRecord, Membership
from gossip.messages import VSN_SERF
from gossip.probe_ring import ProbeRing, ring_order
from gossip.types import MemberState as S


def record(name: str, state: S = S.ALIVE) -> MemberRecord:
    return MemberRecord(name=name, ip="10.0.0.1", port=7946, meta=b"", incarnation=1,
                        state=state, state_since=0.0, vsn=VSN_SERF, is_claw=False)


def table(names: list[str]) -> Membership:
    members = Membership(1000)
    for name in names:
        members.add(record(name))
    return members


def live(members: Membership):
    return lambda name: (r := members.get(name)) is not None and r.state in (S.ALIVE, S.SUSPECT)


def cluster(n: int) -> tuple[list[str], dict[str, Membership], dict[str, ProbeRing]]:
    names = [f"node-{i}" for i in range(n)]
    views = {me: table(names) for me in names}
    rings = {me: ProbeRing(me, 1.0) for me in names}
    return names, views, rings


def targets(slot_time: float, probers: list[str], views, rings) -> list[str | None]:
    return [rings[p].next(slot_time, views[p], live(views[p])) for p in probers]


def test_each_slot_probes_every_member_once_and_a_pass_visits_everyone() -> None:
    names, views, rings = cluster(7)
    for slot in range(12):
        hit = targets(slot + 0.3, names, views, rings)
        assert sorted(hit) == sorted(names)  # a permutation of the members...
        assert all(t != p for t, p in zip(hit, names, strict=True))  # ...where nobody probes itself
    seen = {rings["node-3"].next(s + 0.5, views["node-3"], live(views["node-3"])) for s in range(6)}
    assert seen == set(names) - {"node-3"}  # n - 1 slots: every other member once


def test_phase_inside_the_slot_and_clock_offset() -> None:
    names, views, _ = cluster(5)
    a = ProbeRing("node-0", 1.0)
    b = ProbeRing("node-0", 1.0, clock_offset_s=1000.0)
    assert a.next(3.01, views["node-0"], live(views["node-0"])) == \
        a.next(3.99, views["node-0"], live(views["node-0"]))
    assert b.next(0.5, views["node-0"], live(views["node-0"])) == \
        a.next(1000.5, views["node-0"], live(views["node-0"]))


def test_a_dead_member_leaves_every_ring_and_the_rest_stays_aligned() -> None:
    names, views, rings = cluster(9)
    targets(0.5, names, views, rings)  # rings built
    for view in views.values():
        view.set_state(view.get("node-4"), S.DEAD, 1.0)
    alive = [n for n in names if n != "node-4"]
    for slot in range(1, 20):
        hit = targets(slot + 0.5, alive, views, rings)
        assert sorted(hit) == sorted(alive)
    assert len(rings["node-0"]) == 7


def test_join_and_removal_rebuild_the_ring() -> None:
    names, views, rings = cluster(4)
    targets(0.5, names, views, rings)
    for me in names:
        views[me].add(record("late"))
        rings[me].add("late")
    views["late"], rings["late"] = table(names + ["late"]), ProbeRing("late", 1.0)
    everyone = names + ["late"]
    assert sorted(targets(1.5, everyone, views, rings)) == sorted(everyone)
    for view in views.values():
        view.remove("node-1")
    rest = [n for n in everyone if n != "node-1"]
    assert sorted(targets(2.5, rest, views, rings)) == sorted(rest)


def test_nobody_to_probe() -> None:
    alone = table(["me"])
    assert ProbeRing("me", 1.0).next(0.0, alone, live(alone)) is None
    two = table(["me", "x"])
    two.set_state(two.get("x"), S.DEAD, 0.0)
    assert ProbeRing("me", 1.0).next(0.0, two, live(two)) is None


def test_shared_ring_of_a_converged_start_lines_up_with_built_rings() -> None:
    names = [f"n{i}" for i in range(6)]
    shared = converged_table([(n, ("10.0.0.1", 7000 + i), b"", 1) for i, n in enumerate(names)],
                             now=0.0)
    assert shared.ring() == ring_order(names) and shared.ring() is shared.ring()
    view = Membership.from_shared(1000, shared, record("n2"))
    from_shared, built = ProbeRing("n2", 1.0), ProbeRing("n2", 1.0)
    from_shared.use_shared(shared.ring(), view)
    for slot in range(10):
        assert from_shared.next(slot, view, live(view)) == built.next(slot, view, live(view))


def test_membership_counts_live_members() -> None:
    members = table(["a", "b", "c"])
    v = members.live_version
    assert members.live_count == 3
    members.set_state(members.get("b"), S.SUSPECT, 1.0)
    assert (members.live_count, members.live_version) == (3, v)
    members.set_state(members.get("b"), S.DEAD, 2.0)
    assert members.live_count == 2 and members.live_version > v
    assert list(members.down_names()) == ["b"]
    members.remove("b")
    members.remove("a")
    assert members.live_count == 1


def test_random_views_never_pick_self_or_a_dead_member() -> None:
    rng = random.Random(7)
    names, views, rings = cluster(12)
    for step in range(200):
        me = rng.choice(names)
        view = views[me]
        other = rng.choice(names)
        if other != me:
            view.set_state(view.get(other), rng.choice([S.ALIVE, S.SUSPECT, S.DEAD]), step)
        picked = rings[me].next(step * 0.7, view, live(view))
        assert picked is None or (picked != me and view.get(picked).state != S.DEAD)
