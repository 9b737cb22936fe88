"""``NodeJsonCache``: each node's JSON, kept per node id while that ``NodeInfo`` lasts.

Views that reuse ``NodeInfo`` objects between writes (``HttpNodeRegistry.node_infos()``,
``MemoryClusterView``, the agent's member infos) make a list of 1,000 nodes cost one join
instead of 1,000 serialisations. The cache holds one entry per node id, the JSON of the
last object seen for it: a node that changes replaces its entry, and ids gone from the
view are dropped (``retain``), so memory follows the number of nodes listed, whatever the
rate of writes.
"""

from __future__ import annotations

from collections.abc import Sequence

from .models import NodeInfo

__all__ = ["NodeJsonCache"]


class NodeJsonCache:
    """Maps ``node_id`` → ``(node, json bytes)``; the bytes are used only for that very
    object (an updated node is a new object: frozen models)."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[NodeInfo, bytes]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def encode(self, node: NodeInfo) -> bytes:
        """``node.model_dump_json()`` as bytes, from the cache when this object was seen."""
        hit = self._entries.get(node.node_id)
        if hit is not None and hit[0] is node:
            return hit[1]
        data = node.model_dump_json().encode()
        self._entries[node.node_id] = (node, data)
        return data

    def retain(self, every_node: Sequence[NodeInfo]) -> None:
        """Drop the entries of ids not in ``every_node`` (the view's whole list); O(1)
        while the cache holds no more entries than the view has nodes."""
        if len(self._entries) <= len(every_node):
            return
        keep = {n.node_id for n in every_node}
        for node_id in [k for k in self._entries if k not in keep]:
            del self._entries[node_id]

    def node_list(self, nodes: list[NodeInfo]) -> bytes:
        """``NodeListOut`` JSON, byte-identical to ``NodeListOut(...).model_dump_json()``."""
        return b'{"success":true,"count":%d,"nodes":[%s]}' % (
            len(nodes), b",".join(self.encode(n) for n in nodes))
