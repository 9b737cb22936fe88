"""``GossipLink``: the agent's handle on its gossip transport, safe in every phase.

The transport exists only once ``Agent.start`` has built it, and runs only between its
start and its stop; the agent's parts call into it from timers, API requests and event
handlers that may fire in any of those phases. The link answers for all of them: a read
before the core exists gives the empty answer, and a command while gossip is not
running is dropped (the next start announces the current state anyway).

Every command that raises this node's incarnation also hands the new value to
``save_incarnation`` (the store), so a restart starts above anything this run announced
(``NodeStore.next_start_incarnation``); ``persist_incarnation`` does it for the bumps
the core makes on its own (a refutation).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TypeVar

from gossip.app_relay import AppVersion
from gossip.coordinate import Coordinate
from gossip.errors import GossipError, LocalProtocolError
from gossip.events import Member
from gossip.protocol import SwimProtocol
from gossip.tags import decode_tags
from gossip.types import Address
from gossip.udp import GossipTransport

from . import sd_notify

__all__ = ["GossipLink"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class GossipLink:
    """Reads and commands on the gossip transport, whatever its phase.

    Args:
        stats: the agent's counters; ``app_too_large`` counts the broadcasts too big
            for a datagram.
        save_incarnation: stores this node's incarnation (called after each bump).
    """

    def __init__(self, stats: dict[str, int], save_incarnation: Callable[[int], None]) -> None:
        self.transport: GossipTransport | None = None
        """Set by the agent's start; None before."""
        self._stats = stats
        self._save_incarnation = save_incarnation
        self._silencing: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether gossip runs now (started and not stopped)."""
        return self.transport is not None and self.transport.running

    # --- reads ------------------------------------------------------------------------------

    def members(self) -> list[Member]:
        """This node's member table (itself included); [] before the core exists. After
        a stop it is the last table, as the view reports it while the agent shuts down."""
        return self._read(lambda core: core.members(), [])

    def table_member(self, name: str) -> Member | None:
        """Member ``name`` of the table ``members`` returns (the last one after a stop),
        or None: one lookup, where a search of ``members()`` copies the whole table."""
        return self._read(lambda core: core.member(name), None)

    def member(self, name: str) -> Member | None:
        """Member ``name`` while gossip runs; None if unknown or not running."""
        if self.transport is None or not self.transport.running:
            return None
        return self.transport.core.member(name)

    def incarnation(self) -> int:
        """This node's incarnation now; 0 before the core exists."""
        return self._read(lambda core: core.incarnation, 0)

    def coordinate_of(self, node_id: str) -> Coordinate | None:
        """Member ``node_id``'s network coordinate, or None (unknown, not started)."""
        return self._read(lambda core: core.coordinate_of(node_id), None)

    def _read(self, read: Callable[[SwimProtocol], T], default: T) -> T:
        """``read(core)``, or ``default`` before the core exists; after a stop, the last
        core's state."""
        transport = self.transport
        if transport is None:
            return default
        try:
            return read(transport.core)
        except RuntimeError:  # not started yet
            return default

    def member_tags(self, node_id: str) -> dict[str, str]:
        """A member's gossip tags (for event handler stdin); {} if unknown."""
        member = self.member(node_id)
        if member is None:
            return {}
        try:
            return decode_tags(member.meta)
        except GossipError:  # tags that are not Serf's encoding
            return {}

    # --- commands (dropped while gossip is not running) --------------------------------------

    def broadcast(self, body: bytes, key: str, urgent: bool = False,
                  version: AppVersion | None = None) -> None:
        """Gossip an app message (``GossipTransport.broadcast_app``; ``version``: the
        body's record and version when the caller knows them, see there)."""
        transport = self.transport
        if transport is None or not transport.running:
            return
        try:
            transport.broadcast_app(body, key=key, urgent=urgent, version=version)
        except LocalProtocolError:
            # Bigger than a datagram (e.g. a registration with many long skills): it
            # still reaches every node through push-pull anti-entropy.
            self._stats["app_too_large"] += 1

    def set_meta(self, meta: bytes) -> None:
        """Announce new metadata (an incarnation bump)."""
        if self.transport is not None and self.transport.running:
            self.transport.set_meta(meta)
            self.persist_incarnation()

    def check_address(self, name: str, address: Address) -> None:
        """Probe ``address`` for who answers there (``SwimProtocol.check_address``)."""
        if self.transport is not None and self.transport.running:
            self.transport.invoke(lambda core, now: core.check_address(name, address, now))

    def outbid(self, incarnation: int, other: Address) -> bool:
        """Announce this node above ``incarnation`` and tell the holder at ``other``
        (``SwimProtocol.outbid``); False (nothing sent) while gossip is not running."""
        transport = self.transport
        if transport is None or not transport.running:
            return False
        transport.invoke(lambda core, now: core.outbid(incarnation, now, tell=other))
        self.persist_incarnation()
        return True

    def reannounce(self) -> None:
        """Announce this node again with a higher incarnation and sync state now (after
        a suspension, e.g. laptop sleep: peers may think it dead)."""
        if self.transport is not None:
            self.transport.reannounce()
            self.persist_incarnation()

    def force_leave(self, name: str, *, prune: bool) -> bool:
        """Serf's force-leave of member ``name`` (``SwimProtocol.force_leave``); False
        if gossip is not running (starting or stopping)."""
        transport = self.transport
        if transport is None or not transport.running:
            return False
        transport.invoke(lambda core, now: core.force_leave(name, now, prune=prune))
        log.info("force-leave %s%s", name, " (prune)" if prune else "")
        return True

    def persist_incarnation(self) -> None:
        """Store this node's incarnation as it is now (no-op before the core exists)."""
        incarnation = self.incarnation()
        if incarnation > 0:
            self._save_incarnation(incarnation)

    # --- stopping ---------------------------------------------------------------------------

    def silence(self) -> None:
        """Stop gossip at once, without leaving: nothing more goes out under this node's
        id (it was given up to another live node). ``stop`` waits for it."""
        transport = self.transport
        if transport is not None and transport.running:
            self._silencing = asyncio.get_running_loop().create_task(transport.stop())

    async def stop(self, *, leave: bool, timeout_s: float) -> None:
        """Stop gossip, after a graceful leave if ``leave`` (waiting at most
        ``timeout_s`` for its broadcasts). Idempotent."""
        if self._silencing is not None:
            await self._silencing  # the id was given up: gossip already stopped, no leave
        transport = self.transport
        if transport is None or not transport.running:
            return
        if leave:
            sd_notify.notify_stopping()
            done = await transport.leave(timeout=timeout_s)
            log.info("left the cluster (%s)", "broadcast done" if done else "timed out")
        self.persist_incarnation()
        await transport.stop()
