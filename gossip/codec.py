"""memberlist 0.2.2 / Serf 0.9.4 wire codec: bytes <-> ``gossip.messages`` dataclasses.

Encoding follows hashicorp/go-msgpack 0.5 with a zero ``MsgpackHandle`` so the bytes
are identical to Go's: struct fields are map entries keyed by the Go field name in
sorted order; strings *and* ``[]byte`` are msgpack raw (fixstr / 0xda / 0xdb, never
str8 or bin); nil slices are ``0xc0`` (``None``), empty ones ``0xa0``; integers use the
smallest unsigned form.

Decoding treats every byte as hostile. Anything wrong raises ``MalformedPacket`` and
nothing else: msgpack runs with ``raw=True`` and explicit length limits, every field is
type- and range-checked, LZW output is capped, compounds nest at most
``MAX_COMPOUND_DEPTH`` deep, push/pull node counts are capped. Decoding is as lenient as
Go's where that is harmless: unknown keys are skipped, missing or nil fields take Go's
zero value, trailing bytes after a packet message's msgpack body are ignored, ``bool``
fields accept 0/1, ``[]byte`` fields accept an array of small ints. Unlike Go, a struct
sent as a msgpack array is rejected, and bin-typed strings are accepted (``raw=True``
cannot tell them apart).

Go strings are raw bytes: node names and other strings are decoded as UTF-8 with
``surrogateescape``, so invalid UTF-8 survives a decode/encode round trip byte for byte.

Encryption seam (AES-GCM, a later issue, reference §5): encryption is the *outermost*
layer and is not done here. For packets, the driver decrypts the datagram (AAD empty)
before ``decode_packet`` and encrypts the output of ``add_crc``/``compress_packet``.
For streams, ``stream_message_length`` already frames ``0x0a | len u32 BE | body``;
``decode_stream(..., decrypt=fn)`` calls ``fn(body, aad)`` with ``aad`` = the 5 header
bytes and decodes the returned plaintext; ``encrypted_stream_header(n)`` gives that AAD
in advance and ``encrypted_stream_frame(body)`` frames an already-encrypted body. Without ``decrypt`` an encrypted stream raises
``MalformedPacket`` (Go: "Remote state is encrypted and encryption is not configured").
"""

from __future__ import annotations

import struct
import sys
import zlib
from typing import Any, Callable

import msgpack

from gossip import lzw
from gossip.decode_cache import DecodeCache
from gossip.errors import LocalProtocolError, MalformedPacket
from gossip.interning import BROADCASTS, RECORD_FIELDS
from gossip.messages import (
    Ack, Alive, ClawAppMessage, Compound, Dead, ErrResp, IndirectPing, Nack,
    PacketMessage, Ping, PushNodeState, PushPull, SerfJoin, SerfLeave, SerfMessage,
    SerfPushPull, SerfQuery, SerfQueryResponse, SerfUnknown,
    SerfUserEvent, StreamMessage, Suspect, UserMsg,
)

__all__ = [
    "encode_message", "encode_compound", "add_crc", "compress_packet", "decode_packet",
    "encode_stream", "decode_stream", "stream_message_length", "encrypted_stream_header",
    "encrypted_stream_frame",
    "encode_serf", "decode_serf",
    "MAX_COMPOUND_PARTS", "MAX_COMPOUND_DEPTH", "MAX_PUSH_PULL_NODES", "UDP_PACKET_MAX",
    "MAX_PUSH_STATE_BYTES",
]

# Plain ints for the hot paths (IntEnum member access is slow on CPython 3.11); the
# values are ``MessageType`` / ``SerfMessageType`` from ``gossip.messages``.
_PING, _INDIRECT_PING, _ACK, _SUSPECT, _ALIVE, _DEAD = 0, 1, 2, 3, 4, 5
_PUSH_PULL, _COMPOUND, _USER, _COMPRESS, _ENCRYPT, _NACK, _HAS_CRC, _ERR = 6, 7, 8, 9, 10, 11, 12, 13
_NAMES = {
    _PING: "ping", _INDIRECT_PING: "indirectPing", _ACK: "ack", _SUSPECT: "suspect",
    _ALIVE: "alive", _DEAD: "dead", _NACK: "nack", _ERR: "err",
}
_SERF_LEAVE, _SERF_JOIN, _SERF_PUSH_PULL, _SERF_USER_EVENT, _SERF_QUERY, _SERF_QUERY_RESPONSE = range(6)
_SERF_CLAW = 0xC8
_SERF_NAMES = ("leave", "join", "pushPull", "userEvent", "query", "queryResponse")

MAX_COMPOUND_PARTS = 127
"""memberlist 0.2.2 mis-decodes >= 128 parts (uint8 offset wrap, reference §2.4)."""
MAX_COMPOUND_DEPTH = 2
"""Compound nesting we accept (Go recurses without bound; nothing legitimate nests more)."""
MAX_PUSH_PULL_NODES = 65536
"""Upper bound on ``pushPullHeader.Nodes`` we accept (each node also needs its bytes)."""
UDP_PACKET_MAX = 65536
"""memberlist ``udpPacketBufSize`` (bytes): the largest datagram a receiver reads."""
MAX_PUSH_STATE_BYTES = 20 * 1024 * 1024
"""memberlist ``maxPushStateBytes`` (bytes): cap on an encrypted stream frame."""

