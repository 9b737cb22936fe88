"""``GossipClusterView``: the API's ``ClusterView`` over this node's gossip view.

Gossip members come from the SWIM member table (liveness), their metadata (static
facts) and the resource-heartbeat table (load); HTTP-registered workers come from
``api.registry.HttpNodeRegistry``, replicated through gossip by the agent.

Status of a gossip member (the seed's ``NodeStatus``), first match wins:

| condition | status |
|---|---|
| SWIM dead or left | ``offline`` |
| maintenance flag in its metadata | ``maintenance`` |
| its heartbeat reports a fault | ``error`` |
| running_tasks ≥ max_concurrent_tasks | ``busy`` |
| otherwise (alive or suspect) | ``online`` |

``member_state`` tells apart the two ways to be offline: ``failed`` (SWIM dead) and
``left`` (graceful leave), as Serf's ``members`` does.

Suspicion is not hidden: a suspect member stays ``online``/``busy`` with ``suspect=true``
and ``gossip_state="suspect"`` and ``suspect_since`` (when this node first heard the
suspicion), since SWIM may still clear it.

Network coordinates: ``coordinate`` is the member's Vivaldi coordinate as this node last
learnt it from a probe ack (``gossip.coordinate_exchange``), ``estimated_rtt_ms`` the
distance from this node's own coordinate; ``nearest_first`` (the API's ``near=`` order)
uses the same distance from any node's. Our own coordinate moves with every probe; it
is re-read at most every ``ORIGIN_REFRESH_S`` so that the cached ``NodeInfo``s (and
their cached JSON) are not all rebuilt for every list request.

Writes run on the coordinator. For an HTTP-registered node they change the registry.
For a gossip member they cannot be applied by the coordinator itself (a member is the
only writer of its own heartbeats and metadata), so they go to the member: applied at
once when it is this node, otherwise relayed as a gossip ``Directive`` that the target
applies; the answer shows the requested values.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from api.errors import Conflict, Unavailable, WriteUnconfirmed
from api.models import (
    ClusterInfo,
    CoordinatorInfo,
    HeartbeatIn,
    NodeCoordinate,
    NodeInfo,
    NodeStatus,
    NodeTransition,
    RegisterIn,
    StatusChange,
)
from api.registry import Change, HttpNodeRecord, HttpNodeRegistry, RegistryFull
from api.view import CheckResult, DeleteResult, RegisterResult, TransitionListener
from gossip.coordinate import Coordinate
from gossip.events import Member
from gossip.nearest import estimated_rtt, sort_by_estimated_rtt
from gossip.types import MemberState

from .cluster_channel import DirectiveNotAcknowledged
from .config import format_host_port
from .heartbeat import TASK_FIELDS, HeartbeatRecord
from .metadata import NodeMeta
from .partition import PartitionStatus
from .write_replicas import NotReplicated

__all__ = [
    "ORIGIN_REFRESH_S", "TASK_FIELDS", "AgentControl", "GossipClusterView", "member_info",
    "member_status",
]

log = logging.getLogger(__name__)


_STATE_NAMES = {
    MemberState.ALIVE: "alive", MemberState.SUSPECT: "suspect",
    MemberState.DEAD: "dead", MemberState.LEFT: "left",
}
_MEMBER_STATES = {**_STATE_NAMES, MemberState.DEAD: "failed"}
"""``NodeInfo.member_state``: Serf's word for a dead member is failed."""

ORIGIN_REFRESH_S = 2.0
"""Seconds (wall clock) our own coordinate is reused for ``estimated_rtt_ms`` before it is
read again. It moves a little with each probe (one per second); re-reading it for every
list would rebuild every member's ``NodeInfo`` each time."""


