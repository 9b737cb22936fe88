"""The cluster request channel, sans-I/O: claw request/response frames on the gossip port.

Node-to-node requests (a write relayed to the coordinator, a coordinator directive to a
member) travel as one TCP exchange on the gossip port: the caller writes one request
frame, the callee answers with one reply frame, the connection closes. Both frames are
memberlist *user* stream messages (``userMsg``, type 8) whose payload starts with a claw
type byte, so they share the core's stream encoding (compression, and the keyring's
encryption once configured) and the driver's framing (``codec.stream_message_length``).
A Serf agent never receives one: the agent sends requests only to members whose
metadata says they are claw nodes.

    request  = 0xC9 | msgpack {"Kind": str, "Body": bin, "TTL": int ms}
    reply    = 0xCA | msgpack {"Status": int, "Body": bin}

This module frames, unframes and classifies; it never blocks, reads a clock or opens a
socket. The driver (``gossip/udp.py``) carries the exchange, applies the deadlines and
concurrency caps below (``ChannelSlots``), and hands the inbound request to the
application's async handler.
"""

from __future__ import annotations

import enum
from typing import Any, NamedTuple

import msgpack

from .errors import MalformedPacket
from .types import Address

__all__ = [
    "CHANNEL_REPLY", "CHANNEL_REQUEST", "HANDLER_SHARE", "MAX_INBOUND", "MAX_KIND_CHARS",
    "MAX_OUTBOUND", "MAX_REPLY_BYTES", "MAX_REQUEST_BYTES", "MAX_TTL_S", "ChannelCall",
    "ChannelReply", "ChannelSlots", "ReplyStatus", "decode_reply", "decode_request",
    "encode_reply", "encode_request", "is_channel_payload",
]

CHANNEL_REQUEST = 0xC9
"""First payload byte of a request frame (next to Serf's claw app byte 0xC8)."""
CHANNEL_REPLY = 0xCA
"""First payload byte of a reply frame."""

MAX_REQUEST_BYTES = 256 * 1024
"""Largest request body (bytes); the API's body limit (64 KiB) plus headers fits."""
MAX_REPLY_BYTES = 1024 * 1024
"""Largest reply body (bytes); a bigger answer is replaced by a ``TOO_LARGE`` status."""
MAX_KIND_CHARS = 32
"""Longest request kind (characters)."""
MAX_TTL_S = 60.0
"""A request's TTL is clamped to this (seconds): a peer cannot pin a handler longer."""
HANDLER_SHARE = 0.8
"""Share of the caller's timeout sent as the request's TTL, the callee handler's time: the
rest carries the callee's ``TIMEOUT`` answer back before the caller gives up."""
MAX_INBOUND = 16
"""Requests served at once; more are answered ``BUSY`` without running the handler."""
MAX_OUTBOUND = 32
"""Requests this node has in flight at once; more fail at once (``ChannelBusy``)."""


class ReplyStatus(enum.IntEnum):
    """The channel-level outcome of a request (the application's own status is in the body)."""

    OK = 0
    """The handler answered; ``body`` is its answer."""
    UNKNOWN_KIND = 1
    """No handler for this kind on the callee."""
    BUSY = 2
    """The callee serves ``MAX_INBOUND`` requests already; retry later."""
    FAILED = 3
    """The handler raised; ``body`` is a short UTF-8 reason."""
    TIMEOUT = 4
    """The handler did not answer within the request's TTL."""
    TOO_LARGE = 5
    """The handler's answer exceeded ``MAX_REPLY_BYTES``."""


class ChannelCall(NamedTuple):
    """An inbound request, classified by the core and handed to the application.

    ``ttl_s`` is the caller's remaining patience, already clamped to ``MAX_TTL_S``; the
    driver gives the handler that long (``deadline(now)``).
    """

    kind: str
    body: bytes
    ttl_s: float
    peer: Address

    def deadline(self, now: float) -> float:
        return now + self.ttl_s


class ChannelReply(NamedTuple):
    status: ReplyStatus
    body: bytes

    @property
    def ok(self) -> bool:
        return self.status is ReplyStatus.OK


def is_channel_payload(payload: bytes) -> bool:
    """Whether a user stream payload is a channel frame (request or reply)."""
    return bool(payload) and payload[0] in (CHANNEL_REQUEST, CHANNEL_REPLY)


