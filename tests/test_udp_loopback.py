"""GossipTransport + SwimProtocol on real loopback sockets (``local`` profile).

Five nodes converge; garbage datagrams and TCP streams don't hurt a live node; a node
stopped without leaving is declared dead by every other node within the suspicion bound
of the ``local`` preset; a node that leaves gracefully is LEFT everywhere. Timing figures
are printed, the assertions only use generous bounds.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import socket
from collections.abc import AsyncIterator, Callable

import pytest

from gossip import codec
from gossip.config import GossipConfig
from gossip.events import Event, MemberFailed, MemberJoined, MemberLeft
from gossip.messages import Ping, PushNodeState, PushPull
from gossip.protocol import SwimProtocol
from gossip.suspicion import suspicion_bounds
from gossip.tags import encode_tags
from gossip.types import Address, MemberState
from gossip.udp import GossipTransport
from tests.conftest import eventually_async

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

HOST = "127.0.0.1"
CONFIG = GossipConfig.local()


class Node:
    """One GossipTransport with its core and the events it emitted (with loop time)."""

    def __init__(self, name: str, config: GossipConfig = CONFIG,
                 core_class: type[SwimProtocol] = SwimProtocol,
                 tags: dict[str, str] | None = None) -> None:
        self.name = name
        self.events: list[tuple[float, Event]] = []
        self.tags = tags or {"claw": "1", "role": "test"}
        meta = encode_tags(self.tags)

        def build(address: Address, now: float) -> SwimProtocol:
            return core_class(config, name=name, address=address, meta=meta,
                              rng=random.Random(name), now=now)

        self.transport = GossipTransport(build, config, bind=(HOST, 0), on_event=self._record)

    def _record(self, event: Event) -> None:
        self.events.append((asyncio.get_running_loop().time(), event))

    @property
    def core(self) -> SwimProtocol:
        return self.transport.core

    @property
    def address(self) -> Address:
        return self.transport.address

    def state_of(self, name: str) -> MemberState | None:
        member = self.core.member(name)
        return None if member is None else member.state

    def first_event(self, kind: type, name: str) -> float | None:
        for at, event in self.events:
            if isinstance(event, kind) and event.member.name == name:  # type: ignore[attr-defined]
                return at
        return None


@pytest.fixture
async def make_nodes() -> AsyncIterator[Callable[..., asyncio.Future[list[Node]]]]:
    started: list[Node] = []

    async def make(count: int, prefix: str = "n", **kwargs: object) -> list[Node]:
        nodes = [Node(f"{prefix}{i}", **kwargs) for i in range(count)]  # type: ignore[arg-type]
        for node in nodes:
            await node.transport.start()
            started.append(node)
        return nodes

    yield make  # type: ignore[misc]
    for node in started:
        await node.transport.stop()


def all_see(observers: list[Node], names: list[str], state: MemberState) -> bool:
    return all(o.state_of(n) == state for o in observers for n in names)


async def converge(nodes: list[Node], timeout: float = 20.0) -> float:
    """Each node joins through every node started before it, then wait for full views.

    Through a single seed, the ``local`` profile spreads a newcomer with only 2
    retransmits per informed node, and stragglers then wait for a periodic push-pull
    (up to 15 s): real Serf agents do the same (3 of 25 five-agent joins through one seed
    took 17-25 s on this machine). Several seeds make every pair exchange state directly.
    """
    for i, node in enumerate(nodes[1:], start=1):
        node.transport.join([n.address for n in nodes[:i]])
    names = [n.name for n in nodes]
    try:
        return await eventually_async(lambda: all_see(nodes, names, MemberState.ALIVE), timeout, 0.05)
    except TimeoutError:
        for node in nodes:
            print(node.name, [(m.name, m.state.name) for m in node.core.members()])
            print("   ", node.transport.stats, node.core.stats)
        raise


def no_internal_errors(nodes: list[Node]) -> None:
    for node in nodes:
        assert node.transport.stats["core_errors"] == 0, node.name
        assert node.transport.stats["callback_errors"] == 0, node.name
        assert node.transport.stats["timer_stuck"] == 0, node.name


async def test_five_nodes_converge_detect_failure_and_leave(make_nodes) -> None:  # type: ignore[no-untyped-def]
    nodes: list[Node] = await make_nodes(5)
    took = await converge(nodes)
    print(f"5 nodes converged in {took:.2f} s")
    for node in nodes:
        member = node.core.member(nodes[0].name)
        assert member is not None and member.is_claw and member.address == nodes[0].address

    # Stop n4 without leaving: every other node must declare it dead.
    loop = asyncio.get_running_loop()
    crashed, survivors = nodes[4], nodes[:4]
    stopped_at = loop.time()
    await crashed.transport.stop()
    await eventually_async(lambda: all_see(survivors, [crashed.name], MemberState.DEAD), 60.0, 0.05)
    detected = [n.first_event(MemberFailed, crashed.name) for n in survivors]
    assert None not in detected
    delays = [at - stopped_at for at in detected]  # type: ignore[operator]
    # Bound for every survivor on its own: its next probe of the crashed node (round-robin
    # over the 4 others; at worst it was first in one round and last in the next), the
    # probe timeout, then the longest suspicion (no confirmations) for this cluster size.
    _, max_suspicion = suspicion_bounds(
        CONFIG.suspicion_mult, CONFIG.suspicion_max_mult, len(nodes), CONFIG.probe_interval_s)
    bound = (2 * (len(nodes) - 1) * CONFIG.probe_interval_s + CONFIG.probe_timeout_s
             + max_suspicion)
    print(f"kill detected after {min(delays):.2f}..{max(delays):.2f} s "
          f"(suspicion min..max {max_suspicion / CONFIG.suspicion_max_mult:.1f}.."
          f"{max_suspicion:.1f} s, bound {bound:.1f} s)")
    assert max(delays) <= bound + 2.0  # + scheduling slack on a loaded 2-core machine
    assert all(n.first_event(MemberLeft, crashed.name) is None for n in survivors)

    # n3 leaves gracefully: LEFT everywhere, never FAILED.
    leaver, rest = nodes[3], nodes[:3]
    assert await leaver.transport.leave(timeout=5.0)
    await leaver.transport.stop()
    took = await eventually_async(lambda: all_see(rest, [leaver.name], MemberState.LEFT), 15.0, 0.05)
    print(f"graceful leave seen everywhere after {took:.2f} s")
    assert all(n.first_event(MemberFailed, leaver.name) is None for n in rest)
    assert all_see(rest, [n.name for n in rest], MemberState.ALIVE)
    no_internal_errors(rest)


async def test_garbage_datagrams_and_streams_do_not_break_a_node(make_nodes) -> None:  # type: ignore[no-untyped-def]
    nodes: list[Node] = await make_nodes(3, prefix="g")
    await converge(nodes)
    victim = nodes[1]
    host, port = victim.address
    rng = random.Random(7)

    # Garbage datagrams: random bytes, every message type byte with junk, a big one.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        payloads = [rng.randbytes(rng.randint(1, 1500)) for _ in range(300)]
        payloads += [bytes([t]) + rng.randbytes(40) for t in range(256)]
        payloads += [b"", b"\x07\xff", b"\x0c\x00\x00\x00\x00", rng.randbytes(60000)]
        for i, payload in enumerate(payloads):
            sock.sendto(payload, (host, port))
            if i % 20 == 19:
                await asyncio.sleep(0.005)  # let the node drain its socket buffer

    # Garbage TCP: random bytes, a stream cut in the middle of a valid message, a stream
    # declaring a huge compressed body, a silent connection, a connect-and-close.
    ping = codec.encode_stream(Ping(seq_no=1, node=victim.name))
    streams = [
        rng.randbytes(5000),
        ping[: max(1, len(ping) // 2)],
        b"\x09\x82\xa4Algo\x00\xa3Buf\xdb\x7f\xff\xff\xff" + rng.randbytes(100),
        b"",
    ]
    writers = []
    for data in streams:
        reader, writer = await asyncio.open_connection(host, port)
        if data:
            writer.write(data)
            await writer.drain()
        writers.append((reader, writer))
    silent = await asyncio.open_connection(host, port)
    for _, writer in writers[-1:]:
        writer.close()

    # The node keeps answering: a TCP fallback ping gets its ack, and the cluster stays alive.
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(codec.encode_stream(Ping(seq_no=99, node=victim.name)))
    await writer.drain()
    reply = await asyncio.wait_for(reader.read(65536), 5.0)
    writer.close()
    ack = codec.decode_stream(reply, max_size=65536)
    assert getattr(ack, "seq_no", None) == 99, ack

    # Every garbage connection gets closed by the node within its TCP timeout.
    for reader, writer in writers[:-1] + [silent]:
        data = await asyncio.wait_for(reader.read(), CONFIG.tcp_timeout_s + 5.0)
        assert data == b"" or data[:1] in (b"\x09", b"\x0d")  # EOF, or an error reply
        writer.close()

    probed = victim.core.stats["probes"]
    await eventually_async(lambda: victim.core.stats["probes"] >= probed + 3)  # 3 rounds later
    names = [n.name for n in nodes]
    assert all_see(nodes, names, MemberState.ALIVE)
    stats = victim.transport.stats
    print(f"victim driver stats: {stats}")
    print(f"victim core stats: { {k: v for k, v in victim.core.stats.items() if v} }")
    assert stats["udp_in"] >= len(payloads) // 2  # a loaded machine may drop some
    assert stats["tcp_in_errors"] + stats["tcp_in_timeouts"] + stats["tcp_in_too_large"] >= 3
    no_internal_errors(nodes)


class _FragileCore(SwimProtocol):
    """A core with planted bugs: datagrams starting with b"BOOM" raise; while
    ``broken_timer`` is set, handle_timer raises without advancing its deadline."""

    broken_timer = False
    timer_calls = 0

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        if data.startswith(b"BOOM"):
            raise RuntimeError("planted core bug")
        super().receive_datagram(data, addr, now)

    def handle_timer(self, now: float) -> None:
        type(self).timer_calls += 1
        if self.broken_timer:
            raise RuntimeError("planted timer bug")
        super().handle_timer(now)


async def test_core_exceptions_and_socket_errors_never_stop_the_loop(make_nodes) -> None:  # type: ignore[no-untyped-def]
    nodes: list[Node] = await make_nodes(2, prefix="f", core_class=_FragileCore)
    await converge(nodes)
    victim = nodes[0]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _ in range(5):
            sock.sendto(b"BOOM", victim.address)
    await eventually_async(lambda: victim.transport.stats["core_errors"] == 5, 5.0, 0.05)

    # An error reported by the socket (e.g. ICMP port unreachable) is counted only.
    endpoint = victim.transport._udp
    assert endpoint is not None
    endpoint.get_protocol().error_received(ConnectionResetError("port unreachable"))  # type: ignore[attr-defined]
    assert victim.transport.stats["udp_errors"] == 1

    # The event loop closing the UDP endpoint under us: it is re-opened on the same port.
    endpoint.abort()
    await eventually_async(lambda: victim.transport.stats["udp_reopened"] == 1, 5.0, 0.05)

    # A timer step that raises is retried at a bounded rate, not in a busy loop.
    core = victim.core
    assert isinstance(core, _FragileCore)
    core.broken_timer = True
    _FragileCore.timer_calls = 0
    await asyncio.sleep(1.0)
    core.broken_timer = False
    calls = _FragileCore.timer_calls
    print(f"timer steps in 1 s with a raising handle_timer (2 nodes): {calls}")
    assert 0 < calls <= 2 * (1.0 / 0.1 + 5)  # both nodes' timers; retries every 0.1 s
    assert victim.transport.stats["timer_stuck"] >= 1

    # Still a working member: a new node joins through it and everyone converges.
    later: list[Node] = await make_nodes(1, prefix="late")
    later[0].transport.join([victim.address])
    names = [n.name for n in nodes + later]
    await eventually_async(lambda: all_see(nodes + later, names, MemberState.ALIVE), 20.0, 0.05)
    assert victim.transport.address[1] == victim.core.member(victim.name).address[1]  # type: ignore[union-attr]


class _BuggyHandlerCore(SwimProtocol):
    """A core whose datagram handler has a bug: the core counts it and keeps going."""

    def _on_packet_message(self, msg: object, addr: Address, now: float) -> None:
        raise RuntimeError("planted handler bug")


async def test_the_driver_logs_internal_errors_of_the_core(make_nodes, caplog) -> None:  # type: ignore[no-untyped-def]
    [node] = await make_nodes(1, prefix="bug", core_class=_BuggyHandlerCore)
    ping = codec.encode_message(Ping(1, node.name, None, 0, ""))
    with caplog.at_level("ERROR", logger="gossip.udp"), \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(ping, node.address)
        await eventually_async(lambda: node.core.stats["internal_errors"] == 1, 5.0, 0.05)
        await eventually_async(lambda: "planted handler bug" in caplog.text, 5.0, 0.05)
    [record] = [r for r in caplog.records if "internal error" in r.getMessage()]
    assert record.exc_info is not None and record.exc_info[1] is not None  # with its traceback
    assert node.transport.stats["core_errors"] == 0  # the core survived it
    assert node.transport.stats["core_internal_errors"] == 1


async def test_udp_size_limit_inbound_stream_cap_and_oversize(make_nodes) -> None:  # type: ignore[no-untyped-def]
    config = CONFIG.replace(max_push_pull_requests=2, max_stream_bytes=4096, tcp_timeout_s=2.0,
                            max_udp_packet_bytes=2048)
    nodes: list[Node] = await make_nodes(1, prefix="cap", config=config)
    node = nodes[0]
    host, port = node.address

    # A datagram over max_udp_packet_bytes is dropped before the core sees it.
    packets_before = node.core.stats["packets_in"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(os.urandom(4000), (host, port))
    await eventually_async(lambda: node.transport.stats["udp_dropped_oversize"] == 1, 5.0, 0.02)
    assert node.core.stats["packets_in"] == packets_before
    accepted = node.transport.stats["tcp_in"]
    held = [await asyncio.open_connection(host, port) for _ in range(2)]
    await eventually_async(lambda: node.transport.stats["tcp_in"] >= accepted + 2)  # both served
    reader, writer = await asyncio.open_connection(host, port)
    assert await asyncio.wait_for(reader.read(), 5.0) == b""  # refused: closed at once
    writer.close()
    assert node.transport.stats["tcp_in_refused_busy"] == 1
    for _, w in held:
        w.close()

    # A message bigger than max_stream_bytes: the node stops reading and closes.
    reader, writer = await asyncio.open_connection(host, port)
    big = b"\x06\x83\xa4Join\xc2\xa5Nodes\x00\xacUserStateLen\xce\x00\x10\x00\x00" + os.urandom(8192)
    writer.write(big)
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5.0) == b""  # closed without a reply
    writer.close()
    await eventually_async(lambda: node.transport.stats["tcp_in_too_large"]
                     + node.transport.stats["tcp_in_errors"] >= 1, 5.0, 0.05)
    assert math.isfinite(node.core.next_deadline() or 0.0)
    no_internal_errors(nodes)


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")
async def test_ipv6_and_the_event_iterator() -> None:
    def build(name: str) -> GossipTransport:
        return GossipTransport(
            lambda address, now: SwimProtocol(CONFIG, name=name, address=address,
                                              rng=random.Random(name), now=now),
            CONFIG, bind=("::1", 0))

    a, b = build("v6a"), build("v6b")
    await a.start()
    await b.start()
    seen: list[Event] = []

    async def consume() -> None:
        async for event in a.events():
            seen.append(event)

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0)  # let the iterator subscribe
    try:
        b.join([a.address])
        await eventually_async(lambda: b.core.member_state("v6a") == MemberState.ALIVE
                         and a.core.member_state("v6b") == MemberState.ALIVE, 10.0, 0.05)
        member = a.core.member("v6b")
        assert member is not None and member.address == b.address
        assert b.address[0] == "::1" and b.address[1] > 0
    finally:
        await b.stop()
        await a.stop()
    await asyncio.wait_for(consumer, 5.0)  # the iterator ends with stop()
    assert any(isinstance(e, MemberJoined) and e.member.name == "v6b" for e in seen)


async def test_streams_arriving_in_pieces(make_nodes, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A message split over many writes and pauses is still read whole, with few parses."""
    nodes: list[Node] = await make_nodes(1, prefix="piece")
    host, port = nodes[0].address
    parses = 0
    real_length = codec.stream_message_length

    def counting_length(buf: bytes, *, max_size: int) -> int | None:
        nonlocal parses
        parses += 1
        return real_length(buf, max_size=max_size)

    monkeypatch.setattr(codec, "stream_message_length", counting_length)

    # A TCP ping in three pieces with pauses: answered with its ack.
    ping = codec.encode_stream(Ping(seq_no=7, node=nodes[0].name), compress=False)
    reader, writer = await asyncio.open_connection(host, port)
    for piece in (ping[:1], ping[1:5], ping[5:]):
        writer.write(piece)
        await writer.drain()
        await asyncio.sleep(0.03)
    reply = await asyncio.wait_for(reader.read(65536), 5.0)
    writer.close()
    assert getattr(codec.decode_stream(reply, max_size=65536), "seq_no", None) == 7

    # A 150 kB push-pull (uncompressed, 2000 LEFT strangers: ignored by the merge) written
    # in 1 kB pieces: the node replies, after a handful of parses rather than ~150.
    strangers = tuple(
        PushNodeState(name=f"stranger-{i:04d}", addr=bytes([127, 0, 0, 1]), port=9,
                      meta=b"", incarnation=1, state=int(MemberState.LEFT))
        for i in range(2000))
    big = codec.encode_stream(PushPull(join=False, nodes=strangers), compress=False)
    assert len(big) > 100_000
    parses = 0
    reader, writer = await asyncio.open_connection(host, port)
    for i in range(0, len(big), 1024):
        writer.write(big[i:i + 1024])
        await writer.drain()
    reply = await asyncio.wait_for(reader.read(1 << 20), 5.0)
    writer.close()
    print(f"{len(big)} bytes in 1 kB writes: {parses} parses")
    assert reply and parses <= 40
    assert nodes[0].core.member("stranger-0000") is None
    no_internal_errors(nodes)
