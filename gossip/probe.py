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
    """Shuffled round-robin of member names."""

    def __init__(self, rng: Random) -> None:
        self._rng = rng
        self._names: list[str] = []
        self._present: set[str] = set()
        self._index = 0

    def __len__(self) -> int:
        return len(self._names)

    def add(self, name: str) -> None:
        """Insert a new member at a random position (memberlist does the same)."""
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
    """After ``probe_timeout_s`` without ack: nack (if asked) and forget."""
