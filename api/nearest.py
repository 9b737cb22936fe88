"""``GET /api/v1/nodes?near=NODE``: whose coordinate the list is sorted from.

The sort itself is ``api.health.filter_nodes`` (over ``gossip.nearest``); this module
resolves the ``near`` parameter against the nodes the answering node knows, before any
filter, so the origin need not match the filters (``near=self&skill=gpu`` from a node
without that skill is the usual question).
"""

from __future__ import annotations

from .errors import Conflict, NotFound
from .models import NodeCoordinate, NodeInfo
from .view import ClusterView

__all__ = ["SELF", "near_coordinate"]

SELF = "self"
"""``near=self``: the answering node (a node whose id is literally ``self`` cannot be
named by ``near``; ask its own API with ``near=self``)."""


async def near_coordinate(view: ClusterView, nodes: list[NodeInfo], near: str) -> NodeCoordinate:
    """The coordinate of the node ``near`` names, among ``nodes``.

    Raises:
        NotFound: no such node.
        Conflict: the node is known but has no coordinate (yet, or at all: an
            HTTP-registered worker, or coordinates disabled).
    """
    node_id = (await view.cluster_info()).node_id if near == SELF else near
    shown = node_id if len(node_id) <= 128 else node_id[:128] + "…"
    node = next((n for n in nodes if n.node_id == node_id), None)
    if node is None:
        raise NotFound(f"near: no node {shown!r}",
                       [{"field": "query.near", "message": "unknown node", "type": "not_found"}])
    if node.coordinate is None:
        raise Conflict(f"near: no network coordinate is known for {shown!r} (not probed yet, "
                       f"coordinates disabled, or an HTTP-registered worker)",
                       [{"field": "query.near", "message": "no coordinate", "type": "no_coordinate"}])
    return node.coordinate
