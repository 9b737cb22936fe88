"""Node and cluster health, and the list filters: pure functions of ``NodeInfo``s and
``now`` (Unix seconds), so they are tested without a server."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

from .models import (
    ClusterHealthOut,
    ClusterInfo,
    CoordinatorInfo,
    NodeHealthOut,
    NodeInfo,
    NodeQuery,
    NodeStatus,
    StatusCounts,
)
from .nearest import NearOrder

__all__ = [
    "RESOURCE_WARNING_PERCENT",
    "cluster_health",
    "filter_nodes",
    "is_available",
    "node_health",
]

RESOURCE_WARNING_PERCENT = 90.0
"""cpu/memory/disk usage above this (percent) is reported as a warning."""

_LIVE = (NodeStatus.ONLINE, NodeStatus.BUSY)


def _since(node: NodeInfo, now: float) -> float | None:
    if node.last_heartbeat is None:
        return None
    return max(0.0, now - node.last_heartbeat.timestamp())


def is_available(node: NodeInfo) -> bool:
    """Online (not busy/maintenance), not suspect, with a free task slot."""
    return (node.status is NodeStatus.ONLINE and not node.suspect
            and node.running_tasks < node.max_concurrent_tasks)


def node_health(node: NodeInfo, info: ClusterInfo, now: float) -> NodeHealthOut:
    """The seed's node health status."""
    since = _since(node, now)
    reasons: list[str] = []
    if node.status not in _LIVE:
        reasons.append(f"status is {node.status.value}")
    if node.suspect:
        reasons.append("suspected by the cluster" if node.source == "gossip"
                       else "heartbeat late (suspect)")
    if node.source == "http":
        if since is None:
            reasons.append("no heartbeat received")
        elif since > info.heartbeat_timeout_s:
            reasons.append(f"no heartbeat for {since:.1f} s (timeout {info.heartbeat_timeout_s:g} s)")
    elif node.gossip_state not in (None, "alive", "suspect"):
        reasons.append(f"gossip state is {node.gossip_state}")
    warnings = [f"{label} usage {value:.1f}% above {RESOURCE_WARNING_PERCENT:g}%"
                for label, value in (("cpu", node.cpu_usage), ("memory", node.memory_usage),
                                     ("disk", node.disk_usage))
                if value > RESOURCE_WARNING_PERCENT]
    if node.running_tasks >= node.max_concurrent_tasks:
        warnings.append(f"all {node.max_concurrent_tasks} task slots in use")
    return NodeHealthOut(
        node_id=node.node_id, hostname=node.hostname, status=node.status,
        healthy=not reasons, reasons=reasons, warnings=warnings, source=node.source,
        suspect=node.suspect, gossip_state=node.gossip_state,
        last_heartbeat=node.last_heartbeat,
        seconds_since_heartbeat=None if since is None else round(since, 3),
        heartbeat_timeout_s=info.heartbeat_timeout_s, cpu_usage=node.cpu_usage,
        memory_usage=node.memory_usage, disk_usage=node.disk_usage,
        running_tasks=node.running_tasks, max_concurrent_tasks=node.max_concurrent_tasks,
    )


def cluster_health(nodes: Iterable[NodeInfo], info: ClusterInfo,
                   coordinator: CoordinatorInfo | None, now: float) -> ClusterHealthOut:
    """The seed's cluster health summary.

    Overall status: ``critical`` if no coordinator is known, or nodes exist but none is
    online/busy; ``degraded`` if any node is offline/error or suspect, or this node is
    partitioned (``info.partitioned``); else ``healthy``.
    """
    counts = dict.fromkeys(NodeStatus, 0)
    suspects: list[str] = []
    live = 0
    cpu = mem = disk = 0.0
    running = capacity = 0
    for n in nodes:  # one pass: this runs per request over every node
        status = n.status
        counts[status] += 1
        if n.suspect:
            suspects.append(n.node_id)
        if status is NodeStatus.ONLINE or status is NodeStatus.BUSY:
            live += 1
            cpu += n.cpu_usage
            mem += n.memory_usage
            disk += n.disk_usage
            running += n.running_tasks
            capacity += n.max_concurrent_tasks
    total = sum(counts.values())
    overall: Literal["healthy", "degraded", "critical"]
    if coordinator is None or (total and not live):
        overall = "critical"
    elif counts[NodeStatus.OFFLINE] or counts[NodeStatus.ERROR] or suspects or info.partitioned:
        overall = "degraded"
    else:
        overall = "healthy"

    def mean(x: float) -> float | None:
        return round(x / live, 3) if live else None

    return ClusterHealthOut(
        status=overall, total_nodes=total,
        counts=StatusCounts(**{s.value: c for s, c in counts.items()}),
        suspect_nodes=sorted(suspects), average_cpu_usage=mean(cpu),
        average_memory_usage=mean(mem), average_disk_usage=mean(disk),
        running_tasks=running, total_capacity=capacity, coordinator=coordinator,
        heartbeat_timeout_s=info.heartbeat_timeout_s,
        checked_at=datetime.fromtimestamp(now, tz=UTC), partitioned=info.partitioned,
    )


def filter_nodes(nodes: Iterable[NodeInfo], q: NodeQuery,
                 near: NearOrder | None = None) -> list[NodeInfo]:
    """Apply the list filters (all combine) and the order: node_id, or load then node_id
    (``sort=load``); with ``near`` (the view's order from ``q.near``'s node,
    ``api.nearest.near_order``) estimated RTT comes first and that order breaks its
    ties, nodes without a coordinate last (``NodeQuery.near``)."""
    skills, tags = set(q.skill), set(q.tag)
    # Case-insensitive: ``platform=Linux`` means linux (the stored names are lower case).
    platform = q.platform.casefold() if q.platform is not None else None
    arch = q.arch.casefold() if q.arch is not None else None
    out = [
        n for n in nodes
        if (q.status is None or n.status is q.status)
        and (not skills or skills.issubset(n.available_skills))
        and (not tags or tags.issubset(n.tags))
        and (platform is None or n.platform.casefold() == platform)
        and (arch is None or n.arch.casefold() == arch)
        and (q.available is None or is_available(n) == q.available)
    ]
    if q.sort == "load":
        out.sort(key=lambda n: (n.running_tasks / max(1, n.max_concurrent_tasks),
                                n.cpu_usage, n.node_id))
    else:
        out.sort(key=lambda n: n.node_id)
    return near(out) if near is not None else out