_CRC_HEADER = struct.Struct(">BI")
_ENC_HEADER = struct.Struct(">BI")
_U16 = struct.Struct(">H")
_LENGTH_TABLES = tuple(struct.Struct(f">{n}H") for n in range(256))
"""A compound's length table for each part count: one unpack for all of them."""
_VALID_PACKET_TYPES = frozenset({
    _PING, _INDIRECT_PING, _ACK, _NACK,
    _SUSPECT, _ALIVE, _DEAD, _USER,
})
_BROADCAST_TYPES = frozenset({_SUSPECT, _ALIVE, _DEAD})
"""Gossiped messages (the same bytes arrive many times): what ``decode_packet`` memoises.
Pings and acks carry a fresh sequence number each; caching them would only evict."""
_STREAM_TYPES = frozenset({
    _PUSH_PULL, _PING, _ACK, _USER,
    _ERR,
})
_U8, _U16MAX, _U32, _U64 = 0xFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1

_packer = msgpack.Packer(use_bin_type=False, autoreset=True)


def _pack(obj: Any) -> bytes:
    return _packer.pack(obj)


# --- encoding helpers ----------------------------------------------------------------


def _s(text: str) -> bytes:
    """A Go string: the exact bytes (surrogateescape undoes our decoding)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except (UnicodeEncodeError, AttributeError) as exc:
        raise LocalProtocolError(f"not encodable as a Go string: {text!r}") from exc


def _u(value: int, limit: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise LocalProtocolError(f"{name} must be an integer in [0, {limit}], got {value!r}")
    return value


def _b(value: bytes | None, name: str) -> bytes | None:
    if value is not None and not isinstance(value, (bytes, bytearray)):
        raise LocalProtocolError(f"{name} must be bytes or None, got {type(value).__name__}")
    return None if value is None else bytes(value)


def _ping_body(msg: Ping) -> dict[str, Any]:
    body: dict[str, Any] = {"Node": _s(msg.node), "SeqNo": _u(msg.seq_no, _U32, "seq_no")}
    if msg.source_addr:  # omitempty
        body["SourceAddr"] = _b(msg.source_addr, "source_addr")
    if msg.source_node:
        body["SourceNode"] = _s(msg.source_node)
    if msg.source_port:
        body["SourcePort"] = _u(msg.source_port, _U16MAX, "source_port")
    return body


def _body(msg: Any) -> tuple[int, dict[str, Any]]:
    """(memberlist type code, Go struct as a dict with keys in sorted order)."""
    if isinstance(msg, Ping):
        return _PING, _ping_body(msg)
    if isinstance(msg, IndirectPing):
        body: dict[str, Any] = {
            "Nack": bool(msg.nack), "Node": _s(msg.node),
            "Port": _u(msg.port, _U16MAX, "port"), "SeqNo": _u(msg.seq_no, _U32, "seq_no"),
        }
        if msg.source_addr:
            body["SourceAddr"] = _b(msg.source_addr, "source_addr")
        if msg.source_node:
            body["SourceNode"] = _s(msg.source_node)
        if msg.source_port:
            body["SourcePort"] = _u(msg.source_port, _U16MAX, "source_port")
        body["Target"] = _b(msg.target, "target")
        return _INDIRECT_PING, body
    if isinstance(msg, Ack):
        return _ACK, {
            "Payload": _b(msg.payload, "payload"), "SeqNo": _u(msg.seq_no, _U32, "seq_no"),
        }
    if isinstance(msg, Nack):
        return _NACK, {"SeqNo": _u(msg.seq_no, _U32, "seq_no")}
    if isinstance(msg, (Suspect, Dead)):
        code = _SUSPECT if isinstance(msg, Suspect) else _DEAD
        return code, {
            "From": _s(msg.from_), "Incarnation": _u(msg.incarnation, _U32, "incarnation"),
            "Node": _s(msg.node),
        }
    if isinstance(msg, Alive):
        return _ALIVE, {
            "Addr": _b(msg.addr, "addr"), "Incarnation": _u(msg.incarnation, _U32, "incarnation"),
            "Meta": _b(msg.meta, "meta"), "Node": _s(msg.node),
            "Port": _u(msg.port, _U16MAX, "port"), "Vsn": _b(msg.vsn, "vsn"),
        }
    if isinstance(msg, ErrResp):
        return _ERR, {"Error": _s(msg.error)}
    raise LocalProtocolError(f"cannot encode {type(msg).__name__} as a memberlist message")


def _push_node_body(node: PushNodeState) -> dict[str, Any]:
    return {
        "Addr": _b(node.addr, "addr"), "Incarnation": _u(node.incarnation, _U32, "incarnation"),
        "Meta": _b(node.meta, "meta"), "Name": _s(node.name),
        "Port": _u(node.port, _U16MAX, "port"), "State": _u(int(node.state), _I64_MAX, "state"),
        "Vsn": _b(node.vsn, "vsn"),
    }


# --- public encoding API ---------------------------------------------------------------


def encode_message(msg: PacketMessage | ErrResp) -> bytes:
    """One command: type byte + msgpack body (``UserMsg``: 0x08 + raw payload;
    ``Compound``: its parts in a compound)."""
    if isinstance(msg, UserMsg):
        return bytes((_USER,)) + _b(msg.payload, "payload")  # type: ignore[operator]
    if isinstance(msg, Compound):
        return encode_compound([encode_message(part) for part in msg.parts])
    code, body = _body(msg)
    return bytes((code,)) + _pack(body)


def encode_compound(parts: list[bytes]) -> bytes:
    """0x07, part count, big-endian u16 lengths, then the parts (each a full command)."""
    if not 1 <= len(parts) <= MAX_COMPOUND_PARTS:
        raise LocalProtocolError(f"a compound holds 1..{MAX_COMPOUND_PARTS} parts, got {len(parts)}")
    header = bytearray((_COMPOUND, len(parts)))
    for part in parts:
        if len(part) > _U16MAX:
            raise LocalProtocolError(f"compound part of {len(part)} bytes exceeds 65535")
        header += _U16.pack(len(part))
    return bytes(header) + b"".join(parts)


def add_crc(buf: bytes) -> bytes:
    """0x0c + IEEE CRC-32 (big-endian) of ``buf`` + ``buf``."""
    return _CRC_HEADER.pack(_HAS_CRC, zlib.crc32(buf)) + buf


def compress_packet(buf: bytes) -> bytes:
    """0x09 + msgpack ``compress{Algo: 0 (LZW), Buf}``. (UDP senders use it only if smaller.)"""
    return bytes((_COMPRESS,)) + _pack({"Algo": 0, "Buf": lzw.compress(buf)})


def encode_stream(msg: StreamMessage, *, compress: bool = True) -> bytes:
    """A TCP stream message; LZW-compressed when ``compress`` (always, like memberlist)."""
    if isinstance(msg, PushPull):
        if len(msg.nodes) > MAX_PUSH_PULL_NODES:
            raise LocalProtocolError(f"push/pull of {len(msg.nodes)} nodes exceeds {MAX_PUSH_PULL_NODES}")
        user_state = _b(msg.user_state, "user_state") or b""
        parts = [
            bytes((_PUSH_PULL,)),
            _pack({"Join": bool(msg.join), "Nodes": len(msg.nodes), "UserStateLen": len(user_state)}),
        ]
        parts.extend(_pack(_push_node_body(node)) for node in msg.nodes)
        parts.append(user_state)
        plain = b"".join(parts)
    elif isinstance(msg, UserMsg):
        payload = _b(msg.payload, "payload") or b""
        plain = bytes((_USER,)) + _pack({"UserMsgLen": len(payload)}) + payload
    elif isinstance(msg, (Ping, Ack, ErrResp)):
        code, body = _body(msg)
        plain = bytes((code,)) + _pack(body)
    else:
        raise LocalProtocolError(f"{type(msg).__name__} is not a stream message")
    return compress_packet(plain) if compress else plain


def encrypted_stream_header(body_len: int) -> bytes:
    """The 5-byte header ``0x0a | u32 BE length`` of an encrypted stream frame.

    It is also the AAD the encryption layer authenticates (reference §5), so the
    encryptor computes it from the ciphertext length (v1: plaintext + 29) first.
    """
    if not 0 <= body_len <= MAX_PUSH_STATE_BYTES:
        raise LocalProtocolError(f"encrypted stream body of {body_len} bytes is out of range")
    return _ENC_HEADER.pack(_ENCRYPT, body_len)


def encrypted_stream_frame(body: bytes) -> bytes:
    """Frame an already-encrypted stream body: ``encrypted_stream_header(len(body)) + body``."""
    return encrypted_stream_header(len(body)) + body


# --- decoding helpers ----------------------------------------------------------------


def _unpacker(limit: int) -> msgpack.Unpacker:
    limit = max(limit, 64)
    return msgpack.Unpacker(
        raw=True, max_buffer_size=limit, max_str_len=limit, max_bin_len=limit,
        max_array_len=limit, max_map_len=limit, max_ext_len=0,
    )


def _unpack_one(buf: bytes, what: str) -> tuple[Any, int]:
    """Decode the first msgpack object of ``buf``: (object, bytes consumed)."""
    # Fast path: one ``unpackb`` call (no Unpacker object), same limits. Any failure
    # takes the Unpacker path below, which raises exactly what it always raised.
    limit = max(len(buf), 64)
    try:
        return msgpack.unpackb(
            buf, raw=True, max_str_len=limit, max_bin_len=limit, max_array_len=limit,
            max_map_len=limit, max_ext_len=0,
        ), len(buf)
    except msgpack.ExtraData as extra:  # trailing bytes: the object and where it ended
        return extra.unpacked, len(buf) - len(extra.extra)
    except Exception:  # noqa: BLE001, S110 - re-decoded below for the exact error
        pass
    unpacker = _unpacker(len(buf))
    try:
        unpacker.feed(buf)
        obj = unpacker.unpack()
    except msgpack.OutOfData:
        raise MalformedPacket(f"{what}: truncated msgpack") from None
    except Exception as exc:  # ValueError/FormatError/StackError/TypeError/...
        raise MalformedPacket(f"{what}: bad msgpack ({type(exc).__name__})") from None
    return obj, unpacker.tell()


def _struct(obj: Any, what: str) -> dict[bytes, Any]:
    if not isinstance(obj, dict):
        raise MalformedPacket(f"{what}: expected a map, got {type(obj).__name__}")
    return obj


def _get_uint(d: dict[bytes, Any], key: bytes, limit: int, what: str) -> int:
    v = d.get(key)
    if v is None:
        return 0
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= limit:
        raise MalformedPacket(f"{what}.{key.decode()}: not an integer in [0, {limit}]")
    return v


def _get_int(d: dict[bytes, Any], key: bytes, what: str) -> int:
    v = d.get(key)
    if v is None:
        return 0
    if isinstance(v, bool) or not isinstance(v, int) or not _I64_MIN <= v <= _I64_MAX:
        raise MalformedPacket(f"{what}.{key.decode()}: not an int64")
    return v


def _get_bool(d: dict[bytes, Any], key: bytes, what: str) -> bool:
    v = d.get(key)
    if v is None:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and v in (0, 1):  # go-msgpack's decodeBool accepts 0/1
        return bool(v)
    raise MalformedPacket(f"{what}.{key.decode()}: not a bool")


def _to_bytes(v: Any, what: str) -> bytes | None:
    if v is None or isinstance(v, bytes):
        return v
    if isinstance(v, list) and all(
        isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 255 for x in v
    ):
        return bytes(v)  # Go's []byte also decodes from an array of small ints
    raise MalformedPacket(f"{what}: not a byte string")


def _get_bytes(d: dict[bytes, Any], key: bytes, what: str) -> bytes | None:
    return _to_bytes(d.get(key), f"{what}.{key.decode()}")


def _to_str(v: Any, what: str) -> str:
    if v is None:
        return ""
    if not isinstance(v, bytes):
        raise MalformedPacket(f"{what}: not a string")
    return v.decode("utf-8", "surrogateescape")


def _get_str(d: dict[bytes, Any], key: bytes, what: str) -> str:
    return _to_str(d.get(key), f"{what}.{key.decode()}")


def _get_ip(d: dict[bytes, Any], key: bytes, what: str, *, required: bool) -> bytes | None:
    raw = _get_bytes(d, key, what)
    if not raw:
        if required:
            raise MalformedPacket(f"{what}.{key.decode()}: missing IP address")
        return raw
    if len(raw) not in (4, 16):
        raise MalformedPacket(f"{what}.{key.decode()}: IP address of {len(raw)} bytes")
    return raw


def _decode_body(code: int, d: dict[bytes, Any]) -> Any:
    """Build the dataclass for memberlist type ``code`` from a decoded msgpack map."""
    if code == _PING:
        return Ping(
            seq_no=_get_uint(d, b"SeqNo", _U32, "ping"), node=_get_str(d, b"Node", "ping"),
            source_addr=_get_ip(d, b"SourceAddr", "ping", required=False),
            source_port=_get_uint(d, b"SourcePort", _U16MAX, "ping"),
            source_node=_get_str(d, b"SourceNode", "ping"),
        )
    if code == _INDIRECT_PING:
        return IndirectPing(
            seq_no=_get_uint(d, b"SeqNo", _U32, "indirectPing"),
            target=_get_ip(d, b"Target", "indirectPing", required=True),  # type: ignore[arg-type]
            port=_get_uint(d, b"Port", _U16MAX, "indirectPing"),
            node=_get_str(d, b"Node", "indirectPing"),
            nack=_get_bool(d, b"Nack", "indirectPing"),
            source_addr=_get_ip(d, b"SourceAddr", "indirectPing", required=False),
            source_port=_get_uint(d, b"SourcePort", _U16MAX, "indirectPing"),
            source_node=_get_str(d, b"SourceNode", "indirectPing"),
        )
    if code == _ACK:
        return Ack(seq_no=_get_uint(d, b"SeqNo", _U32, "ack"), payload=_get_bytes(d, b"Payload", "ack"))
    if code == _NACK:
        return Nack(seq_no=_get_uint(d, b"SeqNo", _U32, "nack"))
    if code == _SUSPECT:
        return Suspect(
            incarnation=_get_uint(d, b"Incarnation", _U32, "suspect"),
            node=_get_str(d, b"Node", "suspect"), from_=_get_str(d, b"From", "suspect"),
        )
    if code == _DEAD:
        return Dead(
            incarnation=_get_uint(d, b"Incarnation", _U32, "dead"),
            node=_get_str(d, b"Node", "dead"), from_=_get_str(d, b"From", "dead"),
        )
    if code == _ALIVE:
        return Alive(
            incarnation=_get_uint(d, b"Incarnation", _U32, "alive"),
            node=_get_str(d, b"Node", "alive"),
            addr=_get_ip(d, b"Addr", "alive", required=True),  # type: ignore[arg-type]
            port=_get_uint(d, b"Port", _U16MAX, "alive"),
            meta=_get_bytes(d, b"Meta", "alive"), vsn=_get_bytes(d, b"Vsn", "alive"),
        )
    if code == _ERR:
        return ErrResp(error=_get_str(d, b"Error", "err"))
    raise MalformedPacket(f"message type {code} not supported here")


def _decode_compress(body: bytes, max_size: int) -> tuple[bytes, int]:
    """Body after the 0x09 byte -> (decompressed bytes, msgpack bytes consumed)."""
    obj, used = _unpack_one(body, "compress")
    d = _struct(obj, "compress")
    algo = _get_uint(d, b"Algo", _U8, "compress")
    if algo != 0:
        raise MalformedPacket(f"compress: unknown algorithm {algo}")
    buf = _get_bytes(d, b"Buf", "compress") or b""
    plain = lzw.decompress(buf, max_size)
    if not plain:
        raise MalformedPacket("compress: empty payload")
    return plain, used


# --- packets --------------------------------------------------------------------------


def decode_packet(
    data: bytes, *, max_size: int = UDP_PACKET_MAX, cache: DecodeCache | None = None,
) -> tuple[list[PacketMessage], int]:
    """Decode one (already decrypted) datagram.

    Undoes the CRC (verified), compress and compound layers and returns the flattened
    messages plus the number of compound parts that were truncated or undecodable
    (skipped, as memberlist does). Raises ``MalformedPacket`` when the whole datagram is
    unusable. ``max_size`` caps the datagram and any decompressed payload (bytes).
    ``cache`` memoises the broadcasts (alive, suspect, dead) by their bytes; the result
    is the same with or without it (``gossip.decode_cache``).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MalformedPacket("packet must be bytes")
    data = bytes(data)
    if not data:
        raise MalformedPacket("empty packet")
    if len(data) > max_size:
        raise MalformedPacket(f"packet of {len(data)} bytes exceeds {max_size}")
    if data[0] == _HAS_CRC and len(data) >= 5:
        _, crc = _CRC_HEADER.unpack_from(data)
        data = data[5:]
        if zlib.crc32(data) != crc:
            raise MalformedPacket("invalid checksum")
    out: list[PacketMessage] = []
    skipped = _decode_command(data, out, max_size, compound_depth=0, compressed=False,
                              cache=cache)
    return out, skipped


