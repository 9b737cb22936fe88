"""Deletes are versioned tombstones: replicated and merged like writes, never resurrected
by an older copy, superseded by a new registration, reaped after the keep time."""

from __future__ import annotations

from api.models import RegisterIn
from api.registry import DEFAULT_TOMBSTONE_KEEP_S, HttpNodeRecord, HttpNodeRegistry
from node.app_messages import decode_state
from node.heartbeat import HeartbeatTable
from node.replication import ReplicatedState

T0 = 1_700_000_000.0


def req(node_id: str = "w1") -> RegisterIn:
    return RegisterIn(hostname="h", platform="linux", arch="x64", available_skills=["a"],
                      node_id=node_id)


def test_a_delete_is_a_tombstone_that_hides_the_record_and_reaches_on_change() -> None:
    written: list[HttpNodeRecord] = []
    reg = HttpNodeRegistry(on_change=written.append)
    reg.register(req(), T0)
    tomb = reg.delete("w1", T0 + 1)
    assert tomb is not None and tomb.deleted and tomb.version == 2
    assert written[-1] is tomb
    assert reg.get("w1") is None and "w1" not in reg and len(reg) == 0
    assert reg.node_infos() == [] and reg.snapshot() == []
    assert reg.tombstones() == [tomb] and reg.replicated() == [tomb]
    assert reg.delete("w1", T0 + 2) is tomb  # idempotent: a retry changes nothing
    assert len(written) == 2
    assert reg.delete("never", T0) is None


def test_an_older_copy_never_resurrects_a_deleted_record() -> None:
    coordinator, member = HttpNodeRegistry(), HttpNodeRegistry()
    live, _, _ = coordinator.register(req(), T0)
    member.merge(live)
    tomb = coordinator.delete("w1", T0 + 1)
    assert tomb is not None and member.merge(tomb.to_bytes())
    assert member.get("w1") is None
    assert not member.merge(live)  # a late gossip message, a peer's store after a heal
    assert not coordinator.merge(live.to_dict())
    assert member.get("w1") is None and coordinator.get("w1") is None


def test_a_tombstone_arriving_before_the_record_still_wins() -> None:
    source, late = HttpNodeRegistry(), HttpNodeRegistry()
    live, _, _ = source.register(req(), T0)
    tomb = source.delete("w1", T0 + 1)
    assert tomb is not None and late.merge(tomb)
    assert not late.merge(live)
    assert late.get("w1") is None and late.tombstones() == [tomb]


def test_registering_a_deleted_id_supersedes_its_tombstone_everywhere() -> None:
    coordinator, member = HttpNodeRegistry(), HttpNodeRegistry()
    coordinator.register(req(), T0)
    tomb = coordinator.delete("w1", T0 + 1)
    assert tomb is not None
    member.merge(tomb)
    again, created, _ = coordinator.register(req(), T0 + 2)
    assert created and again.version == tomb.version + 1 and not again.deleted
    assert coordinator.tombstones() == []
    assert member.merge(again) and member.get("w1") == again and member.tombstones() == []


def test_tombstones_are_reaped_after_the_keep_time() -> None:
    reg = HttpNodeRegistry()
    reg.register(req(), T0)
    reg.delete("w1", T0)
    assert reg.reap_tombstones(T0 + DEFAULT_TOMBSTONE_KEEP_S) == []
    assert reg.reap_tombstones(T0 + DEFAULT_TOMBSTONE_KEEP_S + 1) == ["w1"]
    assert reg.tombstones() == []


def test_records_without_the_deleted_field_still_load() -> None:
    live, _, _ = HttpNodeRegistry().register(req(), T0)
    older = live.to_dict()
    del older["deleted"]  # written by a node before tombstones
    assert HttpNodeRecord.from_dict(older) == live


def test_push_pull_state_carries_tombstones() -> None:
    reg = HttpNodeRegistry()
    reg.register(req(), T0)
    reg.register(req("w2"), T0)
    reg.delete("w1", T0 + 1)
    state = ReplicatedState(heartbeats=HeartbeatTable(), registry=reg,
                            wall_clock=lambda: T0 + 2, on_registered=lambda r: None,
                            stats={})
    _, registered, bad = decode_state(state.encode_state())
    records = {r.node_id: r for r in map(HttpNodeRecord.from_bytes, registered)}
    assert bad == 0 and records["w1"].deleted and not records["w2"].deleted
