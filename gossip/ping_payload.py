"""The ack payload Serf's ping delegate exchanges: a version byte, then a coordinate.

memberlist lets a ``PingDelegate`` append bytes to every ack it sends for a direct
ping (``ackResp.Payload``) and hands the prober those bytes with the measured RTT.
Serf (``serf/ping_delegate.go``, ``PingVersion = 1``) fills them with::

    0x01  msgpack(Coordinate)   # go-msgpack MsgpackHandle{}: a map keyed by the Go
                                # field names in sorted order, floats as float64:
    {"Adjustment": f64, "Error": f64, "Height": f64, "Vec": [f64 × 8]}

(130 bytes for 8 dimensions; every ack in ``tests/data/vectors.json`` has this shape.)
Keys are msgpack raw strings (``0xa0``-``0xbf``), as the old-spec codec writes them.

Decoding is as lenient as Go's decoder, which Serf agents of other versions rely on:
fields may come in any order, unknown keys are skipped (strings up to 64 bytes,
arrays up to ``MAX_DIMENSIONS``), a missing field is zero (a
coordinate without ``Vec`` then fails the client's dimension check), integers are
accepted where floats are expected, and the struct may also arrive as an array in
declaration order (Vec, Error, Adjustment, Height). Everything else (another version
byte, another type, more than ``MAX_DIMENSIONS`` components, truncated bytes) raises
``MalformedPacket``; nothing hostile can crash the caller or allocate much.
"""

from __future__ import annotations

import msgpack

from gossip.coordinate import Coordinate
from gossip.errors import MalformedPacket

__all__ = ["MAX_DIMENSIONS", "PING_VERSION", "decode_ack_payload", "encode_ack_payload"]

PING_VERSION = 1
"""Serf's ``PingVersion``: the first byte of the payload."""

MAX_DIMENSIONS = 64
"""Largest ``Vec`` decoded (components). Serf uses 8; anything much bigger is hostile."""

_MAX_PAYLOAD_BYTES = 4096
"""Largest payload looked at (bytes): 64 float64 components and four long keys fit."""

# Go's field names; the encoder writes them sorted, as go-msgpack does for struct maps.
_FIELDS_SORTED = (b"Adjustment", b"Error", b"Height", b"Vec")
_FIELDS_DECLARED = ("Vec", "Error", "Adjustment", "Height")


def encode_ack_payload(coord: Coordinate) -> bytes:
    """The bytes Serf's ``AckPayload`` would send for ``coord``."""
    body = {
        b"Adjustment": float(coord.adjustment),
        b"Error": float(coord.error),
        b"Height": float(coord.height),
        b"Vec": [float(x) for x in coord.vec],
    }
    return bytes((PING_VERSION,)) + msgpack.packb(body, use_bin_type=False)


def decode_ack_payload(payload: bytes | None) -> Coordinate | None:
    """The coordinate in an ack payload; ``None`` for an empty payload (the peer sends
    none, e.g. coordinates disabled), ``MalformedPacket`` for anything unusable."""
    if not payload:
        return None
    if payload[0] != PING_VERSION:
        raise MalformedPacket(f"ack payload: unsupported ping version {payload[0]}")
    if len(payload) > _MAX_PAYLOAD_BYTES:
        raise MalformedPacket(f"ack payload: {len(payload)} bytes, more than {_MAX_PAYLOAD_BYTES}")
    try:
        obj = msgpack.unpackb(payload[1:], raw=True, max_str_len=64, max_bin_len=64,
                              max_array_len=MAX_DIMENSIONS, max_map_len=16, max_ext_len=0)
    except msgpack.ExtraData as extra:
        obj = extra.unpacked  # type: ignore[attr-defined]  # like Go: one value, trailing bytes ignored
    except Exception as exc:  # msgpack raises ValueError, OutOfData, StackError...
        raise MalformedPacket(f"ack payload: undecodable coordinate ({type(exc).__name__})") from None
    if obj.__class__ is dict:  # what Serf sends: take it as it is when every field is a float
        vec, error = obj.get(b"Vec"), obj.get(b"Error")
        adjustment, height = obj.get(b"Adjustment"), obj.get(b"Height")
        if (vec.__class__ is list and error.__class__ is float and adjustment.__class__ is float
                and height.__class__ is float and all(x.__class__ is float for x in vec)):
            return Coordinate(tuple(vec), error, adjustment, height)
    fields = _fields_of(obj)
    vec = fields.get("Vec")
    if vec is None:
        vec = []
    if not isinstance(vec, (list, tuple)):
        raise MalformedPacket("ack payload: Vec is not an array")
    return Coordinate(
        vec=tuple(_number(x, "Vec") for x in vec),
        error=_number(fields.get("Error"), "Error"),
        adjustment=_number(fields.get("Adjustment"), "Adjustment"),
        height=_number(fields.get("Height"), "Height"),
    )


def _fields_of(obj: object) -> dict[str, object]:
    """Field name → raw value, from the map form or the array form of Go's struct."""
    if isinstance(obj, dict):
        fields: dict[str, object] = {}
        for key, value in obj.items():
            if isinstance(key, bytes) and key in _FIELDS_SORTED:
                fields[key.decode()] = value
        return fields
    if isinstance(obj, (list, tuple)):
        return dict(zip(_FIELDS_DECLARED, obj, strict=False))  # hostile input: keep what lines up
    raise MalformedPacket(f"ack payload: coordinate is a {type(obj).__name__}, not a map")


def _number(value: object, field: str) -> float:
    """A float64 field as Go decodes it: nil is 0, integers convert, nothing else does."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MalformedPacket(f"ack payload: {field} is a {type(value).__name__}, not a number")
    return float(value)