def _decode_command(
    buf: bytes, out: list[PacketMessage], max_size: int, *, compound_depth: int, compressed: bool,
    cache: DecodeCache | None = None,
) -> int:
    """Append the message(s) in ``buf`` to ``out``; return the count of skipped parts."""
    if not buf:
        raise MalformedPacket("empty command")
    code = buf[0]
    if cache is not None and code in _BROADCAST_TYPES:
        # A leaf decodes the same whatever the layers around it: memoise it.
        memo = cache.commands
        msg = memo.lookup(buf)
        if msg is None:
            memo.misses += 1
            obj, _ = _unpack_one(buf[1:], _NAMES[code])
            msg = _shared_fields(_decode_body(code, _struct(obj, _NAMES[code])))
            if len(buf) <= memo.max_entry_bytes:  # else not stored: keep the pool clean too
                memo.put(BROADCASTS.share(buf), msg)
        out.append(msg)
        return 0
    body = buf[1:]
    if code == _COMPRESS:
        if compressed:
            raise MalformedPacket("nested compression")
        plain, _ = _decode_compress(body, max_size)
        return _decode_command(plain, out, max_size, compound_depth=compound_depth,
                               compressed=True, cache=cache)
    if code == _COMPOUND:
        if compound_depth >= MAX_COMPOUND_DEPTH:
            raise MalformedPacket("compound nested too deep")
        return _decode_compound(body, out, max_size, compound_depth + 1, compressed, cache)
    if code == _USER:
        out.append(UserMsg(payload=body))
        return 0
    if code not in _VALID_PACKET_TYPES:
        raise MalformedPacket(f"message type {code} not supported in a packet")
    obj, _ = _unpack_one(body, _NAMES[code])
    out.append(_decode_body(code, _struct(obj, _NAMES[code])))
    return 0


