"""The seed's data contract: ``NodeInfo``, ``NodeStatus`` and every request/response body.

These pydantic models are the single source of truth: handlers validate request bodies
with them, serialise responses through them, and ``api/openapi.py`` generates the
OpenAPI 3.1 document from them. Field names are the seed document's
(``openclaw-cluster-node-management.md``); additions are documented as such.

Bounds (``MAX_*``) exist because every HTTP body may be hostile: a registered record
travels through gossip and is persisted, so its size must stay small.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

__all__ = [
    "ARCHES",
    "MAX_ADDRESS_CHARS",
    "MAX_HOSTNAME_CHARS",
    "MAX_LABEL_CHARS",
    "MAX_NODE_ID_CHARS",
    "MAX_SKILLS",
    "MAX_TAGS",
    "MAX_TASKS",
    "NODE_ID_PATTERN",
    "PLATFORMS",
    "RESERVED_NODE_IDS",
    "Arch",
    "CheckHeartbeatOut",
    "ClusterHealthOut",
    "ClusterInfo",
    "CoordinatorInfo",
    "ErrorDetail",
    "ErrorOut",
    "EventQuery",
    "HealthOut",
    "HeartbeatIn",
    "KeyCount",
    "KeyIn",
    "KeysOut",
    "LeaveOut",
    "MaintenanceIn",
    "MessageOut",
    "NodeHealthOut",
    "NodeCoordinate",
    "NodeInfo",
    "NodeListOut",
    "NodeOut",
    "NodeQuery",
    "NodeSource",
    "NodeStatus",
    "NodeTransition",
    "Platform",
    "RegisterIn",
    "RegisterOut",
    "ReloadOut",
    "StatusChange",
    "StatusCounts",
    "StreamEventOut",
]


from .bounds import (
    ARCHES,
    MAX_ADDRESS_CHARS,
    MAX_HOSTNAME_CHARS,
    MAX_LABEL_CHARS,
    MAX_NODE_ID_CHARS,
    MAX_SKILLS,
    MAX_TAGS,
    MAX_TASKS,
    NODE_ID_PATTERN,
    PLATFORMS,
    RESERVED_NODE_IDS,
    NodeStatus,
)
from .event_stream import STREAM_KINDS

Platform = Literal["macos", "windows", "linux"]
Arch = Literal["x64", "arm64", "x86", "arm"]

NodeSource = Literal["gossip", "http"]
"""Where a node's record comes from: a gossip member (judged by SWIM) or an
HTTP-registered worker (judged by its heartbeats against ``heartbeat_timeout``)."""


# --- strict-enough scalar types --------------------------------------------------------


def _reject_bool(value: Any) -> Any:
    # pydantic's lax mode takes ``true`` as 1; strict mode would reject ``6.0``, which JSON
    # Schema counts as an integer. Rejecting booleans alone keeps both right.
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


Usage = Annotated[
    float, BeforeValidator(_reject_bool),
    Field(ge=0.0, le=100.0, allow_inf_nan=False, description="Percent, 0–100."),
]
Count = Annotated[int, BeforeValidator(_reject_bool), Field(ge=0, le=MAX_TASKS)]
Label = Annotated[str, Field(min_length=1, max_length=MAX_LABEL_CHARS, pattern=r"\S")]
def _not_reserved(value: str) -> str:
    if value in RESERVED_NODE_IDS:
        raise ValueError(f"{value!r} is reserved (it names an API route)")
    return value


NodeId = Annotated[
    str, Field(min_length=1, max_length=MAX_NODE_ID_CHARS, pattern=NODE_ID_PATTERN,
               description="Node id: URL-safe, no slashes; not online/skills/register.",
               json_schema_extra={"not": {"enum": sorted(RESERVED_NODE_IDS)}}),
    AfterValidator(_not_reserved),
]
AddressText = Annotated[str, Field(max_length=MAX_ADDRESS_CHARS)]

_IN = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, defer_build=True)
_OUT = ConfigDict(frozen=True, extra="forbid", defer_build=True)


# --- the seed's NodeInfo ---------------------------------------------------------------


class NodeCoordinate(BaseModel):
    """A node's Vivaldi network coordinate, as Serf's ``coordinate.Coordinate``: the
    estimated RTT between two nodes is the Euclidean distance of their ``vec`` plus both
    heights, then both adjustments (kept if the sum stays positive), in seconds."""

    model_config = _OUT

    vec: list[float] = Field(description="Euclidean part (8 dimensions, seconds).")
    error: float = Field(description="The node's confidence in its coordinate (Vivaldi error, 0–1.5).")
    adjustment: float = Field(description="Per-node offset learnt from recent RTTs (seconds).")
    height: float = Field(description="Access-link height above the Euclidean plane (seconds).")




class NodeInfo(BaseModel):
    """One node, with the seed's field names, plus cluster-layer additions at the end."""

    model_config = _OUT

    node_id: str = Field(description="Node id (gossip member name, or the id assigned at registration).")
    hostname: str = Field(description="Host name.")
    platform: str = Field(description="macos / windows / linux (gossip members may report others).")
    arch: str = Field(description="x64 / arm64 / x86 / arm (gossip members may report others).")
    status: NodeStatus = Field(description="The seed's status.")
    cpu_usage: float = Field(0.0, description="CPU usage, percent 0–100.")
    memory_usage: float = Field(0.0, description="Memory usage, percent 0–100.")
    disk_usage: float = Field(0.0, description="Disk usage, percent 0–100.")
    available_skills: list[str] = Field(default_factory=list, description="Skills this node offers.")
    max_concurrent_tasks: int = Field(5, description="Task slots.")
    running_tasks: int = Field(0, description="Tasks running now.")
    ip_address: str = Field("", description="IP address.")
    tailscale_ip: str = Field("", description="Tailscale IP, if any.")
    port: int = Field(18789, description="The node's OpenClaw service port.")
    total_tasks_processed: int = Field(0, description="Tasks processed since registration.")
    successful_tasks: int = Field(0, description="Tasks that succeeded.")
    failed_tasks: int = Field(0, description="Tasks that failed.")
    average_execution_time: float = Field(0.0, description="Mean task execution time (seconds).")
    registered_at: datetime | None = Field(None, description="First registration / join (ISO 8601, UTC).")
    last_heartbeat: datetime | None = Field(None, description="Last heartbeat (ISO 8601, UTC).")
    tags: list[str] = Field(default_factory=list, description="Free-form labels.")
    # --- additions beyond the seed ---
    source: NodeSource = Field("http", description="'gossip' member or 'http'-registered worker.")
    gossip_state: Literal["alive", "suspect", "dead", "left"] | None = Field(
        None, description="SWIM state for gossip members; null for HTTP-registered nodes.")
    suspect: bool = Field(False, description="True while the node is suspected (SWIM suspicion, "
                                             "or a late HTTP heartbeat).")
    incarnation: int | None = Field(None, description="SWIM incarnation for gossip members.")
    is_coordinator: bool = Field(False, description="True for the current coordinator.")
    api_url: str | None = Field(None, description="The node's REST API base URL, if it serves one.")
    member_state: Literal["alive", "suspect", "failed", "left"] | None = Field(
        None, description="Membership in Serf's words, telling apart the two ways to be "
                          "offline: failed (declared dead by SWIM, or its HTTP heartbeats "
                          "stopped) or left (it left gracefully, or sent a shutdown notice).")
    gossip_address: str | None = Field(
        None, description="host:port peers dial for gossip (tells apart several members on one "
                          "host); null for HTTP-registered nodes.")
    suspect_since: datetime | None = Field(
        None, description="Since when the node is suspected (UTC); null when not suspect.")
    coordinate: NodeCoordinate | None = Field(
        None, description="The node's network coordinate as the answering node last learnt "
                          "it from a probe ack (Serf-compatible Vivaldi); null when unknown "
                          "(not probed yet, coordinates disabled, or an HTTP-registered worker).")
    estimated_rtt_ms: float | None = Field(
        None, description="Estimated round-trip time from the answering node to this one "
                          "(milliseconds, from both coordinates); 0 for the answering node "
                          "itself, null when either coordinate is unknown.")


