"""``IdentityGuard``: carries out ``node.identity``'s rule for a running agent.

The gossip core reports every refused claim of a name as a ``NameConflict``. For a claim
of this node's own name the guard gathers what the rule needs (the other holder's UUID
and start time from the claim's metadata, whether this node was still joining, whether
the other address answers a probe for the name: ``check_address``, answered by an
``AddressChecked`` event) and then keeps the name (announcing above the other's
incarnation: ``outbid``), accepts that the other is its own previous life, or gives the
name up (``give_up`` with the line to log; the agent exits ``IDENTITY_CONFLICT``
without leaving). Claims of other members' names are only logged: their holders decide.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from gossip.events import AddressChecked, NameConflict
from gossip.types import Address

from .advertise import host_port
from .identity import (
    RECHECK_AFTER_S,
    Holder,
    Resolution,
    conflict_line,
    holder_of,
    resolve,
)

__all__ = ["MAX_CHECKS", "IdentityGuard"]

log = logging.getLogger(__name__)

MAX_CHECKS = 16
"""Other holders checked at once; claims from further addresses wait for a later claim
(each check is one TCP ping, so a flood of forged claims costs at most this many)."""
MAX_REPORTED = 256
"""Claims of other members' names remembered, so each (name, address) is logged once."""


@dataclass(frozen=True, slots=True)
class _Check:
    """A claim of our id being checked: the other holder, what we knew when it came."""

    other: Holder
    joining: bool
    incarnation: int
    rechecked: bool = False


class IdentityGuard:
    """Decides, for one agent, what a claim of its own node id means.

    Args:
        node_id: this node's id.
        mine: this node as a ``Holder`` (its UUID, start time, advertised address).
        joining: whether this node has not finished joining yet.
        check_address: asks the core to probe an address for a member name.
        outbid: announces this node above an incarnation (the other holder's) and tells
            the other holder at its address.
        give_up: called once with the conflict line when this node must yield.
        recheck_after_s: see ``node.identity.RECHECK_AFTER_S``.
    """

    def __init__(self, *, node_id: str, mine: Callable[[], Holder],
                 joining: Callable[[], bool],
                 check_address: Callable[[str, Address], None],
                 outbid: Callable[[int, Address], None], give_up: Callable[[str], None],
                 recheck_after_s: float = RECHECK_AFTER_S) -> None:
        self._node_id = node_id
        self._mine = mine
        self._joining = joining
        self._check_address = check_address
        self._outbid = outbid
        self._give_up = give_up
        self._recheck_after_s = recheck_after_s
        self._checks: dict[Address, _Check] = {}
        self._timers: dict[Address, asyncio.TimerHandle] = {}
        self._reported: dict[tuple[str, Address], None] = {}
        self.gave_up = False

    @property
    def in_doubt(self) -> bool:
        """A claim seen while joining is still being checked, or the name was given up:
        this node publishes nothing under the name meanwhile (its heartbeats would
        carry a newer epoch than the live holder's and hide them)."""
        return self.gave_up or any(c.joining for c in self._checks.values())

    def on_conflict(self, event: NameConflict) -> None:
        name = event.existing.name
        if name != self._node_id:
            self._report(name, event.claimed_by, event.existing.address)
            return
        if self.gave_up:
            return
        address = event.claimed_by
        check = self._checks.get(address)
        if check is not None:  # being checked: remember the highest incarnation seen
            if event.claimed_incarnation > check.incarnation:
                self._checks[address] = replace(check, incarnation=event.claimed_incarnation)
            return
        if len(self._checks) >= MAX_CHECKS:
            return
        other = holder_of(event.claimed_meta, address)
        joining = self._joining()
        mine = self._mine()
        log.warning("node id %r is also claimed by the node at %s; checking who keeps it",
                    name, host_port(*address))
        if joining and not (mine.uuid and mine.uuid == other.uuid):
            # Another data dir holds our name in the cluster we are joining: no probe
            # can change the answer.
            self._act(Resolution.YIELD, _Check(other, joining, event.claimed_incarnation))
            return
        self._checks[address] = _Check(other, joining, event.claimed_incarnation)
        self._check_address(name, address)

    def on_address_checked(self, event: AddressChecked) -> None:
        if event.name != self._node_id:
            return
        check = self._checks.pop(event.address, None)
        if check is None or self.gave_up:
            return
        verdict = resolve(self._mine(), check.other, other_answers=event.answered,
                          joining=check.joining, rechecked=check.rechecked)
        self._act(verdict, check)

    def _report(self, name: str, claimed_by: Address, holder: Address) -> None:
        """Log a claim of another member's name, once per (name, address)."""
        key = (name, claimed_by)
        if key in self._reported:
            return
        self._reported[key] = None
        if len(self._reported) > MAX_REPORTED:
            del self._reported[next(iter(self._reported))]
        log.warning("node id %r is claimed by %s as well as %s: ids must be unique (the "
                    "node that joined later gives it up)", name, host_port(*claimed_by),
                    host_port(*holder))

    def close(self) -> None:
        """Cancel the pending rechecks (the agent stops)."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def _act(self, verdict: Resolution, check: _Check) -> None:
        other = check.other
        if verdict is Resolution.YIELD:
            self.gave_up = True
            self._checks.clear()
            self._give_up(conflict_line(self._node_id, other,
                                        same_uuid=bool(other.uuid)
                                        and other.uuid == self._mine().uuid))
        elif verdict is Resolution.KEEP:
            log.warning("node id %r: keeping it; the node at %s joined later or is gone "
                        "(it gives the id up)", self._node_id, host_port(*other.address))
            self._outbid(check.incarnation, other.address)
        elif verdict is Resolution.RESTART:
            log.info("node id %r: the node at %s is this node's previous life (same data "
                     "dir, no answer): the cluster moves the id here once it finds that "
                     "life dead", self._node_id, host_port(*other.address))
        else:
            log.warning("node id %r is held by another member at %s that started earlier; "
                        "giving it up in %.0f s unless it goes away", self._node_id,
                        host_port(*other.address), self._recheck_after_s)
            self._checks[other.address] = replace(check, rechecked=True)
            loop = asyncio.get_running_loop()
            self._timers[other.address] = loop.call_later(
                self._recheck_after_s, self._check_address, self._node_id, other.address)
