"""GossipClusterView: status mapping, members + HTTP registry, writes routed to members."""

from __future__ import annotations

from typing import Any

import pytest

from api.errors import Conflict, Unavailable, WriteUnconfirmed
from api.models import HeartbeatIn, NodeStatus, NodeTransition, RegisterIn
from api.registry import HttpNodeRecord, HttpNodeRegistry
from gossip.coordinate import Coordinate
from gossip.events import Member
from gossip.types import MemberState
from node.cluster_channel import DirectiveNotAcknowledged
from node.heartbeat import HeartbeatRecord
from node.metadata import NodeMeta, decode_meta, encode_meta
from node.partition import PartitionStatus, partition_status
from node.view import GossipClusterView, member_status
from node.write_replicas import NotReplicated


def member(name: str, state: MemberState = MemberState.ALIVE, **meta: Any) -> Member:
    facts = NodeMeta(hostname=f"host-{name}", platform="linux", arch="x64",
                     api=f"127.0.0.1:{8000 + len(name)}", **meta)
    return Member(name=name, address=("127.0.0.1", 7946), meta=encode_meta(facts),
                  incarnation=3, state=state, state_since=0.0, vsn=b"", is_claw=True)


def hb(node: str, **load: Any) -> HeartbeatRecord:
    return HeartbeatRecord(node=node, epoch=1, seq=1, sampled_at=1_700_000_000.0, **load)


class FakeAgent:
    node_id = "me"
    version = "0.1.0"
    heartbeat_timeout_s = 90.0
    check_interval_s = 30.0

    def __init__(self) -> None:
        self.table: list[Member] = [member("me"), member("peer")]
        self.beats: dict[str, HeartbeatRecord] = {}
        self.coordinator = ("me", 2)
        self.calls: list[tuple[str, Any]] = []
        self.unreachable: set[str] = set()
        self.durable: list[tuple[str, int]] = []
        self.replicas_fail = False
        self.coordinates: dict[str, Coordinate] = {}

    def coordinate_of(self, node_id: str) -> Coordinate | None:
        return self.coordinates.get(node_id)

    def members(self) -> list[Member]:
        return self.table

    def member(self, name: str) -> Member | None:
        return next((m for m in self.table if m.name == name), None)

    def meta_of(self, m: Member) -> NodeMeta:
        return decode_meta(m.meta)

    def heartbeat_of(self, node_id: str) -> HeartbeatRecord | None:
        return self.beats.get(node_id)

    def coordinator_state(self) -> tuple[str | None, int]:
        return self.coordinator

    def api_url_of(self, meta: NodeMeta) -> str | None:
        return f"http://{meta.api}" if meta.api else None

    def suspect_since(self, node_id: str) -> float | None:
        return 1_700_000_100.0 if node_id == "peer" else None

    def apply_tasks(self, values: dict[str, Any]) -> None:
        self.calls.append(("tasks", values))
        self.beats["me"] = hb("me", **values)

    def apply_maintenance(self, enabled: bool) -> None:
        self.calls.append(("maintenance", enabled))

    def request_leave(self) -> None:
        self.calls.append(("leave", None))

    async def send_directive(self, target: str, action: str, value: Any) -> None:
        self.calls.append((f"directive:{target}:{action}", value))
        if target in self.unreachable:
            raise DirectiveNotAcknowledged(f"{action} directive to {target} was not "
                                           "acknowledged after 3 attempts (timeout)")

    def partition(self) -> PartitionStatus:
        return partition_status(self.table)

    async def make_durable(self, record: HttpNodeRecord) -> list[str]:
        if self.replicas_fail:
            raise NotReplicated("0 of 2 replica(s) confirmed (peer: timeout)")
        self.durable.append((record.node_id, record.version))
        return ["peer"]

    def force_leave(self, name: str, *, prune: bool) -> bool:
        self.calls.append(("force-leave", (name, prune)))
        return True


@pytest.fixture
def agent() -> FakeAgent:
    return FakeAgent()


@pytest.fixture
def view(agent: FakeAgent) -> GossipClusterView:
    return GossipClusterView(agent, HttpNodeRegistry(), clock=lambda: 1_700_000_000.0)


@pytest.mark.parametrize("state, meta, beat, expected", [
    (MemberState.ALIVE, {}, None, NodeStatus.ONLINE),
    (MemberState.SUSPECT, {}, None, NodeStatus.ONLINE),
    (MemberState.DEAD, {"maintenance": True}, None, NodeStatus.OFFLINE),
    (MemberState.LEFT, {}, None, NodeStatus.OFFLINE),
    (MemberState.ALIVE, {"maintenance": True}, {"fault": "x"}, NodeStatus.MAINTENANCE),
    (MemberState.ALIVE, {}, {"fault": "disk sensor"}, NodeStatus.ERROR),
    (MemberState.ALIVE, {"max_concurrent_tasks": 2}, {"running_tasks": 2}, NodeStatus.BUSY),
    (MemberState.ALIVE, {"max_concurrent_tasks": 2}, {"running_tasks": 1}, NodeStatus.ONLINE),
])
def test_status_mapping(state: MemberState, meta: dict[str, Any], beat: dict[str, Any] | None,
                        expected: NodeStatus) -> None:
    m = member("x", state, **meta)
    assert member_status(m, decode_meta(m.meta), None if beat is None else hb("x", **beat)) == expected