# --- requests --------------------------------------------------------------------------


class RegisterIn(BaseModel):
    """``POST /api/v1/nodes/register`` body: the seed's ``register_node`` arguments."""

    model_config = _IN

    hostname: str = Field(min_length=1, max_length=MAX_HOSTNAME_CHARS, pattern=r"\S",
                          description="Host name; must not be empty or blank.")
    platform: Platform = Field(description="macos, windows or linux.")
    arch: Arch = Field(description="x64, arm64, x86 or arm.")
    available_skills: list[Label] = Field(min_length=1, max_length=MAX_SKILLS,
                                          description="Skills offered; at least one.")
    ip_address: AddressText = Field("", description="IP address.")
    tailscale_ip: AddressText = Field("", description="Tailscale IP.")
    port: Annotated[int, BeforeValidator(_reject_bool)] = Field(
        18789, ge=1, le=65535, description="Service port, 1–65535.")
    max_concurrent_tasks: Annotated[int, BeforeValidator(_reject_bool)] = Field(
        5, ge=1, le=MAX_TASKS, description="Task slots, at least 1.")
    tags: list[Label] = Field(default_factory=list, max_length=MAX_TAGS, description="Labels.")
    node_id: NodeId | None = Field(
        None, description="Existing id to re-register (updates in place, keeps registered_at "
                          "and counters); omitted → a unique id is assigned.")


