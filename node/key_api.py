"""``ClusterKeys`` behind the REST API's ``KeyControl`` (``api.key_control``).

Imported with the REST stack only. Turns a ``KeyReport`` into ``KeysOut`` and the
refusals and impossibilities into the API's errors (409 naming the nodes, 503).
"""

from __future__ import annotations

import base64

from api.errors import Conflict, Unavailable
from api.key_control import KeyAction
from api.models import KeyCount, KeysOut
from gossip.errors import GossipError

from .cluster_keys import ClusterKeys, KeyChangeRefused, KeyReport

__all__ = ["ClusterKeyControl"]


class ClusterKeyControl:
    """``KeyControl`` over the agent's ``ClusterKeys`` (None: gossip not running)."""

    def __init__(self, keys: ClusterKeys | None) -> None:
        self._keys = keys

    async def list_keys(self) -> KeysOut:
        return _out(await self._run(lambda k: k.list()))

    async def change_key(self, action: KeyAction, key: str) -> KeysOut:
        raw = base64.b64decode(key)  # validated by KeyIn
        try:
            if action == "install":
                return _out(await self._run(lambda k: k.install(raw)))
            if action == "use":
                return _out(await self._run(lambda k: k.use(raw)))
            return _out(await self._run(lambda k: k.remove(raw)))
        except KeyChangeRefused as exc:
            raise Conflict(f"key: {exc}", [
                {"field": "body.key", "message": f"node {name}", "type": "locked_out"}
                for name in exc.nodes]) from None

    async def _run(self, command):
        if self._keys is None:
            raise Unavailable("keys: gossip is not running on this node")
        try:
            return await command(self._keys)
        except (GossipError, RuntimeError) as exc:  # QueryError, transport stopped
            raise Unavailable(f"keys: {exc}") from None


def _out(report: KeyReport) -> KeysOut:
    s = report.summary
    counts = [KeyCount(key=key, nodes=n, primary_nodes=s.primary_keys.get(key, 0))
              for key, n in sorted(s.keys.items(), key=lambda kv: (-kv[1], kv[0]))]
    return KeysOut(
        success=s.ok, action=report.action,
        num_nodes=s.num_nodes, num_responses=s.num_resp, num_errors=s.num_err,
        primary_key=report.primary_key, keys=counts if report.action == "list" else [],
        lacking_primary=list(report.lacking_primary), missing=list(s.missing),
        messages=dict(s.messages))
