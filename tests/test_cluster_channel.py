"""The cluster request channel: frames and limits (pure), hostile bytes, the driver's
deadlines and concurrency caps on loopback, and the agent's uses of it (relayed writes,
acknowledged directives) against a fake transport."""

from __future__ import annotations

import asyncio
import random
import socket
from pathlib import Path
from typing import Any

import aiohttp
import msgpack
import pytest

from api.errors import Unavailable
from api.relay import ForwardedAnswer, ForwardedWrite
from gossip import codec
from gossip.channel import (
    CHANNEL_REPLY,
    CHANNEL_REQUEST,
    MAX_KIND_CHARS,
    MAX_REPLY_BYTES,
    MAX_REQUEST_BYTES,
    MAX_TTL_S,
    ChannelCall,
    ChannelSlots,
    ReplyStatus,
    decode_reply,
    decode_request,
    encode_reply,
    encode_request,
    is_channel_payload,
)
from gossip.config import GossipConfig
from gossip.errors import MalformedPacket
from gossip.events import Member
from gossip.messages import Ping
from gossip.protocol import SwimProtocol
from gossip.types import Address, MemberState
from gossip.udp import ChannelError, GossipTransport
from node import peer_requests as pr
from node.agent import Agent
from node.app_messages import Directive, encode_directive
from node.cluster_channel import ClusterChannel, DirectiveNotAcknowledged
from node.config import NodeConfig
from node.directives import Verdict
from node.peer_requests import (
    DirectiveRetry,
    decode_answer,
    decode_write,
    encode_answer,
    encode_write,
)
from node.resources import ResourceSnapshot
from tests.conftest import eventually_async

pytestmark = pytest.mark.timeout(120)

PEER = ("10.0.0.2", 7946)

# --- frames -------------------------------------------------------------------------------


def test_request_and_reply_frames_round_trip() -> None:
    payload = encode_request("write", b"\x00body", ttl_s=2.5)
    assert payload[0] == CHANNEL_REQUEST and is_channel_payload(payload)
    assert decode_request(payload, PEER) == ChannelCall("write", b"\x00body", 2.5, PEER)
    reply = encode_reply(ReplyStatus.OK, b"answer")
    assert reply[0] == CHANNEL_REPLY and is_channel_payload(reply)
    decoded = decode_reply(reply)
    assert decoded.ok and decoded.body == b"answer"
    assert not is_channel_payload(b"") and not is_channel_payload(b"\xc8heartbeat")


def test_limits_on_what_a_node_sends() -> None:
    with pytest.raises(ValueError, match="kind"):
        encode_request("", b"", 1.0)
    with pytest.raises(ValueError, match="kind"):
        encode_request("k" * (MAX_KIND_CHARS + 1), b"", 1.0)
    with pytest.raises(ValueError, match="exceeds"):
        encode_request("write", b"x" * (MAX_REQUEST_BYTES + 1), 1.0)
    with pytest.raises(ValueError, match="TTL"):
        encode_request("write", b"", 0.0)
    # A TTL beyond the cap is clamped on both sides: a peer cannot pin a handler.
    assert decode_request(encode_request("write", b"", 1e6), PEER).ttl_s == MAX_TTL_S
    forged = bytes((CHANNEL_REQUEST,)) + msgpack.packb({"Kind": "w", "Body": b"", "TTL": 10**9})
    assert decode_request(forged, PEER).ttl_s == MAX_TTL_S
    # An answer too big to carry becomes TOO_LARGE rather than a huge frame.
    big = decode_reply(encode_reply(ReplyStatus.OK, b"x" * (MAX_REPLY_BYTES + 1)))
    assert big.status is ReplyStatus.TOO_LARGE and len(big.body) < 100


