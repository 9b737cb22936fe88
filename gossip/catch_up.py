"""Catch-up anti-entropy: an early push-pull when gossip brings many new members at once.

When many nodes join within seconds (a cluster booting through one seed), every join
is a rumour, and each member retransmits every rumour ``retransmit_limit`` times
through 1,200-byte datagrams: at 2,000 members that is ~32,000 alive messages to send
per member, two minutes of gossip capacity, while one push-pull carries the whole
table. memberlist waits for its periodic push-pull (every 30 s × ``push_pull_scale``,
210 s at 2,000 members), so members that joined early learn the late joiners only
as the gossip backlog drains.

The rule here: a member that learns of ``catch_up_burst`` or more members it had never
heard of, from gossip (not from a push-pull) within ``catch_up_window_s``, and whose
last push-pull is at least that old, push-pulls at once with one of those new members.
A new member did its own join push-pull moments ago, so its table is nearly complete;
the exchange is a standard push-pull (what memberlist's periodic one sends), so a Serf
peer sees nothing unusual. A single join, or a slow trickle of them, never reaches the
burst, so a steady cluster sends nothing more.

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

__all__ = ["CatchUp"]


class CatchUp:
    """Counts members first heard of through gossip and says when to catch up.

    ``learned`` is called for each such member; it returns the address to push-pull
    with when the burst rule fires (see the module docstring), else None.
    """

    def __init__(self, config: GossipConfig, rng: Random) -> None:
        self._burst = config.catch_up_burst
        self._window_s = config.catch_up_window_s
        self._rng = rng
        self._window_start = -math.inf
        self._recent: list[Address] = []
        """Addresses of the new members learned in the current window."""
        self._last_fired = -math.inf

    def learned(self, address: Address, now: float, last_push_pull: float) -> Address | None:
        """A member we had never heard of, at ``address``, reached us by gossip at ``now``;
        ``last_push_pull``: when our last push-pull (either direction) merged; one we
        started here and that has not answered yet counts from its start."""
        if self._burst <= 0:
            return None
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
        self._last_fired = now
        return partner
