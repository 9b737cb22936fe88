"""Catch-up anti-entropy: push-pulls while a member's view grows during a mass join.

When many nodes join within seconds (a cluster booting through one seed), every join
is a rumour, and each member retransmits every rumour ``retransmit_limit`` times
through 1,200-byte datagrams: at 2,000 members that is ~32,000 alive messages to send
per member, two minutes of gossip capacity, while one push-pull carries the whole
table. memberlist waits for its periodic push-pull (every 30 s × ``push_pull_scale``,
210 s at 2,000 members), so members that joined early learn the late joiners only
as the gossip backlog drains.

The rule, in three steps:

1. *Start.* A member that learns of ``catch_up_burst`` or more members it had never
   heard of, from gossip (not from a push-pull) within ``catch_up_window_s``, and whose
   last push-pull is at least that old, push-pulls at once with one of those new
   members. A new member did its own join push-pull moments ago, so its table is nearly
   complete. A newcomer's own join push-pull also starts the rule (without a push-pull
   of its own: it just had one).
2. *Follow through.* From then on, at most one push-pull per ``catch_up_window_s``,
   while the view keeps growing: a member first heard of by gossip since the last one
   means others still join, and the next push-pull goes to one of those newcomers; when
   only a push-pull taught something, the next one goes to a random live member, to
   confirm nothing else is missing.
3. *Stop.* A whole window in which nothing new arrived (no member from gossip, none from
   a push-pull) ends it: the view is stable.

Why step 2: the burst alone left a tail (``simulations/RESULTS.md``, 7 Dec). A member
whose last catch-up was at 8.3 s learned the next 90 joiners by gossip, never 8 within
one window after its cooldown, and so never pulled again; the one rumour that missed it
was then still queued at every other member with 3-5 of its 12 transmits left, spread
over ~180 queued rumours each, and took 8 more seconds to arrive. Epidemic gossip misses
about N² e^-k (observer, subject) pairs after k transmits per member; one push-pull with
any member that has the subject closes such a pair.

The exchanges are standard push-pulls (what memberlist's periodic one sends), so a Serf
peer sees nothing unusual. A steady cluster never starts the rule: a single join, or a
slow trickle of them, never reaches the burst, and a newcomer that learns nobody by
gossip after its join stops at the end of its first window without a push-pull.

With the rule on, a member first learned from a push-pull is queued for gossip as if
already sent all but its last ``retransmit_mult`` times (``SwimProtocol``): the peer it
came from, and most others, already know it, so it waits behind first-hand news
instead of burying it (one push-pull can add hundreds of such rumours at once).
"""

from __future__ import annotations

import math
from random import Random

from .config import GossipConfig
from .types import Address

__all__ = ["ANY_PEER", "CatchUp", "MAX_NEWCOMERS"]

MAX_NEWCOMERS = 64
"""Addresses of gossip-learned newcomers kept as candidate partners between two
push-pulls (the most recent ones; a bound on memory, not a tuning knob)."""

ANY_PEER: Address = ("", 0)
"""What ``due`` returns for "push-pull with a random live member" (a confirmation)."""


class CatchUp:
    """Decides the catch-up push-pulls of one member (see the module docstring).

    ``learned`` (a member first heard of through gossip) and ``due`` (its timer, at
    ``deadline``) return the address to push-pull with, ``ANY_PEER``, or None;
    ``taught`` counts members a push-pull added; ``joined`` starts the rule after our own
    join push-pull.
    """

    def __init__(self, config: GossipConfig, rng: Random) -> None:
        self._burst = config.catch_up_burst
        self._window_s = config.catch_up_window_s
        self._rng = rng
        self._window_start = -math.inf
        self._recent: list[Address] = []
        """Addresses of the new members learned in the current burst window."""
        self._last_fired = -math.inf
        self.active = False
        """Following through (step 2): the view grew since the last catch-up."""
        self._newcomers: list[Address] = []
        """Members first heard of by gossip since our last catch-up (most recent last)."""
        self._taught = 0
        """Members push-pulls added since our last catch-up."""

    def learned(self, address: Address, now: float, last_push_pull: float) -> Address | None:
        """A member we had never heard of, at ``address``, reached us by gossip at ``now``;
        ``last_push_pull``: when our last push-pull (either direction) merged; one we
        started here and that has not answered yet counts from its start."""
        if self._burst <= 0:
            return None
        if self.active:
            self._newcomers.append(address)
            if len(self._newcomers) > MAX_NEWCOMERS:
                del self._newcomers[0]
            if now < self.deadline(last_push_pull):
                return None
            return self._fire(now, self._rng.choice(self._newcomers))
        if now - self._window_start > self._window_s:
            self._window_start = now
            self._recent.clear()
        self._recent.append(address)
        since = now - max(last_push_pull, self._last_fired)
        if len(self._recent) < self._burst or since < self._window_s:
            return None
        # Any of the burst did a join push-pull moments ago; a random one spreads the
        # exchanges over the newcomers when many members see the same burst.
        partner = self._rng.choice(self._recent)
        self._window_start = -math.inf
        self._recent.clear()
        self.active = True
        return self._fire(now, partner)

    def taught(self) -> None:
        """A push-pull (either direction) added a member we had never heard of."""
        if self.active:
            self._taught += 1

    def joined(self, now: float) -> None:
        """Our own join push-pull merged at ``now``: follow through from there."""
        if self._burst > 0:
            self.active = True
            self._last_fired = now
            self._newcomers.clear()
            self._taught = 0

    def deadline(self, last_push_pull: float) -> float:
        """When ``due`` must be called (inf: the rule is idle); ``last_push_pull`` as
        for ``learned``."""
        if not self.active:
            return math.inf
        return max(last_push_pull, self._last_fired) + self._window_s

    def due(self, now: float) -> Address | None:
        """The window since the last push-pull ended: push-pull with a newcomer learned
        by gossip meanwhile, else with ``ANY_PEER`` if a push-pull taught something,
        else stop (None)."""
        if self._newcomers:
            return self._fire(now, self._rng.choice(self._newcomers))
        if self._taught:
            return self._fire(now, ANY_PEER)
        self.active = False
        return None

    def _fire(self, now: float, partner: Address) -> Address:
        self._last_fired = now
        self._newcomers.clear()
        self._taught = 0
        return partner
