"""The claw layer over simulated cores: election, registry, writes, skewed clocks.

Each simulated node runs what the agent runs above gossip, with the agent's own code:
``node.election`` (``CoordinatorRole.reelect``, as ``node.reelection``) on its member table,
``node.partition`` for its share of the last stable view, and an
``api.registry.HttpNodeRegistry`` replicated by ``node.replication.ReplicatedState``
(app messages and the push-pull app state, through the real core). Its wall clock is
the world's time plus a fixed skew.

A write is made on a node that is coordinator in its own view and counts as
acknowledged the way ``node.write_replicas`` acknowledges it: the record is merged
into up to ``DEFAULT_WRITE_REPLICAS`` other up nodes of the writer's side (the request
channel's confirmations, modelled as direct merges) and broadcast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from api.models import HeartbeatIn, RegisterIn
from api.registry import HttpNodeRecord, HttpNodeRegistry
from gossip.events import AppMessage, AppState, Event
from gossip.types import Address, MemberState
from node.app_messages import APP_REGISTRY, encode_app
from node.election import CoordinatorRole
from node.heartbeat import HeartbeatTable
from node.metadata import NodeMeta, decode_meta, encode_meta
from node.partition import PartitionStatus, partition_status
from node.replication import ReplicatedState
from node.write_replicas import DEFAULT_WRITE_REPLICAS

from .world import SimNode, SimWorld

__all__ = ["EPOCH_S", "ClawLayer", "ClawNode"]

EPOCH_S = 1_800_000_000.0
"""Unix time of the world's time 0 (every node's clock adds its skew to it)."""

_LIVE = (MemberState.ALIVE, MemberState.SUSPECT)


@dataclass(slots=True)
class ClawNode:
    """One node's claw state."""

    name: str
    skew_s: float
    meta: NodeMeta
    role: CoordinatorRole
    registry: HttpNodeRegistry
    replicated: ReplicatedState
    stats: dict[str, int] = field(default_factory=dict)


class ClawLayer:
    """The claw state of every node of ``world``; install before adding nodes.

    Args:
        world: the simulated world (its cores get this layer's app state).
    """

    def __init__(self, world: SimWorld) -> None:
        self.world = world
        self.nodes: dict[str, ClawNode] = {}
        world.observers.append(self._on_event)
        world.app_state_for = self._app_state_for

    # --- nodes -------------------------------------------------------------------------

    def add(self, name: str, *, started_at: float, skew_s: float,
            seeds: Iterable[Address] = ()) -> SimNode:
        stats = dict.fromkeys(("app_bad", "heartbeats_applied", "registry_merged",
                               "state_bad_entries"), 0)
        registry = HttpNodeRegistry(on_change=lambda rec: self._broadcast(name, rec))
        claw = ClawNode(
            name=name, skew_s=skew_s, meta=NodeMeta(started_at=started_at),
            role=CoordinatorRole(name), registry=registry,
            replicated=ReplicatedState(heartbeats=HeartbeatTable(), registry=registry,
                                       wall_clock=lambda: self.wall(name),
                                       on_registered=lambda rec: None, stats=stats),
            stats=stats)
        claw.role.settled = True
        claw.replicated.node_id = name
        self.nodes[name] = claw
        return self.world.add_node(name, seeds, meta=encode_meta(claw.meta))

    def wall(self, name: str) -> float:
        """Node ``name``'s wall clock (skewed)."""
        return EPOCH_S + self.world.now + self.nodes[name].skew_s

    def _app_state_for(self, name: str) -> Callable[[], bytes] | None:
        claw = self.nodes.get(name)
        return None if claw is None else claw.replicated.encode_state

    def _on_event(self, now: float, node: SimNode, event: Event) -> None:
        claw = self.nodes.get(node.name)
        if claw is None:
            return
        if isinstance(event, AppMessage):
            claw.replicated.receive(event.body)
        elif isinstance(event, AppState):
            claw.replicated.merge_state(event.body)

    def _broadcast(self, name: str, record: HttpNodeRecord) -> None:
        core = self.world.node(name).core
        if core is not None:
            core.broadcast_app(encode_app(APP_REGISTRY, record.to_bytes()), self.world.now,
                               key=f"reg:{record.node_id}")

    # --- election ----------------------------------------------------------------------

    def elect_all(self) -> None:
        """Every up node re-runs the election on its member table, as ``node.reelection`` does."""
        for node in self.world.live_nodes():
            claw = self.nodes[node.name]
            assert node.core is not None
            _, meta = claw.role.reelect(node.core.members(), claw.meta,
                                        lambda m: decode_meta(m.meta))
            if meta is not None:
                claw.meta = meta
                node.core.set_meta(encode_meta(claw.meta), self.world.now)

    def coordinator_of(self, name: str) -> tuple[str | None, int]:
        role = self.nodes[name].role
        return role.coordinator, role.term

    def partition_of(self, name: str) -> PartitionStatus:
        core = self.world.node(name).core
        assert core is not None
        return partition_status(core.members())

    # --- writes ------------------------------------------------------------------------

    def register(self, writer: str, node_id: str, side: list[str]) -> HttpNodeRecord:
        """Register worker ``node_id`` on ``writer``; acknowledged once replicated to
        up to ``DEFAULT_WRITE_REPLICAS`` other nodes of ``side``. The record."""
        rec, _, _ = self.nodes[writer].registry.register(RegisterIn(
            hostname=node_id, platform="linux", arch="x64", available_skills=["python"],
            node_id=node_id), self.wall(writer))
        self._replicate(writer, rec, side)
        return rec

    def heartbeat(self, writer: str, node_id: str, cpu: float, side: list[str]
                  ) -> HttpNodeRecord | None:
        """A heartbeat of ``node_id`` on ``writer`` (replicated like a registration here,
        so the scenario can check a concurrently written record's newest version)."""
        res = self.nodes[writer].registry.heartbeat(node_id, HeartbeatIn(cpu_usage=cpu),
                                                    self.wall(writer))
        if res is None:
            return None
        self._replicate(writer, res[0], side)
        return res[0]

    def _replicate(self, writer: str, record: HttpNodeRecord, side: list[str]) -> None:
        others = [n for n in side if n != writer and self.world.node(n).up]
        for name in others[:DEFAULT_WRITE_REPLICAS]:
            self.nodes[name].replicated.merge_registered(record)
