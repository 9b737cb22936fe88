"""Failure-detection bookkeeping (memberlist ``state.go`` ``probe``/``probeNode``).

* ``ProbeList``: randomized round-robin over members — every member is probed once per
  pass, in an order reshuffled at each wrap (rng injected).
* ``ProbeRound``: the one probe in flight, with its absolute deadlines: direct ack by
  ``ack_deadline`` (``probe_timeout_s``), then indirect pings and a TCP ping, and any
  ack by ``deadline`` (the awareness-scaled probe interval).
* ``Relay``: an indirect ping we perform on behalf of another member.

Pure data and bookkeeping; ``SwimProtocol`` sends the messages.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from random import Random

from .types import Address

__all__ = ["MAX_RELAYS", "SEQ_MODULUS", "ProbeList", "ProbeRound", "Relay"]

MAX_RELAYS = 1024
"""Indirect pings served at once; more are refused so a flood cannot grow memory.
memberlist has no cap (one goroutine each); 1024 is far above 3 per member per second."""

SEQ_MODULUS = 1 << 32
"""Sequence numbers are Go ``uint32`` and wrap."""


class ProbeList:
    """Shuffled round-robin of member names.

    ``from_shared`` starts one over a name list shared by many lists (the simulator's
    converged start) without copying it: the pass order is drawn lazily, one
    Fisher-Yates step per probe, so each list costs memory only for the names it has
    probed. Any other change (``add``) or the end of the pass turns it into an
    ordinary list.
    """

    def __init__(self, rng: Random) -> None:
        self._rng = rng
        self._names: list[str] = []
        self._present: set[str] = set()
        self._index = 0
        self._shared: list[str] | None = None
        """Lazy mode: the shared names, in the order position ``i`` holds unless
        ``_moved`` says otherwise; never mutated."""
        self._moved: dict[int, str] = {}
        """Lazy mode: positions whose name a Fisher-Yates swap changed."""

    @classmethod
    def from_shared(cls, rng: Random, names: list[str]) -> ProbeList:
        """A list holding ``names`` (not copied, not mutated) in an order drawn lazily."""
        probe_list = cls(rng)
        probe_list._shared = names
        return probe_list

    def __len__(self) -> int:
        return len(self._shared) if self._shared is not None else len(self._names)

    def _draw_lazy(self) -> str:
        """Fisher-Yates step at ``_index``: swap in a uniformly drawn later name."""
        shared, moved, i = self._shared, self._moved, self._index
        assert shared is not None
        j = i + self._rng.randrange(len(shared) - i)
        picked = moved.pop(j, None) or shared[j]
        if j != i:
            moved[j] = moved.pop(i, None) or shared[i]
        else:
            moved.pop(i, None)
        self._index = i + 1
        return picked

    def _materialize(self) -> None:
        """Leave lazy mode: finish this pass's shuffle of the remaining names."""
        shared = self._shared
        if shared is None:
            return
        start = self._index
        rest = [self._moved.get(k) or shared[k] for k in range(start, len(shared))]
        self._rng.shuffle(rest)
        self._names = [""] * start + rest  # positions already passed are not read again
        self._present = set(shared)
        self._shared = None
        self._moved = {}

    def add(self, name: str) -> None:
        """Insert a new member at a random position (memberlist does the same)."""
        self._materialize()
        if name in self._present:
            return
        self._present.add(name)
        self._names.append(name)
        j = self._rng.randrange(len(self._names))
        self._names[j], self._names[-1] = self._names[-1], self._names[j]

    def next(self, eligible: Callable[[str], bool], refill: Callable[[], Iterable[str]]) -> str | None:
        """The next eligible name; reshuffles ``refill()`` at each wrap. None if none.

        At most two passes over the list, so an all-ineligible list costs O(n).
        """
        while self._shared is not None and self._index < len(self._shared):
            name = self._draw_lazy()
            if eligible(name):
                return name
        if self._shared is not None:  # the lazy pass is over: continue as a plain list
            self._names, self._present, self._shared = [], set(), None
            self._index = 0
        wraps = 0
        while True:
            if self._index >= len(self._names):
                if wraps >= 1:
                    return None
                wraps += 1
                self._names = list(dict.fromkeys(refill()))
                self._present = set(self._names)
                self._rng.shuffle(self._names)
                self._index = 0
                if not self._names:
                    return None
            name = self._names[self._index]
            self._index += 1
            if eligible(name):
                return name


@dataclass(slots=True)
class ProbeRound:
    """The probe in flight (memberlist probes one member at a time)."""

    target: str
    address: Address
    seq: int
    start: float
    ack_deadline: float
    """Direct ack expected by then; afterwards indirect pings and the TCP ping go out."""
    deadline: float
    """End of the round: no ack by then means the target becomes suspect."""
    indirect_sent: bool = False
    expected_nacks: int = 0
    nacks: int = 0
    tcp_stream: int | None = None
    confirm: bool = False
    """claw-node confirmation probe of a member someone else suspects: its failure does
    not count against our local health (``SwimProtocol._probe_failed``)."""


@dataclass(slots=True)
class Relay:
    """An indirect ping we relay: our own ping's seq maps to the requester's."""

    requester: Address
    requester_seq: int
    requester_name: str
    want_nack: bool
    deadline: float
    """After ``probe_timeout_s`` without ack: forget (and nack, if not done yet)."""
    nack_at: float = math.inf
    """When to nack if asked and still no ack (``GossipConfig.relay_nack_fraction``)."""