def _shared_fields(msg: Any) -> Any:
    """``msg`` with its names and byte fields replaced by the process's shared copies
    (``gossip.interning``): a cached message then costs little more than its object,
    however many cores cache the same broadcast (the simulator). Equal values only."""
    if isinstance(msg, Alive):
        return Alive(msg.incarnation, sys.intern(msg.node), RECORD_FIELDS.share(msg.addr),
                     msg.port, None if msg.meta is None else RECORD_FIELDS.share(msg.meta),
                     None if msg.vsn is None else RECORD_FIELDS.share(msg.vsn))
    return type(msg)(msg.incarnation, sys.intern(msg.node), sys.intern(msg.from_))  # Suspect, Dead


def _decode_compound(
    body: bytes, out: list[PacketMessage], max_size: int, depth: int, compressed: bool,
    cache: DecodeCache | None,
) -> int:
    if not body:
        raise MalformedPacket("compound: missing part count")
    n = body[0]
    if len(body) < 1 + 2 * n:
        raise MalformedPacket("compound: truncated length table")
    lengths = _LENGTH_TABLES[n].unpack_from(body, 1)
    pos = 1 + 2 * n
    skipped = 0
    lookup = cache.commands.lookup if cache is not None else None
    for idx, length in enumerate(lengths):
        if pos + length > len(body):
            return skipped + (n - idx)  # memberlist: the rest are "truncated"
        part = body[pos:pos + length]
        pos += length
        if lookup is not None:  # a broadcast decoded before: no call, no exception frame
            msg = lookup(part)
            if msg is not None:
                out.append(msg)
                continue
        mark = len(out)
        try:
            skipped += _decode_command(part, out, max_size, compound_depth=depth,
                                       compressed=compressed, cache=cache)
        except MalformedPacket:
            del out[mark:]
            skipped += 1
    return skipped


