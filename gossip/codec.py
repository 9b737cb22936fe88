"""memberlist 0.2.2 wire codec: bytes <-> ``gossip.messages`` dataclasses.

Serf's messages and claw's, carried inside memberlist's user messages, are in
``gossip.serf_codec``; the msgpack field helpers both use are in ``gossip.msgpack_fields``.

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
in advance and ``encrypted_stream_frame(body)`` frames an already-encrypted body. Without
``decrypt`` an encrypted stream raises ``MalformedPacket``
(Go: "Remote state is encrypted and encryption is not configured").
"""

from __future__ import annotations

import struct
import sys
import zlib
from collections.abc import Callable
from typing import Any

import msgpack

from gossip import stream_memo
from gossip.decode_cache import DecodeCache, entry_cost
from gossip.errors import LocalProtocolError, MalformedPacket
from gossip.interning import BROADCASTS, RECORD_FIELDS
from gossip.messages import (
    Ack,
    Alive,
    Compound,
    Dead,
    ErrResp,
    IndirectPing,
    Nack,
    PacketMessage,
    Ping,
    PushNodeState,
    PushPull,
    StreamMessage,
    Suspect,
    UserMsg,
)
from gossip.msgpack_fields import (
    I64_MAX,
    U8,
    U16MAX,
    U32,
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
    new_unpacker,
    pack,
    unpack_one,
)

