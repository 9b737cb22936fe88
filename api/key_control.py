"""``KeyControl``: what the key routes call to manage the cluster's gossip keys.

``api/`` knows nothing of gossip: ``node/`` implements this protocol over Serf's
key-management queries (``node.cluster_keys``) and puts it in the app under
``api.keys.KEY_CONTROL``. Without it the key routes answer 503.

Each method runs one cluster-wide command from the answering node (never forwarded to
the coordinator: any node can ask every node) and returns the summary as ``KeysOut``.
A ``use`` or ``remove`` that would lock live nodes out raises ``api.errors.Conflict``
naming them, and changes nothing.
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from .models import KeysOut

__all__ = ["KeyAction", "KeyControl"]

KeyAction = Literal["install", "use", "remove"]


@runtime_checkable
class KeyControl(Protocol):
    async def list_keys(self) -> KeysOut:
        """Every live node's keys (``serf keys -list``)."""
        ...

    async def change_key(self, action: KeyAction, key: str) -> KeysOut:
        """Install, use or remove ``key`` (base64, validated) on every live node.

        Raises:
            Conflict: ``use``/``remove`` would leave live nodes unable to decrypt (409).
            Unavailable: gossip encryption cannot be managed now (503).
        """
        ...
