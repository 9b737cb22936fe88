"""``GET /api/v1/nodes?near=NODE``: the order the list is sorted in, from which node.

This module resolves the ``near`` parameter against the nodes the answering node knows,
before any filter, so the origin need not match the filters (``near=self&skill=gpu`` from
a node without that skill is the usual question). The distance rule is the view's
(``ClusterView.nearest_first``): ``api/`` carries coordinates but does not interpret them.
``api.health.filter_nodes`` applies the order after filtering and its own sort.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from .errors import Conflict, NotFound
from .models import NodeInfo
from .view import ClusterView

__all__ = ["SELF", "NearOrder", "near_order"]

SELF = "self"
"""``near=self``: the answering node (a node whose id is literally ``self`` cannot be
named by ``near``; ask its own API with ``near=self``)."""

NearOrder = Callable[[list[NodeInfo]], list[NodeInfo]]
"""Nodes nearest first from one origin (stable; nodes without an estimate last)."""


async def near_order(view: ClusterView, nodes: list[NodeInfo], near: str) -> NearOrder:
    """The ``near=`` order from the node ``near`` names, among ``nodes``.

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
    return partial(view.nearest_first, node.coordinate)
