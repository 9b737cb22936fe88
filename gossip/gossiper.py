"""Who gets our broadcasts: the periodic gossip round and direct announcements.

Every ``gossip_interval_s`` a round sends a packet of queued broadcasts (``Outbox``) to
``gossip_nodes`` random members that are alive, suspect, or dead for at most
``gossip_to_the_dead_s`` (memberlist ``gossip`` and its ``kRandomNodes`` filter); a
round with nothing to say sends nothing. A claw-node announcement (``announce_fanout``)
sends one datagram straight to random live members besides the epidemic.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from random import Random

from .config import GossipConfig
from .membership import MemberRecord, Membership
from .outbox import Outbox, compound
from .stats import CoreStats
from .types import Address, MemberState

__all__ = ["Gossiper"]


class Gossiper:
    """One core's gossip rounds and announcements.

    Args:
        config, rng, members, outbox, stats: the core's (``adopt`` replaces ``members``).
        me: this node's own record (never a target).
        after_packet: called after each packet of a round, with ``now`` (a leave moves on
            the moment its last transmit is taken).
    """

    def __init__(self, config: GossipConfig, rng: Random, members: Membership,
                 me: MemberRecord, outbox: Outbox, stats: CoreStats, *,
                 after_packet: Callable[[float], None]) -> None:
        self._cfg = config
        self._rng = rng
        self._members = members
        self._self = me
        self._outbox = outbox
        self._stats = stats
        self._after_packet = after_packet
        self.next_round = 0.0
        """When the next gossip round is due (``schedule``)."""
        self._armed = False
        """Whether ``deadline`` last found something to send (see there)."""

    def schedule(self, now: float) -> None:
        """A random initial stagger, as memberlist's, so restarted clusters spread out."""
        self.next_round = now + self._rng.uniform(0, self._cfg.gossip_interval_s)

    def adopt(self, members: Membership) -> None:
        """Use ``members`` from now on (the core replaced its table)."""
        self._members = members

    def deadline(self, now: float) -> float:
        """When the next round must run: ``next_round``, or never while the queues hold
        nothing a round would send. An empty round sends nothing and draws no random
        numbers, so an idle node need not wake up for it (5 wake-ups a second on LAN).
        The rounds keep their schedule: once something is queued, the first round is the
        first of the schedule (``next_round`` plus whole intervals) at or after ``now``,
        when it became due: exactly the round that would have sent it."""
        if not self._outbox.gossip_due():
            self._armed = False
            return math.inf
        if not self._armed:
            self._armed = True
            while self.next_round < now:  # added one by one: the same floats as tick's
                self.next_round += self._cfg.gossip_interval_s
        return self.next_round

    def tick(self, now: float) -> None:
        """Run the round that is due and schedule the next."""
        self._round(now)
        self.next_round += self._cfg.gossip_interval_s
        if self.next_round <= now:  # we were stalled: do not burst to catch up
            self.next_round = now + self._cfg.gossip_interval_s

    def _round(self, now: float) -> None:
        if not self._outbox.gossip_due():
            return  # nothing to say (memberlist sends nothing either), or app messages
            # that wait for packets sent anyway (``app_gossip_rounds`` false)
        # Alive, suspect, or dead for at most gossip_to_the_dead_s (memberlist's
        # kRandomNodes filter); maintained by the table instead of scanned every round.
        candidates = self._members.gossip_candidates(now, self._cfg.gossip_to_the_dead_s,
                                                     self._self)
        for rec in self._rng.sample(candidates, min(self._cfg.gossip_nodes, len(candidates))):
            buf = self._outbox.gossip_packet(rec.address, rec.is_claw)
            if buf is None:
                continue  # (only claw-only messages left and this one is a Serf agent)
            self._outbox.emit(rec.address, buf, crc=rec.pmax >= 5)
            self._after_packet(now)

    def announce(self, parts: list[bytes], *, skip: Address | None = None,
                 to: list[str] | None = None) -> list[str]:
        """Send ``parts`` (one datagram) straight to up to ``announce_fanout`` random live
        members, or to the members named in ``to`` that are still up; return their names."""
        if to is None:
            k = self._cfg.announce_fanout
            peers = [r for r in self._members.alive_except(self._self) if r.address != skip]
            recs = self._rng.sample(peers, min(k, len(peers))) if k else []
        else:
            up = (MemberState.ALIVE, MemberState.SUSPECT)
            recs = [r for r in map(self._members.get, to) if r is not None and r.state in up]
        if recs:
            buf = compound(parts)
            for rec in recs:
                self._outbox.emit(rec.address, buf, crc=rec.pmax >= 5)
            self._stats.announce_out += len(recs)
        return [r.name for r in recs]
