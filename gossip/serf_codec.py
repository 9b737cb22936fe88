"""Serf 0.9.4's messages and claw-node's application message: bytes <-> dataclasses.

They travel as the payload of a memberlist ``UserMsg`` (``gossip.codec``): one Serf type
byte, then a msgpack body (or, for claw's ``0xC8`` type, the raw application bytes,
which Serf agents ignore). Decoding treats every byte as hostile: anything wrong raises
``MalformedPacket``; unknown types decode to ``SerfUnknown``.
"""

from __future__ import annotations

import sys
from typing import Any

from gossip.decode_cache import DecodeCache, entry_cost
from gossip.errors import LocalProtocolError, MalformedPacket
from gossip.messages import (
    ClawAppMessage,
    SerfJoin,
    SerfLeave,
    SerfMessage,
    SerfPushPull,
    SerfQuery,
    SerfQueryResponse,
    SerfRelay,
    SerfUnknown,
    SerfUserEvent,
)
from gossip.msgpack_fields import (
    I64_MAX,
    I64_MIN,
    U8,
    U16MAX,
    U32,
    U64,
    as_map,
    get_bool,
    get_bytes,
    get_int,
    get_ip,
    get_str,
    get_uint,
    go_bytes,
    go_str,
    go_uint,
    pack,
    to_bytes,
    to_str,
    unpack_one,
)

__all__ = ["SERF_CLAW", "decode_serf", "encode_serf"]

_SERF_LEAVE, _SERF_JOIN, _SERF_PUSH_PULL, _SERF_USER_EVENT, _SERF_QUERY, _SERF_QUERY_RESPONSE = range(6)
_SERF_RELAY = 9
SERF_CLAW = 0xC8
"""claw-node's application message type (outside Serf's range: Serf agents skip it)."""
_SERF_NAMES = ("leave", "join", "pushPull", "userEvent", "query", "queryResponse")


def _status_ltimes(status: dict[str, int]) -> dict[Any, int]:
    """Serf's ``StatusLTimes`` (name → LTime, one entry per member) ready to pack.

    The usual map (valid UTF-8 names, LTimes in range) is packed as it is: msgpack
    writes a ``str`` key as the raw bytes of its UTF-8, which is what ``go_str`` gives,
    so the per-entry conversion is skipped (it ran N times per push-pull). Anything
    else takes the checked path, which converts or names the bad entry."""
    if status and set(map(type, status)) == {str} and set(map(type, status.values())) == {int} \
            and min(status.values()) >= 0 and max(status.values()) <= U64:
        try:
            "".join(status).encode("utf-8")  # a surrogate (invalid UTF-8 name) raises
        except UnicodeEncodeError:
            pass
        else:
            return status
    return {go_str(k): go_uint(v, U64, "status_ltimes") for k, v in status.items()}