class AgentControl(Protocol):
    """What the view needs from the agent (``node.agent.Agent`` implements it)."""

    node_id: str
    version: str
    heartbeat_timeout_s: float
    check_interval_s: float

    def members(self) -> list[Member]: ...
    def member(self, name: str) -> Member | None:
        """The member of ``members()`` named ``name``, or None (without the copy)."""
    def meta_of(self, member: Member) -> NodeMeta: ...
    def heartbeat_of(self, node_id: str) -> HeartbeatRecord | None: ...
    def coordinator_state(self) -> tuple[str | None, int]: ...
    def api_url_of(self, meta: NodeMeta) -> str | None: ...
    def suspect_since(self, node_id: str) -> float | None: ...
    def coordinate_of(self, node_id: str) -> Coordinate | None: ...
    def apply_tasks(self, values: dict[str, Any]) -> None: ...
    def apply_maintenance(self, enabled: bool) -> None: ...
    def request_leave(self) -> None: ...
    async def send_directive(self, target: str, action: str, value: Any) -> None: ...
    async def make_durable(self, record: HttpNodeRecord) -> list[str]: ...
    def partition(self) -> PartitionStatus: ...
    def force_leave(self, name: str, *, prune: bool) -> bool: ...


def member_status(member: Member, meta: NodeMeta, hb: HeartbeatRecord | None) -> NodeStatus:
    """The seed status of a gossip member (table in the module docstring)."""
    if member.state in (MemberState.DEAD, MemberState.LEFT):
        return NodeStatus.OFFLINE
    if meta.maintenance:
        return NodeStatus.MAINTENANCE
    if hb is not None and hb.fault:
        return NodeStatus.ERROR
    if hb is not None and hb.running_tasks >= meta.max_concurrent_tasks:
        return NodeStatus.BUSY
    return NodeStatus.ONLINE


def _utc(ts: float | None) -> datetime | None:
    return None if not ts else datetime.fromtimestamp(ts, tz=UTC)


def _api_coordinate(coord: Coordinate | None) -> NodeCoordinate | None:
    if coord is None:
        return None
    return NodeCoordinate(vec=list(coord.vec), error=coord.error,
                          adjustment=coord.adjustment, height=coord.height)


def _core_coordinate(coord: NodeCoordinate) -> Coordinate:
    """The core's ``Coordinate`` of an API one (the inverse of ``_api_coordinate``)."""
    return Coordinate(tuple(coord.vec), coord.error, coord.adjustment, coord.height)


def _node_coordinate(node: NodeInfo) -> Coordinate | None:
    return _core_coordinate(node.coordinate) if node.coordinate is not None else None


def member_info(
    member: Member, meta: NodeMeta, hb: HeartbeatRecord | None, *, coordinator: str | None,
    api_url: str | None, suspect_since: float | None = None,
    coordinate: Coordinate | None = None, origin: Coordinate | None = None,
) -> NodeInfo:
    """The seed's ``NodeInfo`` for a gossip member; ``coordinate`` is the member's,
    ``origin`` the answering node's (the RTT estimate needs both)."""
    rtt = estimated_rtt(origin, coordinate) if origin is not None else None
    load: dict[str, Any] = {}
    if hb is not None:
        load = {
            "cpu_usage": hb.cpu_usage, "memory_usage": hb.memory_usage,
            "disk_usage": hb.disk_usage, "running_tasks": hb.running_tasks,
            "total_tasks_processed": hb.total_tasks_processed,
            "successful_tasks": hb.successful_tasks, "failed_tasks": hb.failed_tasks,
            "average_execution_time": hb.average_execution_time,
            "last_heartbeat": _utc(hb.sampled_at),
        }
    return NodeInfo(
        node_id=member.name, hostname=meta.hostname or member.name,
        platform=meta.platform, arch=meta.arch,
        status=member_status(member, meta, hb),
        available_skills=list(meta.skills), max_concurrent_tasks=meta.max_concurrent_tasks,
        ip_address=meta.ip_address or member.address[0], tailscale_ip=meta.tailscale_ip,
        port=meta.port, registered_at=_utc(meta.started_at), tags=list(meta.tags),
        source="gossip", gossip_state=_STATE_NAMES.get(member.state, "dead"),
        suspect=member.state == MemberState.SUSPECT, incarnation=member.incarnation,
        is_coordinator=member.name == coordinator, api_url=api_url,
        gossip_address=format_host_port(*member.address),
        member_state=_MEMBER_STATES.get(member.state, "failed"),
        suspect_since=_utc(suspect_since) if member.state == MemberState.SUSPECT else None,
        coordinate=_api_coordinate(coordinate),
        estimated_rtt_ms=round(rtt * 1e3, 3) if rtt is not None else None,
        **load,
    )


