"""memberlist's and Serf's messages as immutable named tuples (wire-faithful).

Field names follow memberlist's Go structs (``SeqNo`` -> ``seq_no``); the codec
(``gossip.codec``) maps them to the exact msgpack keys. IP addresses stay raw bytes
(4 or 16) as on the wire; ``gossip.addresses`` converts them.

``bytes | None`` distinguishes Go's nil slice (msgpack nil) from an empty one.

Named tuples rather than frozen dataclasses because every agent builds these classes
before its first packet: a ``NamedTuple`` class costs a fraction of a frozen, slotted
dataclass's exec-compiled methods (Python 3.11). They compare as tuples, so dispatch on
the type (``isinstance``), never on equality with another message kind.
"""

from __future__ import annotations

import enum
from typing import Any, NamedTuple

__all__ = [
    "MessageType", "SerfMessageType",
    "Ping", "IndirectPing", "Ack", "Nack", "Suspect", "Alive", "Dead", "UserMsg",
    "ErrResp", "PushNodeState", "PushPull", "Compound",
    "SerfJoin", "SerfLeave", "SerfPushPull", "SerfUserEvent", "SerfQuery",
    "SerfQueryResponse", "SerfRelay", "SerfUnknown", "ClawAppMessage",
    "PacketMessage", "StreamMessage", "SerfMessage",
    "VSN_SERF",
]


class MessageType(enum.IntEnum):
    """memberlist ``messageType`` (net.go, iota order)."""

    PING = 0
    INDIRECT_PING = 1
    ACK = 2
    SUSPECT = 3
    ALIVE = 4
    DEAD = 5
    PUSH_PULL = 6
    COMPOUND = 7
    USER = 8
    COMPRESS = 9
    ENCRYPT = 10
    NACK = 11
    HAS_CRC = 12
    ERR = 13


class SerfMessageType(enum.IntEnum):
    """Serf ``messageType`` (serf/messages.go), the first byte of a memberlist user payload."""

    LEAVE = 0
    JOIN = 1
    PUSH_PULL = 2
    USER_EVENT = 3
    QUERY = 4
    QUERY_RESPONSE = 5
    CONFLICT_RESPONSE = 6
    KEY_REQUEST = 7
    KEY_RESPONSE = 8
    RELAY = 9
    CLAW = 0xC8
    """claw-node's own application messages (resource heartbeats, registry records).
    Only ever sent to claw nodes; a Serf agent would log and drop it."""


VSN_SERF = bytes([1, 5, 2, 2, 5, 5])
"""``Vsn`` every Serf 0.9.4 agent sends: [pmin, pmax, pcur, dmin, dmax, dcur]."""


# --- memberlist packet messages -------------------------------------------------


class Ping(NamedTuple):
    seq_no: int
    node: str
    """Name of the *target*; a non-empty name that is not ours means: ignore."""
    source_addr: bytes | None = None
    source_port: int = 0
    source_node: str = ""


class IndirectPing(NamedTuple):
    seq_no: int
    """The requester's sequence number (echoed in the relayed ack)."""
    target: bytes
    port: int
    node: str
    nack: bool = False
    source_addr: bytes | None = None
    source_port: int = 0
    source_node: str = ""


class Ack(NamedTuple):
    seq_no: int
    payload: bytes | None = None


class Nack(NamedTuple):
    seq_no: int


class Suspect(NamedTuple):
    incarnation: int
    node: str
    from_: str


class Alive(NamedTuple):
    incarnation: int
    node: str
    addr: bytes
    port: int
    meta: bytes | None = None
    vsn: bytes | None = VSN_SERF


class Dead(NamedTuple):
    incarnation: int
    node: str
    from_: str
    """``from_ == node`` means a graceful leave (state LEFT)."""


class UserMsg(NamedTuple):
    """memberlist user message: opaque bytes for the delegate (Serf: type byte + msgpack)."""

    payload: bytes


class Compound(NamedTuple):
    """Several commands in one datagram (decoded form, parts already decoded)."""

    parts: tuple[PacketMessage, ...]


# --- memberlist stream messages -------------------------------------------------


class ErrResp(NamedTuple):
    error: str


class PushNodeState(NamedTuple):
    name: str
    addr: bytes
    port: int
    meta: bytes | None
    incarnation: int
    state: int
    """``gossip.types.MemberState`` value (0 alive, 1 suspect, 2 dead, 3 left)."""
    vsn: bytes | None = VSN_SERF


class PushPull(NamedTuple):
    """A push-pull message: header, node states, and opaque user state."""

    join: bool
    nodes: tuple[PushNodeState, ...]
    user_state: bytes = b""


# --- Serf messages (inside memberlist user payloads) ----------------------------


class SerfJoin(NamedTuple):
    ltime: int
    node: str


class SerfLeave(NamedTuple):
    ltime: int
    node: str
    prune: bool = False


class SerfPushPull(NamedTuple):
    """Serf's push-pull user state (``messagePushPull``) plus claw-node's extension.

    ``events`` is kept as decoded msgpack (Serf always sends 512 slots, mostly None) so
    that it can be re-encoded unchanged. ``claw`` is an extra map key ("Claw") that Go's
    decoder skips; claw nodes carry their application state in it.
    """

    ltime: int
    status_ltimes: dict[str, int]
    left_members: tuple[str, ...]
    event_ltime: int
    events: tuple[Any, ...] | None
    query_ltime: int
    claw: bytes | None = None


class SerfUserEvent(NamedTuple):
    ltime: int
    name: str
    payload: bytes | None
    cc: bool = False


class SerfQuery(NamedTuple):
    ltime: int
    id: int
    addr: bytes | None
    port: int
    source_node: str
    filters: tuple[bytes, ...] | None
    flags: int
    relay_factor: int
    timeout_ns: int
    name: str
    payload: bytes | None


class SerfQueryResponse(NamedTuple):
    ltime: int
    id: int
    from_: str
    flags: int
    payload: bytes | None


class SerfRelay(NamedTuple):
    """Serf ``messageRelayType``: forward ``inner`` (a Serf type byte + body) to
    ``dest_ip:dest_port`` as a user message. A query's answerer sends copies of its ack
    or response this way through ``RelayFactor`` other members, so one lost datagram
    does not lose the answer. The header is Go's ``relayHeader{DestAddr net.UDPAddr,
    DestName}``."""

    dest_ip: bytes | None
    dest_port: int
    dest_name: str
    inner: bytes
    dest_zone: str = ""


class SerfUnknown(NamedTuple):
    """A Serf message type we do not interpret (conflict, key, ...): kept raw."""

    type: int
    body: bytes


class ClawAppMessage(NamedTuple):
    """claw-node application message: opaque to the gossip layer (``SerfMessageType.CLAW``)."""

    body: bytes = b""


PacketMessage = Ping | IndirectPing | Ack | Nack | Suspect | Alive | Dead | UserMsg | Compound
StreamMessage = PushPull | Ping | Ack | UserMsg | ErrResp
SerfMessage = (
    SerfJoin | SerfLeave | SerfPushPull | SerfUserEvent | SerfQuery | SerfQueryResponse
    | SerfRelay | SerfUnknown | ClawAppMessage
)
