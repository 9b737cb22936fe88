"""Request-channel connections kept between requests (``gossip.channel_connections``):
the bounds with a fake clock, and on loopback the reuse, a callee that restarted or
dropped the connection, and encrypted streams."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from gossip.channel import ChannelCall
from gossip.channel_connections import IDLE_KEEP_S, IDLE_PER_PEER, IdleConnections
from gossip.config import GossipConfig
from gossip.keyring import Keyring
from gossip.protocol import SwimProtocol
from gossip.types import Address
from gossip.udp import GossipTransport

pytestmark = pytest.mark.timeout(120)

PEER = ("10.0.0.2", 7946)


class FakeReader:
    def __init__(self) -> None:
        self.eof = False

    def at_eof(self) -> bool:
        return self.eof


class FakeWriter:
    def __init__(self) -> None:
        self.closed = False

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def test_idle_connections_are_bounded_per_peer_and_in_time() -> None:
    now = [0.0]
    idle = IdleConnections(lambda: now[0])
    writers = [FakeWriter() for _ in range(IDLE_PER_PEER + 1)]
    kept = [idle.put(PEER, FakeReader(), w) for w in writers]  # type: ignore[arg-type]
    assert kept == [True] * IDLE_PER_PEER + [False] and len(idle) == IDLE_PER_PEER
    assert idle.take(PEER)[1] is writers[IDLE_PER_PEER - 1]  # type: ignore[index]  # newest first
    assert idle.take(("10.0.0.3", 7946)) is None
    now[0] = IDLE_KEEP_S + 1  # every one left is too old: closed, none handed out
    assert idle.take(PEER) is None and len(idle) == 0
    assert all(w.closed for w in writers[:IDLE_PER_PEER - 1])


def test_a_connection_the_callee_closed_while_idle_is_not_handed_out() -> None:
    idle = IdleConnections(lambda: 0.0)
    reader, writer, fresh = FakeReader(), FakeWriter(), FakeWriter()
    idle.put(PEER, FakeReader(), fresh)  # type: ignore[arg-type]
    idle.put(PEER, reader, writer)  # type: ignore[arg-type]
    reader.eof = True
    assert idle.take(PEER)[1] is fresh  # type: ignore[index]
    assert writer.closed
    idle.put(PEER, FakeReader(), FakeWriter())  # type: ignore[arg-type]
    idle.close_all()
    assert len(idle) == 0


def _transport(name: str, keyring: Keyring | None = None, port: int = 0) -> GossipTransport:
    config = GossipConfig.local()

    def build(address: Address, now: float) -> SwimProtocol:
        return SwimProtocol(config, name=name, address=address, meta=b"",
                            rng=random.Random(name), now=now, keyring=keyring)

    return GossipTransport(build, config, bind=("127.0.0.1", port))


async def _echo(call: ChannelCall) -> bytes:
    return b"re:" + call.body


@pytest.fixture
async def pair(request: pytest.FixtureRequest) -> Any:
    key = getattr(request, "param", None)
    transports = [_transport(name, Keyring([key]) if key else None) for name in ("a", "b")]
    for t in transports:
        await t.start()
        t.set_request_handler("echo", _echo)
    yield transports
    for t in transports:
        await t.stop()


@pytest.mark.parametrize("pair", [None, b"\x05" * 32], indirect=True, ids=["plain", "encrypted"])
async def test_requests_to_one_peer_share_a_connection(pair: Any, request: pytest.FixtureRequest) -> None:
    a, b = pair
    encrypted = request.node.callspec.id == "encrypted"
    assert (a.core.keyring is not None) == (b.core.keyring is not None) == encrypted
    for i in range(5):
        assert await a.request(b.address, "echo", b"%d" % i, timeout_s=10.0) == b"re:%d" % i
    assert a.stats["channel_out"] == 5 and a.stats["channel_out_reused"] == 4
    assert a.stats["channel_out_stale"] == 0
    assert b.stats["channel_in"] == 5 and b.stats["tcp_in"] == 5
    # Concurrent requests dial their own; the idle ones kept stay within the bound.
    answers = await asyncio.gather(*(a.request(b.address, "echo", b"c", timeout_s=10.0)
                                     for _ in range(IDLE_PER_PEER + 3)))
    assert answers == [b"re:c"] * (IDLE_PER_PEER + 3)
    assert len(a._channel.idle) <= IDLE_PER_PEER


async def test_a_callee_that_dropped_the_kept_connection_gets_the_request_on_a_new_one(
        pair: Any) -> None:
    a, b = pair
    assert await a.request(b.address, "echo", b"1", timeout_s=10.0) == b"re:1"
    for task in list(b._tasks):  # the callee ends its side of the idle connection
        task.cancel()
    await asyncio.sleep(0)
    assert await a.request(b.address, "echo", b"2", timeout_s=10.0) == b"re:2"
    assert b.stats["channel_in"] == 2
    assert a.stats["channel_out_errors"] == 0 and a.stats["channel_out_timeouts"] == 0


async def test_a_callee_restarted_on_the_same_port_is_reached_on_a_new_connection() -> None:
    a, b = _transport("a"), _transport("b")
    await a.start()
    await b.start()
    try:
        b.set_request_handler("echo", _echo)
        assert await a.request(b.address, "echo", b"1", timeout_s=10.0) == b"re:1"
        port = b.address[1]
        await b.stop()
        b = _transport("b", port=port)
        await b.start()
        b.set_request_handler("echo", _echo)
        assert await a.request(b.address, "echo", b"2", timeout_s=10.0) == b"re:2"
        assert b.stats["channel_in"] == 1
        assert a.stats["channel_out_reused"] == 0  # the old connection carried nothing
        assert a.stats["channel_out_errors"] == 0
    finally:
        await a.stop()
        await b.stop()


async def test_a_stopped_transport_keeps_no_connection(pair: Any) -> None:
    a, b = pair
    await a.request(b.address, "echo", b"", timeout_s=10.0)
    assert len(a._channel.idle) == 1
    await a.stop()
    assert len(a._channel.idle) == 0