def encode_serf(msg: SerfMessage) -> bytes:
    """Serf type byte + msgpack body (the payload of a memberlist ``UserMsg``)."""
    if isinstance(msg, SerfJoin):
        return b"\x01" + pack({"LTime": go_uint(msg.ltime, U64, "ltime"), "Node": go_str(msg.node)})
    if isinstance(msg, SerfLeave):
        return b"\x00" + pack({
            "LTime": go_uint(msg.ltime, U64, "ltime"), "Node": go_str(msg.node), "Prune": bool(msg.prune),
        })
    if isinstance(msg, SerfPushPull):
        body: dict[str, Any] = {}
        if msg.claw is not None:  # extension key; "Claw" sorts first, Go's decoder skips it
            body["Claw"] = go_bytes(msg.claw, "claw")
        body["EventLTime"] = go_uint(msg.event_ltime, U64, "event_ltime")
        body["Events"] = None if msg.events is None else list(msg.events)
        body["LTime"] = go_uint(msg.ltime, U64, "ltime")
        body["LeftMembers"] = [go_str(name) for name in msg.left_members]
        body["QueryLTime"] = go_uint(msg.query_ltime, U64, "query_ltime")
        body["StatusLTimes"] = _status_ltimes(msg.status_ltimes)
        return b"\x02" + pack(body)
    if isinstance(msg, SerfUserEvent):
        return b"\x03" + pack({
            "CC": bool(msg.cc), "LTime": go_uint(msg.ltime, U64, "ltime"), "Name": go_str(msg.name),
            "Payload": go_bytes(msg.payload, "payload"),
        })
    if isinstance(msg, SerfQuery):
        return b"\x04" + pack({
            "Addr": go_bytes(msg.addr, "addr"),
            "Filters": None if msg.filters is None else [go_bytes(f, "filters") for f in msg.filters],
            "Flags": go_uint(msg.flags, U32, "flags"), "ID": go_uint(msg.id, U32, "id"),
            "LTime": go_uint(msg.ltime, U64, "ltime"), "Name": go_str(msg.name),
            "Payload": go_bytes(msg.payload, "payload"), "Port": go_uint(msg.port, U16MAX, "port"),
            "RelayFactor": go_uint(msg.relay_factor, U8, "relay_factor"),
            "SourceNode": go_str(msg.source_node), "Timeout": _timeout(msg.timeout_ns),
        })
    if isinstance(msg, SerfQueryResponse):
        return b"\x05" + pack({
            "Flags": go_uint(msg.flags, U32, "flags"), "From": go_str(msg.from_),
            "ID": go_uint(msg.id, U32, "id"), "LTime": go_uint(msg.ltime, U64, "ltime"),
            "Payload": go_bytes(msg.payload, "payload"),
        })
    if isinstance(msg, SerfRelay):
        header = {
            "DestAddr": {"IP": go_bytes(msg.dest_ip, "dest_ip"),
                         "Port": go_uint(msg.dest_port, U16MAX, "dest_port"), "Zone": go_str(msg.dest_zone)},
            "DestName": go_str(msg.dest_name),
        }
        return b"\x09" + pack(header) + go_bytes(msg.inner, "inner")
    if isinstance(msg, ClawAppMessage):
        return bytes((SERF_CLAW,)) + go_bytes(msg.body, "body")
    if isinstance(msg, SerfUnknown):
        return bytes((go_uint(msg.type, U8, "type"),)) + go_bytes(msg.body, "body")
    raise LocalProtocolError(f"cannot encode {type(msg).__name__} as a Serf message")


def _timeout(ns: int) -> int:
    if isinstance(ns, bool) or not isinstance(ns, int) or not I64_MIN <= ns <= I64_MAX:
        raise LocalProtocolError(f"timeout_ns must be an int64, got {ns!r}")
    return ns


def decode_serf(payload: bytes, cache: DecodeCache | None = None) -> SerfMessage:
    """Decode a Serf message (a memberlist user payload). Unknown types -> ``SerfUnknown``.

    ``cache`` memoises every result but Serf's push-pull state (it holds a dict); the
    result is the same with or without it (``gossip.decode_cache``).
    """
    payload = bytes(payload)
    if cache is None:
        return _decode_serf(payload)
    memo = cache.serf
    msg = memo.lookup(payload)
    if msg is None:
        memo.misses += 1
        msg = _decode_serf(payload)
        if not isinstance(msg, SerfPushPull):
            if isinstance(msg, SerfJoin):  # the name shared, as in ``_shared_fields``
                msg = SerfJoin(msg.ltime, sys.intern(msg.node))
            elif isinstance(msg, SerfLeave):
                msg = SerfLeave(msg.ltime, sys.intern(msg.node), msg.prune)
            memo.put(payload, msg, entry_cost(len(payload)))
    return msg


