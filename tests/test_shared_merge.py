"""``gossip.shared_merge``: a push-pull merge into a copy-on-write table skips exactly the
entries that are old news for it, and merges the rest in order."""

from __future__ import annotations

import random

from gossip.converged import converged_table
from gossip.membership import MemberRecord, Membership, SharedTable, _private_copy, alive_is_old_news
from gossip.messages import PushNodeState, SerfPushPull
from gossip.shared_merge import entries_to_merge, join_statuses_to_merge
from gossip.types import MemberState

PORT = 7946


def _table(n: int) -> SharedTable:
    return converged_table(((f"n{i}", (f"10.0.0.{i + 1}", PORT), b"", 1) for i in range(n)), 0.0)


def _mine(shared: SharedTable, name: str) -> tuple[Membership, MemberRecord]:
    me = _private_copy(shared.records[name])
    return Membership.from_shared(1000, shared, me), me


def _entry(rec: MemberRecord, **change: object) -> PushNodeState:
    fields: dict[str, object] = dict(name=rec.name, addr=rec.ip_bytes, port=rec.port, meta=rec.meta,
                                     incarnation=rec.incarnation, state=int(rec.state), vsn=rec.vsn)
    fields.update(change)
    return PushNodeState(**fields)  # type: ignore[arg-type]


def test_a_converged_push_pull_leaves_only_our_own_entry_to_merge() -> None:
    shared = _table(50)
    members, me = _mine(shared, "n7")
    nodes = tuple(_entry(r) for r in shared.order)
    assert [ns.name for ns in entries_to_merge(members, nodes, PORT)] == ["n7"]


def test_news_and_our_changes_are_merged_in_push_pull_order() -> None:
    shared = _table(50)
    members, _ = _mine(shared, "n0")
    nodes = [_entry(r) for r in shared.order]
    nodes[30] = _entry(shared.records["n30"], incarnation=5)  # newer
    nodes[20] = _entry(shared.records["n20"], state=int(MemberState.SUSPECT))
    nodes.append(PushNodeState("stranger", b"\x0a\x00\x01\x01", PORT, b"", 1, 0))
    nodes.append(_entry(shared.records["n30"]))  # a second entry of a name with news
    members.writable(shared.records["n40"]).incarnation = 9  # changed by us
    members.remove("n45")
    picked = [ns.name for ns in entries_to_merge(members, tuple(nodes), PORT)]
    assert picked == ["n0", "n20", "n30", "n40", "n45", "stranger", "n30"]


def test_every_skipped_entry_is_old_news_for_the_table() -> None:
    rng = random.Random(5)
    shared = _table(80)
    for _ in range(20):
        members, me = _mine(shared, f"n{rng.randrange(80)}")
        for name in rng.sample(shared.names, 10):
            if rng.random() < 0.5:
                rec = members.get(name)
                assert rec is not None
                members.writable(rec).incarnation += rng.randrange(-1, 2)
            else:
                members.remove(name)
        nodes = tuple(_entry(r, incarnation=r.incarnation + (rng.random() < 0.1)) for r in shared.order)
        picked = {id(ns) for ns in entries_to_merge(members, nodes, PORT)}
        for ns in nodes:
            if id(ns) not in picked:
                assert ns.state == MemberState.ALIVE and alive_is_old_news(
                    members.get(ns.name), me, ns.incarnation, ns.addr, ns.port)


def test_a_table_not_built_from_a_shared_one_merges_everything() -> None:
    members = Membership(100)
    nodes = tuple(_entry(r) for r in _table(10).order)
    assert entries_to_merge(members, nodes, PORT) is nodes


def test_join_statuses_skip_old_ones_and_report_their_greatest_ltime() -> None:
    shared = _table(10)  # every status LTime is CONVERGED_STATUS_LTIME (1)
    members, _ = _mine(shared, "n0")
    members.writable(shared.records["n5"]).status_ltime = 0
    status = {f"n{i}": 1 for i in range(10)} | {"n3": 4, "stranger": 2, "gone": 7}
    state = SerfPushPull(ltime=9, status_ltimes=status, left_members=("n9", "gone"),
                         event_ltime=0, events=None, query_ltime=0)
    merged, skipped_max = join_statuses_to_merge(members, state)
    assert merged == [("n0", 1), ("n3", 4), ("n5", 1), ("stranger", 2)]
    assert skipped_max == 1
    plain = Membership(100)
    merged, skipped_max = join_statuses_to_merge(plain, state)
    assert [n for n, _ in merged] == [f"n{i}" for i in range(9)] + ["stranger"] and skipped_max == -1


