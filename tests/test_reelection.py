"""``node.reelection.Reelection``: runs the election at the right moments and carries out
its decision (events, stored terms, published claims, the REST stack wanted)."""

from __future__ import annotations

import asyncio

from gossip.events import Member
from gossip.types import MemberState
from node.events import ClusterEvent, EventKind
from node.metadata import MetaCache, NodeMeta, encode_meta
from node.reelection import REELECT_COALESCE_S, Reelection


def member(name: str, meta: NodeMeta, port: int) -> Member:
    return Member(name=name, address=("127.0.0.1", port), meta=encode_meta(meta),
                  incarnation=1, state=MemberState.ALIVE, state_since=0.0, vsn=b"",
                  is_claw=True)


class Node:
    """One node's side of ``Reelection``: its member table and what it is told to do."""

    def __init__(self, members: list[Member], meta: NodeMeta) -> None:
        self.table = members
        self.meta = meta
        self.events: list[ClusterEvent] = []
        self.terms: list[int] = []
        self.api_wanted = 0
        self.runs = 0
        self.ran = asyncio.Event()
        self.live = True
        metas = MetaCache()
        self.election = Reelection(
            members=self.members, own_meta=lambda: self.meta,
            meta_of=lambda m: metas.decode(m.meta), publish_meta=self.publish_meta,
            publish=self.events.append, persist_term=self.terms.append,
            wants_api=self.want_api, live=lambda: self.live, wall_clock=lambda: 1000.0)
        self.election.identify("a", highest_term=4)

    def members(self) -> list[Member]:
        self.runs += 1
        self.ran.set()
        return self.table

    def publish_meta(self, meta: NodeMeta) -> None:
        self.meta = meta
        self.election.run()  # as the agent does once it announced the new metadata

    def want_api(self) -> None:
        self.api_wanted += 1


def test_a_node_alone_claims_the_next_term_once_it_settled() -> None:
    own = NodeMeta(started_at=10.0)
    node = Node([member("a", own, 7946)], own)
    node.election.run()
    assert node.meta.term == 0 and node.terms == []  # still joining: no claim
    assert node.election.role.coordinator is None and node.api_wanted == 0
    node.election.settle()
    assert node.meta.term == 5 and node.terms == [5]
    assert node.election.role.is_coordinator and node.api_wanted >= 1
    assert [e.kind for e in node.events] == [EventKind.COORDINATOR] * 2
    event = node.events[-1]
    assert (event.node, event.address, event.time) == ("a", "127.0.0.1:7946", 1000.0)
    assert event.details["term"] == 5 and event.details["previous"] == ""


def test_an_incumbent_elsewhere_is_followed_without_a_claim() -> None:
    own = NodeMeta(started_at=10.0)
    node = Node([member("a", own, 7946), member("b", NodeMeta(started_at=20.0, term=9), 7947)],
                own)
    node.election.settle()
    assert node.election.role.coordinator == "b" and node.meta.term == 0
    assert node.terms == [9] and node.api_wanted == 0  # the highest term seen is kept


def test_no_members_yet_means_no_election() -> None:
    node = Node([], NodeMeta())
    node.election.settle()
    assert node.events == [] and node.election.role.coordinator is None


async def test_a_burst_of_membership_changes_shares_one_run() -> None:
    own = NodeMeta(started_at=10.0)
    node = Node([member("a", own, 7946)], own)
    for _ in range(5):
        node.election.soon()
    await asyncio.wait_for(node.ran.wait(), timeout=10)
    assert node.runs == 1


async def test_a_run_scheduled_before_gossip_stopped_is_skipped() -> None:
    own = NodeMeta(started_at=10.0)
    node = Node([member("a", own, 7946)], own)
    node.live = False
    node.election.soon()
    # A timer due later than the coalesced run fires after it.
    loop = asyncio.get_running_loop()
    after = loop.create_future()
    loop.call_later(2 * REELECT_COALESCE_S, after.set_result, None)
    await asyncio.wait_for(after, timeout=10)
    node.live = True
    node.election.soon()  # the skipped run cleared its turn: this one is scheduled
    await asyncio.wait_for(node.ran.wait(), timeout=10)
    assert node.runs == 1  # only the second read the member table
