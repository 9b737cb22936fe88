"""Transmit-limited broadcast queue (memberlist ``queue.go`` / ``broadcast.go``).

Gossip is piggybacked: whatever room is left in an outgoing datagram is filled with
queued broadcasts. Each broadcast is sent ``retransmit_limit(mult, n)`` times and then
dropped; that is enough for an epidemic to reach everyone with high probability while
keeping the bandwidth per update logarithmic in the cluster size.

Order of selection (memberlist's btree order): fewest transmits first, then longer
messages (they are the hardest to fit), then newer ones. A broadcast pushed with a
``key`` replaces any queued broadcast with the same key (memberlist names its
broadcasts after the node they are about, so a newer alive/suspect/dead about X
invalidates the older one); ``key=None`` broadcasts are unique and never replaced.

A broadcast pushed with ``once_per_member`` (Serf queries, ``gossip.query_router``) is
never sent twice to one address, nor to the addresses it starts with (the querier): its
few transmits then reach as many different members. memberlist spends them blindly, so
in a 3-node cluster with memberlist's local profile (2 transmits) both copies of a
query could go back to the node that had just sent it, and the third node never heard
of the query.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass

from .interning import BROADCASTS
from .types import Address

__all__ = ["DEFAULT_MAX_QUEUED", "BroadcastQueue", "retransmit_limit"]

DEFAULT_MAX_QUEUED = 4096
"""Broadcasts kept per queue; beyond it the most-sent ones are dropped first.
Serf's ``MaxQueueDepth`` is 4096 as well."""


def retransmit_limit(retransmit_mult: int, n: int) -> int:
    """How often one broadcast is sent: ``retransmit_mult × ceil(log10(n + 1))``."""
    return retransmit_mult * math.ceil(math.log10(n + 1))


@dataclass(slots=True)
class _Queued:
    key: str | None
    payload: bytes
    transmits: int
    id: int
    sent_to: set[Address] | None = None
    """Addresses it must not go to again (``once_per_member`` broadcasts only)."""


