"""Coordinator election: deterministic, stable, terms only grow, partitions heal to one."""

from __future__ import annotations

import itertools
import random

import pytest

from gossip.events import Member
from gossip.types import MemberState
from node.election import (
    Candidate,
    CoordinatorRole,
    RoleChange,
    candidate_of,
    claim_to_publish,
    decide_claim,
    elect,
    minority_flag,
    next_term,
)

pytestmark = pytest.mark.usefixtures("strict_core")  # a bug the core survives fails the test


def c(node_id: str, started: float, *, live: bool = True, eligible: bool = True, term: int = 0,
      minority: bool = False) -> Candidate:
    return Candidate(node_id=node_id, live=live, eligible=eligible, started_at=started, term=term,
                     minority=minority)


def test_nobody_eligible() -> None:
    assert elect([]) is None
    assert elect([c("a", 1, eligible=False), c("b", 2, live=False)]) is None


def test_longest_running_wins_then_smallest_id() -> None:
    assert elect([c("b", 10), c("a", 20), c("c", 5)]).node_id == "c"
    assert elect([c("b", 10), c("a", 10)]).node_id == "a"


def test_order_of_the_view_does_not_matter() -> None:
    members = [c(f"n{i}", random.Random(i).choice([1.0, 2.0, 3.0]), term=(i % 3 == 0) * i)
               for i in range(6)]
    winners = {elect(list(p)).node_id for p in itertools.permutations(members)}
    assert len(winners) == 1


def test_no_coordinator_nodes_and_dead_nodes_are_never_chosen() -> None:
    assert elect([c("old", 1, eligible=False), c("young", 9)]).node_id == "young"
    assert elect([c("old", 1, live=False, term=4), c("young", 9)]).node_id == "young"


def test_newcomer_older_than_the_coordinator_does_not_displace_it() -> None:
    # "old" has an earlier start time (e.g. a skewed clock) but the incumbent keeps the role.
    assert elect([c("inc", 50, term=3), c("old", 1)]).node_id == "inc"


def test_highest_term_wins_between_two_claimants_after_a_partition() -> None:
    assert elect([c("a", 1, term=3), c("b", 9, term=4)]).node_id == "b"
    assert elect([c("a", 1, term=4), c("b", 9, term=4)]).node_id == "a"


def test_a_claimant_on_the_majority_side_beats_a_higher_term_from_a_minority() -> None:
    majority = Candidate("inc", True, True, 1.0, term=3)
    rival = Candidate("min", True, True, 9.0, term=4, minority=True)
    assert elect([majority, rival]).node_id == "inc"
    both = [Candidate("a", True, True, 1.0, term=3, minority=True), rival]
    assert elect(both).node_id == "min"  # 50/50: both marked, the higher term


def test_minority_flag_is_kept_while_a_rival_claims() -> None:
    def flag(claiming: bool = True, flagged: bool = False, minority_now: bool = False,
             rival: bool = False) -> bool:
        return minority_flag(claiming=claiming, flagged=flagged, minority_now=minority_now,
                             rival_claimant=rival)
    assert not flag(claiming=False, flagged=True, minority_now=True)
    assert flag(minority_now=True)
    assert flag(flagged=True, rival=True)  # healed, but the rival is still claiming
    assert not flag(flagged=True)          # healed and alone: cleared
    assert not flag(rival=True)            # never marked: stays unmarked


_KEEP = RoleChange(None, None)


