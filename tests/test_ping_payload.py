"""Serf's ack payload (gossip/ping_payload.py) against the acks real Serf agents sent."""

from __future__ import annotations

import json
import math
import random
import struct
from pathlib import Path

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gossip.coordinate import Coordinate, CoordinateClient
from gossip.errors import MalformedPacket
from gossip.ping_payload import (
    MAX_DIMENSIONS,
    PING_VERSION,
    decode_ack_payload,
    encode_ack_payload,
)

VECTORS = json.loads((Path(__file__).parent / "data" / "vectors.json").read_text())


def _serf_payloads() -> dict[str, dict]:
    """Every distinct ack payload in the captures, with the coordinate Serf put in it."""
    found: dict[str, dict] = {}

    def walk(node):
        if isinstance(node, dict):
            if "serf_coordinate" in node:
                found.setdefault(node["hex"], node["serf_coordinate"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for vector in VECTORS:
        if vector["origin"] == "serf":
            walk(vector.get("decoded"))
    return found


SERF_PAYLOADS = _serf_payloads()


def test_the_captures_hold_many_serf_coordinates():
    assert len(SERF_PAYLOADS) > 100
    assert sum(1 for c in SERF_PAYLOADS.values() if any(c["Vec"])) > 100  # not only fresh ones


def test_decodes_every_serf_payload_exactly_and_reencodes_it_byte_for_byte():
    for hex_payload, expected in SERF_PAYLOADS.items():
        payload = bytes.fromhex(hex_payload)
        coord = decode_ack_payload(payload)
        assert coord == Coordinate(tuple(expected["Vec"]), expected["Error"], expected["Adjustment"],
                                   expected["Height"]), hex_payload
        assert encode_ack_payload(coord) == payload


def test_a_fresh_coordinate_encodes_as_serf_does():
    fresh = ("0184aa41646a7573746d656e74cb0000000000000000a54572726f72cb3ff8000000000000"
             "a6486569676874cb3ee4f8b588e368f1a356656398" + "cb0000000000000000" * 8)
    assert fresh in SERF_PAYLOADS
    assert encode_ack_payload(CoordinateClient(rng=random.Random(1)).coordinate).hex() == fresh
    assert len(bytes.fromhex(fresh)) == 130


def test_empty_payload_means_no_coordinate():
    assert decode_ack_payload(b"") is None
    assert decode_ack_payload(None) is None


def _payload(obj, version=PING_VERSION) -> bytes:
    return bytes((version,)) + msgpack.packb(obj, use_bin_type=False)


GOOD = {b"Adjustment": 0.5, b"Error": 1.0, b"Height": 0.25, b"Vec": [1.0, 2.0]}


def test_decoding_is_as_lenient_as_gos():
    # any key order, unknown keys skipped, ints for floats, nil for zero, bin keys
    shuffled = {b"Vec": [1, 2.0], b"Unknown": [1, {b"x": 2}], b"Height": 0.25, b"Error": 1, b"Adjustment": 0.5}
    assert decode_ack_payload(_payload(shuffled)) == Coordinate((1.0, 2.0), 1.0, 0.5, 0.25)
    assert decode_ack_payload(_payload({b"Vec": [None, 3]})) == Coordinate((0.0, 3.0), 0.0, 0.0, 0.0)
    assert decode_ack_payload(_payload({b"Vec": None})) == Coordinate((), 0.0, 0.0, 0.0)
    assert decode_ack_payload(_payload({})) == Coordinate((), 0.0, 0.0, 0.0)
    binkeys = bytes((PING_VERSION,)) + msgpack.packb(GOOD, use_bin_type=True)
    assert decode_ack_payload(binkeys) == Coordinate((1.0, 2.0), 1.0, 0.5, 0.25)
    # the array form of Go's struct, in declaration order Vec, Error, Adjustment, Height
    assert decode_ack_payload(_payload([[1.0, 2.0], 1.0, 0.5, 0.25])) == Coordinate((1.0, 2.0), 1.0, 0.5, 0.25)
    # a float32 component, and trailing bytes after the value (Go reads one value)
    f32 = bytes((PING_VERSION,)) + b"\x81\xa3Vec\x91\xca" + struct.pack(">f", 0.5) + b"junk"
    assert decode_ack_payload(f32) == Coordinate((0.5,), 0.0, 0.0, 0.0)


def test_nan_and_infinity_decode_and_are_left_to_the_client_to_reject():
    coord = decode_ack_payload(_payload({b"Vec": [float("nan")], b"Error": float("inf")}))
    assert math.isnan(coord.vec[0]) and not coord.is_valid()


@pytest.mark.parametrize("payload,match", [
    (_payload(GOOD, version=2), "unsupported ping version 2"),
    (_payload(GOOD, version=0), "unsupported ping version 0"),
    (b"\x01", "undecodable"),
    (_payload(GOOD)[:40], "undecodable"),
    (_payload(1.5), "not a map"),
    (_payload(b"Vec"), "not a map"),
    (_payload({b"Vec": b"abc"}), "Vec is not an array"),
    (_payload({b"Vec": 3}), "Vec is not an array"),
    (_payload({b"Vec": [1.0, b"x"]}), "Vec is a bytes"),
    (_payload({b"Vec": [[1.0]]}), "Vec is a list"),
    (_payload({b"Vec": [True]}), "Vec is a bool"),
    (_payload({b"Error": {b"a": 1}}), "Error is a dict"),
    (_payload({b"Height": b"1"}), "Height is a bytes"),
    (_payload({b"Adjustment": False}), "Adjustment is a bool"),
    (_payload({b"Vec": [0.0] * (MAX_DIMENSIONS + 1)}), "undecodable"),
    (b"\x01\xdd\xff\xff\xff\xff", "undecodable"),        # array32 claiming 4 G elements
    (b"\x01\xdf\xff\xff\xff\xff", "undecodable"),        # map32 claiming 4 G entries
    (b"\x01\xdb\xff\xff\xff\xff", "undecodable"),        # raw32 claiming 4 GB
    (b"\x01" + b"\x91" * 5000, "more than"),             # deep nesting, also too long
    (b"\x01" + b"\x91" * 2000, "undecodable"),           # deep nesting within the size limit
    (b"\x01\xc1", "undecodable"),                        # reserved byte
    (b"\x01\xd4\x01\x00", "undecodable"),                # ext types are refused
])
def test_hostile_payloads_raise_malformed_packet(payload, match):
    with pytest.raises(MalformedPacket, match=match):
        decode_ack_payload(payload)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash(blob):
    for payload in (blob, bytes((PING_VERSION,)) + blob):
        try:
            coord = decode_ack_payload(payload)
        except MalformedPacket:
            continue
        assert coord is None or isinstance(coord, Coordinate)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(SERF_PAYLOADS)), st.integers(0, 129), st.integers(0, 255))
def test_mutated_serf_payloads_never_crash(hex_payload, index, value):
    payload = bytearray(bytes.fromhex(hex_payload))
    payload[index] = value
    try:
        decode_ack_payload(bytes(payload))
    except MalformedPacket:
        pass


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(allow_nan=False), min_size=0, max_size=MAX_DIMENSIONS),
       st.floats(allow_nan=False), st.floats(allow_nan=False), st.floats(allow_nan=False))
def test_round_trip(vec, error, adjustment, height):
    coord = Coordinate(tuple(vec), error, adjustment, height)
    assert decode_ack_payload(encode_ack_payload(coord)) == coord
