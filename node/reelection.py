"""``Reelection``: when this node re-runs the election, and what it does with the result.

``node.election`` decides (``CoordinatorRole.reelect``, a pure step over the member
table); this module runs it at the right moments and carries its decision out: a new
coordinator becomes a ``COORDINATOR`` cluster event, a higher term goes to the store, a
claim to publish becomes this node's new metadata, and a node that holds the role wants
its REST stack (it runs the HTTP-heartbeat monitor).

Membership events come in bursts (a start storm, a partition heal) and each election is
O(members), so membership changes share one run per ``REELECT_COALESCE_S``; a change of
this node's own metadata or the end of joining re-elects at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from gossip.events import Member

from .advertise import host_port
from .election import CoordinatorRole
from .events import ClusterEvent, EventKind
from .metadata import NodeMeta

__all__ = ["REELECT_COALESCE_S", "Reelection"]

REELECT_COALESCE_S = 0.25
"""Membership events within this many seconds share one re-election (each is O(members));
in a 100-agent start storm re-elections were 12 % of an agent's CPU (py-spy)."""


class Reelection:
    """Runs this node's election and acts on it.

    Args:
        members: this node's member table (it lists itself); [] before gossip starts.
        own_meta: this node's metadata as published now.
        meta_of: another member's decoded metadata.
        publish_meta: publishes this node's new metadata (a claim or its withdrawal).
        publish: the cluster event bus (``EventBus.publish``).
        persist_term: saves the highest term seen (the store keeps it across restarts).
        wants_api: called while this node holds the role (its REST stack must run).
        live: whether gossip runs (a coalesced run scheduled before a stop is skipped).
        wall_clock: unix time, for the events.
    """

    def __init__(self, *, members: Callable[[], list[Member]],
                 own_meta: Callable[[], NodeMeta], meta_of: Callable[[Member], NodeMeta],
                 publish_meta: Callable[[NodeMeta], None],
                 publish: Callable[[ClusterEvent], None], persist_term: Callable[[int], None],
                 wants_api: Callable[[], None], live: Callable[[], bool],
                 wall_clock: Callable[[], float]) -> None:
        self._members = members
        self._own_meta = own_meta
        self._meta_of = meta_of
        self._publish_meta = publish_meta
        self._publish = publish
        self._persist_term = persist_term
        self._wants_api = wants_api
        self._live = live
        self._wall = wall_clock
        self.role = CoordinatorRole("")
        """This node's view of the role (replaced by ``identify``)."""
        self._pending = False

    def identify(self, node_id: str, highest_term: int) -> None:
        """Start over as ``node_id``, knowing terms up to ``highest_term`` (the store's)."""
        self.role = CoordinatorRole(node_id, highest_term)

    def settle(self) -> None:
        """Joining is over (or failed long enough): this node may claim the role."""
        self.role.settled = True
        self.run()

    def soon(self) -> None:
        """Re-run the election once after the current burst of membership events, at most
        every ``REELECT_COALESCE_S``."""
        if not self._pending:
            self._pending = True
            asyncio.get_running_loop().call_later(REELECT_COALESCE_S, self._coalesced)

    def _coalesced(self) -> None:
        self._pending = False
        if self._live():
            self.run()

    def run(self) -> None:
        """Re-run the election now and act on its decision."""
        members = self._members()
        if not members:
            return
        role = self.role
        before = (role.coordinator, role.term)
        change, meta = role.reelect(members, self._own_meta(), self._meta_of)
        if (role.coordinator, role.term) != before:
            self._announce_coordinator(members, before[0])
        if change.persist_term is not None:
            self._persist_term(change.persist_term)
        if role.is_coordinator:
            self._wants_api()
        if meta is not None:
            self._publish_meta(meta)

    def _announce_coordinator(self, members: list[Member], previous: str | None) -> None:
        name = self.role.coordinator or ""
        address = next((host_port(*m.address) for m in members if m.name == name), "")
        self._publish(ClusterEvent(
            EventKind.COORDINATOR, name, address, self._wall(),
            {"term": self.role.term, "previous": previous or ""}))