# --- streams --------------------------------------------------------------------------


def stream_message_length(buf: bytes, *, max_size: int) -> int | None:
    """Bytes of ``buf`` forming one complete stream message, or None if more are needed.

    Handles plain, compressed (0x09) and encrypted (0x0a + u32 length) messages. Raises
    ``MalformedPacket`` for an invalid message type, garbage, or a message (or a buffer
    still waiting for one) larger than ``max_size`` bytes.
    """
    buf = bytes(buf)
    if not buf:
        return None
    code = buf[0]
    if code == _ENCRYPT:
        if len(buf) < 5:
            return None
        _, length = _ENC_HEADER.unpack_from(buf)
        total = 5 + length
        if total > max_size:
            raise MalformedPacket(f"encrypted stream of {total} bytes exceeds {max_size}")
        return total if len(buf) >= total else None
    if len(buf) > max_size:
        buf = buf[:max_size]
    try:
        end = _plain_stream_end(buf, max_size)
    except _NeedMore:
        if len(buf) >= max_size:
            raise MalformedPacket(f"stream message exceeds {max_size} bytes") from None
        return None
    return end


class _NeedMore(Exception):
    """Internal: the buffer ends inside the message."""


class _Reader:
    """Successive msgpack objects of ``buf`` from ``start`` (one Unpacker for all)."""

    __slots__ = ("_unpacker", "_start")

    def __init__(self, buf: bytes, start: int) -> None:
        self._unpacker = _unpacker(len(buf) - start)
        self._unpacker.feed(memoryview(buf)[start:])
        self._start = start

    def next(self, what: str) -> Any:
        """The next object; _NeedMore if the buffer ends inside it."""
        try:
            return self._unpacker.unpack()
        except msgpack.OutOfData:
            raise _NeedMore from None
        except Exception as exc:  # ValueError/FormatError/StackError/TypeError/...
            raise MalformedPacket(f"{what}: bad msgpack ({type(exc).__name__})") from None

    @property
    def pos(self) -> int:
        """Offset in ``buf`` just after the last object read."""
        return self._start + self._unpacker.tell()