class HeartbeatIn(BaseModel):
    """``POST /api/v1/nodes/{node_id}/heartbeat`` body. Every field is optional: an omitted
    field keeps its previous value; an empty body (or ``{}``) is a pure liveness signal."""

    model_config = _IN

    cpu_usage: Usage | None = None
    memory_usage: Usage | None = None
    disk_usage: Usage | None = None
    running_tasks: Count | None = Field(None, description="Tasks running now, ≥ 0.")
    total_tasks_processed: Count | None = None
    successful_tasks: Count | None = None
    failed_tasks: Count | None = None
    average_execution_time: Annotated[
        float, BeforeValidator(_reject_bool), Field(ge=0.0, le=1e9, allow_inf_nan=False)
    ] | None = Field(None, description="Mean task execution time (seconds).")


class MaintenanceIn(BaseModel):
    """``POST /api/v1/nodes/{node_id}/maintenance`` body (addition beyond the seed)."""

    model_config = _IN

    enabled: Annotated[bool, Field(strict=True)] = Field(
        description="true: status becomes maintenance; false: back to online/busy.")


class NodeQuery(BaseModel):
    """Query of ``GET /api/v1/nodes``; every filter is optional and they combine (AND)."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    status: NodeStatus | None = Field(None, description="Only nodes with this status.")
    skill: list[Annotated[str, Field(max_length=MAX_LABEL_CHARS)]] = Field(
        default_factory=list, max_length=MAX_SKILLS,
        description="Repeatable; nodes offering every listed skill.")
    tag: list[Annotated[str, Field(max_length=MAX_LABEL_CHARS)]] = Field(
        default_factory=list, max_length=MAX_TAGS,
        description="Repeatable; nodes carrying every listed tag.")
    platform: str | None = Field(None, max_length=MAX_LABEL_CHARS, description="Only this platform.")
    arch: str | None = Field(None, max_length=MAX_LABEL_CHARS, description="Only this arch.")
    available: bool | None = Field(
        None, description="true: online, not suspect, with a free task slot; false: the others.")
    sort: Literal["load"] | None = Field(
        None, description="load: least loaded first (running/max tasks, then cpu); default: by node_id. "
                          "With near: the tie-break among nodes at the same estimated RTT.")
    near: str | None = Field(
        None, min_length=1, max_length=MAX_NODE_ID_CHARS,
        description="Node id, or self for the answering node: nearest first by estimated RTT "
                    "from that node's network coordinate. Precedence: estimated RTT, then "
                    "load (with sort=load), then node_id; nodes without a known coordinate "
                    "(HTTP-registered workers, members not probed yet) come last, in that "
                    "same order. 404 if the node is unknown, 409 if its coordinate is.")


StreamKind = Literal[STREAM_KINDS]  # type: ignore[valid-type]


class EventQuery(BaseModel):
    """Query of ``GET /api/v1/events``; both filters are optional and combine (AND)."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    kind: list[StreamKind] = Field(
        default_factory=list, max_length=len(STREAM_KINDS),
        description="Repeatable; only events of these kinds (snapshot and reset always come).")
    node: list[Annotated[str, Field(max_length=MAX_NODE_ID_CHARS)]] = Field(
        default_factory=list, max_length=16,
        description="Repeatable (at most 16); only events about these node ids (and the snapshot lists only them).")


