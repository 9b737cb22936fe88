"""The seed's endpoints. Handlers stay thin: view → model → JSON.

Declaration order is routing order: fixed paths (``/nodes/online``, ``/nodes/skills/…``,
``/nodes/register``) come before ``/nodes/{node_id}``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel

from .errors import NotFound, Unavailable
from .examples import EVENT_STREAM_EXAMPLE
from .gzip_bodies import json_body_response
from .health import cluster_health, filter_nodes, node_health
from .key_control import KeyAction, KeyControl
from .keys import CONFIG, JSON_CACHE, KEY_CONTROL, USER_EVENT_CONTROL, VIEW
from .models import (
    CheckHeartbeatOut,
    ClusterHealthOut,
    DeleteOut,
    DeleteQuery,
    EventQuery,
    HealthOut,
    HeartbeatIn,
    KeyIn,
    KeysOut,
    LeaveOut,
    MaintenanceIn,
    MessageOut,
    NodeHealthOut,
    NodeInfo,
    NodeListOut,
    NodeOut,
    NodeQuery,
    NodeStatus,
    RegisterIn,
    RegisterOut,
    ReloadOut,
    StreamEventOut,
)
from .nearest import near_order
from .openapi import Call, RouteRegistry
from .sse import serve_events
from .user_events import EventIn, EventOut, QueryIn, QueryOut, UserEventControl

__all__ = ["json_model", "node_list_response", "registry"]

registry = RouteRegistry()
T = TypeVar("T")
_NODE = {"node_id": "Node id"}


@functools.cache
def _online_query() -> NodeQuery:
    # Built on first use: validating at import built NodeQuery's schema, 20 ms of CPU
    # that every agent loading the REST stack paid before serving anything.
    return NodeQuery.model_validate({"status": NodeStatus.ONLINE})


def json_model(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(text=model.model_dump_json(), status=status,
                        content_type="application/json")


def node_list_response(request: web.Request, query: Hashable, nodes: list[NodeInfo],
                       select: Callable[[Sequence[NodeInfo]], list[NodeInfo]]) -> web.Response:
    """``NodeListOut`` JSON of ``select(nodes)`` (``nodes``: the view's whole list), built
    once per ``query`` and state of the view (``NodeJsonCache.list_body``)."""
    cache = request.app[JSON_CACHE]
    return json_body_response(request, cache.list_body(query, nodes, select), cache.gzip)


def _now(request: web.Request) -> float:
    return request.app[CONFIG].clock()


async def _node_or_404(request: web.Request) -> NodeInfo:
    node_id = request.match_info["node_id"]
    node = await request.app[VIEW].get_node(node_id)
    if node is None:
        raise _missing(node_id)
    return node


def _missing(node_id: str) -> NotFound:
    shown = node_id if len(node_id) <= 128 else node_id[:128] + "…"
    return NotFound(f"node_id: no node {shown!r}",
                    [{"field": "path.node_id", "message": "unknown node", "type": "not_found"}])


# --- system ----------------------------------------------------------------------------


@registry.route("GET", "/health", summary="API health check", response=HealthOut, tag="system")
async def api_health(request: web.Request, call: Call) -> web.Response:
    view = request.app[VIEW]
    info = await view.cluster_info()
    return json_model(HealthOut(
        node_id=info.node_id, is_coordinator=await view.is_coordinator(),
        coordinator=await view.coordinator(), version=info.version,
        time=datetime.fromtimestamp(_now(request), tz=UTC), partitioned=info.partitioned))


# --- nodes: fixed paths first ----------------------------------------------------------


@registry.route("POST", "/api/v1/nodes/register", summary="Register (or re-register) a node",
                body=RegisterIn, response=RegisterOut, errors=(409,), write=True)
async def register_node(request: web.Request, call: Call) -> web.Response:
    result = await request.app[VIEW].register(call.body)
    verb = "registered" if result.created else "re-registered"
    return json_model(RegisterOut(
        node_id=result.node.node_id, created=result.created, node=result.node,
        message=f"node {result.node.node_id} {verb}"))


@registry.route("GET", "/api/v1/nodes", summary="List nodes (combinable filters)",
                query=NodeQuery, response=NodeListOut, errors=(404, 409))
async def list_nodes(request: web.Request, call: Call) -> web.Response:
    view = request.app[VIEW]
    nodes = await view.list_nodes()
    near = await near_order(view, nodes, call.query.near) if call.query.near else None
    # With near, the order depends on coordinates that change outside the nodes' identity.
    query = ("list", request.query_string) if near is None else ("near", object())
    return node_list_response(request, query, nodes,
                              lambda every: filter_nodes(every, call.query, near))


@registry.route("GET", "/api/v1/nodes/online", summary="Online nodes (status online)",
                response=NodeListOut)
async def online_nodes(request: web.Request, call: Call) -> web.Response:
    nodes = await request.app[VIEW].list_nodes()
    return node_list_response(request, ("online",), nodes,
                              lambda every: filter_nodes(every, _online_query()))


@registry.route("GET", "/api/v1/nodes/skills/{skill}", summary="Nodes offering a skill (any status)",
                response=NodeListOut, path_params={"skill": "Skill name"})
async def nodes_by_skill(request: web.Request, call: Call) -> web.Response:
    nodes = await request.app[VIEW].list_nodes()
    skill = request.match_info["skill"]
    query = NodeQuery.model_validate({"skill": [skill]})
    return node_list_response(request, ("skill", skill), nodes,
                              lambda every: filter_nodes(every, query))


# --- one node --------------------------------------------------------------------------


@registry.route("GET", "/api/v1/nodes/{node_id}", summary="Node detail", response=NodeOut,
                errors=(404,), path_params=_NODE)
async def get_node(request: web.Request, call: Call) -> web.Response:
    return json_model(NodeOut(node=await _node_or_404(request)))


@registry.route("DELETE", "/api/v1/nodes/{node_id}",
                summary="Remove a gone node: a failed or left member (force-leave) or an "
                        "HTTP-registered worker", query=DeleteQuery, response=DeleteOut,
                errors=(404, 409), write=True, path_params=_NODE)
async def delete_node(request: web.Request, call: Call) -> web.Response:
    node_id = request.match_info["node_id"]
    result = await request.app[VIEW].delete_node(node_id, prune=call.query.prune)
    if result is None:
        raise _missing(node_id)
    if result.source == "http":
        message = f"worker {node_id} ({result.was}) deleted on every node"
    elif result.kept_as_left:
        message = f"{node_id} was {result.was}; force-left, listed as left until reaped"
    else:
        message = f"{node_id} was {result.was}; force-left and removed from the member list"
    return json_model(DeleteOut(node_id=node_id, source=result.source,
                                member_state="left" if result.kept_as_left else None,
                                message=message))


@registry.route("POST", "/api/v1/nodes/{node_id}/heartbeat",
                summary="Heartbeat (every field optional)", body=HeartbeatIn,
                body_optional=True, response=MessageOut, errors=(404,), write=True,
                path_params=_NODE, tag="heartbeat")
async def heartbeat(request: web.Request, call: Call) -> web.Response:
    node_id = request.match_info["node_id"]
    node = await request.app[VIEW].heartbeat(node_id, call.body)
    if node is None:
        raise _missing(node_id)
    body = request.app[JSON_CACHE].message(node_id, f"heartbeat recorded for {node_id}", node)
    return web.Response(body=body, content_type="application/json")


@registry.route("POST", "/api/v1/nodes/{node_id}/shutdown", summary="Shutdown notice: mark offline",
                response=MessageOut, errors=(404,), write=True, path_params=_NODE)
async def shutdown_node(request: web.Request, call: Call) -> web.Response:
    node_id = request.match_info["node_id"]
    node = await request.app[VIEW].shutdown(node_id)
    if node is None:
        raise _missing(node_id)
    return json_model(MessageOut(node_id=node_id, node=node,
                                 message=f"node {node_id} marked offline"))


@registry.route("POST", "/api/v1/nodes/{node_id}/maintenance",
                summary="Enter or leave maintenance (addition)", body=MaintenanceIn,
                response=MessageOut, errors=(404,), write=True, path_params=_NODE)
async def set_maintenance(request: web.Request, call: Call) -> web.Response:
    node_id = request.match_info["node_id"]
    enabled = call.body.enabled
    node = await request.app[VIEW].set_maintenance(node_id, enabled)
    if node is None:
        raise _missing(node_id)
    return json_model(MessageOut(
        node_id=node_id, node=node,
        message=f"node {node_id} {'in' if enabled else 'out of'} maintenance"))


@registry.route("GET", "/api/v1/nodes/{node_id}/health", summary="Node health",
                response=NodeHealthOut, errors=(404,), path_params=_NODE, tag="heartbeat")
async def get_node_health(request: web.Request, call: Call) -> web.Response:
    node = await _node_or_404(request)
    info = await request.app[VIEW].cluster_info()
    return json_model(node_health(node, info, _now(request)))


# --- cluster ---------------------------------------------------------------------------


@registry.route("GET", "/api/v1/cluster/health", summary="Cluster health summary",
                response=ClusterHealthOut, tag="cluster")
async def get_cluster_health(request: web.Request, call: Call) -> web.Response:
    view = request.app[VIEW]
    nodes, info, coordinator = await view.list_nodes(), await view.cluster_info(), await view.coordinator()
    now = _now(request)
    # Summarised once per state of the view; only the time of the check is per request.
    summary = request.app[JSON_CACHE].per_view(
        "cluster_health", (info, coordinator), nodes,
        lambda: cluster_health(nodes, info, coordinator, now))
    return json_model(summary.model_copy(update={"checked_at": datetime.fromtimestamp(now, tz=UTC)}))


@registry.route("POST", "/api/v1/cluster/check-heartbeat", summary="Run the heartbeat check now",
                response=CheckHeartbeatOut, write=True, tag="cluster")
async def check_heartbeat(request: web.Request, call: Call) -> web.Response:
    result = await request.app[VIEW].check_heartbeats()
    return json_model(CheckHeartbeatOut(
        checked=result.checked, changed=result.changed,
        message=f"checked {result.checked} nodes, {len(result.changed)} changed"))


@registry.route(
    "GET", "/api/v1/events", query=EventQuery, response=StreamEventOut, tag="cluster",
    stream="text/event-stream", stream_example=EVENT_STREAM_EXAMPLE, errors=(503,),
    header_params={"Last-Event-ID": "Resume after this event id (EventSource sends it on "
                                    "reconnection); a reset and a snapshot if it is not "
                                    "in this node's ring"},
    summary="Live events (Server-Sent Events): a snapshot, then cluster events and node "
            "updates; without Accept: text/event-stream the opening only, then the "
            "answer ends")
async def stream_events(request: web.Request, call: Call) -> web.StreamResponse:
    return await serve_events(request, set(call.query.kind), set(call.query.node))


# --- gossip keys (cluster-wide; answered by the node asked, never forwarded) -----------


def _control(request: web.Request, key: web.AppKey[T], missing: str) -> T:
    """The control the agent put under ``key`` (503 ``missing`` without an agent)."""
    control = request.app.get(key)
    if control is None:
        raise Unavailable(missing)
    return control


def _key_control(request: web.Request) -> KeyControl:
    return _control(request, KEY_CONTROL, "keys: this node does not manage gossip keys (no agent)")


@registry.route("GET", "/api/v1/keys", summary="Gossip keys on every live node (serf keys -list)",
                response=KeysOut, errors=(503,), tag="keys")
async def list_keys(request: web.Request, call: Call) -> web.Response:
    return json_model(await _key_control(request).list_keys())


def _key_route(action: KeyAction, summary: str) -> None:
    async def handler(request: web.Request, call: Call) -> web.Response:
        return json_model(await _key_control(request).change_key(action, call.body.key))

    handler.__name__ = f"{action}_key"
    registry.route("POST", f"/api/v1/keys/{action}", summary=summary, body=KeyIn,
                   response=KeysOut, errors=(409, 503), tag="keys")(handler)


_key_route("install", "Install a gossip key on every live node (decrypting only)")
_key_route("use", "Make an installed key primary on every live node (refused if a live node lacks it)")
_key_route("remove", "Remove a key from every live node (refused while a live node encrypts with it)")


# --- Serf user events and queries (answered by the node asked, never forwarded) -------


def _user_events(request: web.Request) -> UserEventControl:
    return _control(request, USER_EVENT_CONTROL, "events: this node does not gossip (no agent)")


@registry.route("POST", "/api/v1/user-events", summary="Broadcast a Serf user event (serf event)",
                body=EventIn, response=EventOut, errors=(422, 503), tag="events")
async def send_event(request: web.Request, call: Call) -> web.Response:
    return json_model(await _user_events(request).send_event(call.body))


@registry.route("POST", "/api/v1/queries", summary="Run a Serf query until its deadline and "
                "return the acks and responses (serf query)",
                body=QueryIn, response=QueryOut, errors=(422, 503), tag="events")
async def run_query(request: web.Request, call: Call) -> web.Response:
    return json_model(await _user_events(request).query(call.body))


# --- served by the agent ---------------------------------------------------------------

registry.external(
    "POST", "/api/v1/agent/leave", operation_id="agent_leave", response=LeaveOut,
    status=202, tag="agent",
    summary="This node leaves the cluster gracefully, then its agent exits (never forwarded)")

registry.external(
    "POST", "/api/v1/agent/reload", operation_id="agent_reload", response=ReloadOut,
    tag="agent", errors=(422,),
    summary="This node re-reads its settings (config file, environment) and applies log "
            "level and format, skills, tags, task slots, maintenance, API token and alert "
            "webhook without leaving; 422 names why a new configuration was refused "
            "(never forwarded)")
