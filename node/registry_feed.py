"""``RegistryFeed``: where a change to an HTTP-registered node's record goes.

A record changes in two ways: this node writes it (the coordinator's API, a heartbeat
check) or a merge from gossip or a replica brings a newer copy. Either way the change
becomes worker events (``node.events``) and is saved to the store; a local write is also
gossiped to the cluster, and a replica received from the coordinator is gossiped on in
rounds of its own (``gossip``, ``urgent``).

The gossip is sent after the current event-loop step (after the HTTP answer is written),
once per node per step: a newer record of a node written meanwhile replaces the unsent
one, as the gossip queue would (it invalidates by key), so peers see the same latest
record for less work on the request's path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Protocol

from api.registry import HttpNodeRecord
from gossip.app_relay import AppVersion

from .app_messages import APP_REGISTRY, encode_app, registered_version
from .events import ClusterEvent, WorkerEventTranslator
from .store_writer import StoreWriter

__all__ = ["Broadcast", "Defer", "RegistryFeed", "after_this_step"]


class Broadcast(Protocol):
    """Gossips an app message (``GossipLink.broadcast``)."""

    def __call__(self, body: bytes, key: str, urgent: bool, version: AppVersion) -> None:
        """``body`` under relay ``key``; ``version``: the record and version it carries,
        as ``record_version`` would read them from the body."""


Defer = Callable[[Callable[[], None]], object]
"""Runs a callback later, on the same thread (after the current event-loop step)."""


def after_this_step(callback: Callable[[], None]) -> None:
    """``Defer`` on the running event loop (``call_soon``); at once when there is none."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        callback()
        return
    loop.call_soon(callback)


class RegistryFeed:
    """Publishes, saves and gossips the registry's changes.

    Args:
        publish: the cluster event bus (``EventBus.publish``).
        writer: the store's writer, once the store is open (None before and after).
        broadcast: gossips an app message.
        wall_clock: unix time, for the events.
        defer: when the gossip of a record is sent (see the module's docstring).
    """

    def __init__(self, *, publish: Callable[[ClusterEvent], None],
                 writer: Callable[[], StoreWriter | None], broadcast: Broadcast,
                 wall_clock: Callable[[], float], defer: Defer = after_this_step) -> None:
        self._publish = publish
        self._writer = writer
        self._broadcast = broadcast
        self._defer = defer
        self._unsent: dict[str, tuple[HttpNodeRecord, bool]] = {}
        """Records to gossip at the next ``_send_unsent``, by node id (with ``urgent``)."""
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
            # The whole row: a newer record of the node supersedes a write still waiting.
            writer.submit_latest(f"reg:{record.node_id}",
                                 lambda store: store.save_registered(record.node_id, data))

    def gossip(self, record: HttpNodeRecord, *, urgent: bool = False) -> None:
        """Gossip ``record`` to every node (``urgent``: in gossip rounds of its own, not
        only riding on probes), after this step; it replaces an unsent older record of the
        node (records only reach here newest last: a merge passes only newer ones)."""
        first = not self._unsent  # the first since the last send schedules the send
        unsent = self._unsent.get(record.node_id)
        self._unsent[record.node_id] = (record, urgent or (unsent is not None and unsent[1]))
        if first:  # after the insert: without an event loop ``defer`` runs at once
            self._defer(self._send_unsent)

    def _send_unsent(self) -> None:
        unsent, self._unsent = self._unsent, {}
        for record, urgent in unsent.values():
            # The version goes along: gossip need not decode the body it was just given.
            self._broadcast(encode_app(APP_REGISTRY, record.to_bytes()),
                            f"reg:{record.node_id}", urgent,
                            registered_version(record.node_id, record.version, record.updated_at))
