"""Hostile input: random bytes and mutated golden vectors must only ever raise
``MalformedPacket`` (never anything else, never hang, never allocate without bound).

Two parts: hypothesis property tests on random/mutated bytes, and a seeded loop that
mutates every vector (bit flips, truncation, insertion, length-field corruption), both
raw and *structure-aware* (mutate the innermost command, then rebuild valid compress and
CRC layers so the mutation reaches the msgpack decoders instead of dying at the CRC).
About 10,200 hostile inputs go through all five decoders (8,112 mutated vectors, 800
random, 400 hypothesis-mutated vectors, 900 msgpack-shaped), plus LZW garbage,
incremental framing of mutated streams, and round-trip properties.
"""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from gossip import lzw
from gossip.codec import (
    add_crc,
    compress_packet,
    decode_packet,
    decode_stream,
    encode_compound,
    encode_message,
    encode_stream,
    stream_message_length,
)
from gossip.errors import MalformedPacket
from gossip.messages import (
    Ack,
    Alive,
    Dead,
    IndirectPing,
    Nack,
    Ping,
    PushNodeState,
    PushPull,
    Suspect,
    UserMsg,
)
from gossip.serf_codec import decode_serf
from gossip.tags import decode_tags

VECTORS = json.loads((Path(__file__).parent / "data" / "vectors.json").read_text())
MAX = 1 << 16
COUNT = {"inputs": 0, "calls": 0, "accepted": 0}


def only_malformed(fn: Callable[..., Any], data: bytes, **kw: Any) -> Any:
    COUNT["calls"] += 1
    try:
        result = fn(data, **kw)
    except MalformedPacket:
        return None
    COUNT["accepted"] += 1
    return result


def decode_all(data: bytes) -> None:
    """Feed ``data`` to every decoder; follow decoded payloads into Serf and tag decoding."""
    COUNT["inputs"] += 1
    result = only_malformed(decode_packet, data, max_size=MAX)
    if result is not None:
        msgs, skipped = result
        assert isinstance(msgs, list) and isinstance(skipped, int) and skipped >= 0
        for msg in msgs:
            if isinstance(msg, UserMsg):
                only_malformed(decode_serf, msg.payload)
            elif isinstance(msg, Alive):
                only_malformed(decode_tags, msg.meta)
    stream = only_malformed(decode_stream, data, max_size=MAX)
    if isinstance(stream, PushPull):
        if stream.user_state:
            only_malformed(decode_serf, stream.user_state)
        for node in stream.nodes:
            only_malformed(decode_tags, node.meta)
    length = only_malformed(stream_message_length, data, max_size=MAX)
    assert length is None or 0 < length <= len(data)
    only_malformed(decode_serf, data)
    only_malformed(decode_tags, data)


def plaintexts() -> list[tuple[str, bytes]]:
    out = []
    for entry in VECTORS:
        raw = bytes.fromhex(entry["hex"])
        plain_hex = (entry.get("decoded") or {}).get("plaintext_hex")
        if plain_hex:
            raw = bytes.fromhex(plain_hex)
        out.append((entry["transport"], raw))
    return out


PLAINTEXTS = plaintexts()


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    kind = rng.randrange(6)
    if kind == 0 and buf:  # bit flips
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
    elif kind == 1:  # truncation
        del buf[rng.randrange(len(buf) + 1):]
    elif kind == 2:  # insertion
        i = rng.randrange(len(buf) + 1)
        buf[i:i] = rng.randbytes(rng.randint(1, 8))
    elif kind == 3 and len(buf) > 2:  # length-field corruption: msgpack/compound lengths
        i = rng.randrange(len(buf) - 2)
        buf[i] = rng.choice([0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF, 0xCE, 0xCF, 0xC4, 0xD9, 0x9F, 0x8F, 0xBF])
        buf[i + 1] = rng.choice([0x00, 0x7F, 0xFF])
    elif kind == 4 and len(buf) > 3:  # big-endian u16/u32 field corruption (compound, 0x0a)
        i = rng.randrange(len(buf) - 2)
        struct.pack_into(">H", buf, i, rng.choice([0, 1, 0x7FFF, 0xFFFF]))
    elif buf:  # byte replacement with msgpack-interesting values
        buf[rng.randrange(len(buf))] = rng.choice([0x00, 0x07, 0x09, 0x0A, 0x0C, 0xC0, 0xC1, 0xC3, 0xD4, 0xFF])
    return bytes(buf)


def structured_mutation(rng: random.Random, data: bytes) -> bytes:
    """Mutate beneath CRC and compression, then re-wrap with valid layers."""
    crc = data[:1] == b"\x0c"
    if crc:
        data = data[5:]
    compressed = data[:1] == b"\x09"
    if compressed:
        try:
            obj = msgpack.unpackb(data[1:], raw=True, strict_map_key=False)
            data = lzw.decompress(obj[b"Buf"], MAX)
        except Exception:
            return mutate(rng, data)
    data = mutate(rng, data) or b"\x00"
    if compressed:
        data = compress_packet(data)
    return add_crc(data) if crc else data


