"""``ReplicatedState``: what every node holds a copy of, merged from gossip.

Two tables are replicated: the resource heartbeats (``HeartbeatTable``, newest record per
node) and the HTTP-registered nodes (``api.registry.HttpNodeRegistry``, newest record per
node id). Both travel as piggybacked app messages and, for repair, as the push-pull app
state (``node.app_messages``); both merge newest-wins, so delivery order and repeats do
not matter. Hostile input is counted in ``stats`` and dropped.
"""

from __future__ import annotations

from collections.abc import Callable

from api.registry import HttpNodeRecord, HttpNodeRegistry

from .app_messages import (
    APP_DIRECTIVE,
    APP_HEARTBEAT,
    APP_REGISTRY,
    Directive,
    decode_app,
    decode_directive,
    decode_heartbeat_payload,
    decode_state,
    encode_state,
)
from .heartbeat import HeartbeatRecord, HeartbeatTable

__all__ = ["ReplicatedState"]


class ReplicatedState:
    """Merges gossiped heartbeats and registrations into this node's tables.

    Args:
        heartbeats: the heartbeat table.
        registry: the HTTP-registered nodes.
        wall_clock: unix time (the state carries record ages from it).
        on_registered: called with each registered record a merge changed (to store it).
        stats: counters ``app_bad``, ``heartbeats_applied``, ``registry_merged`` and
            ``state_bad_entries`` are incremented here.
    """

    def __init__(self, *, heartbeats: HeartbeatTable, registry: HttpNodeRegistry,
                 wall_clock: Callable[[], float],
                 on_registered: Callable[[HttpNodeRecord], None],
                 stats: dict[str, int]) -> None:
        self.node_id = ""
        """This node (its own heartbeat row is written by the publisher, never merged)."""
        self.heartbeats = heartbeats
        self.registry = registry
        self._wall = wall_clock
        self._on_registered = on_registered
        self._stats = stats

    def receive(self, body: bytes) -> Directive | None:
        """Merge one app message (untrusted); a directive is returned for the agent."""
        try:
            kind, payload = decode_app(body)
            if kind == APP_HEARTBEAT:
                # The gossip core relays every new app message itself (epidemic).
                self._merge_heartbeat(decode_heartbeat_payload(payload))
            elif kind == APP_REGISTRY:
                self.merge_registered(HttpNodeRecord.from_bytes(payload))
            elif kind == APP_DIRECTIVE:
                return decode_directive(payload)
            else:
                self._stats["app_bad"] += 1
        except ValueError:
            self._stats["app_bad"] += 1
        return None

    def merge_state(self, body: bytes) -> None:
        """Merge a peer's push-pull app state (untrusted)."""
        try:
            records, registered, bad = decode_state(body)
        except ValueError:
            self._stats["app_bad"] += 1
            return
        self._stats["state_bad_entries"] += bad
        for rec in records:
            self._merge_heartbeat(rec)
        for raw in registered:
            try:
                self.merge_registered(HttpNodeRecord.from_bytes(raw))
            except ValueError:
                self._stats["state_bad_entries"] += 1

    def encode_state(self) -> bytes:
        """This node's push-pull app state: both tables."""
        return encode_state(self.heartbeats, (r.to_bytes() for r in self.registry.replicated()),
                            now_s=self._wall())

    def _merge_heartbeat(self, rec: HeartbeatRecord) -> None:
        if rec.node != self.node_id and self.heartbeats.apply(rec):
            self._stats["heartbeats_applied"] += 1

    def merge_registered(self, record: HttpNodeRecord) -> bool:
        """Merge one registered record (a replica the coordinator sent directly).

        Returns:
            True if it was newer than ours (``on_registered`` was called).
        """
        if self.registry.merge(record):
            self._stats["registry_merged"] += 1
            self._on_registered(record)
            return True
        return False