@pytest.mark.parametrize("payload", [
    b"", b"\xc9", b"\xca", b"\xc9\xc1", b"\xc9\x90",
    bytes((CHANNEL_REQUEST,)) + msgpack.packb({"Kind": 1, "Body": b"", "TTL": 5}),
    bytes((CHANNEL_REQUEST,)) + msgpack.packb({"Kind": "w", "Body": "text", "TTL": 5}),
    bytes((CHANNEL_REQUEST,)) + msgpack.packb({"Kind": "w", "Body": b"", "TTL": -1}),
    bytes((CHANNEL_REQUEST,)) + msgpack.packb({"Kind": "w", "Body": b"", "TTL": True}),
    bytes((CHANNEL_REQUEST,)) + msgpack.packb({"Kind": "w" * 33, "Body": b"", "TTL": 5}),
    bytes((CHANNEL_REQUEST,)) + msgpack.packb({1: 2}),
    bytes((CHANNEL_REQUEST,)) + b"\xdb\xff\xff\xff\xff",  # a 4 GiB string header
    bytes((CHANNEL_REQUEST,)) + b"\xc6\x7f\xff\xff\xff",  # a 2 GiB bin header
    encode_reply(ReplyStatus.OK),  # a reply is not a request
], ids=lambda p: p[:12].hex() or "empty")
def test_hostile_requests_are_malformed(payload: bytes) -> None:
    with pytest.raises(MalformedPacket):
        decode_request(payload, PEER)


def test_hostile_replies_are_malformed() -> None:
    for payload in (b"\xca\x80", bytes((CHANNEL_REPLY,)) + msgpack.packb({"Status": 99, "Body": b""}),
                    bytes((CHANNEL_REPLY,)) + msgpack.packb({"Status": 0, "Body": 5}),
                    encode_request("w", b"", 1.0)):
        with pytest.raises(MalformedPacket):
            decode_reply(payload)


def test_random_and_mutated_frames_only_ever_raise_malformed() -> None:
    rng = random.Random(13)
    valid = [encode_request("write", b"abc" * 20, 3.0), encode_reply(ReplyStatus.FAILED, b"why")]
    for _ in range(3000):
        base = bytearray(rng.choice(valid))
        if rng.random() < 0.3:
            base = bytearray(rng.randbytes(rng.randrange(0, 80)))
        for _ in range(rng.randrange(1, 4)):
            if base:
                base[rng.randrange(len(base))] = rng.randrange(256)
        if rng.random() < 0.3:
            base = base[:rng.randrange(len(base) + 1)]
        for decode in (lambda b: decode_request(b, PEER), decode_reply):
            try:
                decode(bytes(base))
            except MalformedPacket:
                pass


def test_slots_cap_concurrency_and_count_refusals() -> None:
    slots = ChannelSlots(2)
    assert slots.acquire() and slots.acquire()
    assert not slots.acquire() and slots.refused == 1 and slots.active == 2
    slots.release()
    assert slots.acquire() and slots.active == 2
    slots.release()
    slots.release()
    with pytest.raises(RuntimeError):
        slots.release()
    with pytest.raises(ValueError):
        ChannelSlots(0)


# --- what travels: relayed writes, answers, the directive plan -----------------------------

WRITE = ForwardedWrite("POST", "/api/v1/nodes/register?x=1",
                       (("Content-Type", "application/json"), ("Authorization", "Bearer t")),
                       b'{"hostname": "w"}', "host1")


def test_relayed_writes_and_answers_round_trip() -> None:
    assert decode_write(encode_write(WRITE)) == WRITE
    answer = ForwardedAnswer(401, "application/json", b'{"success": false}')
    assert decode_answer(encode_answer(answer)) == answer


@pytest.mark.parametrize("fields,error", [
    ({"M": "GET"}, "method"),
    ({"P": "http://evil/"}, "path"),
    ({"B": "not bytes"}, "body"),
    ({"H": [["a"]]}, "headers"),
    ({"H": "x"}, "headers"),
    ({"R": 5}, "relaying"),
])
def test_hostile_relayed_writes_are_rejected_naming_the_field(fields: dict[str, Any],
                                                               error: str) -> None:
    good = msgpack.unpackb(encode_write(WRITE))
    with pytest.raises(ValueError, match=error):
        decode_write(msgpack.packb({**good, **fields}, use_bin_type=True))
    with pytest.raises(ValueError):
        decode_write(b"\xc1garbage")
    with pytest.raises(ValueError, match="status"):
        decode_answer(msgpack.packb({"S": 99, "C": "", "B": b""}, use_bin_type=True))


def test_a_directive_gets_three_attempts_then_gives_up() -> None:
    retry = DirectiveRetry()
    pauses = []
    while (pause := retry.next_pause()) is not None:
        pauses.append(pause)
    assert pauses == [0.0, *pr.DIRECTIVE_RETRY_DELAYS_S] and retry.attempts == 3
    assert retry.worst_case_s == sum(pr.DIRECTIVE_RETRY_DELAYS_S) + 3 * pr.DIRECTIVE_ATTEMPT_TIMEOUT_S
    assert retry.worst_case_s < 15.0  # within the API's forward_timeout_s default


