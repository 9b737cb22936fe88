"""Coordinator election: a pure function of the membership view, the term rule, and
this node's ``CoordinatorRole``.

Every node runs ``elect`` over the same converged view and so names the same node.

Rules (in order):

1. **Incumbency.** A node that is coordinator says so in its own metadata: its term
   (``Candidate.term`` > 0) and whether it holds the role from a minority of the last
   stable view (``Candidate.minority``, ``node.partition``). If any live, eligible node
   claims a term, the coordinator is the claimant not on a minority side if there is
   one, then the one with the highest term (ties: earliest start, then smallest id). So
   a node that joins, or returns after a crash, never displaces a healthy coordinator:
   it does not claim anything until it is elected under rule 2.
2. **Succession.** With no live claimant, the eligible live node that has been running
   longest (earliest ``started_at``, ties by smallest id) is elected. It then claims
   ``next_term(highest term seen)`` in its metadata, which turns it into the incumbent of
   rule 1 on every node.

Eligible: a claw node (not a plain Serf agent) without ``--no-coordinator``. Live: SWIM
state alive or suspect (suspicion alone never moves the role; a dead or left node is
gone). Terms only grow: the new coordinator takes one more than the highest term any
node's metadata ever showed it (dead members' metadata included, and the highest term is
kept in the store across restarts).

Partitions: each side that lacks the incumbent elects its own coordinator under rule 2,
with term T+1 (so two coordinators exist while the partition lasts, each serving its
side, and each reporting ``partitioned`` in its health). A coordinator that reaches at
most half of the last stable view marks its claim ``minority`` (``minority_flag``). The
mark is cleared only once the claimant reaches more than half of the view *and* no other
member of the view claims a term, reachable or not: an unreachable claimant may be the
other side's coordinator, which the heal has not brought back yet (from inside a
partition a crash and a cut look the same). So however the heal's messages are ordered
(the claimant may see most of the other side alive again while the other coordinator
still looks failed) the mark is in place when the two claims meet, and rule 1 keeps the
coordinator of the side that held the larger share: the unmarked one; the marked one
steps down by clearing its claim, and an incumbent never steps down to a marked claim
unless it is marked itself. On a 50/50 split both are marked and the higher term stays
(the earliest-started on a tie); once the other has stepped down it clears its mark.

Limits of the mark:

* a claim is marked only once its node's failure detector shows a minority: a heal that
  comes before the minority side has declared most of the other side failed (roughly
  the suspicion timeout after the split) may meet an unmarked claim, and the higher term
  stays, as without the mark;
* a coordinator elected on a minority after a real crash of the majority stays marked
  until the crashed claimant comes back (it returns without a claim), is reaped
  (``gossip.membership.TOMBSTONE_S``) or is force-left; if a second partition heals
  meanwhile, two marked claims meet and the 50/50 rule (higher term) decides.

No record is lost on healing: HTTP-registered records merge newest-wins
(``api.registry.HttpNodeRecord.newer_than``) by push-pull, whatever the coordinator,
under an order that does not depend on clocks where it matters:

* ``version`` is a per-record Lamport counter: every write takes the writer's copy's
  version + 1, so a write that causally follows another (its writer had merged it)
  always has the higher version and wins on every node, whatever the clocks say;
* concurrent writes on the two sides of a split with the same version are ordered by
  ``updated_at`` (a hybrid clock: ``max(wall clock, previous updated_at)``, so it never
  runs backwards on a record), then by the encoded bytes: deterministic, every node
  picks the same winner.

Limits: between concurrent writes the clocks (±skew) or the number of writes on each
side decide which one survives (a side that wrote a record twice beats one that wrote
it once); neither was acknowledged after seeing the other. A minority coordinator's
writes are acknowledged on its side only (availability first) and merge as above.

Known limit: two nodes whose views differ for a moment (one has not heard of the other
yet) can both claim the same term T+1; rule 1's tie-break then keeps exactly one, so the
term shown by every node is T+1 for both of them in turn.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import NamedTuple

from gossip.events import Member
from gossip.types import MemberState

from .metadata import NodeMeta
from .partition import partition_status

__all__ = ["Candidate", "ClaimDecision", "CoordinatorRole", "RoleChange", "candidate_of",
           "claim_to_publish", "decide_claim", "elect", "minority_flag", "next_term"]

log = logging.getLogger(__name__)


class Candidate(NamedTuple):
    """What election needs to know about one member (from its state and metadata)."""

    node_id: str
    live: bool
    """SWIM alive or suspect."""
    eligible: bool
    """A claw node that accepts the role (no ``--no-coordinator``)."""
    started_at: float
    """Unix seconds when its agent process started (from its metadata)."""
    term: int = 0
    """The coordinator term it claims in its metadata; 0 when it does not claim the role."""
    minority: bool = False
    """Its claim is held from a minority of the last stable view (rule 1)."""
    left: bool = False
    """It left gracefully: no longer part of the last stable view (``node.partition``)."""


_LIVE = (MemberState.ALIVE, MemberState.SUSPECT)


def candidate_of(member: Member, meta: NodeMeta) -> Candidate:
    """The candidate ``member`` is, given its metadata (this node's own for itself)."""
    return Candidate(
        node_id=member.name, live=member.state in _LIVE,
        eligible=meta.is_claw and not meta.no_coordinator, started_at=meta.started_at,
        term=meta.term, minority=meta.minority_claim, left=member.state == MemberState.LEFT)


def _seniority(c: Candidate) -> tuple[float, str]:
    return (c.started_at, c.node_id)


def elect(candidates: Iterable[Candidate]) -> Candidate | None:
    """The coordinator under rules 1 and 2 (module docstring), or None if nobody is eligible.

    Deterministic: the order of ``candidates`` does not matter.
    """
    pool = [c for c in candidates if c.live and c.eligible]
    if not pool:
        return None
    claimants = [c for c in pool if c.term > 0]
    if claimants:
        majority = [c for c in claimants if not c.minority] or claimants
        top = max(c.term for c in majority)
        return min((c for c in majority if c.term == top), key=_seniority)
    return min(pool, key=_seniority)


def claim_to_publish(change: RoleChange, candidates: Iterable[Candidate], *, self_id: str,
                     claim: int, flagged: bool, minority_now: bool) -> tuple[int, bool] | None:
    """The claim and minority mark this node must publish after ``CoordinatorRole.review``
    (``claim``, ``flagged``: what its metadata says now), or None when both stay.

    Args:
        change: what ``review`` returned.
        candidates: the candidates ``review`` saw.
        minority_now: this node reaches at most half of the last stable view
            (``node.partition``).
    """
    new_claim = claim if change.publish_claim is None else change.publish_claim
    flag = minority_flag(
        claiming=new_claim > 0, flagged=flagged, minority_now=minority_now,
        rival_claimant=any(c.term > 0 and not c.left and c.node_id != self_id
                           for c in candidates))
    if (new_claim, flag) == (claim, flagged):
        return None
    return new_claim, flag


def minority_flag(*, claiming: bool, flagged: bool, minority_now: bool,
                  rival_claimant: bool) -> bool:
    """Whether this node's claim must be marked ``minority`` now.

    Set while it reaches at most half of the last stable view; cleared once it reaches
    more *and* ``rival_claimant`` is False: no other member of the last stable view
    claims a term, reachable or not (module docstring: at a heal the rival may still
    look failed while most of its side looks alive again). False when not claiming.
    """
    if not claiming:
        return False
    if minority_now:
        return True
    return flagged and rival_claimant


def next_term(highest_seen: int) -> int:
    """The term a newly elected coordinator claims: one above every term seen."""
    return max(0, highest_seen) + 1


class ClaimDecision(NamedTuple):
    """What this node must publish after looking at the view."""

    coordinator: str | None
    """Who is coordinator now, as far as this node can tell."""
    term: int
    """The coordinator's term (its claim, or the term it is about to claim)."""
    my_claim: int
    """The claim this node must publish in its metadata (0: none)."""


def decide_claim(
    candidates: Iterable[Candidate], *, self_id: str, my_claim: int, highest_seen: int,
    settled: bool,
) -> ClaimDecision:
    """Apply the election from this node's point of view.

    Args:
        candidates: every member (this node included, with its current claim).
        self_id: this node's id.
        my_claim: the term this node claims now (0: none).
        highest_seen: the highest term this node has seen anywhere (metadata, store).
        settled: False while the initial join is still in progress; an unsettled node
            never starts a claim (it may not have seen the incumbent yet).
    Returns:
        The coordinator, its term, and the claim this node must publish (unchanged,
        a new claim ``next_term(highest_seen)``, or 0 to step down).
    """
    pool = list(candidates)
    winner = elect(pool)
    if winner is None:
        return ClaimDecision(None, highest_seen, 0)
    if winner.node_id == self_id:
        if my_claim > 0:
            return ClaimDecision(self_id, my_claim, my_claim)
        if not settled:
            return ClaimDecision(None, highest_seen, 0)
        term = next_term(highest_seen)
        return ClaimDecision(self_id, term, term)
    # Someone else: step down if we claimed. Show the winner's term, or the one it will take.
    term = winner.term if winner.term > 0 else next_term(highest_seen)
    return ClaimDecision(winner.node_id, term, 0)


class RoleChange(NamedTuple):
    """What this node must do after ``CoordinatorRole.review``."""

    persist_term: int | None
    """A new highest term to store (terms only grow, across restarts too), or None."""
    publish_claim: int | None
    """The claim to publish in this node's metadata (0: step down), or None: unchanged."""


class CoordinatorRole:
    """This node's view of the coordinator role: who holds it, the highest term seen,
    and whether this node may start a claim.

    It keeps what ``decide_claim`` needs between two membership changes; the agent
    builds the candidates, stores the terms and publishes the claims it returns.

    Args:
        node_id: this node.
        highest_term: the highest term seen before (from the store).
    """

    def __init__(self, node_id: str, highest_term: int = 0) -> None:
        self.node_id = node_id
        self.coordinator: str | None = None
        self.term = 0
        self.highest_term = highest_term
        self.settled = False
        """False while the initial join is in progress (``decide_claim``'s ``settled``)."""

    @property
    def is_coordinator(self) -> bool:
        """Whether this node holds the role, as far as it can tell."""
        return self.coordinator == self.node_id

    def review(self, candidates: Iterable[Candidate], my_claim: int) -> RoleChange:
        """Re-run the election over ``candidates`` (every member, this node included,
        with ``my_claim`` as its term) and update the coordinator and term.

        Returns:
            The term to store, and the claim to publish (None for either: nothing to do).
        """
        pool = list(candidates)
        highest = max([self.highest_term, *(c.term for c in pool)])
        decision = decide_claim(pool, self_id=self.node_id, my_claim=my_claim,
                                highest_seen=highest, settled=self.settled)
        # A change is published as a cluster event (and logged) by the agent.
        self.coordinator, self.term = decision.coordinator, decision.term
        claim = None
        if decision.my_claim != my_claim:
            claim = decision.my_claim
            if claim > 0:
                log.info("elected coordinator, term %d", claim)
                highest = max(highest, claim)
            else:
                log.info("stepping down as coordinator (term %d)", my_claim)
        persist = highest if highest > self.highest_term else None
        self.highest_term = highest
        return RoleChange(persist_term=persist, publish_claim=claim)

    def reelect(self, members: Iterable[Member], meta: NodeMeta,
                meta_of: Callable[[Member], NodeMeta]) -> tuple[RoleChange, NodeMeta | None]:
        """``review`` over this node's member table, then ``claim_to_publish``: the one
        path the agent (and the simulator) re-elect through.

        Args:
            members: this node's member table (it lists itself).
            meta: this node's metadata as published now (its claim and mark).
            meta_of: the metadata of another member.
        Returns:
            What ``review`` returned, and the metadata to publish (None: unchanged).
        """
        members = list(members)
        candidates = [candidate_of(m, meta if m.name == self.node_id else meta_of(m))
                      for m in members]
        change = self.review(candidates, my_claim=meta.term)
        publish = claim_to_publish(change, candidates, self_id=self.node_id, claim=meta.term,
                                   flagged=meta.minority_claim,
                                   minority_now=partition_status(members).minority)
        if publish is None:
            return change, None
        return change, meta.replace(term=publish[0], minority_claim=publish[1])
