"""Codec unit tests: known bytes from the reference, round trips, and the §9 traps."""

from __future__ import annotations

import msgpack
import pytest

from gossip.addresses import bytes_to_ip, ip_to_bytes
from gossip.codec import (
    MAX_COMPOUND_PARTS,
    add_crc,
    compress_packet,
    decode_packet,
    decode_stream,
    encode_compound,
    encode_message,
    encode_stream,
    encrypted_stream_frame,
    encrypted_stream_header,
    stream_message_length,
)
from gossip.errors import LocalProtocolError, MalformedPacket
from gossip.messages import (
    VSN_SERF,
    Ack,
    Alive,
    ClawAppMessage,
    Dead,
    ErrResp,
    IndirectPing,
    Nack,
    Ping,
    PushNodeState,
    PushPull,
    SerfJoin,
    SerfLeave,
    SerfPushPull,
    SerfQuery,
    SerfQueryResponse,
    SerfRelay,
    SerfUnknown,
    SerfUserEvent,
    Suspect,
    UserMsg,
)
from gossip.serf_codec import decode_serf, encode_serf
from gossip.tags import CLAW_TAG, decode_tags, encode_tags

LO = ip_to_bytes("127.0.0.1")
META = bytes.fromhex("ff82a4726f6c65a17aa26463a26c6f")  # ff + {"role":"z","dc":"lo"}

# --- known bytes (reference §4, captured from serf) ------------------------------------


def test_ping_matches_annotated_capture() -> None:
    wire = bytes.fromhex(
        "00" "85" "a44e6f6465a161" "a55365714e6f01" "aa536f7572636541646472a47f000001"
        "aa536f757263654e6f6465a163" "aa536f75726365506f7274cd1f0c"
    )
    ping = Ping(seq_no=1, node="a", source_addr=LO, source_port=7948, source_node="c")
    assert encode_message(ping) == wire
    assert decode_packet(wire) == ([ping], 0)


def test_alive_with_crc_matches_capture() -> None:
    wire = bytes.fromhex(
        "0cf7f59840" "04" "86" "a441646472a47f000001" "ab496e6361726e6174696f6e01"
        "a44d657461af" + META.hex() + "a44e6f6465a163" "a4506f7274cd1f0c" "a356736ea6010502020505"
    )
    alive = Alive(incarnation=1, node="c", addr=LO, port=7948, meta=META, vsn=VSN_SERF)
    assert add_crc(encode_message(alive)) == wire
    assert decode_packet(wire) == ([alive], 0)
    assert decode_tags(alive.meta) == {"role": "z", "dc": "lo"}


def test_nack_matches_capture() -> None:
    wire = bytes.fromhex("0b81a55365714e6f0f")
    assert encode_message(Nack(seq_no=15)) == wire
    assert decode_packet(wire) == ([Nack(seq_no=15)], 0)


def test_compound_matches_capture() -> None:
    # nack + suspect as serf sent them (vector 188).
    wire = bytes.fromhex(
        "07020009001d0b81a55365714e6f0e0383a446726f6da161ab496e6361726e6174696f6e01a44e6f6465a163"
    )
    parts = [Nack(seq_no=14), Suspect(incarnation=1, node="c", from_="a")]
    assert encode_compound([encode_message(m) for m in parts]) == wire
    assert decode_packet(wire) == (parts, 0)


def test_err_resp_str16() -> None:
    text = "Remote state is encrypted and encryption is not configured"
    plain = encode_stream(ErrResp(error=text), compress=False)
    assert plain == b"\x0d\x81\xa5Error\xda\x00\x3a" + text.encode()
    assert decode_stream(encode_stream(ErrResp(error=text)), max_size=4096) == ErrResp(error=text)


# --- traps -----------------------------------------------------------------------------


@pytest.mark.parametrize("length", [31, 32, 200, 255, 256, 65535, 65536])
def test_str8_and_bin_never_emitted(length: int) -> None:
    name = "n" * length
    wire = encode_message(Suspect(incarnation=1, node=name, from_="x"))
    if length < 32:
        header = bytes((0xA0 | length,))
    elif length < 65536:
        header = b"\xda" + length.to_bytes(2, "big")
    else:
        header = b"\xdb" + length.to_bytes(4, "big")
    assert b"\xa4Node" + header + name.encode() in wire
    blob = encode_message(Ack(seq_no=1, payload=bytes(length)))
    assert b"\xc4" not in blob[:12] and b"\xd9" not in blob[:12]
    assert decode_packet(blob, max_size=1 << 20)[0] == [Ack(seq_no=1, payload=bytes(length))]


