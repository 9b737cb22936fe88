"""The simulated network: latency (per link if set), loss, one-way loss, partitions,
and a delivery heap.

Packets wait in a heap of ``(deliver_at, seq, kind, src, dst, payload)``; ``seq`` breaks
ties so equal delivery times pop in send order (determinism). Every random draw comes
from the injected ``random.Random``. Reachability is decided when a packet is sent:
a packet already in flight when a partition starts still arrives (as on a real wire).
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from gossip.types import Address

_log = math.log

__all__ = ["NetworkOptions", "SimNetwork", "DATAGRAM", "STREAM_REQUEST", "STREAM_REPLY"]

DATAGRAM = 0
"""Heap item kind: a UDP datagram; payload is the datagram bytes."""
STREAM_REQUEST = 1
"""Heap item kind: a TCP request arriving at the server; payload is the world's stream record."""
STREAM_REPLY = 2
"""Heap item kind: a TCP reply (or failure) arriving back at the client."""


@dataclass(frozen=True, slots=True)
class NetworkOptions:
    """Link model. Times are seconds; probabilities are in [0, 1]."""

    one_way_delay_min_s: float = 0.0005
    """Smallest one-way latency of any link (propagation + stack). Default 0.5 ms (a LAN)."""

    one_way_delay_mean_s: float = 0.0015
    """Mean of the exponential part added to the minimum: delay = min + Exp(mean).
    Default 1.5 ms, so the mean one-way delay is 2 ms and the 99th percentile ~7.4 ms."""

    loss_probability: float = 0.0
    """Chance that any datagram is dropped, independently per packet. Default 0.
    TCP exchanges are not subject to it (TCP retransmits); partitions do block them."""

    duplicate_probability: float = 0.0
    """Chance that a delivered datagram is delivered a second time (later). Default 0."""

    def validate(self) -> NetworkOptions:
        if self.one_way_delay_min_s < 0 or self.one_way_delay_mean_s < 0:
            raise ValueError("one_way_delay_min_s and one_way_delay_mean_s must be >= 0")
        for name in ("loss_probability", "duplicate_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        return self


class SimNetwork:
    """Links between addresses, with faults switchable at run time.

    Args:
        options: the link model (``NetworkOptions``).
        rng: the only source of randomness (latency, loss, duplication).
    """

    def __init__(self, options: NetworkOptions, rng: random.Random) -> None:
        self.options = options.validate()
        self._rng = rng
        self.queue: list[tuple[float, int, int, Address, Address, Any]] = []
        """The delivery heap of ``(deliver_at, seq, kind, src, dst, payload)``; the world's
        event loop reads and pops it directly (``pop`` and ``next_time`` for others)."""
        self._seq = 0
        self.loss_probability = options.loss_probability
        self._link_loss: dict[tuple[Address, Address], float] = {}
        self._link_delay: dict[tuple[Address, Address], float] = {}
        """Directed link → its minimum one-way delay (s), in place of the global minimum."""
        self._group: dict[Address, int] | None = None
        self._blocked: set[tuple[Address, Address]] = set()
        # Counters (datagrams only; the world counts streams).
        self.sent = 0
        self.delivered = 0
        self.dropped_loss = 0
        self.dropped_partition = 0
        self.dropped_hook = 0
        self.duplicated = 0
        self.drop_hook: Callable[[Address, Address, bytes], bool] | None = None
        """Called with (src, dst, datagram) for every datagram the links let through;
        True drops it (a test's targeted loss). None: no hook."""

    # --- faults -----------------------------------------------------------------

    def set_loss(self, probability: float) -> None:
        """Random loss applied to every datagram from now on."""
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"loss probability must be in [0, 1], got {probability!r}")
        self.loss_probability = probability

    def set_link_loss(self, src: Address, dst: Address, probability: float) -> None:
        """One-way loss on the directed link src → dst (replaces the global rate there)."""
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"loss probability must be in [0, 1], got {probability!r}")
        self._link_loss[(src, dst)] = probability

    def split(self, groups: Iterable[Iterable[Address]]) -> None:
        """Partition into groups that cannot reach each other (both directions).

        Addresses not listed form one more group of their own.
        """
        group: dict[Address, int] = {}
        for index, members in enumerate(groups, start=1):
            for addr in members:
                group[addr] = index
        self._group = group

    def isolate(self, addr: Address) -> None:
        """Cut one address off from everybody (both directions)."""
        self.split([[addr]])

    def block(self, src: Address, dst: Address) -> None:
        """Asymmetric partition: src → dst is cut, dst → src still works."""
        self._blocked.add((src, dst))

    def set_link_delay(self, src: Address, dst: Address, one_way_s: float) -> None:
        """A latency matrix entry: the minimum one-way delay (seconds) of the directed
        link src → dst, replacing ``one_way_delay_min_s`` there; the exponential part is
        still added. Not a fault: ``heal`` keeps it."""
        if not one_way_s >= 0:
            raise ValueError(f"one-way delay must be >= 0, got {one_way_s!r}")
        self._link_delay[(src, dst)] = one_way_s

    def heal(self) -> None:
        """Remove every partition, block and one-way loss (the global loss rate stays)."""
        self._group = None
        self._blocked.clear()
        self._link_loss.clear()

    def reachable(self, src: Address, dst: Address) -> bool:
        """True unless a partition or block cuts src → dst."""
        if self._group is not None and self._group.get(src, 0) != self._group.get(dst, 0):
            return False
        return not (self._blocked and (src, dst) in self._blocked)

    # --- traffic ------------------------------------------------------------------

    def delay(self, src: Address | None = None, dst: Address | None = None) -> float:
        """One sample of one-way latency: min + Exp(mean), with the link's own minimum
        if ``set_link_delay`` gave src → dst one."""
        mean = self.options.one_way_delay_mean_s
        extra = self._rng.expovariate(1.0 / mean) if mean > 0 else 0.0
        base = self.options.one_way_delay_min_s
        if self._link_delay and src is not None and dst is not None:
            base = self._link_delay.get((src, dst), base)
        return base + extra

    def send_datagram(self, src: Address, dst: Address, data: bytes, now: float) -> bool:
        """Put a datagram on the wire; return False if it was dropped (partition or loss)."""
        # Called for every datagram of a run: ``reachable``, ``delay`` and ``schedule``
        # written out in place, with the same random draws in the same order.
        self.sent += 1
        group = self._group
        if (group is not None and group.get(src, 0) != group.get(dst, 0)) or \
                (self._blocked and (src, dst) in self._blocked):
            self.dropped_partition += 1
            return False
        loss = self._link_loss.get((src, dst), self.loss_probability) if self._link_loss \
            else self.loss_probability
        rng_random = self._rng.random
        if loss > 0.0 and rng_random() < loss:
            self.dropped_loss += 1
            return False
        if self.drop_hook is not None and self.drop_hook(src, dst, data):
            self.dropped_hook += 1
            return False
        options = self.options
        mean = options.one_way_delay_mean_s
        base = options.one_way_delay_min_s
        if self._link_delay:
            base = self._link_delay.get((src, dst), base)
        # random.expovariate(1 / mean), the same float operations.
        extra = -_log(1.0 - rng_random()) / (1.0 / mean) if mean > 0 else 0.0
        self._seq += 1
        heapq.heappush(self.queue, (now + (base + extra), self._seq, DATAGRAM, src, dst, data))
        dup = options.duplicate_probability
        if dup > 0.0 and rng_random() < dup:
            self.duplicated += 1
            self.schedule(now + self.delay(src, dst), DATAGRAM, src, dst, data)
        return True

    def schedule(self, at: float, kind: int, src: Address, dst: Address, payload: Any) -> None:
        """Queue an item for delivery at ``at`` (used for datagrams and stream legs)."""
        self._seq += 1
        heapq.heappush(self.queue, (at, self._seq, kind, src, dst, payload))

    def next_time(self) -> float | None:
        """Delivery time of the earliest item in flight, or None."""
        return self.queue[0][0] if self.queue else None

    def pop(self) -> tuple[float, int, int, Address, Address, Any]:
        """Remove and return the earliest ``(deliver_at, seq, kind, src, dst, payload)``."""
        item = heapq.heappop(self.queue)
        if item[2] == DATAGRAM:
            self.delivered += 1
        return item

    def __len__(self) -> int:
        return len(self.queue)