def encode_request(kind: str, body: bytes, ttl_s: float) -> bytes:
    """The payload of a request frame.

    Raises:
        ValueError: ``kind`` empty or longer than ``MAX_KIND_CHARS``, ``body`` larger than
            ``MAX_REQUEST_BYTES``, or ``ttl_s`` not positive.
    """
    if not kind or len(kind) > MAX_KIND_CHARS:
        raise ValueError(f"channel request kind must be 1..{MAX_KIND_CHARS} characters")
    if len(body) > MAX_REQUEST_BYTES:
        raise ValueError(f"channel request of {len(body)} bytes exceeds {MAX_REQUEST_BYTES}")
    if not ttl_s > 0:
        raise ValueError("channel request TTL must be positive")
    ttl_ms = int(min(ttl_s, MAX_TTL_S) * 1000)
    return bytes((CHANNEL_REQUEST,)) + msgpack.packb(
        {"Kind": kind, "Body": bytes(body), "TTL": ttl_ms}, use_bin_type=True)


def decode_request(payload: bytes, peer: Address) -> ChannelCall:
    """Classify a request frame from the network (untrusted).

    Raises:
        MalformedPacket: not a request frame, bad msgpack, a missing or mistyped field,
            a kind or body over its limit.
    """
    fields = _frame(payload, CHANNEL_REQUEST, "channel request", MAX_REQUEST_BYTES)
    kind = fields.get("Kind")
    body = fields.get("Body")
    ttl_ms = fields.get("TTL")
    if not isinstance(kind, str) or not 0 < len(kind) <= MAX_KIND_CHARS:
        raise MalformedPacket("channel request: bad Kind")
    if not isinstance(body, bytes) or len(body) > MAX_REQUEST_BYTES:
        raise MalformedPacket("channel request: bad Body")
    if isinstance(ttl_ms, bool) or not isinstance(ttl_ms, int) or ttl_ms <= 0:
        raise MalformedPacket("channel request: bad TTL")
    return ChannelCall(kind=kind, body=body, ttl_s=min(ttl_ms / 1000.0, MAX_TTL_S), peer=peer)


def encode_reply(status: ReplyStatus, body: bytes = b"") -> bytes:
    """The payload of a reply frame; an oversized ``body`` becomes ``TOO_LARGE``."""
    if len(body) > MAX_REPLY_BYTES:
        status, body = ReplyStatus.TOO_LARGE, f"answer of {len(body)} bytes".encode()
    return bytes((CHANNEL_REPLY,)) + msgpack.packb(
        {"Status": int(status), "Body": bytes(body)}, use_bin_type=True)


def decode_reply(payload: bytes) -> ChannelReply:
    """Read a reply frame from the network (untrusted).

    Raises:
        MalformedPacket: not a reply frame, bad msgpack, unknown status, body over limit.
    """
    fields = _frame(payload, CHANNEL_REPLY, "channel reply", MAX_REPLY_BYTES)
    status = fields.get("Status")
    body = fields.get("Body")
    if isinstance(status, bool) or not isinstance(status, int):
        raise MalformedPacket("channel reply: bad Status")
    try:
        status = ReplyStatus(status)
    except ValueError:
        raise MalformedPacket(f"channel reply: unknown Status {status}") from None
    if not isinstance(body, bytes) or len(body) > MAX_REPLY_BYTES:
        raise MalformedPacket("channel reply: bad Body")
    return ChannelReply(status, body)


def _frame(payload: bytes, type_byte: int, what: str, max_body: int) -> dict[str, Any]:
    if not payload or payload[0] != type_byte:
        raise MalformedPacket(f"{what}: wrong type byte")
    if len(payload) > max_body + 4096:
        raise MalformedPacket(f"{what}: {len(payload)} bytes is too large")
    try:
        fields = msgpack.unpackb(payload[1:], raw=False, strict_map_key=True,
                                 max_bin_len=max_body, max_str_len=4096,
                                 max_array_len=16, max_map_len=16, max_ext_len=0)
    except Exception:  # msgpack raises many types (ValueError, ExtraData, StackError...)
        raise MalformedPacket(f"{what}: bad msgpack") from None
    if not isinstance(fields, dict):
        raise MalformedPacket(f"{what}: not a map")
    return fields


class ChannelSlots:
    """A concurrency cap: at most ``limit`` holders; refusals are counted.

    The driver keeps one for inbound and one for outbound requests. No waiting queue:
    a request over the cap is refused at once, which bounds memory and tells the caller.
    """

    __slots__ = ("active", "limit", "refused")

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a channel concurrency limit must be at least 1")
        self.limit = limit
        self.active = 0
        self.refused = 0

    def acquire(self) -> bool:
        if self.active >= self.limit:
            self.refused += 1
            return False
        self.active += 1
        return True

    def release(self) -> None:
        if self.active <= 0:
            raise RuntimeError("ChannelSlots released more often than acquired")
        self.active -= 1