# --- the agent's end, against a fake transport --------------------------------------------


def member(name: str, *, is_claw: bool = True, state: MemberState = MemberState.ALIVE) -> Member:
    return Member(name=name, address=(f"10.0.0.{len(name)}", 7946), meta=b"", incarnation=1,
                  state=state, state_since=0.0, vsn=b"", is_claw=is_claw)


class FakeCore:
    def __init__(self, members: list[Member]) -> None:
        self.table = {m.name: m for m in members}

    def member(self, name: str) -> Member | None:
        return self.table.get(name)


class FakeTransport:
    """Answers requests from a script: each entry is bytes (the answer) or an exception."""

    running = True

    def __init__(self, members: list[Member], script: list[bytes | Exception]) -> None:
        self.core = FakeCore(members)
        self.script = script
        self.sent: list[tuple[Any, str, bytes, float]] = []

    def set_request_handler(self, kind: str, handler: Any) -> None:
        pass

    async def request(self, address: Any, kind: str, body: bytes, *, timeout_s: float) -> bytes:
        self.sent.append((address, kind, body, timeout_s))
        outcome = self.script.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def channel(transport: FakeTransport, coordinator: str | None = "coord") -> ClusterChannel:
    return ClusterChannel(
        transport=lambda: transport, node_id=lambda: "me", coordinator=lambda: coordinator,
        local_api_url=lambda: None, apply_directive=lambda d: Verdict.APPLY,
        retry=lambda: DirectiveRetry(delays_s=(0.0, 0.0)))


DIRECTIVE = Directive("w1", "maintenance", True, "coord:1:1")


async def test_a_directive_is_retried_until_acknowledged() -> None:
    transport = FakeTransport([member("w1")], [ChannelError("no answer within 2 s"),
                                               ChannelError("unreachable"), b"apply"])
    verdict = await channel(transport).send_directive(DIRECTIVE, encode_directive(DIRECTIVE))
    assert verdict is Verdict.APPLY and len(transport.sent) == 3
    address, kind, body, timeout = transport.sent[-1]
    assert address == member("w1").address and kind == pr.KIND_DIRECTIVE
    assert body == encode_directive(DIRECTIVE) and timeout == pr.DIRECTIVE_ATTEMPT_TIMEOUT_S


async def test_an_unacknowledged_directive_is_reported_never_lost() -> None:
    transport = FakeTransport([member("w1")], [ChannelError("a"), ChannelError("b"),
                                               ChannelError("no answer within 2 s")])
    with pytest.raises(DirectiveNotAcknowledged) as caught:
        await channel(transport).send_directive(DIRECTIVE, encode_directive(DIRECTIVE))
    assert str(caught.value) == (
        "maintenance directive to w1 was not acknowledged after 3 attempts (no answer "
        "within 2 s); it may not have been applied")
    # Another node at the member's address (NOT_OURS) or a gone member is no ack either.
    for members, script in (([member("w1")], [b"not_ours"] * 3), ([], [])):
        with pytest.raises(DirectiveNotAcknowledged):
            await channel(FakeTransport(members, script)).send_directive(
                DIRECTIVE, encode_directive(DIRECTIVE))


async def test_writes_go_to_the_coordinators_gossip_address() -> None:
    answer = ForwardedAnswer(200, "application/json", b"{}")
    transport = FakeTransport([member("coord")], [encode_answer(answer)])
    assert await channel(transport).forward_write(WRITE, 15.0) == answer
    (address, kind, body, timeout), = transport.sent
    assert (address, kind, timeout) == (member("coord").address, pr.KIND_WRITE, 15.0)
    assert decode_write(body) == WRITE


@pytest.mark.parametrize("members,coordinator,script,message", [
    ([], None, [], "no coordinator is known"),
    ([], "coord", [], "coord is not a live member"),
    ([member("coord", state=MemberState.DEAD)], "coord", [], "coord is not a live member"),
    ([member("coord", is_claw=False)], "coord", [], "coord is not a claw node"),
    ([member("coord")], "coord", [ChannelError("no answer within 15 s")], "no answer within 15 s"),
    ([member("coord")], "coord", [b"\xc1"], "undecodable"),
])
async def test_a_write_that_cannot_reach_the_coordinator_is_503(
        members: list[Member], coordinator: str | None, script: list[Any], message: str) -> None:
    with pytest.raises(Unavailable) as caught:
        await channel(FakeTransport(members, script), coordinator).forward_write(WRITE, 15.0)
    assert caught.value.status == 503 and message in caught.value.message