def test_vsn_is_six_raw_bytes() -> None:
    wire = encode_message(Alive(incarnation=1, node="a", addr=LO, port=1, meta=None))
    assert wire.endswith(b"\xa3Vsn\xa6\x01\x05\x02\x02\x05\x05")


def test_vsn_as_array_of_ints_is_accepted_like_go() -> None:
    body = {"Addr": LO, "Incarnation": 1, "Meta": None, "Node": b"a", "Port": 1, "Vsn": [1, 5, 2, 2, 5, 5]}
    wire = b"\x04" + msgpack.packb(body, use_bin_type=False)
    assert decode_packet(wire)[0][0].vsn == VSN_SERF


def test_nil_versus_empty() -> None:
    nil = encode_message(Ack(seq_no=3, payload=None))
    empty = encode_message(Ack(seq_no=3, payload=b""))
    assert b"\xa7Payload\xc0" in nil and b"\xa7Payload\xa0" in empty
    assert decode_packet(nil)[0] == [Ack(seq_no=3, payload=None)]
    assert decode_packet(empty)[0] == [Ack(seq_no=3, payload=b"")]
    alive = encode_message(Alive(incarnation=1, node="a", addr=LO, port=1, meta=None, vsn=None))
    assert b"\xa4Meta\xc0" in alive and b"\xa3Vsn\xc0" in alive


def test_ping_omitempty_source_fields() -> None:
    wire = encode_message(Ping(seq_no=5, node=""))
    assert wire == b"\x00\x82\xa4Node\xa0\xa5SeqNo\x05"
    assert decode_packet(wire)[0] == [Ping(seq_no=5, node="")]


def test_smallest_uint_forms() -> None:
    assert b"\xa4Port\xcd\x1f\x0a" in encode_message(Alive(incarnation=1, node="a", addr=LO, port=7946))
    assert b"\xabIncarnation\xce\xff\xff\xff\xff" in encode_message(
        Dead(incarnation=0xFFFFFFFF, node="a", from_="a"))
    assert b"\xabIncarnation\xcc\x80" in encode_message(Suspect(incarnation=128, node="a", from_="b"))


def test_compound_part_cap() -> None:
    part = encode_message(Nack(seq_no=1))
    wire = encode_compound([part] * MAX_COMPOUND_PARTS)
    assert wire[1] == 127
    assert decode_packet(wire) == ([Nack(seq_no=1)] * 127, 0)
    with pytest.raises(LocalProtocolError):
        encode_compound([part] * 128)
    with pytest.raises(LocalProtocolError):
        encode_compound([])


def test_ipv4_mapped_16_byte_addresses() -> None:
    mapped = ip_to_bytes("::ffff:10.1.2.3")
    assert len(mapped) == 16 and bytes_to_ip(mapped) == "10.1.2.3"
    alive = Alive(incarnation=2, node="m", addr=mapped, port=7946, meta=encode_tags({}))
    msgs, _ = decode_packet(encode_message(alive))
    assert msgs == [alive] and bytes_to_ip(msgs[0].addr) == "10.1.2.3"
    assert bytes_to_ip(ip_to_bytes("fe80::1")) == "fe80::1"
    for bad in (b"", b"\x01\x02\x03", bytes(5), bytes(17)):
        with pytest.raises(MalformedPacket):
            bytes_to_ip(bad)


def test_bad_ip_length_in_alive_is_malformed() -> None:
    body = {"Addr": b"\x01\x02\x03", "Incarnation": 1, "Node": b"a", "Port": 1}
    with pytest.raises(MalformedPacket, match="Addr"):
        decode_packet(b"\x04" + msgpack.packb(body, use_bin_type=False))


def test_non_utf8_names_round_trip() -> None:
    wire = b"\x03" + msgpack.packb({"From": b"\xff\xfe", "Incarnation": 1, "Node": b"caf\xc3\xa9"}, use_bin_type=False)
    msgs, _ = decode_packet(wire)
    assert msgs[0].node == "café"
    assert encode_message(msgs[0]) == wire


# --- packets: layers and hostile input --------------------------------------------------