# --- values the view returns -----------------------------------------------------------


class CoordinatorInfo(BaseModel):
    """Who the coordinator is, as this node sees it."""

    model_config = _OUT

    node_id: str = Field(description="Coordinator node id.")
    api_url: str | None = Field(None, description="Base URL of its REST API (e.g. http://10.0.0.5:8888).")
    term: int = Field(0, description="Election term; grows with every change of coordinator.")


class ClusterInfo(BaseModel):
    """Cluster-level facts this node knows (not per-node)."""

    model_config = _OUT

    node_id: str = Field(description="This node's id.")
    heartbeat_timeout_s: float = Field(90.0, description="HTTP-registered nodes go offline after this many "
                                                         "seconds without a heartbeat.")
    check_interval_s: float = Field(30.0, description="Seconds between heartbeat checks on the coordinator.")
    version: str = Field("0.1.0", description="claw-node version.")
    partitioned: str | None = Field(
        None, description="'N of M nodes of the last stable view reachable' while this "
        "node reaches fewer members than have not left; null otherwise (or unknown).")
    minority: bool = Field(False, description="This node reaches at most half of the last "
                                              "stable view.")


class StatusChange(BaseModel):
    """One node whose status changed during a heartbeat check."""

    model_config = _OUT

    node_id: str
    hostname: str = ""
    old_status: NodeStatus
    new_status: NodeStatus
    suspect: bool = Field(False, description="Suspect flag after the change.")
    reason: str = Field("", description="Why (e.g. 'no heartbeat for 95.0 s (timeout 90 s)').")


class NodeTransition(BaseModel):
    """What an alert (Python hook or webhook POST body) reports: one liveness transition.

    ``from_state``/``to_state`` are ``online``, ``suspect``, ``offline`` (and the other
    NodeStatus values): the alert vocabulary adds ``suspect`` to the seed's statuses.
    """

    model_config = _OUT

    event: Literal["node_transition"] = "node_transition"
    node_id: str
    hostname: str = ""
    from_state: str
    to_state: str
    source: NodeSource = "http"
    reason: str = ""
    at: datetime = Field(description="When the transition was observed (UTC).")
    coordinator: str | None = Field(None, description="Node that sent the alert.")
    partitioned: str | None = Field(
        None, description="The sender's side of a partition: 'N of M nodes of the last "
                          "stable view reachable'; null when it reaches them all.")
    minority: bool = Field(False, description="The sender reaches at most half of the last "
                           "stable view: a failover script should not act on this alert.")


# --- responses -------------------------------------------------------------------------


class RegisterOut(BaseModel):
    model_config = _OUT

    success: Literal[True] = True
    node_id: str
    message: str
    created: bool = Field(description="True for a new node, false for a re-registration.")
    node: NodeInfo


class MessageOut(BaseModel):
    model_config = _OUT

    success: Literal[True] = True
    node_id: str
    message: str
    node: NodeInfo | None = None


class NodeOut(BaseModel):
    model_config = _OUT

    success: Literal[True] = True
    node: NodeInfo


class NodeListOut(BaseModel):
    model_config = _OUT

    success: Literal[True] = True
    count: int
    nodes: list[NodeInfo]