def _plain_stream_end(buf: bytes, max_size: int) -> int:
    code = buf[0]
    reader = _Reader(buf, 1)
    if code == _COMPRESS:
        _struct(reader.next("compress"), "compress")
        return reader.pos
    if code == _PUSH_PULL:
        nodes, user_len, _ = _push_pull_header(reader.next("pushPull header"), max_size)
        for _ in range(nodes):
            reader.next("pushNodeState")
        end = reader.pos + user_len
    elif code == _USER:
        length = _user_msg_len(reader.next("userMsgHeader"), max_size)
        end = reader.pos + length
    elif code in (_PING, _ACK, _ERR):
        reader.next(_NAMES[code])
        return reader.pos
    else:
        raise MalformedPacket(f"invalid stream message type {code}")
    if end > len(buf):
        raise _NeedMore
    return end


def _push_pull_header(obj: Any, max_size: int) -> tuple[int, int, bool]:
    d = _struct(obj, "pushPull header")
    nodes = _get_int(d, b"Nodes", "pushPull header")
    user_len = _get_int(d, b"UserStateLen", "pushPull header")
    if not 0 <= nodes <= min(MAX_PUSH_PULL_NODES, max_size):
        raise MalformedPacket(f"pushPull header: bad node count {nodes}")
    if not 0 <= user_len <= max_size:
        raise MalformedPacket(f"pushPull header: bad user state length {user_len}")
    return nodes, user_len, _get_bool(d, b"Join", "pushPull header")