class BroadcastQueue:
    """Broadcasts waiting to be piggybacked, each with its transmit count.

    Kept as one list sorted by ``(transmits, -length, -id)`` (memberlist's btree order),
    so picking the best broadcast that fits a budget is a binary search per transmit
    tier rather than a scan of the whole queue. Each entry carries its item as a fourth
    element (never compared: ids are unique), so ``take`` needs no dictionary lookup.
    """

    def __init__(self, retransmit_mult: int, max_queued: int = DEFAULT_MAX_QUEUED) -> None:
        self.retransmit_mult = retransmit_mult
        self.max_queued = max_queued
        self._items: dict[int, _Queued] = {}
        self._order: list[tuple[int, int, int, _Queued]] = []
        self._by_key: dict[str, int] = {}
        self._next_id = 0
        self._limit_for = (-1, 0)  # (n_members, retransmit_limit) of the last take
        self._once: dict[int, _Queued] = {}  # queued once_per_member broadcasts (few)
        self.dropped = 0
        """Broadcasts discarded because the queue was full."""

    def __len__(self) -> int:
        return len(self._items)

    def push(self, payload: bytes, key: str | None = None, *,
             once_per_member: Iterable[Address] | None = None, sent: int = 0) -> int:
        """Queue ``payload`` (an encoded message); return a handle for ``is_pending``.

        ``sent``: count it as already sent this many times, so it waits behind fresher
        broadcasts and leaves after the remaining transmits.

        ``once_per_member``: send it at most once to each address, and never to these
        (members known to have it); only ``take`` calls that name their destination
        send it.
        """
        self._next_id += 1
        item = _Queued(key, BROADCASTS.share(payload), max(0, sent), self._next_id)
        if once_per_member is not None:
            item.sent_to = set(once_per_member)
            self._once[item.id] = item
        if key is not None:
            old = self._by_key.get(key)
            if old is not None:
                self._remove(self._items[old])  # the newer message about the same thing wins
            self._by_key[key] = item.id
        self._items[item.id] = item
        bisect.insort(self._order, (item.transmits, -len(item.payload), -item.id, item))
        if len(self._items) > self.max_queued:
            self._prune(self.max_queued)
        return item.id

    def is_pending(self, handle: int) -> bool:
        """True while the broadcast ``handle`` is still queued (not finished or replaced)."""
        return handle in self._items

    def has_key(self, key: str) -> bool:
        return key in self._by_key

    def clear(self) -> None:
        self._items.clear()
        self._once.clear()
        self._order.clear()
        self._by_key.clear()

    def take(
        self, overhead: int, limit: int, n_members: int, *, max_count: int | None = None,
        to: Address | None = None,
    ) -> list[bytes]:
        """Broadcasts that fit in ``limit`` bytes, counting ``overhead`` bytes each
        (at most ``max_count`` of them).

        Every returned broadcast counts one transmit; it leaves the queue once it has
        been sent ``retransmit_limit(mult, n_members)`` times. ``to``: the destination;
        ``once_per_member`` broadcasts already sent there (or never to be sent there, or
        ``to`` unknown) are left out.
        """
        order = self._order
        if not order:
            return []
        held = self._hold_back(to, n_members) if self._once else []
        try:
            return self._take(overhead, limit, n_members, max_count, to)
        finally:
            for entry in held:
                bisect.insort(order, entry)

    def _hold_back(self, to: Address | None, n_members: int) -> list[tuple[int, int, int, _Queued]]:
        """Take out of the order the ``once_per_member`` broadcasts not for ``to``;
        forget those every other member already has (they could never leave)."""
        held = []
        for item in list(self._once.values()):
            assert item.sent_to is not None
            if len(item.sent_to) >= n_members - 1:
                self._remove(item)
            elif to is None or to in item.sent_to:
                i = bisect.bisect_left(self._order, _order(item))
                held.append(self._order.pop(i))
        return held

    def _take(self, overhead: int, limit: int, n_members: int, max_count: int | None,
              to: Address | None) -> list[bytes]:
        order = self._order
        if not order:
            return []
        cached_n, tx_limit = self._limit_for
        if cached_n != n_members:
            tx_limit = retransmit_limit(self.retransmit_mult, n_members)
            self._limit_for = (n_members, tx_limit)
        cap = len(order) if max_count is None else max_count
        bisect_left = bisect.bisect_left
        free = limit - overhead
        chosen: list[tuple[int, int, int, _Queued]] = []
        tier = order[0][0]
        i = 0
        while free > 0 and len(chosen) < cap:
            # First broadcast of this tier that fits: the longest, then the newest. The
            # entry after the one just taken is that one whenever it fits (everything
            # before it was already too long), so only search when it does not.
            if i < len(order):
                entry = order[i]
                if entry[0] != tier or -entry[1] > free:
                    i = bisect_left(order, (tier, -free, -_INF_ID))
                    if i >= len(order):
                        break  # nothing left fits in any tier
                    entry = order[i]
                    if entry[0] != tier:
                        tier = entry[0]  # skip empty tiers: the next one present
                        continue
            else:
                break  # every entry left sorts before the search key: none fits
            del order[i]  # out of the order until re-inserted below
            free -= overhead - entry[1]
            chosen.append(entry)
        insort = bisect.insort
        for transmits, neg_len, neg_id, item in chosen:
            transmits += 1
            item.transmits = transmits
            if item.sent_to is not None and to is not None:
                item.sent_to.add(to)
            if transmits >= tx_limit:
                self._forget(item)
            else:
                insort(order, (transmits, neg_len, neg_id, item))
        return [entry[3].payload for entry in chosen]

    def _remove(self, item: _Queued) -> None:
        key = _order(item)
        i = bisect.bisect_left(self._order, key)
        if i < len(self._order) and self._order[i][3] is item:
            del self._order[i]
        self._forget(item)

    def _forget(self, item: _Queued) -> None:
        self._items.pop(item.id, None)
        self._once.pop(item.id, None)
        if item.key is not None and self._by_key.get(item.key) == item.id:
            del self._by_key[item.key]

    def _prune(self, keep: int) -> None:
        # memberlist's Prune: drop from the end of the order, i.e. the most-sent first.
        while len(self._items) > keep and self._order:
            self._forget(self._order.pop()[3])
            self.dropped += 1


_INF_ID = float("inf")


def _order(item: _Queued) -> tuple[int, int, int]:
    return (item.transmits, -len(item.payload), -item.id)