class NodeHealthOut(BaseModel):
    """The seed's ``get_node_health_status``."""

    model_config = _OUT

    success: Literal[True] = True
    node_id: str
    hostname: str
    status: NodeStatus
    healthy: bool = Field(description="Online or busy, not suspect, heartbeat within the timeout.")
    reasons: list[str] = Field(description="Why not healthy (empty when healthy).")
    warnings: list[str] = Field(description="Resource warnings, e.g. disk above 90%.")
    source: NodeSource
    suspect: bool
    gossip_state: Literal["alive", "suspect", "dead", "left"] | None = None
    last_heartbeat: datetime | None = None
    seconds_since_heartbeat: float | None = Field(None, description="Seconds since the last heartbeat.")
    heartbeat_timeout_s: float = Field(description="Timeout applied to HTTP-registered nodes (seconds).")
    cpu_usage: float
    memory_usage: float
    disk_usage: float
    running_tasks: int
    max_concurrent_tasks: int


class StatusCounts(BaseModel):
    model_config = _OUT

    online: int = 0
    offline: int = 0
    busy: int = 0
    maintenance: int = 0
    error: int = 0


class ClusterHealthOut(BaseModel):
    """The seed's ``get_cluster_health_summary``."""

    model_config = _OUT

    success: Literal[True] = True
    status: Literal["healthy", "degraded", "critical"] = Field(
        description="healthy: every node online/busy/maintenance and none suspect; "
                    "critical: no node online/busy, or coordinator unknown; degraded otherwise.")
    total_nodes: int
    counts: StatusCounts
    suspect_nodes: list[str] = Field(description="Ids of suspected nodes.")
    average_cpu_usage: float | None = Field(description="Mean over online/busy nodes; null if none.")
    average_memory_usage: float | None
    average_disk_usage: float | None
    running_tasks: int
    total_capacity: int = Field(description="Sum of max_concurrent_tasks over online/busy nodes.")
    coordinator: CoordinatorInfo | None
    heartbeat_timeout_s: float
    checked_at: datetime
    partitioned: str | None = Field(
        None, description="'N of M nodes of the last stable view reachable' while this "
        "node reaches fewer members than have not left (a partition, or members that "
        "failed and are not yet reaped); null otherwise. Each side of a split keeps "
        "serving, and says so here.")


class CheckHeartbeatOut(BaseModel):
    model_config = _OUT

    success: Literal[True] = True
    message: str
    checked: int = Field(description="HTTP-registered nodes examined.")
    changed: list[StatusChange]


class HealthOut(BaseModel):
    """``GET /health``: the API process is up (not the cluster; see /api/v1/cluster/health)."""

    model_config = _OUT

    success: Literal[True] = True
    status: Literal["ok"] = "ok"
    node_id: str
    is_coordinator: bool
    coordinator: CoordinatorInfo | None
    version: str
    time: datetime
    partitioned: str | None = Field(
        None, description="'N of M nodes of the last stable view reachable' while this "
        "node reaches fewer members than have not left (a partition, or members that "
        "failed and are not yet reaped); null otherwise. Each side of a split keeps "
        "serving, and says so here.")


