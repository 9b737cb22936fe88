"""``RegistryFeed``: where a change to an HTTP-registered node's record goes.

A record changes in two ways: this node writes it (the coordinator's API, a heartbeat
check) or a merge from gossip or a replica brings a newer copy. Either way the change
becomes worker events (``node.events``) and is saved to the store; a local write is also
gossiped to the cluster, and a replica received from the coordinator is gossiped on in
rounds of its own (``gossip``, ``urgent``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from api.registry import HttpNodeRecord

from .app_messages import APP_REGISTRY, encode_app
from .events import ClusterEvent, WorkerEventTranslator
from .store_writer import StoreWriter

__all__ = ["Broadcast", "RegistryFeed"]

Broadcast = Callable[[bytes, str, bool], None]
"""Gossips an app message: (body, key, urgent)."""


class RegistryFeed:
    """Publishes, saves and gossips the registry's changes.

    Args:
        publish: the cluster event bus (``EventBus.publish``).
        writer: the store's writer, once the store is open (None before and after).
        broadcast: gossips an app message.
        wall_clock: unix time, for the events.
    """

    def __init__(self, *, publish: Callable[[ClusterEvent], None],
                 writer: Callable[[], StoreWriter | None], broadcast: Broadcast,
                 wall_clock: Callable[[], float]) -> None:
        self._publish = publish
        self._writer = writer
        self._broadcast = broadcast
        self._events = WorkerEventTranslator(wall_clock)

    def prime(self, records: Iterable[HttpNodeRecord]) -> None:
        """Records known before events are wanted (the store's, at start): no events."""
        self._events.prime(records)

    def on_write(self, record: HttpNodeRecord) -> None:
        """This node wrote ``record`` (``HttpNodeRegistry``'s ``on_change``)."""
        self.on_merged(record)
        self.gossip(record)

    def on_merged(self, record: HttpNodeRecord) -> None:
        """A merge changed ``record`` (``ReplicatedState``'s ``on_registered``)."""
        events = (self._events.removed(record.node_id) if record.removed
                  else self._events.observe(record))
        for event in events:
            self._publish(event)
        writer = self._writer()
        if writer is not None:
            data = record.to_dict()
            writer.submit(lambda store: store.save_registered(record.node_id, data))

    def gossip(self, record: HttpNodeRecord, *, urgent: bool = False) -> None:
        """Gossip ``record`` to every node (``urgent``: in gossip rounds of its own, not
        only riding on probes)."""
        self._broadcast(encode_app(APP_REGISTRY, record.to_bytes()),
                        f"reg:{record.node_id}", urgent)