ALL_PACKET_MESSAGES = [
    Ping(seq_no=7, node="b", source_addr=LO, source_port=7946, source_node="a"),
    IndirectPing(seq_no=14, target=LO, port=7948, node="c", nack=True, source_addr=LO,
                 source_port=7946, source_node="a"),
    Ack(seq_no=9, payload=b"\x01coord"),
    Nack(seq_no=2**32 - 1),
    Suspect(incarnation=3, node="c", from_="a"),
    Alive(incarnation=1, node="a", addr=LO, port=65535, meta=META),
    Dead(incarnation=4, node="d", from_="d"),
    UserMsg(payload=encode_serf(SerfJoin(ltime=2, node="c"))),
]


@pytest.mark.parametrize("msg", ALL_PACKET_MESSAGES, ids=lambda m: type(m).__name__)
def test_packet_round_trip_every_layer(msg: object) -> None:
    plain = encode_message(msg)
    for wire in (plain, add_crc(plain), compress_packet(plain), add_crc(compress_packet(plain))):
        assert decode_packet(wire) == ([msg], 0)


def test_compressed_compound_with_crc() -> None:
    compound = encode_compound([encode_message(m) for m in ALL_PACKET_MESSAGES])
    wire = add_crc(compress_packet(compound))
    assert decode_packet(wire) == (ALL_PACKET_MESSAGES, 0)


def test_bad_crc_rejected() -> None:
    wire = bytearray(add_crc(encode_message(Nack(seq_no=1))))
    wire[-1] ^= 1
    with pytest.raises(MalformedPacket, match="checksum"):
        decode_packet(bytes(wire))


def test_truncated_and_bad_compound_parts_are_skipped() -> None:
    good = encode_message(Nack(seq_no=1))
    wire = encode_compound([good, b"\x03\x93garbage", good, good])
    assert decode_packet(wire) == ([Nack(seq_no=1)] * 3, 1)
    assert decode_packet(wire[:-3]) == ([Nack(seq_no=1)] * 2, 2)  # last part truncated
    with pytest.raises(MalformedPacket, match="length table"):
        decode_packet(b"\x07\x05\x00")


def test_compound_nesting_is_bounded() -> None:
    inner = encode_compound([encode_message(Nack(seq_no=1))])
    assert decode_packet(encode_compound([inner])) == ([Nack(seq_no=1)], 0)
    too_deep = encode_compound([encode_compound([inner])])
    assert decode_packet(too_deep) == ([], 1)


def test_rejections() -> None:
    for wire in (b"", b"\x06\x80", b"\x0d\x80", b"\x0e", b"\xf4label", b"\x00", b"\x00\xc1",
                 b"\x00\x93\x01\x02\x03", b"\x02\x81\xa5SeqNo\xcf\x00\x00\x00\x01\x00\x00\x00\x00",
                 b"\x02\x81\xa5SeqNo\xff", b"\x01\x81\xa4Nack\x05", b"\x02\x81\xa7Payload\x01",
                 b"\x00\x81\xa4Node\xd7\xff" + bytes(8), b"\x09\x80", b"\x09\x82\xa4Algo\x01\xa3Buf\xa0",
                 compress_packet(compress_packet(encode_message(Nack(seq_no=1))))):
        with pytest.raises(MalformedPacket):
            decode_packet(wire)
    with pytest.raises(MalformedPacket, match="exceeds"):
        decode_packet(b"\x08" + bytes(100), max_size=50)


def test_go_leniency_unknown_keys_missing_fields_trailing_bytes() -> None:
    body = msgpack.packb({"Extra": [1, 2], "SeqNo": 4}, use_bin_type=False)
    assert decode_packet(b"\x02" + body + b"trailing") == ([Ack(seq_no=4, payload=None)], 0)
    assert decode_packet(b"\x01" + msgpack.packb({"Nack": 1, "Target": LO}))[0][0].nack is True


# --- streams ---------------------------------------------------------------------------


def _push_pull(n: int, user_state: bytes = b"") -> PushPull:
    nodes = tuple(
        PushNodeState(name=f"node-{i}", addr=LO, port=7946 + i, meta=encode_tags({"role": "x"}),
                      incarnation=i + 1, state=i % 4)
        for i in range(n)
    )
    return PushPull(join=True, nodes=nodes, user_state=user_state)


STREAM_MESSAGES = [
    _push_pull(0), _push_pull(3, user_state=b"\x02\x80"), Ping(seq_no=1, node="py"),
    Ack(seq_no=1), UserMsg(payload=b"hello"), ErrResp(error="nope"),
]


