"""``node.member_watch.MemberWatch``: membership changes become cluster events, suspect
times and re-elections; members that join before the first periodic save of the peers
are saved to the store at once."""

from __future__ import annotations

from typing import Any, cast

from gossip.events import (
    Member,
    MemberFailed,
    MemberJoined,
    MemberRecovered,
    MemberSuspected,
)
from gossip.types import MemberState
from node.events import ClusterEvent, EventKind
from node.heartbeat import HeartbeatTable
from node.member_watch import MemberWatch
from node.store_writer import StoreWriter
from tests.test_registry_feed import FakeWriter


def member(name: str, state: MemberState = MemberState.ALIVE) -> Member:
    return Member(name=name, address=("127.0.0.1", 7946), meta=b"", incarnation=1,
                  state=state, state_since=0.0, vsn=b"", is_claw=True)


class FakeStore:
    def __init__(self) -> None:
        self.peers: list[dict[str, Any]] = []

    def remember_peers(self, peers: dict[str, Any]) -> None:
        self.peers.append(peers)


class Watched:
    def __init__(self) -> None:
        self.events: list[ClusterEvent] = []
        self.changes = 0
        self.now = 100.0
        self.writer = FakeWriter()
        self.watch = MemberWatch(
            node_id=lambda: "me", members=list, maintenance_of=lambda m: False,
            publish=self.events.append, heartbeats=HeartbeatTable(), view=lambda: None,
            writer=lambda: cast(StoreWriter, self.writer), on_change=self.changed,
            wall_clock=lambda: self.now)

    def changed(self) -> None:
        self.changes += 1


async def test_changes_become_events_and_suspect_times() -> None:
    w = Watched()
    w.watch.on_change(MemberJoined(member("b")))
    w.watch.on_change(MemberSuspected(member("b", MemberState.SUSPECT), accuser="c"))
    w.now = 105.0
    w.watch.on_change(MemberSuspected(member("b", MemberState.SUSPECT), accuser="d"))
    assert w.watch.suspect_since("b") == 100.0  # the first suspicion counts
    w.watch.on_change(MemberRecovered(member("b")))
    assert w.watch.suspect_since("b") is None
    w.watch.on_change(MemberFailed(member("b", MemberState.DEAD), accuser="c"))
    assert [e.kind for e in w.events] == [
        EventKind.MEMBER_JOIN, EventKind.MEMBER_SUSPECT, EventKind.MEMBER_SUSPECT,
        EventKind.MEMBER_ALIVE, EventKind.MEMBER_FAILED]
    assert w.changes == 5


async def test_members_that_join_before_the_first_periodic_save_are_saved_at_once() -> None:
    w = Watched()
    w.watch.on_change(MemberJoined(member("me")))  # this node itself: nothing to save
    assert w.writer.submitted == []
    w.watch.on_change(MemberJoined(member("b")))
    w.watch.on_change(MemberJoined(member("c")))
    store = FakeStore()
    for write in w.writer.submitted:
        write(cast(Any, store))
    assert store.peers == [{"b": ("127.0.0.1", 7946)}, {"c": ("127.0.0.1", 7946)}]
    assert w.watch.last_join_at > 0
