"""Interop with the real Serf agent (Debian's ``serf``, memberlist 0.2.2) on loopback.

Both sides use the ``local`` timing profile. Skipped without ``serf`` unless env ``CI``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from gossip.events import MemberFailed, MemberLeft
from gossip.tags import decode_tags
from gossip.types import MemberState
from tests.conftest import eventually_async
from tests.serf_harness import (
    SERF_POLL_S,
    SerfAgent,
    SerfAgents,
    serf_agents,  # noqa: F401 - the fixture
)
from tests.test_udp_loopback import Node, all_see

pytestmark = [pytest.mark.serf, pytest.mark.slow]


async def test_harness_serf_agents(serf_agents: SerfAgents) -> None:  # noqa: F811
    """The harness itself: four serf agents join, one leaves (left), one is killed (failed)."""
    a = await serf_agents.start("serf-a", tags={"role": "a"})
    b = await serf_agents.start("serf-b", join=(a.bind,))
    c = await serf_agents.start("serf-c")
    await c.join(a.bind, b.bind)  # several seeds: see mixed_cluster
    await serf_agents.start("serf-d", join=(c.bind, a.bind, b.bind))  # 2nd witness of b's death

    async def all_alive() -> bool:
        return {m["name"]: m["status"] for m in await a.members()} == {
            "serf-a": "alive", "serf-b": "alive", "serf-c": "alive", "serf-d": "alive"}
    await eventually_async(all_alive, timeout=40, interval=SERF_POLL_S)
    assert (await c.member("serf-a") or {}).get("tags") == {"role": "a"}

    # Leave first: a leave intent is piggybacked on gossip, and right after a failure
    # Serf may spend all its retransmits on the dead member ("gossip to the dead").
    await c.leave()
    assert not c.running()
    await eventually_async(lambda: _status_is(a, "serf-c", "left"), timeout=20, interval=SERF_POLL_S)

    b.kill()
    took = await eventually_async(lambda: _status_is(a, "serf-b", "failed"), timeout=30, interval=SERF_POLL_S)
    print(f"serf detected kill -9 of serf-b after {took:.1f} s")


async def _status_is(agent, name: str, status: str) -> bool:  # type: ignore[no-untyped-def]
    return await agent.status_of(name) == status


# --- claw nodes and serf agents in one cluster -----------------------------------------

CLAW_TAGS = {"claw": "1", "skills": "browser,shell", "platform": "linux", "arch": "x64"}


@pytest.fixture
async def claw_nodes() -> AsyncIterator[Callable[[str], Awaitable[Node]]]:
    """Start claw nodes (GossipTransport + SwimProtocol, ``local`` preset) on loopback."""
    started: list[Node] = []

    async def start(name: str) -> Node:
        node = Node(name, tags=CLAW_TAGS)
        await node.transport.start()
        started.append(node)
        return node

    yield start
    for node in started:
        await node.transport.stop()


async def serf_statuses(agent: SerfAgent) -> dict[str, str]:
    return {m["name"]: m["status"] for m in await agent.members()}


async def all_serf_see(agents: list[SerfAgent], names: list[str], status: str) -> bool:
    for agent in agents:
        statuses = await serf_statuses(agent)
        if any(statuses.get(name) != status for name in names):
            return False
    return True


async def mixed_cluster(
    agents: SerfAgents, claw_nodes: Callable[[str], Awaitable[Node]],
) -> tuple[list[SerfAgent], list[Node]]:
    """Serf agents s1, s2 and claw nodes c0, c1, c2, joined in every direction:

    c0 joins s1 (claw joins serf), s1 runs ``serf join c1`` (serf joins claw), c2 joins
    c0 and s1, and s2 starts with ``-join c2 -join c1 -join s1`` (serf joins claw).
    Several seeds per joiner, because the ``local`` profile spreads a newcomer with only 2
    retransmits per informed node, sometimes none of them to a given member, which then
    waits for a periodic push-pull (15 s or more; Serf-only clusters do the same). Returns once every node sees every other alive, on both sides.
    """
    s1 = await agents.start("s1", tags={"role": "serf"})
    c0, c1, c2 = [await claw_nodes(f"c{i}") for i in range(3)]
    c0.transport.join([s1.bind])
    await s1.join(c1.address)
    c2.transport.join([c0.address, s1.bind])
    s2 = await agents.start("s2", join=(c2.address, c1.address, s1.bind))
    serfs, claws = [s1, s2], [c0, c1, c2]
    everyone = [a.name for a in serfs] + [c.name for c in claws]
    took = await eventually_async(lambda: all_serf_see(serfs, everyone, "alive"), 40.0, interval=SERF_POLL_S)
    await eventually_async(lambda: all_see(claws, everyone, MemberState.ALIVE), 40.0, 0.05)
    print(f"mixed cluster of 2 serf + 3 claw converged in {took:.2f} s")
    return serfs, claws


async def test_join_both_ways_tags_and_graceful_leave(serf_agents: SerfAgents, claw_nodes) -> None:  # noqa: F811
    (s1, s2), claws = await mixed_cluster(serf_agents, claw_nodes)
    c0, c1, c2 = claws

    # serf members shows the claw nodes alive with their tags and address.
    members = {m["name"]: m for m in await s1.members()}
    for claw in claws:
        assert members[claw.name]["status"] == "alive"
        assert members[claw.name]["tags"] == CLAW_TAGS
        assert members[claw.name]["addr"] == f"{claw.address[0]}:{claw.address[1]}"
        assert members[claw.name]["protocol"] == {"max": 5, "min": 2, "version": 5}
    # claw lists the serf agents alive, as non-claw members with Serf's tags.
    for claw in claws:
        member = claw.core.member("s1")
        assert member is not None and member.state == MemberState.ALIVE
        assert not member.is_claw and decode_tags(member.meta) == {"role": "serf"}
        assert member.address == s1.bind
        assert claw.state_of("s2") == MemberState.ALIVE

    # A claw node's graceful leave shows as "left" in serf members (never "failed").
    assert await c2.transport.leave(timeout=5.0)
    await c2.transport.stop()
    took = await eventually_async(lambda: all_serf_see([s1, s2], [c2.name], "left"), 40.0, interval=SERF_POLL_S)
    print(f"claw leave shown as left by serf after {took:.2f} s")
    await eventually_async(lambda: all_see([c0, c1], [c2.name], MemberState.LEFT), 10.0, 0.05)
    assert all(n.first_event(MemberFailed, c2.name) is None for n in (c0, c1))
    assert await all_serf_see([s1, s2], ["s1", "s2", c0.name, c1.name], "alive")


async def test_failures_are_detected_both_ways(serf_agents: SerfAgents, claw_nodes) -> None:  # noqa: F811
    (s1, s2), claws = await mixed_cluster(serf_agents, claw_nodes)
    c0, c1, c2 = claws
    loop = asyncio.get_running_loop()

    # A claw node stopped without leaving shows as "failed" in serf members.
    stopped_at = loop.time()
    await c1.transport.stop()
    took = await eventually_async(lambda: all_serf_see([s1, s2], [c1.name], "failed"), 40.0, interval=SERF_POLL_S)
    print(f"serf shows the stopped claw node failed after {took:.2f} s")
    await eventually_async(lambda: all_see([c0, c2], [c1.name], MemberState.DEAD), 20.0, 0.05)
    print("claw nodes saw it dead after "
          f"{max(n.first_event(MemberFailed, c1.name) or 0.0 for n in (c0, c2)) - stopped_at:.2f} s")

    # kill -9 of a serf agent is detected by the claw nodes.
    killed_at = loop.time()
    s2.kill()
    await eventually_async(lambda: all_see([c0, c2], ["s2"], MemberState.DEAD), 40.0, 0.05)
    delays = [(n.first_event(MemberFailed, "s2") or 0.0) - killed_at for n in (c0, c2)]
    print(f"claw nodes detected kill -9 of serf agent s2 after {min(delays):.2f}..{max(delays):.2f} s")
    assert all(n.first_event(MemberLeft, "s2") is None for n in (c0, c2))
    await eventually_async(lambda: all_serf_see([s1], ["s2"], "failed"), 40.0, interval=SERF_POLL_S)  # serf agrees
    assert await serf_statuses(s1) == {
        "s1": "alive", "s2": "failed", c0.name: "alive", c1.name: "failed", c2.name: "alive"}
    for node in (c0, c2):
        assert node.transport.stats["core_errors"] == 0
        assert node.transport.stats["timer_stuck"] == 0
        assert node.core.stats["malformed"] == 0, node.core.stats


async def test_force_leave_of_a_failed_claw_node_shows_left_then_pruned_in_serf(
        serf_agents: SerfAgents, claw_nodes) -> None:  # noqa: F811
    """``force_leave`` (what ``DELETE /api/v1/nodes/{id}`` and ``claw-node force-leave``
    run) sends Serf's leave intent: a real Serf agent moves the failed claw node to
    ``left``, and with ``prune`` drops it from ``serf members``."""
    s1 = await serf_agents.start("s1")
    c0, c1 = await claw_nodes("c0"), await claw_nodes("c1")
    c0.transport.join([s1.bind])
    c1.transport.join([s1.bind, c0.address])
    await eventually_async(lambda: all_serf_see([s1], ["c0", "c1"], "alive"), 40.0, interval=SERF_POLL_S)
    await c1.transport.stop()
    await eventually_async(lambda: all_serf_see([s1], ["c1"], "failed"), 40.0, interval=SERF_POLL_S)
    await eventually_async(lambda: all_see([c0], ["c1"], MemberState.DEAD), 20.0, 0.05)

    state = c0.transport.invoke(lambda core, now: core.force_leave("c1", now))
    assert state is MemberState.LEFT
    took = await eventually_async(lambda: all_serf_see([s1], ["c1"], "left"), 20.0, interval=SERF_POLL_S)
    print(f"serf shows the force-left claw node left after {took:.2f} s")

    c0.transport.invoke(lambda core, now: core.force_leave("c1", now, prune=True))
    assert c0.state_of("c1") is None

    async def gone() -> bool:
        return "c1" not in await serf_statuses(s1)
    took = await eventually_async(gone, 20.0, interval=SERF_POLL_S)
    print(f"serf dropped the pruned claw node after {took:.2f} s")
    assert await serf_statuses(s1) == {"s1": "alive", "c0": "alive"}