async def test_lists_members_and_registered_nodes(view: GossipClusterView, agent: FakeAgent) -> None:
    agent.beats["peer"] = hb("peer", cpu_usage=42.0, running_tasks=1)
    agent.table[1] = member("peer", MemberState.SUSPECT, skills=("py",))
    await view.register(RegisterIn(hostname="w", platform="linux", arch="x64",
                                   available_skills=["go"], node_id="w1"))
    nodes = {n.node_id: n for n in await view.list_nodes()}
    assert set(nodes) == {"me", "peer", "w1"}
    peer = nodes["peer"]
    assert peer.cpu_usage == 42.0 and peer.suspect and peer.gossip_state == "suspect"
    assert peer.suspect_since is not None and peer.suspect_since.timestamp() == 1_700_000_100.0
    assert nodes["me"].suspect_since is None
    assert peer.source == "gossip" and peer.available_skills == ["py"] and peer.incarnation == 3
    assert nodes["me"].is_coordinator and not peer.is_coordinator
    assert nodes["w1"].source == "http"
    assert peer.gossip_address == "127.0.0.1:7946" and nodes["w1"].gossip_address is None
    assert peer.member_state == "suspect" and nodes["w1"].member_state == "alive"
    agent.table[1] = member("peer", MemberState.DEAD)
    agent.table.append(member("gone", MemberState.LEFT))
    states = {n.node_id: (n.status.value, n.member_state) for n in await view.list_nodes()}
    assert states["peer"] == ("offline", "failed") and states["gone"] == ("offline", "left")
    assert (await view.get_node("w1")).hostname == "w"
    assert await view.get_node("nobody") is None


async def test_coordinator_info(view: GossipClusterView, agent: FakeAgent) -> None:
    c = await view.coordinator()
    assert (c.node_id, c.term, c.api_url) == ("me", 2, "http://127.0.0.1:8002")
    assert await view.is_coordinator()
    assert await view.coordinator() is c  # unchanged: the same answer, not a new one
    agent.coordinator = ("peer", 3)
    assert not await view.is_coordinator()
    c = await view.coordinator()
    assert (c.node_id, c.term, c.api_url) == ("peer", 3, "http://127.0.0.1:8004")
    agent.table = [m for m in agent.table if m.name != "peer"]  # its address unknown now
    c = await view.coordinator()
    assert (c.node_id, c.term, c.api_url) == ("peer", 3, None)
    agent.coordinator = (None, 3)
    assert await view.coordinator() is None


async def test_registering_a_gossip_members_id_conflicts(view: GossipClusterView) -> None:
    with pytest.raises(Conflict):
        await view.register(RegisterIn(hostname="h", platform="linux", arch="x64",
                                       available_skills=["a"], node_id="peer"))


async def test_worker_writes_are_answered_once_durable_heartbeats_on_own_word(
        view: GossipClusterView, agent: FakeAgent) -> None:
    reg = RegisterIn(hostname="h", platform="linux", arch="x64", available_skills=["a"],
                     node_id="w1")
    await view.register(reg)
    await view.heartbeat("w1", HeartbeatIn(running_tasks=1))
    await view.set_maintenance("w1", True)
    await view.shutdown("w1")
    assert agent.durable == [("w1", 1), ("w1", 3), ("w1", 4)]  # version 2: the heartbeat


async def test_unconfirmed_write_is_503_applied_unknown(view: GossipClusterView,
                                                        agent: FakeAgent) -> None:
    agent.replicas_fail = True
    with pytest.raises(WriteUnconfirmed) as caught:
        await view.register(RegisterIn(hostname="h", platform="linux", arch="x64",
                                       available_skills=["a"], node_id="w1"))
    assert caught.value.status == 503 and caught.value.applied == "unknown"
    assert "w1" in caught.value.message and "retry" in caught.value.message


async def test_writes_for_gossip_members_go_to_the_member(view: GossipClusterView,
                                                          agent: FakeAgent) -> None:
    mine = await view.heartbeat("me", HeartbeatIn(running_tasks=5, cpu_usage=99.0))
    assert ("tasks", {"running_tasks": 5}) in agent.calls  # cpu is sampled, not reported
    assert mine.status == NodeStatus.BUSY
    theirs = await view.heartbeat("peer", HeartbeatIn(running_tasks=2))
    assert ("directive:peer:tasks", {"running_tasks": 2}) in agent.calls
    assert theirs.running_tasks == 2
    assert (await view.set_maintenance("peer", True)).status == NodeStatus.MAINTENANCE
    assert ("directive:peer:maintenance", True) in agent.calls
    await view.set_maintenance("me", True)
    assert ("maintenance", True) in agent.calls
    assert (await view.shutdown("peer")).status == NodeStatus.OFFLINE
    assert ("directive:peer:shutdown", True) in agent.calls
    await view.shutdown("me")
    assert ("leave", None) in agent.calls
    assert await view.heartbeat("ghost", HeartbeatIn()) is None