def _user_msg_len(obj: Any, max_size: int) -> int:
    n = _get_int(_struct(obj, "userMsgHeader"), b"UserMsgLen", "userMsgHeader")
    if not 0 <= n <= max_size:
        raise MalformedPacket(f"userMsgHeader: bad length {n}")
    return n


def decode_stream(
    data: bytes, *, max_size: int, decrypt: Callable[[bytes, bytes], bytes] | None = None,
) -> StreamMessage:
    """Decode one complete TCP stream message (request or reply).

    ``decrypt(body, aad)`` is the encryption seam (see the module docstring); it must
    return the plaintext or raise ``MalformedPacket``.
    """
    data = bytes(data)
    if not data:
        raise MalformedPacket("empty stream")
    if len(data) > max_size and data[0] != _ENCRYPT:
        raise MalformedPacket(f"stream of {len(data)} bytes exceeds {max_size}")
    if data[0] == _ENCRYPT:
        if decrypt is None:
            raise MalformedPacket("Remote state is encrypted and encryption is not configured")
        if len(data) < 5:
            raise MalformedPacket("encrypted stream: truncated header")
        _, length = _ENC_HEADER.unpack_from(data)
        if length > max_size or len(data) < 5 + length:
            raise MalformedPacket("encrypted stream: bad length")
        data = bytes(decrypt(data[5:5 + length], data[:5]))
        if not data:
            raise MalformedPacket("encrypted stream: empty plaintext")
    if data[0] == _COMPRESS:
        data, _ = _decode_compress(data[1:], max_size)
    code, body = data[0], data[1:]
    if code not in _STREAM_TYPES:
        raise MalformedPacket(f"invalid stream message type {code}")
    if code == _PUSH_PULL:
        return _decode_push_pull(data, max_size)
    if code == _USER:
        obj, pos = _unpack_one(body, "userMsgHeader")
        n = _user_msg_len(obj, max_size)
        if pos + n > len(body):
            raise MalformedPacket("user message: truncated payload")
        return UserMsg(payload=body[pos:pos + n])
    obj, _ = _unpack_one(body, _NAMES[code])
    return _decode_body(code, _struct(obj, _NAMES[code]))


def _decode_push_pull(data: bytes, max_size: int) -> PushPull:
    reader = _Reader(data, 1)
    what = "pushNodeState"
    try:
        nodes_n, user_len, join = _push_pull_header(reader.next("pushPull header"), max_size)
        nodes = []
        for _ in range(nodes_n):
            d = _struct(reader.next(what), what)
            nodes.append(PushNodeState(
                name=_get_str(d, b"Name", what),
                addr=_get_ip(d, b"Addr", what, required=True),  # type: ignore[arg-type]
                port=_get_uint(d, b"Port", _U16MAX, what),
                meta=_get_bytes(d, b"Meta", what),
                incarnation=_get_uint(d, b"Incarnation", _U32, what),
                state=_get_int(d, b"State", what),
                vsn=_get_bytes(d, b"Vsn", what),
            ))
    except _NeedMore:
        raise MalformedPacket("pushPull: truncated") from None
    pos = reader.pos
    if pos + user_len > len(data):
        raise MalformedPacket("pushPull: truncated user state")
    return PushPull(join=join, nodes=tuple(nodes), user_state=data[pos:pos + user_len])


# --- Serf ------------------------------------------------------------------------------