__all__ = [
    "encode_message", "encode_compound", "add_crc", "compress_packet", "decode_packet",
    "encode_stream", "decode_stream", "stream_message_length", "encrypted_stream_header",
    "encrypted_stream_frame",
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



def _ping_body(msg: Ping) -> dict[str, Any]:
    body: dict[str, Any] = {"Node": go_str(msg.node), "SeqNo": go_uint(msg.seq_no, U32, "seq_no")}
    if msg.source_addr:  # omitempty
        body["SourceAddr"] = go_bytes(msg.source_addr, "source_addr")
    if msg.source_node:
        body["SourceNode"] = go_str(msg.source_node)
    if msg.source_port:
        body["SourcePort"] = go_uint(msg.source_port, U16MAX, "source_port")
    return body


def _body(msg: Any) -> tuple[int, dict[str, Any]]:
    """(memberlist type code, Go struct as a dict with keys in sorted order)."""
    if isinstance(msg, Ping):
        return _PING, _ping_body(msg)
    if isinstance(msg, IndirectPing):
        body: dict[str, Any] = {
            "Nack": bool(msg.nack), "Node": go_str(msg.node),
            "Port": go_uint(msg.port, U16MAX, "port"), "SeqNo": go_uint(msg.seq_no, U32, "seq_no"),
        }
        if msg.source_addr:
            body["SourceAddr"] = go_bytes(msg.source_addr, "source_addr")
        if msg.source_node:
            body["SourceNode"] = go_str(msg.source_node)
        if msg.source_port:
            body["SourcePort"] = go_uint(msg.source_port, U16MAX, "source_port")
        body["Target"] = go_bytes(msg.target, "target")
        return _INDIRECT_PING, body
    if isinstance(msg, Ack):
        return _ACK, {
            "Payload": go_bytes(msg.payload, "payload"), "SeqNo": go_uint(msg.seq_no, U32, "seq_no"),
        }
    if isinstance(msg, Nack):
        return _NACK, {"SeqNo": go_uint(msg.seq_no, U32, "seq_no")}
    if isinstance(msg, (Suspect, Dead)):
        code = _SUSPECT if isinstance(msg, Suspect) else _DEAD
        return code, {
            "From": go_str(msg.from_), "Incarnation": go_uint(msg.incarnation, U32, "incarnation"),
            "Node": go_str(msg.node),
        }
    if isinstance(msg, Alive):
        return _ALIVE, {
            "Addr": go_bytes(msg.addr, "addr"), "Incarnation": go_uint(msg.incarnation, U32, "incarnation"),
            "Meta": go_bytes(msg.meta, "meta"), "Node": go_str(msg.node),
            "Port": go_uint(msg.port, U16MAX, "port"), "Vsn": go_bytes(msg.vsn, "vsn"),
        }
    if isinstance(msg, ErrResp):
        return _ERR, {"Error": go_str(msg.error)}
    raise LocalProtocolError(f"cannot encode {type(msg).__name__} as a memberlist message")


class PackedPushNodeState(PushNodeState):
    """A push-pull entry that carries its own msgpack encoding (``packed``), made once by
    ``packed_push_node`` for an entry many push-pulls repeat (the shared records of the
    simulator's converged start): ``encode_stream`` copies those bytes instead of
    packing the entry again. Equal fields, equal bytes: the wire does not change."""

    packed: bytes


def packed_push_node(node: PushNodeState) -> PackedPushNodeState:
    """``node`` with its msgpack encoding attached (``PackedPushNodeState``).

    Raises:
        LocalProtocolError: a field out of range, as ``encode_stream`` would.
    """
    entry = PackedPushNodeState(*node)
    entry.packed = pack(_push_node_body(node))
    return entry


def _packed_entry(node: PushNodeState) -> bytes:
    if node.__class__ is PackedPushNodeState:
        return node.packed
    return pack(_push_node_body(node))


def _push_node_body(node: PushNodeState) -> dict[str, Any]:
    addr, meta, vsn = node.addr, node.meta, node.vsn
    inc, port, state = node.incarnation, node.port, node.state
    # The usual entry (a push-pull holds one per member, so this runs N times per
    # exchange): plain bytes and in-range ints need no conversion. Anything else takes
    # the checked path below, which converts or names the bad field.
    if (addr.__class__ is bytes and meta.__class__ is bytes
            and (vsn is None or vsn.__class__ is bytes)
            and inc.__class__ is int and 0 <= inc <= U32
            and port.__class__ is int and 0 <= port <= U16MAX
            and state.__class__ is int and 0 <= state <= I64_MAX):
        return {"Addr": addr, "Incarnation": inc, "Meta": meta, "Name": go_str(node.name),
                "Port": port, "State": state, "Vsn": vsn}
    return {
        "Addr": go_bytes(node.addr, "addr"), "Incarnation": go_uint(node.incarnation, U32, "incarnation"),
        "Meta": go_bytes(node.meta, "meta"), "Name": go_str(node.name),
        "Port": go_uint(node.port, U16MAX, "port"), "State": go_uint(int(node.state), I64_MAX, "state"),
        "Vsn": go_bytes(node.vsn, "vsn"),
    }


# --- public encoding API ---------------------------------------------------------------


def encode_message(msg: PacketMessage | ErrResp) -> bytes:
    """One command: type byte + msgpack body (``UserMsg``: 0x08 + raw payload;
    ``Compound``: its parts in a compound)."""
    if isinstance(msg, UserMsg):
        return bytes((_USER,)) + go_bytes(msg.payload, "payload")
    if isinstance(msg, Compound):
        return encode_compound([encode_message(part) for part in msg.parts])
    code, body = _body(msg)
    return bytes((code,)) + pack(body)


def encode_compound(parts: list[bytes]) -> bytes:
    """0x07, part count, big-endian u16 lengths, then the parts (each a full command)."""
    if not 1 <= len(parts) <= MAX_COMPOUND_PARTS:
        raise LocalProtocolError(f"a compound holds 1..{MAX_COMPOUND_PARTS} parts, got {len(parts)}")
    header = bytearray((_COMPOUND, len(parts)))
    for part in parts:
        if len(part) > U16MAX:
            raise LocalProtocolError(f"compound part of {len(part)} bytes exceeds 65535")
        header += _U16.pack(len(part))
    return bytes(header) + b"".join(parts)


def add_crc(buf: bytes) -> bytes:
    """0x0c + IEEE CRC-32 (big-endian) of ``buf`` + ``buf``."""
    return _CRC_HEADER.pack(_HAS_CRC, zlib.crc32(buf)) + buf


def compress_packet(buf: bytes) -> bytes:
    """0x09 + msgpack ``compress{Algo: 0 (LZW), Buf}``. (UDP senders use it only if smaller.)"""
    return bytes((_COMPRESS,)) + pack({"Algo": 0, "Buf": stream_memo.compress(buf)})


def encode_stream(msg: StreamMessage, *, compress: bool = True) -> bytes:
    """A TCP stream message; LZW-compressed when ``compress`` (always, like memberlist)."""
    if isinstance(msg, PushPull):
        if len(msg.nodes) > MAX_PUSH_PULL_NODES:
            raise LocalProtocolError(f"push/pull of {len(msg.nodes)} nodes exceeds {MAX_PUSH_PULL_NODES}")
        user_state = go_bytes(msg.user_state, "user_state") or b""
        parts = [
            bytes((_PUSH_PULL,)),
            pack({"Join": bool(msg.join), "Nodes": len(msg.nodes), "UserStateLen": len(user_state)}),
        ]
        parts.extend(map(_packed_entry, msg.nodes))
        parts.append(user_state)
        plain = b"".join(parts)
    elif isinstance(msg, UserMsg):
        payload = go_bytes(msg.payload, "payload") or b""
        plain = bytes((_USER,)) + pack({"UserMsgLen": len(payload)}) + payload
    elif isinstance(msg, (Ping, Ack, ErrResp)):
        code, body = _body(msg)
        plain = bytes((code,)) + pack(body)
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


def _decode_body(code: int, d: dict[bytes, Any]) -> Any:
    """Build the dataclass for memberlist type ``code`` from a decoded msgpack map."""
    if code == _PING:
        return Ping(
            seq_no=get_uint(d, b"SeqNo", U32, "ping"), node=get_str(d, b"Node", "ping"),
            source_addr=get_ip(d, b"SourceAddr", "ping", required=False),
            source_port=get_uint(d, b"SourcePort", U16MAX, "ping"),
            source_node=get_str(d, b"SourceNode", "ping"),
        )
    if code == _INDIRECT_PING:
        return IndirectPing(
            seq_no=get_uint(d, b"SeqNo", U32, "indirectPing"),
            target=get_ip(d, b"Target", "indirectPing", required=True),
            port=get_uint(d, b"Port", U16MAX, "indirectPing"),
            node=get_str(d, b"Node", "indirectPing"),
            nack=get_bool(d, b"Nack", "indirectPing"),
            source_addr=get_ip(d, b"SourceAddr", "indirectPing", required=False),
            source_port=get_uint(d, b"SourcePort", U16MAX, "indirectPing"),
            source_node=get_str(d, b"SourceNode", "indirectPing"),
        )
    if code == _ACK:
        return Ack(seq_no=get_uint(d, b"SeqNo", U32, "ack"), payload=get_bytes(d, b"Payload", "ack"))
    if code == _NACK:
        return Nack(seq_no=get_uint(d, b"SeqNo", U32, "nack"))
    if code == _SUSPECT:
        return Suspect(
            incarnation=get_uint(d, b"Incarnation", U32, "suspect"),
            node=get_str(d, b"Node", "suspect"), from_=get_str(d, b"From", "suspect"),
        )
    if code == _DEAD:
        return Dead(
            incarnation=get_uint(d, b"Incarnation", U32, "dead"),
            node=get_str(d, b"Node", "dead"), from_=get_str(d, b"From", "dead"),
        )
    if code == _ALIVE:
        return Alive(
            incarnation=get_uint(d, b"Incarnation", U32, "alive"),
            node=get_str(d, b"Node", "alive"),
            addr=get_ip(d, b"Addr", "alive", required=True),
            port=get_uint(d, b"Port", U16MAX, "alive"),
            meta=get_bytes(d, b"Meta", "alive"), vsn=get_bytes(d, b"Vsn", "alive"),
        )
    if code == _ERR:
        return ErrResp(error=get_str(d, b"Error", "err"))
    raise MalformedPacket(f"message type {code} not supported here")


def _decode_compress(body: bytes, max_size: int) -> tuple[bytes, int]:
    """Body after the 0x09 byte -> (decompressed bytes, msgpack bytes consumed)."""
    obj, used = unpack_one(body, "compress")
    d = as_map(obj, "compress")
    algo = get_uint(d, b"Algo", U8, "compress")
    if algo != 0:
        raise MalformedPacket(f"compress: unknown algorithm {algo}")
    buf = get_bytes(d, b"Buf", "compress") or b""
    plain = stream_memo.decompress(buf, max_size)
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
            obj, _ = unpack_one(buf[1:], _NAMES[code])
            msg = _shared_fields(_decode_body(code, as_map(obj, _NAMES[code])))
            cost = entry_cost(len(buf))
            if cost <= memo.max_entry_cost:  # else not stored: keep the pool clean too
                memo.put(BROADCASTS.share(buf), msg, cost)
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
    obj, _ = unpack_one(body, _NAMES[code])
    out.append(_decode_body(code, as_map(obj, _NAMES[code])))
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
        self._unpacker = new_unpacker(len(buf) - start)
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
        as_map(reader.next("compress"), "compress")
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
    d = as_map(obj, "pushPull header")
    nodes = get_int(d, b"Nodes", "pushPull header")
    user_len = get_int(d, b"UserStateLen", "pushPull header")
    if not 0 <= nodes <= min(MAX_PUSH_PULL_NODES, max_size):
        raise MalformedPacket(f"pushPull header: bad node count {nodes}")
    if not 0 <= user_len <= max_size:
        raise MalformedPacket(f"pushPull header: bad user state length {user_len}")
    return nodes, user_len, get_bool(d, b"Join", "pushPull header")


def _user_msg_len(obj: Any, max_size: int) -> int:
    n = get_int(as_map(obj, "userMsgHeader"), b"UserMsgLen", "userMsgHeader")
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
        return stream_memo.decode(data, max_size, _decode_push_pull)
    if code == _USER:
        obj, pos = unpack_one(body, "userMsgHeader")
        n = _user_msg_len(obj, max_size)
        if pos + n > len(body):
            raise MalformedPacket("user message: truncated payload")
        return UserMsg(payload=body[pos:pos + n])
    obj, _ = unpack_one(body, _NAMES[code])
    message: StreamMessage = _decode_body(code, as_map(obj, _NAMES[code]))  # _STREAM_TYPES only
    return message


def _decode_push_pull(data: bytes, max_size: int) -> PushPull:
    reader = _Reader(data, 1)
    what = "pushNodeState"
    try:
        nodes_n, user_len, join = _push_pull_header(reader.next("pushPull header"), max_size)
        nodes = []
        for _ in range(nodes_n):
            d = as_map(reader.next(what), what)
            nodes.append(PushNodeState(
                name=get_str(d, b"Name", what),
                addr=get_ip(d, b"Addr", what, required=True),
                port=get_uint(d, b"Port", U16MAX, what),
                meta=get_bytes(d, b"Meta", what),
                incarnation=get_uint(d, b"Incarnation", U32, what),
                state=get_int(d, b"State", what),
                vsn=get_bytes(d, b"Vsn", what),
            ))
    except _NeedMore:
        raise MalformedPacket("pushPull: truncated") from None
    pos = reader.pos
    if pos + user_len > len(data):
        raise MalformedPacket("pushPull: truncated user state")
    return PushPull(join=join, nodes=tuple(nodes), user_state=data[pos:pos + user_len])