async def test_an_unacknowledged_directive_is_a_503_naming_it(view: GossipClusterView,
                                                               agent: FakeAgent) -> None:
    agent.unreachable.add("peer")
    for write in (view.set_maintenance("peer", True), view.shutdown("peer"),
                  view.heartbeat("peer", HeartbeatIn(running_tasks=1))):
        with pytest.raises(Unavailable) as caught:
            await write
        assert caught.value.status == 503
        assert "to peer was not acknowledged" in caught.value.message


async def test_http_nodes_heartbeat_and_check(view: GossipClusterView) -> None:
    clock = [1_700_000_000.0]
    view._clock = lambda: clock[0]
    await view.register(RegisterIn(hostname="w", platform="linux", arch="x64",
                                   available_skills=["go"], node_id="w1"))
    assert (await view.heartbeat("w1", HeartbeatIn(cpu_usage=5.0))).cpu_usage == 5.0
    clock[0] += 200
    result = await view.check_heartbeats()
    assert result.checked == 1 and result.changed[0].new_status == NodeStatus.OFFLINE


async def test_liveness_transitions_are_emitted(view: GossipClusterView) -> None:
    seen: list[NodeTransition] = []
    view.add_transition_listener(seen.append)
    view.observe_member(member("peer"), "joined")            # first sight online: quiet
    view.observe_member(member("peer", MemberState.SUSPECT), "suspected")
    view.observe_member(member("peer", MemberState.DEAD), "failed")
    view.observe_member(member("peer"), "joined")
    assert [(t.from_state, t.to_state) for t in seen] == [
        ("online", "suspect"), ("suspect", "offline"), ("offline", "online")]
    assert all(t.source == "gossip" and t.node_id == "peer" for t in seen)
    view.forget_missing(set())
    assert view._last_liveness == {}


async def test_list_reuses_member_infos_until_an_input_changes(view: GossipClusterView,
                                                               agent: FakeAgent) -> None:
    agent.beats["peer"] = hb("peer", cpu_usage=10.0)
    first = {n.node_id: n for n in await view.list_nodes()}
    again = {n.node_id: n for n in await view.list_nodes()}
    assert again["peer"] is first["peer"] and again["me"] is first["me"]
    agent.beats["peer"] = HeartbeatRecord(node="peer", epoch=1, seq=2,
                                          sampled_at=1_700_000_005.0, cpu_usage=60.0)
    after_beat = {n.node_id: n for n in await view.list_nodes()}
    assert after_beat["peer"].cpu_usage == 60.0 and after_beat["me"] is first["me"]
    agent.table = [member("me"), member("peer", MemberState.SUSPECT)]
    after_suspect = {n.node_id: n for n in await view.list_nodes()}
    assert after_suspect["peer"].suspect and after_suspect["peer"].suspect_since is not None
    agent.coordinator = ("peer", 3)
    after_election = {n.node_id: n for n in await view.list_nodes()}
    assert after_election["peer"].is_coordinator and not after_election["me"].is_coordinator
    assert (await view.get_node("peer")) is after_election["peer"]
    agent.table = [member("me")]  # peer reaped: its cached info goes too
    assert [n.node_id for n in await view.list_nodes()] == ["me"]
    assert await view.get_node("peer") is None


@pytest.mark.parametrize("state", [MemberState.ALIVE, MemberState.SUSPECT])
async def test_a_live_member_cannot_be_deleted(view: GossipClusterView, agent: FakeAgent,
                                               state: MemberState) -> None:
    agent.table[1] = member("peer", state)
    with pytest.raises(Conflict, match=rf"'peer' is a live gossip member \({state.name.lower()}\)"):
        await view.delete_node("peer", prune=True)
    with pytest.raises(Conflict, match="is this node"):
        await view.delete_node("me", prune=True)
    assert agent.calls == []


@pytest.mark.parametrize("state, was", [(MemberState.DEAD, "failed"), (MemberState.LEFT, "left")])
async def test_a_failed_or_left_member_is_force_left(view: GossipClusterView, agent: FakeAgent,
                                                     state: MemberState, was: str) -> None:
    agent.table[1] = member("peer", state)
    result = await view.delete_node("peer", prune=False)
    assert (result.source, result.was, result.kept_as_left) == ("gossip", was, True)
    assert agent.calls == [("force-leave", ("peer", False))]


async def test_a_registered_worker_is_deleted_and_unknown_is_none(view: GossipClusterView) -> None:
    await view.register(RegisterIn(hostname="w", platform="linux", arch="x64",
                                   available_skills=["go"], node_id="w1"))
    result = await view.delete_node("w1", prune=True)
    assert (result.source, result.was) == ("http", "online")
    assert await view.get_node("w1") is None
    assert "w1" not in {n.node_id for n in await view.list_nodes()}
    assert await view.delete_node("w1", prune=True) is None