# (what happens, this node's view (it is "me"), its claim, marked, minority now, expected
#  (claim, mark) to publish or None: unchanged). "me" claimed term 2 on a 3-of-10 side
# while "inc" (term 1) kept the 7-of-10 side.
_MARK_TABLE = [
    ("still split: marked", [c("me", 9, term=2), c("inc", 1, live=False, term=1)], 2, False,
     True, (2, True)),
    ("heal, most of the view back but the rival still failed: kept (seed 99)",
     [c("me", 9, term=2, minority=True), c("inc", 1, live=False, term=1)], 2, True, False,
     None),
    ("heal, the rival back and claiming: kept",
     [c("me", 9, term=2, minority=True), c("inc", 1, term=1)], 2, True, False, None),
    ("the rival left gracefully: cleared",
     [c("me", 9, term=2, minority=True),
      Candidate("inc", False, True, 1, term=1, left=True)], 2, True, False, (2, False)),
    ("the rival stepped down (50/50 heal won): cleared",
     [c("me", 9, term=2, minority=True), c("inc", 1)], 2, True, False, (2, False)),
    ("a majority-side claimant with the old incumbent failed: never marked",
     [c("me", 9, term=2), c("inc", 1, live=False, term=1)], 2, False, False, None),
]


@pytest.mark.parametrize(("what", "view", "claim", "flagged", "minority_now", "expected"),
                         _MARK_TABLE, ids=[row[0] for row in _MARK_TABLE])
def test_the_minority_mark_in_every_order_of_the_heal(
        what: str, view: list[Candidate], claim: int, flagged: bool, minority_now: bool,
        expected: tuple[int, bool] | None) -> None:
    assert claim_to_publish(_KEEP, view, self_id="me", claim=claim, flagged=flagged,
                            minority_now=minority_now) == expected


def test_the_majority_incumbent_never_steps_down_to_a_marked_claim() -> None:
    role = CoordinatorRole("inc", highest_term=1)
    role.settled = True
    # The minority claimant is seen before and after it comes back alive: marked both times.
    for live in (False, True):
        view = [c("inc", 1, term=1), Candidate("me", live, True, 9, term=2, minority=True)]
        assert role.review(view, my_claim=1).publish_claim is None
        assert (role.coordinator, role.term) == ("inc", 1)
    # The marked claimant sees the unmarked incumbent: it steps down.
    loser = CoordinatorRole("me", highest_term=2)
    loser.settled = True
    view = [c("inc", 1, term=1), Candidate("me", True, True, 9, term=2, minority=True)]
    assert loser.review(view, my_claim=2).publish_claim == 0


def _member(name: str, state: MemberState) -> Member:
    return Member(name, ("127.0.0.1", 7946), b"", 1, state, 0.0, b"", True)


def test_reelect_keeps_the_mark_while_the_rival_is_unreachable() -> None:
    from node.metadata import NodeMeta

    # "me" holds term 2 marked; 8 of 10 members alive again, "inc" (term 1) still dead.
    members = [_member("me", MemberState.ALIVE), _member("inc", MemberState.DEAD),
               _member("gone", MemberState.DEAD),
               *(_member(f"o{i}", MemberState.ALIVE) for i in range(7))]
    metas = {"inc": NodeMeta(started_at=1.0, term=1), "gone": NodeMeta(started_at=2.0)}
    role = CoordinatorRole("me", highest_term=2)
    role.settled = True
    mine = NodeMeta(started_at=9.0, term=2, minority_claim=True)
    change, meta = role.reelect(members, mine, lambda m: metas.get(m.name, NodeMeta(started_at=5.0)))
    assert meta is None and change.publish_claim is None and role.is_coordinator
    # The incumbent comes back: "me" steps down (and its mark goes with the claim).
    members[1] = _member("inc", MemberState.ALIVE)
    change, meta = role.reelect(members, mine, lambda m: metas.get(m.name, NodeMeta(started_at=5.0)))
    assert meta == mine.replace(term=0, minority_claim=False)
    assert role.coordinator == "inc"


def test_candidate_of_a_member_that_left_is_out_of_the_view() -> None:
    from node.metadata import NodeMeta

    meta = NodeMeta(started_at=3.0, term=4, minority_claim=True)
    left = candidate_of(_member("x", MemberState.LEFT), meta)
    assert (left.live, left.left, left.term, left.minority) == (False, True, 4, True)
    failed = candidate_of(_member("x", MemberState.DEAD), meta)
    assert (failed.live, failed.left) == (False, False)
    assert candidate_of(_member("x", MemberState.SUSPECT), meta).live