def encode_serf(msg: SerfMessage) -> bytes:
    """Serf type byte + msgpack body (the payload of a memberlist ``UserMsg``)."""
    if isinstance(msg, SerfJoin):
        return b"\x01" + _pack({"LTime": _u(msg.ltime, _U64, "ltime"), "Node": _s(msg.node)})
    if isinstance(msg, SerfLeave):
        return b"\x00" + _pack({
            "LTime": _u(msg.ltime, _U64, "ltime"), "Node": _s(msg.node), "Prune": bool(msg.prune),
        })
    if isinstance(msg, SerfPushPull):
        body: dict[str, Any] = {}
        if msg.claw is not None:  # extension key; "Claw" sorts first, Go's decoder skips it
            body["Claw"] = _b(msg.claw, "claw")
        body["EventLTime"] = _u(msg.event_ltime, _U64, "event_ltime")
        body["Events"] = None if msg.events is None else list(msg.events)
        body["LTime"] = _u(msg.ltime, _U64, "ltime")
        body["LeftMembers"] = [_s(name) for name in msg.left_members]
        body["QueryLTime"] = _u(msg.query_ltime, _U64, "query_ltime")
        body["StatusLTimes"] = {_s(k): _u(v, _U64, "status_ltimes") for k, v in msg.status_ltimes.items()}
        return b"\x02" + _pack(body)
    if isinstance(msg, SerfUserEvent):
        return b"\x03" + _pack({
            "CC": bool(msg.cc), "LTime": _u(msg.ltime, _U64, "ltime"), "Name": _s(msg.name),
            "Payload": _b(msg.payload, "payload"),
        })
    if isinstance(msg, SerfQuery):
        return b"\x04" + _pack({
            "Addr": _b(msg.addr, "addr"),
            "Filters": None if msg.filters is None else [_b(f, "filters") for f in msg.filters],
            "Flags": _u(msg.flags, _U32, "flags"), "ID": _u(msg.id, _U32, "id"),
            "LTime": _u(msg.ltime, _U64, "ltime"), "Name": _s(msg.name),
            "Payload": _b(msg.payload, "payload"), "Port": _u(msg.port, _U16MAX, "port"),
            "RelayFactor": _u(msg.relay_factor, _U8, "relay_factor"),
            "SourceNode": _s(msg.source_node), "Timeout": _timeout(msg.timeout_ns),
        })
    if isinstance(msg, SerfQueryResponse):
        return b"\x05" + _pack({
            "Flags": _u(msg.flags, _U32, "flags"), "From": _s(msg.from_),
            "ID": _u(msg.id, _U32, "id"), "LTime": _u(msg.ltime, _U64, "ltime"),
            "Payload": _b(msg.payload, "payload"),
        })
    if isinstance(msg, ClawAppMessage):
        return bytes((_SERF_CLAW,)) + _b(msg.body, "body")  # type: ignore[operator]
    if isinstance(msg, SerfUnknown):
        return bytes((_u(msg.type, _U8, "type"),)) + _b(msg.body, "body")  # type: ignore[operator]
    raise LocalProtocolError(f"cannot encode {type(msg).__name__} as a Serf message")


def _timeout(ns: int) -> int:
    if isinstance(ns, bool) or not isinstance(ns, int) or not _I64_MIN <= ns <= _I64_MAX:
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
            memo.put(payload, msg)
    return msg


def _decode_serf(payload: bytes) -> SerfMessage:
    if not payload:
        raise MalformedPacket("empty Serf message")
    code, body = payload[0], payload[1:]
    if code == _SERF_CLAW:
        return ClawAppMessage(body=body)
    if code > _SERF_QUERY_RESPONSE:
        return SerfUnknown(type=code, body=body)
    name = _SERF_NAMES[code]
    d = _struct(_unpack_one(body, name)[0], name)
    if code == _SERF_JOIN:
        return SerfJoin(ltime=_get_uint(d, b"LTime", _U64, name), node=_get_str(d, b"Node", name))
    if code == _SERF_LEAVE:
        return SerfLeave(
            ltime=_get_uint(d, b"LTime", _U64, name), node=_get_str(d, b"Node", name),
            prune=_get_bool(d, b"Prune", name),
        )
    if code == _SERF_PUSH_PULL:
        return _decode_serf_push_pull(d)
    if code == _SERF_USER_EVENT:
        return SerfUserEvent(
            ltime=_get_uint(d, b"LTime", _U64, name), name=_get_str(d, b"Name", name),
            payload=_get_bytes(d, b"Payload", name), cc=_get_bool(d, b"CC", name),
        )
    if code == _SERF_QUERY:
        filters = d.get(b"Filters")
        if filters is not None:
            if not isinstance(filters, list):
                raise MalformedPacket("query.Filters: not an array")
            filters = tuple(_to_bytes(f, "query.Filters[]") or b"" for f in filters)
        return SerfQuery(
            ltime=_get_uint(d, b"LTime", _U64, name), id=_get_uint(d, b"ID", _U32, name),
            addr=_get_ip(d, b"Addr", name, required=False),
            port=_get_uint(d, b"Port", _U16MAX, name),
            source_node=_get_str(d, b"SourceNode", name), filters=filters,
            flags=_get_uint(d, b"Flags", _U32, name),
            relay_factor=_get_uint(d, b"RelayFactor", _U8, name),
            timeout_ns=_get_int(d, b"Timeout", name), name=_get_str(d, b"Name", name),
            payload=_get_bytes(d, b"Payload", name),
        )
    return SerfQueryResponse(
        ltime=_get_uint(d, b"LTime", _U64, name), id=_get_uint(d, b"ID", _U32, name),
        from_=_get_str(d, b"From", name), flags=_get_uint(d, b"Flags", _U32, name),
        payload=_get_bytes(d, b"Payload", name),
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
        if not isinstance(k, bytes) or isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= _U64:
            raise MalformedPacket(f"{what}.StatusLTimes: bad entry")
        status_ltimes[_to_str(k, what)] = v
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
        ltime=_get_uint(d, b"LTime", _U64, what), status_ltimes=status_ltimes,
        left_members=tuple(_to_str(x, f"{what}.LeftMembers[]") for x in left),
        event_ltime=_get_uint(d, b"EventLTime", _U64, what), events=events,
        query_ltime=_get_uint(d, b"QueryLTime", _U64, what),
        claw=_get_bytes(d, b"Claw", what),
    )
