"""The claw application messages gossip carries: the envelope, directives, push-pull state.

Gossip hands the agent opaque bodies (``AppMessage``, ``AppState`` events); this module
turns them into heartbeat records, HTTP-registered records and directives, and back.

Wire form (all msgpack, hostile input is bounded and never raises past ``decode_*``):

* app message: 1 kind byte + payload. ``0x01`` heartbeat record, ``0x02`` HTTP-registered
  record (``api.registry.HttpNodeRecord.to_bytes``), ``0x03`` directive to one member.
* heartbeat record: ``node.heartbeat.encode_record``'s array.
* app state: 1 version byte (2) + array ``[now_s, [record…], [registered bytes…]]`` where
  a record's ``sampled_at_s`` is its age ``now_s - sampled_at_s`` (small numbers pack in
  one byte). Version 1 (``[[record…], [registered…]]``, absolute times) is still read.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgpack

from .heartbeat import MAX_RECORD_BYTES, HeartbeatRecord, decode_record, encode_record

__all__ = [
    "APP_DIRECTIVE",
    "APP_HEARTBEAT",
    "APP_REGISTRY",
    "MAX_STATE_BYTES",
    "MAX_STATE_RECORDS",
    "Directive",
    "decode_app",
    "decode_directive",
    "decode_heartbeat_payload",
    "decode_state",
    "encode_app",
    "encode_directive",
    "encode_state",
    "heartbeat_message",
    "record_version",
    "registered_version",
]

APP_HEARTBEAT = 0x01
"""Kind byte: a resource heartbeat record."""
APP_REGISTRY = 0x02
"""Kind byte: an HTTP-registered node record."""
APP_DIRECTIVE = 0x03
"""Kind byte: a directive to one member."""
_STATE_VERSION = 2
_STATE_VERSION_V1 = 1
MAX_STATE_RECORDS = 100_000
"""Most heartbeat records (and, separately, registered records) accepted from one push-pull."""
MAX_STATE_BYTES = 16 * 1024 * 1024
"""Largest app state accepted (bytes); the stream itself is capped at 20 MiB by gossip."""
_U53 = 2**53
_MAX_NAMED_BYTES = 16 * 1024
"""Largest heartbeat or registered-record payload ``record_version`` reads (both are
capped far below: 512 B and 16 KiB)."""


def _unpack(data: bytes, *, max_len: int, max_items: int) -> Any:
    if len(data) > max_len:
        raise ValueError(f"{len(data)} bytes, more than {max_len}")
    try:
        return msgpack.unpackb(
            data, raw=False, strict_map_key=True, max_str_len=max_len, max_bin_len=max_len,
            max_array_len=max_items, max_map_len=64, max_ext_len=0)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise ValueError(f"undecodable msgpack ({type(exc).__name__})") from None


def encode_app(kind: int, payload: bytes) -> bytes:
    """An app message body: kind byte + payload."""
    return bytes((kind,)) + payload


def decode_app(body: bytes) -> tuple[int, bytes]:
    """(kind, payload) of an app message body. Raises ValueError if empty."""
    if not body:
        raise ValueError("empty app message")
    return body[0], bytes(body[1:])


def heartbeat_message(rec: HeartbeatRecord) -> bytes:
    """The app message carrying ``rec``."""
    return encode_app(APP_HEARTBEAT, msgpack.packb(encode_record(rec), use_bin_type=True))


def decode_heartbeat_payload(payload: bytes) -> HeartbeatRecord:
    """The record in an ``APP_HEARTBEAT`` payload (untrusted). Raises ValueError."""
    return decode_record(_unpack(payload, max_len=MAX_RECORD_BYTES, max_items=16))


def record_version(body: bytes) -> tuple[str, tuple[int | float, ...]] | None:
    """The record an app message carries and its version, for gossip's relay memory
    (``gossip.app_relay.AppVersionOf``): ``("hb:<node>", (epoch, seq))`` for a
    heartbeat, ``("reg:<node>", (version, updated_at))`` for a registered record (the
    keys the sender broadcasts them under). None for a directive or an unreadable body
    (untrusted input: never raises)."""
    if not body or body[0] not in (APP_HEARTBEAT, APP_REGISTRY):
        return None
    try:
        obj = _unpack(bytes(body[1:]), max_len=_MAX_NAMED_BYTES, max_items=64)
    except ValueError:
        return None
    if body[0] == APP_HEARTBEAT:
        if not isinstance(obj, list) or len(obj) < 3:
            return None
        node, version = obj[0], obj[1:3]
    else:
        if not isinstance(obj, dict):
            return None
        node, version = obj.get("node_id"), [obj.get("version"), obj.get("updated_at")]
    if not isinstance(node, str) or not node or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in version):
        return None
    if body[0] == APP_REGISTRY:
        return registered_version(node, *version)
    return f"hb:{node}", tuple(version)


def registered_version(node_id: str, version: int | float,
                       updated_at: int | float) -> tuple[str, tuple[int | float, ...]]:
    """The record key and version of an HTTP-registered record's app message: what
    ``record_version`` reads from the body, and what its sender, which has just encoded
    the record, hands to gossip instead (``SwimProtocol.broadcast_app(version=)``)."""
    return f"reg:{node_id}", (version, updated_at)


@dataclass(frozen=True, slots=True)
class Directive:
    """A request for one member, relayed by the coordinator through gossip.

    ``action``: ``"maintenance"`` (``value`` bool), ``"tasks"`` (``value`` a dict of
    task counters from an API heartbeat) or ``"shutdown"`` (leave the cluster). ``id`` makes it
    unique (sender id + counter), so relays can drop repeats.
    """

    target: str
    action: str
    value: Any
    id: str


_DIRECTIVE_ACTIONS = ("maintenance", "tasks", "shutdown")


def encode_directive(d: Directive) -> bytes:
    return encode_app(APP_DIRECTIVE, msgpack.packb([d.target, d.action, d.value, d.id], use_bin_type=True))


def decode_directive(payload: bytes) -> Directive:
    obj = _unpack(payload, max_len=1024, max_items=16)
    if not isinstance(obj, list) or len(obj) != 4:
        raise ValueError("directive: not a 4-element array")
    target, action, value, ident = obj
    if (not isinstance(target, str) or not isinstance(ident, str) or len(ident) > 200
            or action not in _DIRECTIVE_ACTIONS):
        raise ValueError("directive: bad fields")
    return Directive(target, action, value, ident)


def encode_state(records: Iterable[HeartbeatRecord], registered: Iterable[bytes],
                 *, now_s: float) -> bytes:
    """Push-pull app state: the heartbeat table (times as ages from ``now_s``, unix
    seconds) and the HTTP-registered records."""
    base = int(now_s)
    body = [base, [encode_record(r, base_s=base) for r in records], list(registered)]
    return bytes((_STATE_VERSION,)) + msgpack.packb(body, use_bin_type=True)


def decode_state(data: bytes) -> tuple[list[HeartbeatRecord], list[bytes], int]:
    """Parse app state (untrusted), version 2 or 1.

    Returns:
        (heartbeat records, registered-record bytes, number of malformed entries skipped).
    Raises:
        ValueError: the state as a whole is malformed or too large.
    """
    if not data or data[0] not in (_STATE_VERSION, _STATE_VERSION_V1):
        raise ValueError("app state: unknown version")
    obj = _unpack(bytes(data[1:]), max_len=MAX_STATE_BYTES, max_items=MAX_STATE_RECORDS)
    base: int | None = None
    if data[0] == _STATE_VERSION:
        if not isinstance(obj, list) or len(obj) < 3:
            raise ValueError("app state: not [now, [records], [registered]]")
        base = obj[0]
        if isinstance(base, bool) or not isinstance(base, int) or not 0 <= base <= _U53:
            raise ValueError("app state: bad time")
        obj = obj[1:]
    if not isinstance(obj, list) or len(obj) < 2 or not all(isinstance(x, list) for x in obj[:2]):
        raise ValueError("app state: not [[records], [registered]]")
    records: list[HeartbeatRecord] = []
    bad = 0
    for item in obj[0]:
        try:
            records.append(decode_record(item, base_s=base))
        except ValueError:
            bad += 1
    registered = [bytes(x) for x in obj[1] if isinstance(x, (bytes, bytearray))]
    bad += len(obj[1]) - len(registered)
    return records, registered, bad