def test_next_term() -> None:
    assert next_term(0) == 1 and next_term(7) == 8


def test_decide_claim_succession_and_step_down() -> None:
    view = [c("a", 1, live=False, term=2), c("b", 5), c("d", 9)]
    # b is the successor: it claims highest_seen + 1
    mine = decide_claim(view, self_id="b", my_claim=0, highest_seen=2, settled=True)
    assert (mine.coordinator, mine.term, mine.my_claim) == ("b", 3, 3)
    # d agrees on b and predicts the same term, claims nothing
    other = decide_claim(view, self_id="d", my_claim=0, highest_seen=2, settled=True)
    assert (other.coordinator, other.term, other.my_claim) == ("b", 3, 0)
    # once b's claim is visible, d shows b's claimed term
    view2 = [c("a", 1, live=False, term=2), c("b", 5, term=3), c("d", 9)]
    other = decide_claim(view2, self_id="d", my_claim=0, highest_seen=3, settled=True)
    assert (other.coordinator, other.term) == ("b", 3)
    # after healing a partition, the lower-term claimant steps down
    healed = [c("a", 1, term=2), c("b", 5, term=3)]
    a = decide_claim(healed, self_id="a", my_claim=2, highest_seen=3, settled=True)
    assert (a.coordinator, a.my_claim) == ("b", 0)


def test_unsettled_node_never_starts_a_claim() -> None:
    alone = [c("restarted", 100)]
    d = decide_claim(alone, self_id="restarted", my_claim=0, highest_seen=5, settled=False)
    assert d.my_claim == 0 and d.coordinator is None
    d = decide_claim(alone, self_id="restarted", my_claim=0, highest_seen=5, settled=True)
    assert d.my_claim == 6


def test_restarted_old_coordinator_does_not_take_the_role_back() -> None:
    # a (old coordinator, term 1) died; b took over with term 2; a restarts with a new
    # start time and sees b's claim.
    view = [c("a", 500), c("b", 20, term=2), c("c", 30)]
    d = decide_claim(view, self_id="a", my_claim=0, highest_seen=2, settled=True)
    assert (d.coordinator, d.term, d.my_claim) == ("b", 2, 0)


def test_terms_grow_over_a_sequence_of_failures() -> None:
    start = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}
    alive = set(start)
    claims: dict[str, int] = {}
    highest = 0
    seen_terms = []
    for victim in ["a", "b", "c"]:
        for _ in range(2):  # two passes: successor claims, then everybody agrees
            view = [c(n, start[n], live=n in alive, term=claims.get(n, 0)) for n in start]
            for n in sorted(alive):
                d = decide_claim(view, self_id=n, my_claim=claims.get(n, 0),
                                 highest_seen=highest, settled=True)
                claims[n] = d.my_claim
                highest = max(highest, d.my_claim)
        coordinator = elect([c(n, start[n], live=n in alive, term=claims.get(n, 0)) for n in start])
        seen_terms.append(claims[coordinator.node_id])
        alive.discard(victim)
    assert seen_terms == [1, 2, 3]


# --- with real gossip cores (virtual time, tests/core_harness.py) -------------------------

