"""``IdentityKeeper``: this node's hold on its node id, for the agent.

``IdentityGuard`` decides what a claim of this node's id by another member means
(``node.identity``); the keeper gives it what it asks about (this node as a holder, a
probe of the other address) and carries its decisions out through gossip: outbidding
the other holder, or giving the id up, which silences gossip at once (nothing more goes
out under the id) before the agent exits without leaving. A new id (the store's, at
start) gets a new guard.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from gossip.events import AddressChecked, NameConflict
from gossip.types import Address

from .gossip_link import GossipLink
from .identity import Holder
from .identity_guard import IdentityGuard

__all__ = ["IdentityKeeper"]

log = logging.getLogger(__name__)


class IdentityKeeper:
    """Guards this node's id and acts on the guard's decisions.

    Args:
        link: the gossip transport.
        uuid: this node's UUID (the data dir's, known once the store is open).
        started_at: this run's start time, unix seconds (the election's seniority).
        joining: whether this node has not finished joining yet.
        outbid: called with this node's new incarnation after it outbid another holder
            (its heartbeats take it as their epoch, so they outrank the other's).
        give_up: called once the id was given up and gossip silenced (the agent sets
            its exit code and stops).
    """

    def __init__(self, *, link: GossipLink, uuid: Callable[[], bytes],
                 started_at: Callable[[], float], joining: Callable[[], bool],
                 outbid: Callable[[int], None], give_up: Callable[[], None]) -> None:
        self._link = link
        self._uuid = uuid
        self._started_at = started_at
        self._joining = joining
        self._on_outbid = outbid
        self._on_give_up = give_up
        self._node_id = ""
        self._guard = self._new_guard()

    def identify(self, node_id: str) -> None:
        """Guard ``node_id`` from now on (the previous guard's rechecks are cancelled)."""
        self._guard.close()
        self._node_id = node_id
        self._guard = self._new_guard()

    @property
    def in_doubt(self) -> bool:
        """Whether this node must publish nothing under its id for now
        (``IdentityGuard.in_doubt``)."""
        return self._guard.in_doubt

    @property
    def gave_up(self) -> bool:
        """Whether the id was given up to another live node."""
        return self._guard.gave_up

    def on_conflict(self, event: NameConflict) -> None:
        """The gossip core refused a claim of a member's name."""
        self._guard.on_conflict(event)

    def on_address_checked(self, event: AddressChecked) -> None:
        """An address probe (``check_address``) was answered or timed out."""
        self._guard.on_address_checked(event)

    def close(self) -> None:
        """Cancel the pending rechecks (the agent stops)."""
        self._guard.close()

    def _new_guard(self) -> IdentityGuard:
        return IdentityGuard(node_id=self._node_id, mine=self._holder, joining=self._joining,
                             check_address=self._link.check_address, outbid=self._outbid,
                             give_up=self._give_up)

    def _holder(self) -> Holder:
        me = self._link.member(self._node_id)
        address = me.address if me is not None else ("", 0)
        return Holder(uuid=self._uuid(), started_at=self._started_at(), address=address)

    def _outbid(self, incarnation: int, other: Address) -> None:
        if self._link.outbid(incarnation, other):
            self._on_outbid(self._link.incarnation())

    def _give_up(self, line: str) -> None:
        log.error("%s", line)
        self._link.silence()  # nothing more goes out under the id while start-up ends
        self._on_give_up()