def test_a_shared_push_pull_entry_is_built_once_and_equals_a_fresh_one() -> None:
    from gossip.config import GossipConfig
    from gossip.push_pull import push_node_state
    from simulations.sim.world import SimWorld

    world = SimWorld(GossipConfig(), seed=2)
    a, b = (node.core for node in world.add_converged_nodes(20)[:2])
    assert a is not None and b is not None
    mine, theirs = (c._exchanges.local_push_pull(join=False).nodes for c in (a, b))
    assert [push_node_state(r) for r in a._members] == list(mine)  # as built without sharing
    same = [x is y for x, y in zip(mine, theirs, strict=True)]
    assert same.count(False) == 2  # only the two private records (each core's own) differ


def test_packed_entries_encode_to_the_bytes_of_plain_ones() -> None:
    from gossip import codec
    from gossip.messages import PushPull

    shared = _table(30)
    plain = tuple(_entry(r) for r in shared.order) + (
        PushNodeState("odd", b"\x0a\x00\x01\x01", PORT, None, 7, int(MemberState.DEAD), None),)
    packed = tuple(map(codec.packed_push_node, plain))
    assert packed == plain and all(type(e) is codec.PackedPushNodeState for e in packed)
    mixed = tuple(p if i % 2 else e for i, (e, p) in enumerate(zip(plain, packed, strict=True)))
    for nodes in (packed, mixed):
        for compress in (False, True):
            assert (codec.encode_stream(PushPull(False, nodes, b"state"), compress=compress)
                    == codec.encode_stream(PushPull(False, plain, b"state"), compress=compress))


def test_names_outside_the_shared_table_are_not_tracked() -> None:
    shared = _table(5)
    members, _ = _mine(shared, "n0")
    for i in range(100):  # names come and go: always news, so nothing to remember
        rec = _private_copy(shared.records["n1"])
        rec.name = f"new{i}"
        assert members.add(rec)
        members.remove(rec.name)
    view = members.shared_view()
    assert view is not None and list(view[1]) == ["n0"]


def test_a_push_pull_over_a_shared_table_is_the_one_built_entry_by_entry() -> None:
    """``shared_push_pull``: whatever the table changed (states, status LTimes, names
    removed, added, left), our push-pull is byte for byte the one built record by
    record without the shared table."""
    from gossip import codec
    from gossip.push_pull import build_push_pull, push_node_state
    from gossip.serf_layer import SerfLayer
    from gossip.shared_push_pull import over_shared
    from gossip.stats import CoreStats

    rng = random.Random(8)
    used_shared_layout = 0
    for _ in range(40):
        shared = _table(30)
        members, me = _mine(shared, f"n{rng.randrange(30)}")
        for _ in range(rng.randrange(6)):
            name = f"n{rng.randrange(34)}"
            rec, op = members.get(name), rng.random()
            if rec is None or op < 0.15:
                new = _private_copy(shared.records["n1"])
                new.name, new.incarnation = name, 9
                members.add(new)
            elif op < 0.75:
                w = members.writable(rec)
                w.status_ltime = rng.randrange(1, 50)
                members.set_state(w, rng.choice([MemberState.SUSPECT, MemberState.LEFT,
                                                 MemberState.DEAD]), 1.0)
            else:
                members.remove(name)
        view = members.shared_view()
        assert view is not None
        records = list(members)
        with_shared, plain = (
            build_push_pull(records, SerfLayer(), join=False, app_state=None, stats=CoreStats(),
                            shared=table, changed=changed)
            for table, changed in ((view[0], view[1]), (None, ())))
        assert codec.encode_stream(with_shared) == codec.encode_stream(plain)
        used_shared_layout += over_shared(records, view[0], view[1], push_node_state) is not None
    assert 5 < used_shared_layout < 40  # both the shared layout and the fallback were seen