# --- the driver on loopback ----------------------------------------------------------------


@pytest.fixture
async def pair() -> Any:
    """Two started transports (no join needed: requests go to an address)."""
    config = GossipConfig.local()
    transports = []
    for name in ("a", "b"):
        def build(address: Address, now: float, name: str = name) -> SwimProtocol:
            return SwimProtocol(config, name=name, address=address, meta=b"",
                                rng=random.Random(name), now=now)
        transport = GossipTransport(build, config, bind=("127.0.0.1", 0))
        await transport.start()
        transports.append(transport)
    yield transports
    for transport in transports:
        await transport.stop()


async def test_a_request_reaches_the_handler_and_its_answer_comes_back(pair: Any) -> None:
    a, b = pair
    seen: list[ChannelCall] = []

    async def echo(call: ChannelCall) -> bytes:
        seen.append(call)
        return b"re:" + call.body

    b.set_request_handler("echo", echo)
    assert await a.request(b.address, "echo", b"x" * 5000, timeout_s=5.0) == b"re:" + b"x" * 5000
    assert seen[0].kind == "echo" and 0 < seen[0].ttl_s <= 5.0
    assert seen[0].peer[0] == "127.0.0.1"
    assert a.stats["channel_out"] == 1 and b.stats["channel_in"] == 1
    # The frames are ordinary stream messages of the core: counted as streams in.
    assert b.core.stats["streams_in"] >= 1


@pytest.mark.slow
async def test_statuses_reach_the_caller_as_errors_naming_them(pair: Any) -> None:
    a, b = pair

    async def broken(call: ChannelCall) -> bytes:
        raise RuntimeError("disk full")

    async def slow(call: ChannelCall) -> bytes:
        await asyncio.sleep(30)
        return b""

    b.set_request_handler("broken", broken)
    b.set_request_handler("slow", slow)
    with pytest.raises(ChannelError, match="UNKNOWN_KIND: nope"):
        await a.request(b.address, "nope", b"", timeout_s=5.0)
    with pytest.raises(ChannelError, match="FAILED: RuntimeError: disk full"):
        await a.request(b.address, "broken", b"", timeout_s=5.0)
    # The handler gets most of the caller's time, then the caller hears TIMEOUT.
    with pytest.raises(ChannelError, match="TIMEOUT"):
        await a.request(b.address, "slow", b"", timeout_s=1.0)
    assert b.stats["channel_in_unknown_kind"] == 1 and b.stats["channel_in_failed"] == 1
    assert b.stats["channel_in_timeouts"] == 1
    # Nobody listening: unreachable, quickly.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(ChannelError, match="unreachable"):
        await a.request(("127.0.0.1", port), "echo", b"", timeout_s=5.0)


@pytest.mark.slow
async def test_concurrency_caps_refuse_at_once(pair: Any) -> None:
    a, b = pair
    release = asyncio.Event()

    async def blocking(call: ChannelCall) -> bytes:
        await release.wait()
        return b"done"

    b.set_request_handler("block", blocking)

    async def second_request_while_one_blocks(refusal: str) -> None:
        release.clear()
        first = asyncio.create_task(a.request(b.address, "block", b"", timeout_s=10.0))
        await eventually_async(lambda: b._channel.inbound.active == 1)
        with pytest.raises(ChannelError, match=refusal):
            await a.request(b.address, "block", b"", timeout_s=10.0)
        release.set()
        assert await first == b"done"

    b._channel.inbound = ChannelSlots(1)
    await second_request_while_one_blocks("BUSY")  # the callee answers at once, no queue
    b._channel.inbound = ChannelSlots(16)
    a._channel.outbound = ChannelSlots(1)
    await second_request_while_one_blocks("in flight")  # the caller does not even dial
    assert b.stats["channel_in_busy"] == 1 and a.stats["channel_out_refused"] == 1
    assert a._channel.outbound.active == 0 and b._channel.inbound.active == 0