@pytest.mark.parametrize("msg", STREAM_MESSAGES, ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("compress", [True, False])
def test_stream_round_trip_and_incremental_framing(msg: object, compress: bool) -> None:
    wire = encode_stream(msg, compress=compress)
    assert (wire[0] == 9) == compress
    assert decode_stream(wire, max_size=1 << 16) == msg
    for cut in range(len(wire)):
        assert stream_message_length(wire[:cut], max_size=1 << 16) is None
    assert stream_message_length(wire + b"next", max_size=1 << 16) == len(wire)


def test_user_msg_stream_header() -> None:
    assert encode_stream(UserMsg(payload=b"hi"), compress=False) == b"\x08\x81\xaaUserMsgLen\x02hi"


def test_push_pull_header_layout() -> None:
    wire = encode_stream(_push_pull(1, b"xyz"), compress=False)
    assert wire.startswith(b"\x06\x83\xa4Join\xc3\xa5Nodes\x01\xacUserStateLen\x03\x87\xa4Addr")
    assert wire.endswith(b"xyz")


def test_stream_limits_and_garbage() -> None:
    big = encode_stream(_push_pull(50), compress=False)
    with pytest.raises(MalformedPacket):
        stream_message_length(big, max_size=100)
    with pytest.raises(MalformedPacket):
        decode_stream(encode_stream(_push_pull(50)), max_size=100)  # decompressed too big
    for wire in (b"\x07\x00", b"\x03\x80", b"\x06\x81\xa5Nodes\xff", b"\x06\x81\xa5Nodes\xce\xff\xff\xff\xff",
                 b"\x08\x81\xaaUserMsgLen\xd0\x80"):
        with pytest.raises(MalformedPacket):
            stream_message_length(wire, max_size=1 << 16)
        with pytest.raises(MalformedPacket):
            decode_stream(wire, max_size=1 << 16)
    with pytest.raises(MalformedPacket, match="truncated"):
        decode_stream(encode_stream(_push_pull(2, b"abc"), compress=False)[:-1], max_size=1 << 16)


def test_encrypted_stream_seam() -> None:
    plain = encode_stream(Ping(seq_no=3, node="x"))
    frame = encrypted_stream_frame(b"CT" + plain)  # a stand-in "cipher": prefix "CT"
    assert frame[:5] == b"\x0a" + (len(plain) + 2).to_bytes(4, "big") == encrypted_stream_header(len(plain) + 2)
    assert stream_message_length(frame[:4], max_size=4096) is None
    assert stream_message_length(frame + b"more", max_size=4096) == len(frame)
    with pytest.raises(MalformedPacket, match="encryption is not configured"):
        decode_stream(frame, max_size=4096)
    seen = []

    def decrypt(body: bytes, aad: bytes) -> bytes:
        seen.append(aad)
        return body[2:]

    assert decode_stream(frame, max_size=4096, decrypt=decrypt) == Ping(seq_no=3, node="x")
    assert seen == [frame[:5]]
    with pytest.raises(MalformedPacket):
        stream_message_length(b"\x0a\xff\xff\xff\xff", max_size=4096)


# --- Serf ------------------------------------------------------------------------------

SERF_MESSAGES = [
    SerfJoin(ltime=2, node="c"),
    SerfLeave(ltime=4, node="d", prune=False),
    SerfUserEvent(ltime=1, name="deploy", payload=b"v1.2.3", cc=True),
    SerfQuery(ltime=1, id=288263874, addr=LO, port=7947, source_node="b", filters=None, flags=1,
              relay_factor=0, timeout_ns=2_000_000_000, name="uptime", payload=b"hello"),
    SerfQuery(ltime=1, id=1, addr=None, port=0, source_node="b", filters=(b"\x00a", b""),
              flags=0, relay_factor=3, timeout_ns=-1, name="q", payload=None),
    SerfQueryResponse(ltime=1, id=288263874, from_="b", flags=1, payload=None),
    SerfPushPull(ltime=1, status_ltimes={"b": 0, "a": 7}, left_members=("d",), event_ltime=1,
                 events=(None,) * 512, query_ltime=1),
    SerfPushPull(ltime=3, status_ltimes={}, left_members=(), event_ltime=2,
                 events=({b"Events": [{b"Name": b"e", b"Payload": b"p"}], b"LTime": 2},), query_ltime=1,
                 claw=b"\x01app-state"),
    ClawAppMessage(body=b"\x01heartbeat"),
    SerfUnknown(type=6, body=b"\x80conflict"),
    SerfRelay(dest_ip=LO, dest_port=7946, dest_name="a", inner=b"\x05\x80"),
]


@pytest.mark.parametrize("msg", SERF_MESSAGES, ids=lambda m: type(m).__name__)
def test_serf_round_trip(msg: object) -> None:
    assert decode_serf(encode_serf(msg)) == msg


def test_serf_known_bytes() -> None:
    assert encode_serf(SerfJoin(ltime=2, node="c")) == bytes.fromhex("0182a54c54696d6502a44e6f6465a163")
    assert encode_serf(SerfLeave(ltime=4, node="d")) == bytes.fromhex("0083a54c54696d6504a44e6f6465a164a55072756e65c2")


def test_serf_push_pull_claw_extension_key_order() -> None:
    wire = encode_serf(SERF_MESSAGES[7])
    assert wire.startswith(b"\x02\x87\xa4Claw")  # sorts before EventLTime, like a Go struct
    assert b"\xa6Events\x91" in wire and b"\xabLeftMembers\x90" in wire
    plain = encode_serf(SERF_MESSAGES[6])
    assert b"Claw" not in plain and b"\xa6Events\xdc\x02\x00" in plain


def test_serf_garbage() -> None:
    for wire in (b"", b"\x01", b"\x01\x93", b"\x00\x81\xa5LTime\xff", b"\x04\x81\xa7Filters\x05",
                 b"\x02\x81\xacStatusLTimes\x81\xa1a\xa1b", b"\x02\x81\xa6Events\x91\x05",
                 b"\x03\x81\xa4Name\xc3"):
        with pytest.raises(MalformedPacket):
            decode_serf(wire)


# --- tags ------------------------------------------------------------------------------


def test_tags() -> None:
    tags = {"role": "z", "dc": "lo", CLAW_TAG: "1"}
    assert decode_tags(encode_tags(tags)) == tags
    assert encode_tags({}) == b"\xff\x80"
    assert decode_tags(b"") == {"role": ""} and decode_tags(None) == {"role": ""}
    assert decode_tags(b"web") == {"role": "web"}
    with pytest.raises(ValueError):
        encode_tags({"k": "v" * 600})
    for bad in (b"\xff", b"\xff\x93\x01\x02\x03", b"\xff\x81\xa1a\x05", b"\xff\xc1"):
        with pytest.raises(MalformedPacket):
            decode_tags(bad)


def test_codec_type_constants_match_the_enums() -> None:
    from gossip import codec
    from gossip.messages import MessageType, SerfMessageType
    for member in MessageType:
        assert getattr(codec, "_" + member.name) == member.value
    for member in SerfMessageType:
        if hasattr(codec, "_SERF_" + member.name):
            assert getattr(codec, "_SERF_" + member.name) == member.value


def test_compound_dataclass_encodes_as_compound() -> None:
    from gossip.messages import Compound
    parts = (Nack(seq_no=1), Suspect(incarnation=2, node="n", from_="m"))
    wire = encode_message(Compound(parts=parts))
    assert wire == encode_compound([encode_message(p) for p in parts])
    assert decode_packet(wire) == (list(parts), 0)


def _status_bytes_one_by_one(status: dict[str, int]) -> bytes:
    """A push-pull's Serf state with StatusLTimes converted entry by entry (go_str)."""
    return b"\x02" + msgpack.packb({
        "EventLTime": 1, "Events": None, "LTime": 2, "LeftMembers": [], "QueryLTime": 3,
        "StatusLTimes": {k.encode("utf-8", "surrogateescape"): v for k, v in status.items()},
    }, use_bin_type=False)


@pytest.mark.parametrize("status", [
    {"a": 1, "node-00001": 7, "x" * 40: 2**64 - 1, "é" * 200: 0},
    {"bad\udcff": 3, "ok": 4},  # invalid UTF-8 kept by surrogateescape: the checked path
    {},
])
def test_status_ltimes_pack_to_the_bytes_of_the_checked_path(status: dict[str, int]) -> None:
    msg = SerfPushPull(ltime=2, status_ltimes=status, left_members=(), event_ltime=1,
                       events=None, query_ltime=3)
    assert encode_serf(msg) == _status_bytes_one_by_one(status)


@pytest.mark.parametrize("ltime", [-1, 2**64, True, 1.0])
def test_a_status_ltime_out_of_range_is_refused(ltime: object) -> None:
    msg = SerfPushPull(ltime=2, status_ltimes={"a": 1, "b": ltime}, left_members=(),  # type: ignore[dict-item]
                       event_ltime=1, events=None, query_ltime=3)
    with pytest.raises(LocalProtocolError, match="status_ltimes"):
        encode_serf(msg)
