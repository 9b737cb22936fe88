"""A partition is visible: this node's share of the last stable view, in /health, the
cluster health and the alerts its coordinator raises (minority said so)."""

from __future__ import annotations

import pytest

from api.app import create_app
from api.models import NodeTransition
from api.registry import HttpNodeRegistry
from gossip.types import MemberState
from node.partition import partition_status
from node.view import GossipClusterView
from tests.test_node_view import FakeAgent, member


@pytest.mark.parametrize("states, reachable, stable, text, minority", [
    ("A", 1, 1, None, False),
    ("AAAS", 4, 4, None, False),
    ("AALL", 2, 2, None, False),                # left members are no longer expected
    ("AAAD", 3, 4, "3 of 4 nodes of the last stable view reachable", False),
    ("AADD", 2, 4, "2 of 4 nodes of the last stable view reachable", True),  # a tie
    ("ASDDD", 2, 5, "2 of 5 nodes of the last stable view reachable", True),
    ("AAADD", 3, 5, "3 of 5 nodes of the last stable view reachable", False),
])
def test_share_of_the_last_stable_view(states: str, reachable: int, stable: int,
                                       text: str | None, minority: bool) -> None:
    kinds = {"A": MemberState.ALIVE, "S": MemberState.SUSPECT, "D": MemberState.DEAD,
             "L": MemberState.LEFT}
    status = partition_status(member(f"n{i}", kinds[c]) for i, c in enumerate(states))
    assert (status.reachable, status.stable_view) == (reachable, stable)
    assert status.describe() == text and status.minority is minority


@pytest.fixture
def split() -> tuple[FakeAgent, GossipClusterView]:
    agent = FakeAgent()
    agent.table = [member("me"), member("peer"), member("far1", MemberState.DEAD),
                   member("far2", MemberState.DEAD), member("far3", MemberState.DEAD)]
    return agent, GossipClusterView(agent, HttpNodeRegistry(), clock=lambda: 1_700_000_000.0)


async def test_health_says_partitioned(aiohttp_client, split) -> None:  # type: ignore[no-untyped-def]
    _, view = split
    client = await aiohttp_client(create_app(view, run_monitor=False))
    health = await (await client.get("/health")).json()
    assert health["partitioned"] == "2 of 5 nodes of the last stable view reachable"
    cluster = await (await client.get("/api/v1/cluster/health")).json()
    assert cluster["partitioned"] == health["partitioned"] and cluster["status"] != "healthy"


async def test_an_alert_from_a_minority_says_so(split) -> None:  # type: ignore[no-untyped-def]
    agent, view = split
    seen: list[NodeTransition] = []
    view.add_transition_listener(seen.append)
    view.observe_member(member("peer", MemberState.SUSPECT), "suspected")
    assert seen[-1].minority and seen[-1].partitioned == (
        "2 of 5 nodes of the last stable view reachable")
    agent.table = [member("me"), member("peer", MemberState.SUSPECT)]
    view.observe_member(member("peer"), "alive")
    assert not seen[-1].minority and seen[-1].partitioned is None
