"""Aligned probe order: every member probed by someone in every probe interval.

With SWIM's randomized round-robin each prober shuffles its own pass, so the probers
act independently and the probes one member receives form (for large n) a Poisson
stream of one per interval: after a crash the first probe comes after an exponential
wait, 1 interval on average and 4.6 intervals at the 99th percentile. That wait was
the whole tail of claw-node's detection time (``simulations/RESULTS.md``, 2026-12-07):
the rest, one probe round plus the suspicion floor, hardly varies.

``ProbeRing`` removes the wait without probing more. Every member orders the members it
knows the same way (by a stable hash of the name: ``ring_key``), itself included, and at
probe slot ``s = floor(wall clock / probe_interval_s)`` probes the member
``1 + s mod (n - 1)`` places after itself. In one slot the n probers then probe n
different members: each member is probed once per interval, and a crash waits at most
about two intervals (mean ~0.6) for its first probe. Over ``n - 1`` slots a prober still
visits every other member once: SWIM's time-bounded completeness per prober is kept.

Only the order changes: the same pings at the same rate, nothing on the wire, so
memberlist and Serf peers are unaffected (they keep their shuffles). The alignment needs
clocks that agree to well under one probe interval (NTP keeps hosts within
milliseconds). Skewed clocks or views that differ (a join not yet seen everywhere)
only misalign some probers: two probe one member in a slot and another waits, as with
shuffles.
"""

from __future__ import annotations

import math
import zlib
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from .types import MemberState

if TYPE_CHECKING:
    from .membership import Membership

__all__ = ["ProbeRing", "ring_key", "ring_order"]


def ring_key(name: str) -> tuple[int, str]:
    """A member's place on the ring: CRC-32 of its name (the same on every node and in
    every process, unlike ``hash``), the name itself breaking ties."""
    return zlib.crc32(name.encode("utf-8", "surrogatepass")), name


def ring_order(names: Iterable[str]) -> list[str]:
    """``names`` in ring order, duplicates removed."""
    return sorted(dict.fromkeys(names), key=ring_key)


class ProbeRing:
    """One prober's aligned round-robin (see the module docstring).

    ``me``: our own name (on the ring, never probed); ``slot_s``: the slot length, the
    unscaled probe interval; ``clock_offset_s``: added to the core's ``now`` to get the
    clock every member shares (Unix time for the agent; 0 in the simulator, whose
    virtual time all cores share).

    The ring holds exactly the members alive or suspect, as every member's ring must
    for the slots to line up: a dead member left on it would leave its target unprobed
    in every slot. Members going down are only marked (``_gone``, positions on the
    ring), joins are inserted at their place, and the ring is rebuilt only when a
    marked member disappears from the table. A ring shared with other probers (a
    converged start) is copied before the first insert.
    """

    def __init__(self, me: str, slot_s: float, clock_offset_s: float = 0.0) -> None:
        self._me = me
        self._slot_s = slot_s
        self._offset = clock_offset_s
        self._ring: list[str] = [me]
        self._my_place = 0
        self._gone: list[int] = []
        """Sorted positions on ``_ring`` of members no longer alive or suspect."""
        self._shared = False
        """``_ring`` is another prober's too: copy it before inserting."""
        self._version = -1
        """``Membership.live_version`` the ring reflects."""

    def use_shared(self, ring: list[str], members: Membership) -> None:
        """Start from ``ring`` (in ring order, our name on it, exactly the live members
        of ``members``), shared with other probers and never mutated: a converged start
        builds it once for all."""
        self._ring = ring
        self._my_place = bisect_left(ring, ring_key(self._me), key=ring_key)
        if ring[self._my_place] != self._me:
            raise ValueError(f"{self._me!r} is not on the shared ring")
        self._gone = []
        self._shared = True
        self._version = members.live_version

    def __len__(self) -> int:
        return len(self._ring) - len(self._gone) - 1

    def add(self, name: str) -> None:
        """A member joined or came back: put it on the ring at its place (one insert,
        no re-sort: a join of many members adds them one by one)."""
        ring = self._ring
        i = bisect_left(ring, ring_key(name), key=ring_key)
        if i < len(ring) and ring[i] == name:
            return  # still on it (back from the dead): ``_sync`` unmarks it
        if self._shared:
            ring = self._ring = list(ring)
            self._shared = False
        ring.insert(i, name)
        if i <= self._my_place:
            self._my_place += 1
        self._gone = [g + 1 if g >= i else g for g in self._gone]

    def _sync(self, members: Membership) -> None:
        """Bring the ring to the members now alive or suspect."""
        self._version = members.live_version
        ring = self._ring
        gone = []
        for name in members.down_names():
            i = bisect_left(ring, ring_key(name), key=ring_key)
            if i < len(ring) and ring[i] == name:
                gone.append(i)
        if len(ring) - len(gone) == members.live_count:
            gone.sort()
            self._gone = gone
            return
        # A member gone from the table altogether, or one added without ``add``: rebuild.
        live = [r.name for r in members if r.state in (MemberState.ALIVE, MemberState.SUSPECT)]
        self._ring = ring_order([self._me, *live])
        self._my_place = self._ring.index(self._me)
        self._gone = []
        self._shared = False

    def _name_at(self, v: int) -> str:
        """The name at place ``v`` of the ring without the gone members."""
        gone, b = self._gone, v
        if gone:
            while True:
                nb = v + bisect_right(gone, b)
                if nb == b:
                    break
                b = nb
        return self._ring[b]

    def next(self, now: float, members: Membership,
             eligible: Callable[[str], bool]) -> str | None:
        """The member to probe in the slot of ``now`` (core time): the first eligible
        name from our slot's place on; None if nobody is eligible."""
        if members.live_version != self._version:
            self._sync(members)
        size = len(self._ring) - len(self._gone)
        others = size - 1
        if others <= 0:
            return None
        slot = math.floor((now + self._offset) / self._slot_s)
        me_v = self._my_place - bisect_left(self._gone, self._my_place)
        v = (me_v + 1 + slot % others) % size
        for _ in range(size):
            name = self._name_at(v)
            if name != self._me and eligible(name):
                return name
            v = (v + 1) % size
        return None
