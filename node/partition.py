"""Is this node's side of the cluster partitioned, and is it the minority?

Gossip systems stay available when the network splits: each side keeps serving reads
and writes (each elects its own coordinator). That must never be silent, so every node
reports how much of the *last stable view* it still reaches:

* the last stable view is every member that has not left: alive, suspect, and failed
  members, which the member table keeps until they are reaped
  (``gossip.membership.TOMBSTONE_S``, 24 h) or force-left. A member that left
  gracefully is no longer expected; one that vanished is, because from inside a
  partition a crash and a cut link look the same;
* reachable are the alive and suspect members (this node included).

Fewer reachable than the stable view: ``/health`` and ``/api/v1/cluster/health`` say
``partitioned: N of M nodes of the last stable view reachable``; at most half of it:
this side is a minority, and the alerts its coordinator raises say so, so an
operator's failover script can refuse to act on them (Serf users hit both sides running
theirs, serf#551).

Limits: a crashed member counts as unreachable until reaped or force-left (the report
is then "partitioned" although nothing is split: it says what it can see); a side cannot
know what the other side sees.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gossip.events import Member
from gossip.types import MemberState

__all__ = ["PartitionStatus", "partition_status"]

_REACHABLE = (MemberState.ALIVE, MemberState.SUSPECT)


@dataclass(frozen=True, slots=True)
class PartitionStatus:
    """How much of the last stable view this node reaches."""

    reachable: int
    stable_view: int

    @property
    def partitioned(self) -> bool:
        return self.reachable < self.stable_view

    @property
    def minority(self) -> bool:
        """At most half of the stable view is reachable (a tie is no majority)."""
        return self.partitioned and 2 * self.reachable <= self.stable_view

    def describe(self) -> str | None:
        """``N of M nodes of the last stable view reachable``, None when not partitioned."""
        if not self.partitioned:
            return None
        return f"{self.reachable} of {self.stable_view} nodes of the last stable view reachable"


def partition_status(members: Iterable[Member]) -> PartitionStatus:
    """The status from this node's member table (it lists itself, alive)."""
    reachable = stable = 0
    for member in members:
        if member.state == MemberState.LEFT:
            continue
        stable += 1
        reachable += member.state in _REACHABLE
    return PartitionStatus(reachable, stable)
