"""Joining: the attempts through seeds (on a fake transport) and when peers are saved."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gossip.events import JoinResult
from gossip.types import Address
from node.joining import PEER_QUIET_S, PEER_SAVE_INTERVAL_S, Joiner, PeerMemory

pytestmark = pytest.mark.timeout(60)


class FakeCore:
    def member(self, name: str) -> Any:
        return None


class FakeTransport:
    """Answers each join with one ``JoinResult`` per seed (ok for the seeds in ``ok``)."""

    address: Address = ("127.0.0.1", 7000)
    core = FakeCore()

    def __init__(self, ok: set[Address]) -> None:
        self.ok = ok
        self.joins: list[list[Address]] = []
        self.joiner: Joiner | None = None

    def join(self, seeds: list[Address]) -> None:
        self.joins.append(list(seeds))
        loop = asyncio.get_running_loop()
        for seed in seeds:
            result = JoinResult(seed=seed, ok=seed in self.ok,
                                error="" if seed in self.ok else "refused")
            loop.call_soon(self.joiner.on_result, result)  # type: ignore[union-attr]


def make_joiner(transport: FakeTransport, seeds: list[Address]) -> tuple[Joiner, list[int]]:
    settled: list[int] = []
    joiner = Joiner(transport, node_id="me", seeds=lambda: seeds,  # type: ignore[arg-type]
                    tcp_timeout_s=5.0, backoff_max_s=30.0,
                    on_settled=lambda: settled.append(1))
    transport.joiner = joiner
    return joiner, settled


async def test_nobody_to_join_settles_at_once() -> None:
    joiner, settled = make_joiner(FakeTransport(set()), seeds=[])
    await asyncio.wait_for(joiner.run(), 30)
    assert settled and joiner.first_attempt_done.is_set()


async def test_one_answering_seed_is_enough_and_our_own_address_is_never_a_seed() -> None:
    transport = FakeTransport(ok={("127.0.0.1", 7002)})
    joiner, settled = make_joiner(transport, seeds=[
        ("127.0.0.1", 7000), ("127.0.0.1", 7001), ("127.0.0.1", 7002), ("127.0.0.1", 7001)])
    await asyncio.wait_for(joiner.run(), 30)
    assert transport.joins == [[("127.0.0.1", 7001), ("127.0.0.1", 7002)]]
    assert settled and joiner.first_attempt_done.is_set()


async def test_failed_attempts_are_retried_without_settling_within_the_grace() -> None:
    transport = FakeTransport(ok=set())
    joiner, settled = make_joiner(transport, seeds=[("127.0.0.1", 7001)])
    running = asyncio.create_task(joiner.run())
    try:
        await asyncio.wait_for(joiner.first_attempt_done.wait(), 30)
        assert transport.joins == [[("127.0.0.1", 7001)]] and not settled
        assert not running.done()  # backing off before the next attempt
    finally:
        running.cancel()


async def test_a_refused_join_says_why_at_warning(caplog: pytest.LogCaptureFixture) -> None:
    transport = FakeTransport(ok={("127.0.0.1", 7002)})
    joiner, _ = make_joiner(transport, seeds=[("127.0.0.1", 7001), ("127.0.0.1", 7002)])
    await asyncio.wait_for(joiner.run(), 30)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == ["join through 127.0.0.1:7001 failed: refused"]


def test_peers_are_saved_once_joins_quiet_down_or_every_save_interval() -> None:
    memory = PeerMemory()
    t = 1000.0
    assert memory.due(t, have_peers=True)  # never saved: at once
    assert not memory.due(t + 1, have_peers=True)
    memory.member_joined(t + 2)
    assert not memory.due(t + 2 + PEER_QUIET_S / 2, have_peers=True)  # joins still coming
    assert memory.due(t + 2 + PEER_QUIET_S, have_peers=True)
    assert not memory.due(t + 2 + PEER_QUIET_S + 1, have_peers=True)  # saved: not dirty
    later = t + 2 + PEER_QUIET_S + PEER_SAVE_INTERVAL_S
    assert not memory.due(later, have_peers=False)  # alone: nothing to save
    assert memory.due(later, have_peers=True) and memory.last_join_at == t + 2


def test_the_first_joined_member_is_saved_at_once_until_a_save_happened() -> None:
    # A seed killed a second after its cluster formed must restart knowing a peer.
    memory = PeerMemory()
    assert memory.member_joined(10.0) is True
    assert memory.member_joined(10.5) is True  # still nothing saved by the peer loop
    assert memory.due(11.0, have_peers=True)
    assert memory.member_joined(12.0) is False  # saved once: joins wait for quiet again