class GossipClusterView:
    """Implements ``api.view.ClusterView`` for the agent.

    Args:
        agent: the agent's controls (``AgentControl``).
        registry: HTTP-registered nodes (the agent replicates its writes).
        clock: wall clock, unix seconds.
    """

    def __init__(self, agent: AgentControl, registry: HttpNodeRegistry, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._agent = agent
        self.registry = registry
        self._clock = clock
        self._listeners: list[TransitionListener] = []
        self._last_liveness: dict[str, str] = {}
        self._infos: dict[str, tuple[tuple[Any, ...], NodeInfo]] = {}
        """Per member: (what its NodeInfo was built from, the NodeInfo). Bounded by the
        member table (entries of members gone from it are dropped at each full list)."""
        self._origin: Coordinate | None = None
        self._origin_read_at = -float("inf")
        self._coordinator: CoordinatorInfo | None = None
        """The last ``coordinator()`` answer: every response's headers ask for it, and it
        changes only with an election or the coordinator's address."""

    # --- helpers ------------------------------------------------------------------------

    def _cached_info(self, m: Member, coordinator: str | None) -> NodeInfo:
        """``member_info`` of ``m``, rebuilt only when one of its inputs changed.

        The inputs are immutable values (the member snapshot's fields, the metadata
        bytes, the heartbeat record object, which the table replaces on every update),
        so comparing them is cheap and exact; NodeInfos are shared, never mutated."""
        agent = self._agent
        hb = agent.heartbeat_of(m.name)
        since = agent.suspect_since(m.name)
        origin = self._origin_coordinate()
        coord = origin if m.name == agent.node_id else agent.coordinate_of(m.name)
        key = (m.state, m.incarnation, m.address, m.meta, hb, since,
               m.name == coordinator, coord, origin)
        hit = self._infos.get(m.name)
        if hit is not None and hit[0] == key:
            return hit[1]
        meta = agent.meta_of(m)
        info = member_info(m, meta, hb, coordinator=coordinator,
                           api_url=agent.api_url_of(meta), suspect_since=since,
                           coordinate=coord, origin=origin)
        self._infos[m.name] = (key, info)
        return info

    def _origin_coordinate(self) -> Coordinate | None:
        """Our own coordinate, re-read at most every ``ORIGIN_REFRESH_S``."""
        now = self._clock()
        if not 0 <= now - self._origin_read_at < ORIGIN_REFRESH_S:
            self._origin = self._agent.coordinate_of(self._agent.node_id)
            self._origin_read_at = now
        return self._origin

    def _member_infos(self) -> dict[str, NodeInfo]:
        coordinator, _ = self._agent.coordinator_state()
        out = {m.name: self._cached_info(m, coordinator) for m in self._agent.members()}
        if len(self._infos) > len(out):
            for name in [n for n in self._infos if n not in out]:
                del self._infos[name]
        return out

    def _member(self, node_id: str) -> Member | None:
        return self._agent.member(node_id)

    def _one_member(self, node_id: str) -> NodeInfo | None:
        m = self._member(node_id)
        if m is None:
            return None
        coordinator, _ = self._agent.coordinator_state()
        return self._cached_info(m, coordinator)

    def _emit(self, transition: NodeTransition) -> None:
        for listener in list(self._listeners):
            try:
                listener(transition)
            except Exception:  # a broken listener must not break gossip handling
                log.exception("transition listener failed")

    def _emit_change(self, change: Change | None) -> None:
        if change is None or change.liveness_from == change.liveness_to:
            return
        coordinator, _ = self._agent.coordinator_state()
        self._emit(NodeTransition(
            node_id=change.after.node_id, hostname=change.after.hostname,
            from_state=change.liveness_from, to_state=change.liveness_to, source="http",
            reason=change.reason, at=datetime.fromtimestamp(self._clock(), tz=UTC),
            coordinator=coordinator, **self._partition_fields()))

    def observe_member(self, member: Member, reason: str) -> None:
        """Called by the agent on every membership event: emits liveness transitions
        (online → suspect → offline, offline → online) of gossip members."""
        if member.state == MemberState.SUSPECT:
            now_state = "suspect"
        elif member.state in (MemberState.DEAD, MemberState.LEFT):
            now_state = "offline"
        else:
            now_state = "online"
        before = self._last_liveness.get(member.name)
        self._last_liveness[member.name] = now_state
        if before == now_state or (before is None and now_state == "online"):
            return
        coordinator, _ = self._agent.coordinator_state()
        meta = self._agent.meta_of(member)
        self._emit(NodeTransition(
            node_id=member.name, hostname=meta.hostname or member.name,
            from_state=before or "new", to_state=now_state, source="gossip", reason=reason,
            at=datetime.fromtimestamp(self._clock(), tz=UTC), coordinator=coordinator,
            **self._partition_fields()))

    def _partition_fields(self) -> dict[str, Any]:
        """What an alert says about the sender's side of a partition (``node.partition``)."""
        partition = self._agent.partition()
        return {"partitioned": partition.describe(), "minority": partition.minority}

    def forget_missing(self, names: set[str]) -> None:
        """Drop the liveness memory of members reaped from the table (keeps it bounded)."""
        for name in [n for n in self._last_liveness if n not in names]:
            del self._last_liveness[name]

    # --- reads --------------------------------------------------------------------------

    async def list_nodes(self) -> list[NodeInfo]:
        members = self._member_infos()
        registered = self.registry.node_infos()
        if not any(name in self.registry for name in members):
            return [*members.values(), *registered]  # no walk of 1,000 records per request
        return [*members.values(), *(i for i in registered if i.node_id not in members)]

    async def get_node(self, node_id: str) -> NodeInfo | None:
        info = self._one_member(node_id)
        if info is not None:
            return info
        return self.registry.node_info(node_id)

    async def coordinator(self) -> CoordinatorInfo | None:
        node_id, term = self._agent.coordinator_state()
        if node_id is None:
            return None
        m = self._member(node_id)
        api_url = self._agent.api_url_of(self._agent.meta_of(m)) if m is not None else None
        last = self._coordinator
        if last is None or (last.node_id, last.api_url, last.term) != (node_id, api_url, term):
            last = self._coordinator = CoordinatorInfo(node_id=node_id, api_url=api_url, term=term)
        return last

    async def is_coordinator(self) -> bool:
        return self._agent.coordinator_state()[0] == self._agent.node_id

    async def cluster_info(self) -> ClusterInfo:
        agent = self._agent
        partition = agent.partition()
        return ClusterInfo(node_id=agent.node_id, heartbeat_timeout_s=agent.heartbeat_timeout_s,
                           check_interval_s=agent.check_interval_s, version=agent.version,
                           partitioned=partition.describe(), minority=partition.minority)

    def nearest_first(self, origin: NodeCoordinate, nodes: list[NodeInfo]) -> list[NodeInfo]:
        """By Serf's Vivaldi distance from ``origin`` (``gossip.nearest``)."""
        return sort_by_estimated_rtt(_core_coordinate(origin), nodes, _node_coordinate)

    def suspect_since(self, node_id: str) -> float | None:
        """Unix time since which ``node_id`` has been suspect, or None."""
        return self._agent.suspect_since(node_id)

    # --- writes -------------------------------------------------------------------------

    async def register(self, request: RegisterIn) -> RegisterResult:
        if request.node_id is not None and self._member(request.node_id) is not None:
            raise Conflict(f"node_id: {request.node_id!r} is a gossip member (a claw-node "
                           f"agent); it cannot be registered over HTTP")
        try:
            rec, created, change = self.registry.register(request, self._clock())
        except RegistryFull as exc:
            raise Unavailable(f"cannot register: {exc}") from exc
        self._emit_change(change)
        await self._durable(rec)
        return RegisterResult(node=self._written_info(rec), created=created)

    def _written_info(self, rec: HttpNodeRecord) -> NodeInfo:
        """The ``NodeInfo`` of a record this node just wrote, as reads show it: the
        registry's cached one while ``rec`` is still the current record (built once, then
        reused by the next list), else built for ``rec`` alone."""
        if self.registry.get(rec.node_id) is rec:
            info = self.registry.node_info(rec.node_id)
            if info is not None:
                return info
        return rec.to_node_info(member_state=rec.member_state(self.registry.heartbeat_timeout_s))

    def _with(self, info: NodeInfo, **changes: Any) -> NodeInfo:
        return info.model_copy(update=changes)

    async def heartbeat(self, node_id: str, beat: HeartbeatIn) -> NodeInfo | None:
        info = self._one_member(node_id)
        if info is None:
            res = self.registry.heartbeat(node_id, beat, self._clock())
            if res is None:
                return None
            self._emit_change(res[1])
            return self._written_info(res[0])
        values = {k: v for k, v in beat.model_dump(exclude_none=True).items() if k in TASK_FIELDS}
        if values:
            if node_id == self._agent.node_id:
                self._agent.apply_tasks(values)
                return self._one_member(node_id)
            await self._directive(node_id, "tasks", values)
        return self._with(info, **values)

    async def shutdown(self, node_id: str) -> NodeInfo | None:
        info = self._one_member(node_id)
        if info is None:
            res = self.registry.shutdown(node_id, self._clock())
            if res is None:
                return None
            self._emit_change(res[1])
            await self._durable(res[0])
            return self._written_info(res[0])
        if node_id == self._agent.node_id:
            self._agent.request_leave()
        else:
            await self._directive(node_id, "shutdown", True)
        return self._with(info, status=NodeStatus.OFFLINE)

    async def set_maintenance(self, node_id: str, enabled: bool) -> NodeInfo | None:
        info = self._one_member(node_id)
        if info is None:
            res = self.registry.set_maintenance(node_id, enabled, self._clock())
            if res is None:
                return None
            self._emit_change(res[1])
            await self._durable(res[0])
            return self._written_info(res[0])
        if node_id == self._agent.node_id:
            self._agent.apply_maintenance(enabled)
            return self._one_member(node_id)
        await self._directive(node_id, "maintenance", enabled)
        if enabled:
            return self._with(info, status=NodeStatus.MAINTENANCE)
        return info if info.status != NodeStatus.MAINTENANCE else self._with(info, status=NodeStatus.ONLINE)

    async def _durable(self, record: HttpNodeRecord) -> None:
        """Answer only once ``record`` is stored here and on enough members (a heartbeat
        is answered on this node's word: ``node.write_replicas`` says why)."""
        try:
            await self._agent.make_durable(record)
        except NotReplicated as exc:
            raise WriteUnconfirmed(
                f"write of {record.node_id} (version {record.version}) not confirmed: "
                f"{exc}; it may or may not be in effect, retry it (writes are idempotent)"
            ) from None
    async def delete_node(self, node_id: str, *, prune: bool) -> DeleteResult | None:
        m = self._member(node_id)
        if m is None:
            old = self.registry.delete(node_id, self._clock())
            if old is None:
                return None
            tomb = self.registry.tombstone(node_id)
            if tomb is not None:  # answered once replicated, as every worker write
                await self._durable(tomb)
            return DeleteResult(source="http", was=old.status)
        if node_id == self._agent.node_id:
            raise Conflict(f"node_id: {node_id!r} is this node, which is alive; stop it "
                           f"with `claw-node leave` (or its service), not a delete")
        if m.state in (MemberState.ALIVE, MemberState.SUSPECT):
            raise Conflict(
                f"node_id: {node_id!r} is a live gossip member ({_STATE_NAMES[m.state]}); "
                f"only its own agent can take it out (`claw-node leave` on that machine, "
                f"or stop its service); once it is failed or left it can be deleted")
        was = _MEMBER_STATES.get(m.state, "failed")
        if not self._agent.force_leave(node_id, prune=prune):
            raise Unavailable("gossip: this node is not running gossip (starting or "
                              "stopping); retry shortly")
        return DeleteResult(source="gossip", was=was, kept_as_left=not prune)

    async def _directive(self, node_id: str, action: str, value: Any) -> None:
        """Have member ``node_id`` act; 503 naming the failure if it never acknowledged."""
        try:
            await self._agent.send_directive(node_id, action, value)
        except DirectiveNotAcknowledged as exc:
            raise Unavailable(f"directive: {exc}") from None

    async def check_heartbeats(self) -> CheckResult:
        checked = len(self.registry)
        changes = self.registry.check(self._clock())
        for change in changes:
            self._emit_change(change)
        return CheckResult(checked=checked, changed=[
            StatusChange(node_id=c.after.node_id, hostname=c.after.hostname,
                         old_status=NodeStatus(c.before.status if c.before else c.after.status),
                         new_status=NodeStatus(c.after.status), suspect=c.after.suspect,
                         reason=c.reason)
            for c in changes])

    # --- alerts -------------------------------------------------------------------------

    def add_transition_listener(self, listener: TransitionListener) -> None:
        self._listeners.append(listener)
