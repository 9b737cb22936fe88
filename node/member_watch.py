"""``MemberWatch``: what the agent keeps about the other members as gossip reports them.

Each membership change from the gossip core becomes cluster events (``node.events``),
updates when a member was first suspected (the API shows it), reaches the REST view,
and asks for a re-election. The peers are saved to the store for rejoining without
``--join`` (``node.joining.PeerMemory`` says when), and every ``PEER_CHECK_INTERVAL_S``
what is kept about members the core has reaped is dropped, so every table stays bounded
by the member table.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from gossip.events import Member, MemberJoined, MemberSuspected
from gossip.types import Address, MemberState

from .events import ClusterEvent, MemberChange, MemberEventTranslator
from .heartbeat import HeartbeatTable
from .joining import PeerMemory
from .store_writer import StoreWrite, StoreWriter

if TYPE_CHECKING:
    from .view import GossipClusterView

__all__ = ["PEER_CHECK_INTERVAL_S", "MemberWatch"]

PEER_CHECK_INTERVAL_S = 2.0
"""How often a membership change is looked for (to save the peers, prune the tables)."""


class MemberWatch:
    """Follows the member table for the agent.

    Args:
        node_id: this node's id (known once the store is open).
        members: this node's member table (it lists itself).
        maintenance_of: whether a member's metadata says it is in maintenance.
        publish: the cluster event bus (``EventBus.publish``).
        heartbeats: the resource heartbeats, pruned to the members.
        view: the REST view, once the REST stack is loaded (None before).
        writer: the store's writer, once the store is open (None before and after).
        on_change: called after every change (the agent re-elects soon).
        wall_clock: unix time.
    """

    def __init__(self, *, node_id: Callable[[], str], members: Callable[[], list[Member]],
                 maintenance_of: Callable[[Member], bool],
                 publish: Callable[[ClusterEvent], None], heartbeats: HeartbeatTable,
                 view: Callable[[], GossipClusterView | None],
                 writer: Callable[[], StoreWriter | None], on_change: Callable[[], None],
                 wall_clock: Callable[[], float]) -> None:
        self._node_id = node_id
        self._members = members
        self._publish = publish
        self._heartbeats = heartbeats
        self._view = view
        self._writer = writer
        self._on_change = on_change
        self._wall = wall_clock
        self._translator = MemberEventTranslator(wall_clock, maintenance_of)
        self._peer_memory = PeerMemory()
        self._suspect_since: dict[str, float] = {}

    @property
    def last_join_at(self) -> float:
        """When a member last joined (event loop time; 0 before any)."""
        return self._peer_memory.last_join_at

    def suspect_since(self, node_id: str) -> float | None:
        """Unix time since which ``node_id`` is suspected, or None (not suspected)."""
        return self._suspect_since.get(node_id)

    def on_change(self, event: MemberChange) -> None:
        """A membership change from the gossip core."""
        for cluster_event in self._translator.translate(event):
            self._publish(cluster_event)
        member = event.member
        if isinstance(event, MemberJoined):
            first = self._peer_memory.member_joined(asyncio.get_running_loop().time())
            writer = self._writer()
            if first and member.name != self._node_id() and writer is not None:
                writer.submit(_remember({member.name: member.address}))
        if isinstance(event, MemberSuspected):
            self._suspect_since.setdefault(member.name, self._wall())
        else:
            self._suspect_since.pop(member.name, None)
        view = self._view()
        if view is not None:
            reason = type(event).__name__.removeprefix("Member").lower()
            view.observe_member(member, reason)
        self._on_change()

    async def run(self) -> None:
        """Prune the tables and save the peers when due, until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(PEER_CHECK_INTERVAL_S)
            members = self._members()
            names = {m.name for m in members}
            self._forget_missing(names)
            node_id = self._node_id()
            peers = {m.name: m.address for m in members
                     if m.name != node_id and m.state == MemberState.ALIVE}
            writer = self._writer()
            if self._peer_memory.due(loop.time(), bool(peers)) and writer is not None:
                with contextlib.suppress(Exception):  # logged by the writer; next round
                    await writer.write(_remember(peers))

    def _forget_missing(self, names: set[str]) -> None:
        self._heartbeats.prune(names | {self._node_id()})
        for name in [n for n in self._suspect_since if n not in names]:
            del self._suspect_since[name]
        view = self._view()
        if view is not None:
            view.forget_missing(names)
        self._translator.forget_missing(names)


def _remember(peers: dict[str, Address]) -> StoreWrite:
    return lambda store: store.remember_peers(peers)