def test_mutated_vectors_only_raise_malformed() -> None:
    rng = random.Random(20261127)
    before = dict(COUNT)
    for _transport, data in PLAINTEXTS:
        for _ in range(3):
            decode_all(mutate(rng, data))
            decode_all(structured_mutation(rng, data))
    delta = {k: COUNT[k] - before[k] for k in COUNT}
    print(f"mutated vectors: {delta}")
    assert delta["inputs"] == 6 * len(PLAINTEXTS)
    assert delta["accepted"] > len(PLAINTEXTS)  # mutations do reach the decoders' success paths


def test_incremental_framing_of_mutated_streams() -> None:
    rng = random.Random(7)
    streams = [d for t, d in PLAINTEXTS if t == "tcp"]
    for data in streams:
        for _ in range(20):
            bad = mutate(rng, data)
            for cut in range(0, len(bad) + 1, max(1, len(bad) // 8)):
                only_malformed(stream_message_length, bad[:cut], max_size=MAX)


@settings(max_examples=800, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    decode_all(data)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(PLAINTEXTS), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
       st.integers(0, 10_000))
def test_hypothesis_mutated_vectors(sample: tuple[str, bytes], edits: list[tuple[int, int]], cut: int) -> None:
    buf = bytearray(sample[1])
    for pos, value in edits:
        buf[pos % len(buf)] = value
    decode_all(bytes(buf[: max(1, cut % (len(buf) + 1))]))


@settings(max_examples=150, deadline=None)
@given(st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.binary(max_size=20) | st.floats(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from([b"SeqNo", b"Node", b"Addr", b"Nodes", b"UserStateLen", b"Buf", b"Algo",
                         b"LTime", b"Events", b"StatusLTimes", b"Filters", b"Meta", b"Vsn"]) | st.binary(max_size=5),
        children, max_size=5),
    max_leaves=12,
), st.integers(0, 13))
def test_msgpack_shaped_garbage(obj: object, code: int) -> None:
    body = msgpack.packb(obj, use_bin_type=False)
    for data in (bytes((code,)) + body, bytes((code % 6,)) + body, compress_packet(bytes((code,)) + body)):
        decode_all(data)
        decode_all(add_crc(data))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(1, 5000))
def test_lzw_garbage(data: bytes, limit: int) -> None:
    try:
        out = lzw.decompress(data, limit)
        assert len(out) <= limit
    except MalformedPacket:
        pass


# --- round-trip properties: decode(encode(m)) == m for any valid message -----------------

u32 = st.integers(0, 2**32 - 1)
u16 = st.integers(0, 2**16 - 1)
names = st.text(max_size=40)
ips = st.sampled_from([b"\x7f\x00\x00\x01", bytes(16), b"\x00" * 10 + b"\xff\xff\x0a\x00\x00\x01"])
blobs = st.none() | st.binary(max_size=300)

packet_messages = st.one_of(
    st.builds(Ping, seq_no=u32, node=names, source_addr=st.none() | ips, source_port=u16, source_node=names),
    st.builds(IndirectPing, seq_no=u32, target=ips, port=u16, node=names, nack=st.booleans(),
              source_addr=st.none() | ips, source_port=u16, source_node=names),
    st.builds(Ack, seq_no=u32, payload=blobs),
    st.builds(Nack, seq_no=u32),
    st.builds(Suspect, incarnation=u32, node=names, from_=names),
    st.builds(Dead, incarnation=u32, node=names, from_=names),
    st.builds(Alive, incarnation=u32, node=names, addr=ips, port=u16, meta=blobs, vsn=blobs),
    st.builds(UserMsg, payload=st.binary(max_size=300)),
)


def _normalise(msg: Any) -> Any:
    # omitempty: an empty SourceAddr is sent as absent and comes back as None.
    if isinstance(msg, (Ping, IndirectPing)) and msg.source_addr == b"":
        return type(msg)(**{**{f: getattr(msg, f) for f in msg.__slots__}, "source_addr": None})
    return msg


@settings(max_examples=200, deadline=None)
@given(st.lists(packet_messages, min_size=1, max_size=8), st.booleans(), st.booleans())
def test_packet_round_trip_property(msgs: list[Any], crc: bool, compress: bool) -> None:
    wire = encode_message(msgs[0]) if len(msgs) == 1 else encode_compound([encode_message(m) for m in msgs])
    if compress:
        wire = compress_packet(wire)
    if crc:
        wire = add_crc(wire)
    assert decode_packet(wire, max_size=1 << 20) == ([_normalise(m) for m in msgs], 0)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.builds(PushNodeState, name=names, addr=ips, port=u16, meta=blobs, incarnation=u32,
                          state=st.integers(0, 3), vsn=blobs), max_size=12),
       st.booleans(), st.binary(max_size=200), st.booleans())
def test_push_pull_round_trip_property(nodes: list[Any], join: bool, user_state: bytes, compress: bool) -> None:
    msg = PushPull(join=join, nodes=tuple(nodes), user_state=user_state)
    wire = encode_stream(msg, compress=compress)
    assert stream_message_length(wire + b"\x00", max_size=1 << 20) == len(wire)
    assert decode_stream(wire, max_size=1 << 20) == msg