async def test_hostile_channel_bytes_are_dropped_and_counted(pair: Any) -> None:
    a, b = pair

    async def echo(call: ChannelCall) -> bytes:
        return call.body

    b.set_request_handler("echo", echo)
    host, port = b.address
    garbage = [
        b"\xc9\xc1\xc1",  # a request frame of bad msgpack
        encode_reply(ReplyStatus.OK, b"unasked"),  # a reply nobody asked for
        bytes((CHANNEL_REQUEST,)) + msgpack.packb({"Kind": "echo", "Body": b"", "TTL": -5}),
    ]
    before = b.core.stats["malformed"]
    for payload in garbage:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(a.core.channel_frame(payload))
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 10.0) == b""  # closed, no answer
        writer.close()
    assert b.core.stats["malformed"] == before + len(garbage)
    assert b.stats["channel_in"] == 0
    # A well-framed request whose body its handler cannot read: FAILED, counted.
    b.set_request_handler("write", lambda call: _decode_write_async(call.body))
    with pytest.raises(ChannelError, match="FAILED: malformed request: write: undecodable"):
        await a.request(b.address, "write", b"\xc1", timeout_s=5.0)
    assert b.stats["channel_in_malformed"] == 1
    # An answer that is not a channel reply is a garbled answer for the caller.
    impostor = await asyncio.start_server(
        lambda r, w: _answer_with(r, w, codec.encode_stream(Ping(seq_no=1, node="x"))),
        "127.0.0.1", 0)
    async with impostor:
        with pytest.raises(ChannelError, match="garbled"):
            await a.request(impostor.sockets[0].getsockname()[:2], "echo", b"", timeout_s=5.0)
    assert a.stats["channel_out_malformed"] == 1
    # Still serving.
    assert await a.request(b.address, "echo", b"ok", timeout_s=5.0) == b"ok"


async def _decode_write_async(body: bytes) -> bytes:
    return encode_write(decode_write(body))


async def _answer_with(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       data: bytes) -> None:
    await reader.read(65536)
    writer.write(data)
    await writer.drain()
    writer.close()


# --- two agents in-process, each API on its own loopback port ----------------------------

WORKER = {"hostname": "w1", "platform": "linux", "arch": "arm64", "available_skills": ["python"]}


def agent_config(tmp_path: Path, node_id: str, **extra: object) -> NodeConfig:
    return NodeConfig.load({"node_id": node_id, "bind": "127.0.0.1:0", "api_bind": "127.0.0.1:0",
                            "data_dir": tmp_path / node_id, "profile": "local",
                            "resource_interval": 0.5, **extra})


def snapshot() -> ResourceSnapshot:
    return ResourceSnapshot(cpu_percent=1.0, memory_percent=2.0, disk_percent=3.0)


@pytest.mark.slow
async def test_writes_through_a_member_reach_the_coordinator_over_the_gossip_port(
        tmp_path: Path) -> None:
    coordinator = Agent(agent_config(tmp_path, "a", api_token="tok"), sampler=snapshot)
    await coordinator.start()
    member_agent = None
    try:
        await eventually_async(lambda: coordinator.coordinator_state()[0] == "a", 30.0)
        seed = f"127.0.0.1:{coordinator.transport.address[1]}"  # type: ignore[union-attr]
        member_agent = Agent(agent_config(tmp_path, "b", join=[seed]), sampler=snapshot)
        await member_agent.start()
        await eventually_async(lambda: member_agent.coordinator_state()[0] == "a", 30.0)
        url = f"http://127.0.0.1:{member_agent.api_port}/api/v1/nodes"
        async with aiohttp.ClientSession() as http:
            # b has no token, a has one: a's policy decides (401 relayed), both ways.
            async with http.post(f"{url}/register", json=WORKER) as r:
                assert r.status == 401, await r.text()
            auth = {"Authorization": "Bearer tok"}
            async with http.post(f"{url}/register", json=WORKER, headers=auth) as r:
                body = await r.json()
                assert r.status == 200, body
            assert body["node_id"] in coordinator.registry
            # A directive to b, relayed through b itself: acknowledged, then applied.
            async with http.post(f"{url}/b/maintenance", json={"enabled": True},
                                 headers=auth) as r:
                assert r.status == 200, await r.text()
            assert member_agent.advert.meta.maintenance  # applied before the answer came back
        assert coordinator.transport.stats["channel_in"] >= 2  # type: ignore[union-attr]
        assert member_agent.transport.stats["channel_in"] >= 1  # type: ignore[union-attr]
    finally:
        if member_agent is not None:
            await member_agent.stop(leave=True)
        await coordinator.stop(leave=True)
