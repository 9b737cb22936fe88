"""ReplicatedState: gossiped heartbeats and registrations merge newest-wins; garbage is
counted and dropped."""

from __future__ import annotations

from api.models import RegisterIn
from api.registry import HttpNodeRecord, HttpNodeRegistry
from node.app_messages import APP_REGISTRY, Directive, encode_app, encode_directive, heartbeat_message
from node.heartbeat import HeartbeatRecord, HeartbeatTable
from node.replication import ReplicatedState

STATS = ("app_bad", "heartbeats_applied", "registry_merged", "state_bad_entries")


def replica(node_id: str) -> tuple[ReplicatedState, list[HttpNodeRecord]]:
    stored: list[HttpNodeRecord] = []
    state = ReplicatedState(heartbeats=HeartbeatTable(), registry=HttpNodeRegistry(),
                            wall_clock=lambda: 1_800_000_000.0, on_registered=stored.append,
                            stats=dict.fromkeys(STATS, 0))
    state.node_id = node_id
    return state, stored


def beat(node: str, seq: int) -> HeartbeatRecord:
    return HeartbeatRecord(node=node, epoch=1, seq=seq, sampled_at=1_799_999_990.0, cpu_usage=5.0)


def test_heartbeats_merge_newest_wins_and_our_own_row_is_never_overwritten() -> None:
    state, _ = replica("me")
    assert state.receive(heartbeat_message(beat("n1", 2))) is None
    state.receive(heartbeat_message(beat("n1", 1)))  # older: ignored
    state.receive(heartbeat_message(beat("me", 9)))  # our own row is the publisher's
    assert state.heartbeats.get("n1").seq == 2 and state.heartbeats.get("me") is None  # type: ignore[union-attr]
    assert state._stats["heartbeats_applied"] == 1


def test_a_directive_is_handed_back_and_garbage_is_counted() -> None:
    state, _ = replica("me")
    directive = Directive("me", "maintenance", True, "coord:1:1")
    assert state.receive(encode_directive(directive)) == directive
    for garbage in (b"", b"\x7f", b"\x01\xc1", encode_app(APP_REGISTRY, b"\x93")):
        assert state.receive(garbage) is None
    state.merge_state(b"\x02garbage")
    assert state._stats["app_bad"] == 5


def test_push_pull_state_carries_both_tables_and_stores_new_registrations() -> None:
    source, _ = replica("a")
    source.heartbeats.apply(beat("a", 3))
    source.registry.register(RegisterIn(hostname="h1", platform="linux", arch="x64", available_skills=["py"]), 1.0)
    target, stored = replica("b")
    target.merge_state(source.encode_state())
    assert target.heartbeats.get("a").seq == 3  # type: ignore[union-attr]
    assert [r.hostname for r in target.registry] == ["h1"] == [r.hostname for r in stored]
    target.merge_state(source.encode_state())  # the same again: nothing new to store
    assert len(stored) == 1 and target._stats["registry_merged"] == 1
