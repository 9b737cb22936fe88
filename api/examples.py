"""Realistic examples for the OpenAPI document (what Swagger UI and ReDoc show instead of
``"string"`` placeholders).

Every body example is built through its pydantic model, so an example that no longer
matches the model fails when the document is built, not in a reader's hands. One small
cluster runs through all of them: ``gpu-box-1`` (coordinator, gossip), ``gpu-box-2``
(gossip) and ``worker-001`` (an HTTP-registered worker).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from . import models as m
from . import user_events as ue

__all__ = [
    "ERROR_EXAMPLES", "EVENT_STREAM_EXAMPLE", "OPERATION_ERROR_EXAMPLES", "PARAMETER_EXAMPLES",
    "example_of",
]

_AT = datetime(2026, 12, 7, 9, 30, 0, tzinfo=UTC)
_OLD_KEY = "HvY8ubRZMgafUOWvrOadwOckVa1wN3QWAo46FVKbVN8="
_NEW_KEY = "mRvW5zGkXx2yVd8mB9cQ3nT7pL1sA4eF6hJ0kZ2uW8o="

PARAMETER_EXAMPLES: dict[str, Any] = {
    "node_id": "worker-001",
    "skill": "python",
    "status": "online",
    "tag": "gpu",
    "platform": "linux",
    "arch": "x64",
    "available": True,
    "sort": "load",
    "prune": True,
    "near": "self",
    "kind": "member_failed",
    "node": "gpu-box-2",
    "Last-Event-ID": "5f3a9c1e-1042",
}
"""Example value per path/query parameter name (list parameters: one element)."""

ERROR_EXAMPLES: dict[int, str] = {
    400: "body is not valid JSON: EOF while parsing a value at line 1 column 12",
    401: "Authorization: missing or wrong bearer token",
    403: "Origin: cross-origin POST from 'https://evil.example' is not allowed "
         "(add it to cors_origins)",
    404: "node_id: no node 'worker-042'",
    409: "node_id: 'gpu-box-2' is a gossip member (a claw-node agent); it cannot be "
         "registered over HTTP",
    413: "body: larger than the 65536 bytes (64 KiB) limit",
    422: "invalid field: available_skills: List should have at least 1 item after "
         "validation, not 0",
    503: "coordinator: no coordinator is known, writes are unavailable (reads still work); "
         "retry shortly",
}
"""The ``error`` text of an example answer per status (the messages the API writes)."""

OPERATION_ERROR_EXAMPLES: dict[tuple[str, int], str] = {
    ("delete_node", 409): "node_id: 'gpu-box-2' is a live gossip member (alive); only its "
                          "own agent can take it out (`claw-node leave` on that machine, or "
                          "stop its service); once it is failed or left it can be deleted",
}
"""Where one route's error reads differently from ``ERROR_EXAMPLES``: (operation id,
status) → ``error`` text."""


def _coordinator() -> m.CoordinatorInfo:
    return m.CoordinatorInfo(node_id="gpu-box-1", api_url="http://10.0.0.5:8888", term=3)


# Network coordinates on a LAN (seconds), as Serf agents settle there after a few minutes:
# the answering gpu-box-1's and gpu-box-2's, and the RTT estimated between them by Serf's
# distance rule, which ``api/`` leaves to the view (tests/test_api_examples.py checks it).
_ANSWERING_COORDINATE = m.NodeCoordinate(
    vec=[2.1e-4, -1.3e-4, 4.0e-5, 9.0e-5, -6.0e-5, 1.1e-4, -2.0e-5, 7.0e-5],
    error=0.21, adjustment=1.2e-5, height=1.05e-4)
_GOSSIP_NODE_COORDINATE = m.NodeCoordinate(
    vec=[-3.4e-4, 2.6e-4, -1.5e-4, 1.2e-4, 8.0e-5, -9.0e-5, 1.4e-4, -5.0e-5],
    error=0.18, adjustment=3.1e-5, height=2.4e-4)
_GOSSIP_NODE_RTT_MS = 1.157


def _gossip_node() -> m.NodeInfo:
    return m.NodeInfo(
        node_id="gpu-box-2", hostname="gpu-box-2", platform="linux", arch="x64",
        status=m.NodeStatus.ONLINE, cpu_usage=37.5, memory_usage=61.2, disk_usage=48.0,
        available_skills=["python", "cuda"], max_concurrent_tasks=4, running_tasks=1,
        ip_address="10.0.0.6", tailscale_ip="100.101.7.12", port=18789,
        total_tasks_processed=412, successful_tasks=405, failed_tasks=7,
        average_execution_time=12.8, registered_at=_AT, last_heartbeat=_AT,
        tags=["gpu", "rack-2"], source="gossip", gossip_state="alive", incarnation=4,
        api_url="http://10.0.0.6:8888", gossip_address="10.0.0.6:7946", member_state="alive",
        coordinate=_GOSSIP_NODE_COORDINATE, estimated_rtt_ms=_GOSSIP_NODE_RTT_MS)


def _worker() -> m.NodeInfo:
    return m.NodeInfo(
        node_id="worker-001", hostname="build-mac", platform="macos", arch="arm64",
        status=m.NodeStatus.ONLINE, cpu_usage=12.0, memory_usage=40.5, disk_usage=71.3,
        available_skills=["python", "fastapi"], max_concurrent_tasks=5, running_tasks=0,
        ip_address="10.0.0.21", port=18789, registered_at=_AT, last_heartbeat=_AT,
        tags=["ci"], source="http", member_state="alive")


def _register_in() -> m.RegisterIn:
    return m.RegisterIn(hostname="build-mac", platform="macos", arch="arm64",
                      available_skills=["python", "fastapi"], ip_address="10.0.0.21",
                      port=18789, max_concurrent_tasks=5, tags=["ci"], node_id="worker-001")


def _examples() -> dict[type[BaseModel], BaseModel]:
    worker = _worker()
    return {
        m.RegisterIn: _register_in(),
        m.HeartbeatIn: m.HeartbeatIn(cpu_usage=12.0, memory_usage=40.5, disk_usage=71.3,
                                 running_tasks=2, total_tasks_processed=130,
                                 successful_tasks=128, failed_tasks=2,
                                 average_execution_time=8.4),
        m.MaintenanceIn: m.MaintenanceIn(enabled=True),
        m.RegisterOut: m.RegisterOut(node_id="worker-001", created=True, node=worker,
                                 message="node worker-001 registered"),
        m.MessageOut: m.MessageOut(node_id="worker-001", node=worker,
                               message="heartbeat recorded for worker-001"),
        m.NodeOut: m.NodeOut(node=_gossip_node()),
        m.NodeListOut: m.NodeListOut(count=2, nodes=[_gossip_node(), worker]),
        m.NodeHealthOut: m.NodeHealthOut(
            node_id="worker-001", hostname="build-mac", status=m.NodeStatus.ONLINE,
            healthy=True, reasons=[], warnings=[], source="http", suspect=False,
            last_heartbeat=_AT, seconds_since_heartbeat=11.2, heartbeat_timeout_s=90.0,
            cpu_usage=12.0, memory_usage=40.5, disk_usage=71.3, running_tasks=0,
            max_concurrent_tasks=5),
        m.ClusterHealthOut: m.ClusterHealthOut(
            status="degraded", total_nodes=3,
            counts=m.StatusCounts(online=2, offline=1), suspect_nodes=[],
            average_cpu_usage=24.8, average_memory_usage=50.9, average_disk_usage=59.7,
            running_tasks=1, total_capacity=9, coordinator=_coordinator(),
            heartbeat_timeout_s=90.0, checked_at=_AT),
        m.CheckHeartbeatOut: m.CheckHeartbeatOut(
            checked=2, message="checked 2 nodes, 1 changed",
            changed=[m.StatusChange(node_id="worker-007", hostname="old-laptop",
                                  old_status=m.NodeStatus.ONLINE,
                                  new_status=m.NodeStatus.OFFLINE,
                                  reason="no heartbeat for 95.0 s (timeout 90 s)")]),
        m.HealthOut: m.HealthOut(node_id="gpu-box-1", is_coordinator=True,
                             coordinator=_coordinator(), version="0.1.0", time=_AT),
        m.LeaveOut: m.LeaveOut(node_id="gpu-box-2", message="leaving the cluster"),
        m.DeleteOut: m.DeleteOut(
            node_id="gpu-box-3", source="gossip",
            message="gpu-box-3 was failed; force-left and removed from the member list"),
        m.KeyIn: m.KeyIn(key=_NEW_KEY),
        m.KeysOut: m.KeysOut(
            success=True, action="list", num_nodes=3, num_responses=3, num_errors=0,
            primary_key=_OLD_KEY, keys=[m.KeyCount(key=_OLD_KEY, nodes=3, primary_nodes=3),
                                        m.KeyCount(key=_NEW_KEY, nodes=2, primary_nodes=0)],
            lacking_primary=[], missing=[], messages={}),
        ue.EventIn: ue.EventIn(name="deploy", payload="openclaw 0.9.3", coalesce=True),
        ue.EventOut: ue.EventOut(name="deploy", payload_bytes=14,
                                 message="user event 'deploy' broadcast"),
        ue.QueryIn: ue.QueryIn(name="gpu-free", payload="", tags={"role": "^gpu"}, timeout=3.0),
        ue.QueryOut: ue.QueryOut(name="gpu-free", request_ack=True,
                                 acks=["gpu-box-1", "gpu-box-2"],
                                 responses=[ue.QueryResponseOut(node="gpu-box-2", payload="2 slots",
                                                                payload_base64="MiBzbG90cw==")]),
        m.ReloadOut: m.ReloadOut(node_id="gpu-box-2", message="reloaded: --tags applied",
                                 applied=["tags"], restart_needed=["bind"]),
        m.StreamEventOut: m.StreamEventOut(
            kind="member_failed", node="gpu-box-2", address="10.0.0.6:7946",
            time=_AT.timestamp(), details={"accuser": "gpu-box-1"}),
        m.ErrorOut: m.ErrorOut(error=ERROR_EXAMPLES[404],
                           details=[{"field": "path.node_id", "message": "unknown node",
                                     "type": "not_found"}]),
    }


EVENT_STREAM_EXAMPLE = (
    "retry: 2000\n\n"
    "id: 5f3a9c1e-1042\nevent: snapshot\n"
    'data: {"kind":"snapshot","node":"gpu-box-1","time":1796635800.0,'
    '"coordinator":{"node_id":"gpu-box-1","api_url":"http://10.0.0.5:8888","term":3},'
    '"nodes":[...]}\n\n'
    "id: 5f3a9c1e-1043\nevent: member_suspect\n"
    'data: {"kind":"member_suspect","node":"gpu-box-2","address":"10.0.0.6:7946",'
    '"time":1796635803.2,"details":{"accuser":"gpu-box-1"}}\n\n'
    "id: 5f3a9c1e-1044\nevent: member_failed\n"
    'data: {"kind":"member_failed","node":"gpu-box-2","address":"10.0.0.6:7946",'
    '"time":1796635808.9,"details":{"accuser":"gpu-box-1"}}\n\n'
    "id: 5f3a9c1e-1045\nevent: node\n"
    'data: {"kind":"node","node":"gpu-box-2","time":1796635809.1,'
    '"info":{"node_id":"gpu-box-2","status":"offline","member_state":"failed",...}}\n\n'
    ": keepalive\n\n")
"""What a stream looks like (``...`` abbreviates node objects)."""


@functools.cache
def _dumped() -> dict[type[BaseModel], Any]:
    return {model: value.model_dump(mode="json") for model, value in _examples().items()}


def example_of(model: type[BaseModel]) -> Any:
    """The JSON example of ``model`` (a request or response model of the API).

    Raises:
        KeyError: the model has no example (add one above: the document test requires it).
    """
    return _dumped()[model]
