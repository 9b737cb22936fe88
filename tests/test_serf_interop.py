"""Interop with the real Serf agent (Debian's ``serf``, memberlist 0.2.2) on loopback.

Both sides use the ``local`` timing profile. Skipped without ``serf`` unless env ``CI``.
"""

from __future__ import annotations

import pytest

from tests.serf_harness import (
    SerfAgents,
    serf_agents,  # noqa: F401 - the fixture
    wait_until,
)

pytestmark = [pytest.mark.serf, pytest.mark.slow]


async def test_harness_serf_agents(serf_agents: SerfAgents) -> None:  # noqa: F811
    """The harness itself: four serf agents join, one leaves (left), one is killed (failed)."""
    a = await serf_agents.start("serf-a", tags={"role": "a"})
    b = await serf_agents.start("serf-b", join=(a.bind,))
    c = await serf_agents.start("serf-c")
    await c.join(a.bind)
    await serf_agents.start("serf-d", join=(c.bind,))  # a second witness: quick failure detection

    async def all_alive() -> bool:
        return {m["name"]: m["status"] for m in await a.members()} == {
            "serf-a": "alive", "serf-b": "alive", "serf-c": "alive", "serf-d": "alive"}
    await wait_until(all_alive, timeout=10)
    assert (await c.member("serf-a") or {}).get("tags") == {"role": "a"}

    # Leave first: a leave intent is piggybacked on gossip, and right after a failure
    # Serf may spend all its retransmits on the dead member ("gossip to the dead").
    await c.leave()
    assert not c.running()
    await wait_until(lambda: _status_is(a, "serf-c", "left"), timeout=15)

    b.kill()
    took = await wait_until(lambda: _status_is(a, "serf-b", "failed"), timeout=30)
    print(f"serf detected kill -9 of serf-b after {took:.1f} s")


async def _status_is(agent, name: str, status: str) -> bool:  # type: ignore[no-untyped-def]
    return await agent.status_of(name) == status