def _decode_serf(payload: bytes) -> SerfMessage:
    if not payload:
        raise MalformedPacket("empty Serf message")
    code, body = payload[0], payload[1:]
    if code == SERF_CLAW:
        return ClawAppMessage(body=body)
    if code == _SERF_RELAY:
        return _decode_serf_relay(body)
    if code > _SERF_QUERY_RESPONSE:
        return SerfUnknown(type=code, body=body)
    name = _SERF_NAMES[code]
    d = as_map(unpack_one(body, name)[0], name)
    if code == _SERF_JOIN:
        return SerfJoin(ltime=get_uint(d, b"LTime", U64, name), node=get_str(d, b"Node", name))
    if code == _SERF_LEAVE:
        return SerfLeave(
            ltime=get_uint(d, b"LTime", U64, name), node=get_str(d, b"Node", name),
            prune=get_bool(d, b"Prune", name),
        )
    if code == _SERF_PUSH_PULL:
        return _decode_serf_push_pull(d)
    if code == _SERF_USER_EVENT:
        return SerfUserEvent(
            ltime=get_uint(d, b"LTime", U64, name), name=get_str(d, b"Name", name),
            payload=get_bytes(d, b"Payload", name), cc=get_bool(d, b"CC", name),
        )
    if code == _SERF_QUERY:
        filters = d.get(b"Filters")
        if filters is not None:
            if not isinstance(filters, list):
                raise MalformedPacket("query.Filters: not an array")
            filters = tuple(to_bytes(f, "query.Filters[]") or b"" for f in filters)
        return SerfQuery(
            ltime=get_uint(d, b"LTime", U64, name), id=get_uint(d, b"ID", U32, name),
            addr=get_ip(d, b"Addr", name, required=False),
            port=get_uint(d, b"Port", U16MAX, name),
            source_node=get_str(d, b"SourceNode", name), filters=filters,
            flags=get_uint(d, b"Flags", U32, name),
            relay_factor=get_uint(d, b"RelayFactor", U8, name),
            timeout_ns=get_int(d, b"Timeout", name), name=get_str(d, b"Name", name),
            payload=get_bytes(d, b"Payload", name),
        )
    return SerfQueryResponse(
        ltime=get_uint(d, b"LTime", U64, name), id=get_uint(d, b"ID", U32, name),
        from_=get_str(d, b"From", name), flags=get_uint(d, b"Flags", U32, name),
        payload=get_bytes(d, b"Payload", name),
    )


def _decode_serf_relay(body: bytes) -> SerfRelay:
    what = "serf relay"
    header, used = unpack_one(body, what)
    d = as_map(header, what)
    dest = d.get(b"DestAddr")
    dest = {} if dest is None else as_map(dest, f"{what}.DestAddr")
    port = dest.get(b"Port")
    # Go's net.UDPAddr.Port is an int: any int decodes, but only 1..65535 can be sent to.
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port <= U16MAX:
        raise MalformedPacket(f"{what}.DestAddr.Port: not a port number")
    return SerfRelay(
        dest_ip=get_ip(dest, b"IP", f"{what}.DestAddr", required=True), dest_port=port,
        dest_zone=get_str(dest, b"Zone", f"{what}.DestAddr"),
        dest_name=get_str(d, b"DestName", what), inner=body[used:],
    )


def _decode_serf_push_pull(d: dict[bytes, Any]) -> SerfPushPull:
    what = "serf pushPull"
    status = d.get(b"StatusLTimes")
    if status is None:
        status = {}
    if not isinstance(status, dict):
        raise MalformedPacket(f"{what}.StatusLTimes: not a map")
    status_ltimes: dict[str, int] = {}
    for k, v in status.items():
        if not isinstance(k, bytes) or isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= U64:
            raise MalformedPacket(f"{what}.StatusLTimes: bad entry")
        status_ltimes[to_str(k, what)] = v
    left = d.get(b"LeftMembers")
    if left is None:
        left = []
    if not isinstance(left, list):
        raise MalformedPacket(f"{what}.LeftMembers: not an array")
    events = d.get(b"Events")
    if events is not None:
        if not isinstance(events, list) or not all(e is None or isinstance(e, dict) for e in events):
            raise MalformedPacket(f"{what}.Events: not an array of maps")
        events = tuple(events)
    return SerfPushPull(
        ltime=get_uint(d, b"LTime", U64, what), status_ltimes=status_ltimes,
        left_members=tuple(to_str(x, f"{what}.LeftMembers[]") for x in left),
        event_ltime=get_uint(d, b"EventLTime", U64, what), events=events,
        query_ltime=get_uint(d, b"QueryLTime", U64, what),
        claw=get_bytes(d, b"Claw", what),
    )