def _run_partition_and_heal(seed: int, nodes: int = 5, split_at: int = 2
                            ) -> tuple[set[tuple[str, int]], set[tuple[str, int]], set[tuple[str, int]]]:
    from gossip.config import GossipConfig
    from node.metadata import NodeMeta, decode_meta, encode_meta
    from tests.core_harness import Cluster

    cluster = Cluster(GossipConfig.local(), seed=seed)
    names = [f"n{i}" for i in range(nodes)]
    metas = {n: NodeMeta(started_at=100.0 + i) for i, n in enumerate(names)}
    for n in names:
        cluster.add_node(n, meta=encode_meta(metas[n]))
    roles = {n: CoordinatorRole(n) for n in names}
    for role in roles.values():
        role.settled = True

    def elect_everywhere() -> set[tuple[str, int]]:
        views = set()
        for n in cluster.live():
            core = cluster.core(n)
            _, meta = roles[n].reelect(core.members(), metas[n],  # as Reelection.run does
                                       lambda m: decode_meta(m.meta))
            if meta is not None:
                metas[n] = meta
                core.set_meta(encode_meta(metas[n]), cluster.now)
            views.add((roles[n].coordinator, roles[n].term))
        return views

    def settle(duration: float) -> set[tuple[str, int]]:
        views: set[tuple[str, int]] = set()
        for _ in range(int(duration)):
            cluster.run(1.0)
            views = elect_everywhere()
        return views

    cluster.join_all()
    before = settle(10.0)
    cluster.partition(names[:split_at], names[split_at:])
    settle(40.0)
    split = _claims(metas, names[:split_at]) | _claims(metas, names[split_at:])
    cluster.heal()
    after = settle(120.0)
    return before, split, after


def _claims(metas: dict, names: list[str]) -> set[tuple[str, int]]:  # type: ignore[type-arg]
    """The highest claim on one side of a partition: (node, term)."""
    claims = {n: metas[n].term for n in names}
    top = max(claims.values())
    return {(n, t) for n, t in claims.items() if t == top and t > 0}


def test_partition_elects_one_per_side_and_heals_to_one() -> None:
    before, split, after = _run_partition_and_heal(seed=3)
    assert before == {("n0", 1)}
    # During the partition each side has its own coordinator: n0 keeps term 1 on its
    # side (2 of 5: a minority), the other side elects its longest-running node n2 with
    # term 2.
    assert split == {("n0", 1), ("n2", 2)}
    # After healing every node names the same single coordinator: the larger side's.
    assert after == {("n2", 2)}


def test_the_incumbent_of_the_larger_side_stays_after_the_heal() -> None:
    before, split, after = _run_partition_and_heal(seed=5, split_at=3)
    assert before == {("n0", 1)}
    assert split == {("n0", 1), ("n3", 2)}  # n3 claims a higher term on the minority side
    assert after == {("n0", 1)}


def test_a_50_50_split_heals_to_the_higher_term() -> None:
    before, split, after = _run_partition_and_heal(seed=7, nodes=4, split_at=2)
    assert before == {("n0", 1)}
    assert split == {("n0", 1), ("n2", 2)}
    assert after == {("n2", 2)}


def test_role_claims_once_settled_and_reports_the_term_to_store() -> None:
    role = CoordinatorRole("a", highest_term=4)
    view = [c("a", 1.0), c("b", 2.0)]
    assert role.review(view, my_claim=0) == RoleChange(persist_term=None, publish_claim=None)
    assert role.coordinator is None and role.term == 4  # unsettled: no claim yet
    role.settled = True
    assert role.review(view, my_claim=0) == RoleChange(persist_term=5, publish_claim=5)
    assert (role.coordinator, role.term, role.highest_term) == ("a", 5, 5) and role.is_coordinator
    # Published: the next review (with the claim in our metadata) changes nothing.
    view = [c("a", 1.0, term=5), c("b", 2.0)]
    assert role.review(view, my_claim=5) == RoleChange(persist_term=None, publish_claim=None)


def test_role_steps_down_for_a_higher_claim_and_remembers_its_term() -> None:
    role = CoordinatorRole("a", highest_term=5)
    role.settled = True
    view = [c("a", 1.0, term=5), c("b", 2.0, term=7)]  # healed partition
    assert role.review(view, my_claim=5) == RoleChange(persist_term=7, publish_claim=0)
    assert (role.coordinator, role.term, role.is_coordinator) == ("b", 7, False)
    # b dies: a succeeds it with a term above every term seen, b's included.
    view = [c("a", 1.0), c("b", 2.0, term=7, live=False)]
    assert role.review(view, my_claim=0) == RoleChange(persist_term=8, publish_claim=8)