class DeleteQuery(BaseModel):
    """Query of ``DELETE /api/v1/nodes/{node_id}``."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    prune: bool = Field(
        True, description="Gossip members: true erases the member from every node's list "
        "(Serf's `force-leave -prune`); false keeps it listed as `left` until the reaper "
        "drops it (`force-leave`). HTTP-registered workers are always removed.")


class DeleteOut(BaseModel):
    """``DELETE /api/v1/nodes/{node_id}``: what was removed."""

    model_config = _OUT

    success: Literal[True] = True
    node_id: str
    source: Literal["gossip", "http"] = Field(
        description="gossip: a failed or left claw-node/Serf member, force-left with Serf's "
        "leave intent; http: an HTTP-registered worker, deleted on every node.")
    member_state: Literal["left"] | None = Field(
        None, description="A gossip member kept in the list (prune=false): now `left`; "
        "null when it was erased.")
    message: str


class LeaveOut(BaseModel):
    """``POST /api/v1/agent/leave`` (202): the answering node leaves, then its agent exits."""

    model_config = _OUT

    success: Literal[True] = True
    node_id: str = Field(description="The node that is leaving (the one that answered).")
    message: str


# --- gossip keys (cluster-wide, Serf's key queries) -------------------------------------


def _base64_key(value: str) -> str:
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not standard base64 (as 'claw-node keygen' prints)") from None
    if len(raw) not in (16, 24, 32):
        raise ValueError(f"decodes to {len(raw)} bytes; a key is 16, 24 or 32 bytes")
    return value.strip()


class KeyIn(BaseModel):
    """``POST /api/v1/keys/{install,use,remove}`` body."""

    model_config = _IN

    key: Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_base64_key)] = Field(
        description="A gossip key: base64 of 16, 24 or 32 bytes, as 'claw-node keygen' and "
                    "'serf keygen' print it.")


class KeyCount(BaseModel):
    """One key and how many live nodes hold it."""

    model_config = _OUT

    key: str = Field(description="The key (base64).")
    nodes: int = Field(description="Answering nodes that hold the key.")
    primary_nodes: int = Field(description="Answering nodes that encrypt with it (primary).")


class KeysOut(BaseModel):
    """The answer of a cluster-wide key command, like ``serf keys``."""

    model_config = _OUT

    success: bool = Field(description="Every live node answered and none reported a failure.")
    action: Literal["list", "install", "use", "remove"]
    num_nodes: int = Field(description="Live members asked (this node included).")
    num_responses: int
    num_errors: int
    primary_key: str | None = Field(
        description="The answering node's primary key after the command (null: encryption off).")
    keys: list[KeyCount] = Field(
        description="list: every key seen, with how many nodes hold it (empty for changes).")
    lacking_primary: list[str] = Field(
        description="list: live nodes that do not hold the answering node's primary key.")
    missing: list[str] = Field(description="Live nodes that did not answer in time.")
    messages: dict[str, str] = Field(description="Node -> its error or warning.")


class ReloadOut(BaseModel):
    """``POST /api/v1/agent/reload`` (200): the answering node re-read its settings."""

    model_config = _OUT

    success: Literal[True] = True
    node_id: str = Field(description="The node that reloaded (the one that answered).")
    message: str
    applied: list[str] = Field(description="Settings that changed and took effect.")
    restart_needed: list[str] = Field(
        description="Settings that changed but keep their running value until a restart.")


class ErrorDetail(BaseModel):
    model_config = _OUT

    field: str = Field(description="Dotted path of the offending field ('body', 'query.status', 'hostname' …).")
    message: str
    type: str = Field(description="Machine-readable error type (pydantic's, or ours).")


class ErrorOut(BaseModel):
    model_config = _OUT

    success: Literal[False] = False
    error: str = Field(description="Human-readable message naming the field.")
    details: list[ErrorDetail] = Field(default_factory=list)
    applied: Literal["unknown"] | None = Field(
        default=None, description="Only on a 503 to a write: 'unknown' when the write "
        "may or may not be in effect (too few members confirmed it in time). Writes are "
        "idempotent: retry it.")


class StreamEventOut(BaseModel):
    """The JSON ``data`` of one event of ``GET /api/v1/events`` (the SSE ``event:`` name
    is its ``kind``, its SSE ``id:`` is ``<epoch>-<seq>``)."""

    model_config = _OUT

    kind: StreamKind = Field(description=(
        "member_* / coordinator / worker_* / maintenance: a cluster event; node: one "
        "node's new state (info); node_removed; snapshot: every node (nodes) and the "
        "coordinator; reset: the stream could not resume, a snapshot follows."))
    node: str = Field(description="The node it is about (this node for snapshot; '' for reset).")
    time: float | None = Field(None, description="Unix time at which this node saw it, seconds.")
    address: str | None = Field(None, description="Cluster events: the member's or worker's host:port.")
    details: dict[str, Any] | None = Field(
        None, description="Cluster events: kind-specific facts (accuser, term, previous ...).")
    info: NodeInfo | None = Field(None, description="node: the node's full state.")
    nodes: list[NodeInfo] | None = Field(None, description="snapshot: every node.")
    coordinator: CoordinatorInfo | None = Field(None, description="snapshot: the coordinator, if known.")
    reason: str | None = Field(None, description="reset: why the stream could not resume.")
