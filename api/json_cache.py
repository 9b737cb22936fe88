"""``NodeJsonCache``: each ``NodeInfo`` object's JSON, kept by object identity.

Views that reuse ``NodeInfo`` objects between writes (``HttpNodeRegistry.node_infos()``,
``MemoryClusterView``) make a list of 1,000 nodes cost one join instead of 1,000
serialisations. A view that builds fresh objects per call only pays a dict insert.
"""

from __future__ import annotations

from .models import NodeInfo

__all__ = ["DEFAULT_MAX_ENTRIES", "NodeJsonCache"]

DEFAULT_MAX_ENTRIES = 8192
"""Entries kept (count); each holds its NodeInfo and ~0.6 KiB of JSON, so the bound is a
few MiB. On overflow the cache is emptied and refilled by the next reads."""


class NodeJsonCache:
    """Maps ``id(node)`` → ``(node, json bytes)``; holding ``node`` keeps the id from being
    reused while the entry lives."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: dict[int, tuple[NodeInfo, bytes]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def encode(self, node: NodeInfo) -> bytes:
        """``node.model_dump_json()`` as bytes, from the cache when this object was seen."""
        hit = self._entries.get(id(node))
        if hit is not None and hit[0] is node:
            return hit[1]
        data = node.model_dump_json().encode()
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[id(node)] = (node, data)
        return data

    def node_list(self, nodes: list[NodeInfo]) -> bytes:
        """``NodeListOut`` JSON, byte-identical to ``NodeListOut(...).model_dump_json()``."""
        return b'{"success":true,"count":%d,"nodes":[%s]}' % (
            len(nodes), b",".join(self.encode(n) for n in nodes))
