"""``MemoryKeyControl``: ``KeyControl`` for one node holding its keys in memory.

The reference for the routes' semantics without a cluster (tests, standalone API): the
node is the only live node, so ``use`` of a key it does not hold and ``remove`` of its
primary are refused naming it, as the cluster-wide implementation (``node.cluster_keys``)
refuses them for any live node.
"""

from __future__ import annotations

from .errors import Conflict, Unavailable
from .key_control import KeyAction
from .models import KeyCount, KeysOut

__all__ = ["MemoryKeyControl"]


class MemoryKeyControl:
    """Args:
        node_id: the node's name in answers.
        keys: base64 keys, primary first (empty: encryption off; changes answer 503).
    """

    def __init__(self, node_id: str, keys: list[str]) -> None:
        self.node_id = node_id
        self.keys = list(keys)

    async def list_keys(self) -> KeysOut:
        primary = self.keys[0] if self.keys else None
        return self._out("list", [KeyCount(key=k, nodes=1, primary_nodes=int(k == primary))
                                  for k in self.keys])

    async def change_key(self, action: KeyAction, key: str) -> KeysOut:
        if not self.keys:
            raise Unavailable("keys: gossip encryption is not enabled on this node")
        if action == "install" and key not in self.keys:
            self.keys.append(key)
        elif action == "use":
            if key not in self.keys:
                raise Conflict(f"key: refusing to use it: 1 live node(s) do not hold it "
                               f"(install it first): {self.node_id}", _nodes([self.node_id]))
            self.keys.remove(key)
            self.keys.insert(0, key)
        elif action == "remove" and key in self.keys:
            if key == self.keys[0]:
                raise Conflict(f"key: refusing to remove it: it is the primary key of 1 live "
                               f"node(s) (use another key first): {self.node_id}",
                               _nodes([self.node_id]))
            self.keys.remove(key)
        return self._out(action, [])

    def _out(self, action: str, counts: list[KeyCount]) -> KeysOut:
        return KeysOut(success=True, action=action, num_nodes=1, num_responses=1, num_errors=0,
                       primary_key=self.keys[0] if self.keys else None, keys=counts,
                       lacking_primary=[], missing=[], messages={})


def _nodes(names: list[str]) -> list[dict[str, str]]:
    return [{"field": "body.key", "message": f"node {name}", "type": "locked_out"} for name in names]
