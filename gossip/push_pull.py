"""Push-pull anti-entropy and the core's outbound TCP exchanges (memberlist ``pushPull``).

Two nodes swap their whole member tables over TCP (plus Serf's Lamport state and claw's
application state): at a join (``Join`` true) and every ``push_pull_interval_s`` scaled
by the cluster size (``push_pull_scale``). The same stream machinery carries the TCP
fallback ping of a probe round. The core cannot open sockets: it hands each exchange to
the driver as a ``StreamRequest`` and learns its outcome through ``stream_done``;
``Streams`` keeps the ones in flight and expires those the driver never finished.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from . import codec, serf_codec
from .config import Compression
from .errors import MalformedPacket
from .membership import MemberRecord
from .messages import Alive, Dead, ErrResp, PushNodeState, PushPull, Suspect
from .serf_layer import SerfLayer
from .stats import CoreStats
from .types import Address, MemberState

__all__ = [
    "MAX_PENDING_STREAMS", "PUSH_PULL_SCALE_THRESHOLD", "STREAM_GRACE_S", "PendingStream",
    "StreamKind", "StreamRequest", "Streams", "build_push_pull", "compress_stream",
    "push_pull_scale", "read_push_pull_reply", "remote_node_messages",
]

PUSH_PULL_SCALE_THRESHOLD = 32
"""memberlist ``pushPullScaleThreshold``: push-pull is not slowed below this size."""
MAX_PENDING_STREAMS = 256
"""Outbound TCP exchanges in flight; more are refused (counted as ``streams_refused``)."""
STREAM_GRACE_S = 5.0
"""A StreamRequest the driver never completes is failed this long after its deadline."""


def push_pull_scale(interval_s: float, n: int) -> float:
    """memberlist ``pushPullScale``: ×1 up to 32 members, +1 per doubling beyond."""
    if n <= PUSH_PULL_SCALE_THRESHOLD:
        return interval_s
    multiplier = math.ceil(math.log2(n) - math.log2(PUSH_PULL_SCALE_THRESHOLD)) + 1.0
    return multiplier * interval_s


@dataclass(frozen=True, slots=True)
class StreamRequest:
    """An outbound TCP exchange the driver must perform.

    Dial ``address``, write ``data``; if ``expect_reply`` read one stream message
    (``codec.stream_message_length``) and pass it to ``stream_done(stream_id, reply, now)``;
    on any failure or after ``deadline`` (core time) pass ``None``. Without
    ``expect_reply`` call ``stream_done(stream_id, b"", now)`` once written.
    """

    stream_id: int
    address: Address
    data: bytes
    expect_reply: bool
    deadline: float


class StreamKind(enum.Enum):
    """What an outbound exchange is for."""

    PUSH_PULL = "push_pull"
    TCP_PING = "tcp_ping"
    """The TCP fallback ping of a probe round (memberlist ``sendPingAndWaitForAck``)."""


@dataclass(slots=True)
class PendingStream:
    """An outbound exchange awaiting its result."""

    kind: StreamKind
    address: Address
    deadline: float
    join: bool = False
    seq: int = 0
    """TCP ping: the probe round's sequence number."""
    join_call: int = 0
    """Push-pull: which ``join()`` call opened it."""
    report: bool = True
    """Emit ``JoinResult`` (a ``join()`` seed), not for periodic syncs and reconnects."""


class Streams:
    """Outbound exchanges: requests waiting for the driver, and those in flight."""

    def __init__(self, stats: CoreStats) -> None:
        self._stats = stats
        self._pending: dict[int, PendingStream] = {}
        self._requests: list[StreamRequest] = []
        self._last_id = 0

    @property
    def full(self) -> bool:
        """No more exchanges may start (``MAX_PENDING_STREAMS``)."""
        return len(self._pending) >= MAX_PENDING_STREAMS

    def open(self, data: bytes, pending: PendingStream) -> int:
        """Ask the driver to send ``data`` to ``pending.address`` and read a reply."""
        self._last_id += 1
        self._requests.append(StreamRequest(self._last_id, pending.address, data, True,
                                            pending.deadline))
        self._pending[self._last_id] = pending
        self._stats.streams_out += 1
        self._stats.bytes_out += len(data)
        return self._last_id

    def finish(self, stream_id: int) -> PendingStream | None:
        """The exchange ``stream_id`` ended; None if unknown or already expired."""
        return self._pending.pop(stream_id, None)

    def deadline(self) -> float:
        """When the oldest unfinished exchange is given up (inf: none)."""
        return min((s.deadline + STREAM_GRACE_S for s in self._pending.values()),
                   default=math.inf)

    def expire(self, now: float) -> list[PendingStream]:
        """Give up the exchanges the driver never finished (``STREAM_GRACE_S`` late)."""
        gone = [i for i, s in self._pending.items() if now >= s.deadline + STREAM_GRACE_S]
        return [self._pending.pop(i) for i in gone]

    def drain(self) -> list[StreamRequest]:
        """The requests made since the last call, for the driver."""
        out, self._requests = self._requests, []
        return out


def compress_stream(compression: Compression, msg: object) -> bool:
    """Whether stream message ``msg`` is LZW-compressed (``GossipConfig.compression``)."""
    if compression is Compression.ALL:
        return True
    return compression is Compression.STREAMS and not (isinstance(msg, PushPull) and msg.join)


def build_push_pull(records: Iterable[MemberRecord], serf: SerfLayer, *, join: bool,
                    app_state: Callable[[], bytes] | None, stats: CoreStats) -> PushPull:
    """Our side of a push-pull: ``records`` (those still gossiped), Serf's state and the
    application's (``app_state``; an exception there is counted, not raised)."""
    records = list(records)
    nodes = tuple(
        PushNodeState(name=r.name, addr=r.ip_bytes, port=r.port, meta=r.meta,
                      incarnation=r.incarnation, state=int(r.state), vsn=r.vsn or None)
        for r in records
    )
    claw: bytes | None = None
    if app_state is not None:
        try:
            claw = bytes(app_state())
        except Exception:  # noqa: BLE001 - the app's bug must not break anti-entropy
            stats.app_state_errors += 1
    return PushPull(join=join, nodes=nodes,
                    user_state=serf_codec.encode_serf(serf.local_state(records, claw)))


def read_push_pull_reply(reply: bytes | None, max_size: int,
                         stats: CoreStats) -> tuple[PushPull | None, str]:
    """The peer's push-pull from its reply, or None and why not."""
    if reply is None:
        return None, "connection failed or timed out"
    try:
        msg = codec.decode_stream(reply, max_size=max_size)
    except MalformedPacket as exc:
        stats.malformed += 1
        return None, f"bad reply: {exc}"
    if isinstance(msg, ErrResp):
        return None, f"remote error: {msg.error}"
    if isinstance(msg, PushPull):
        return msg, ""
    return None, "reply is not a push/pull"


def remote_node_messages(pp: PushPull, *, bind_port: int,
                         self_name: str) -> Iterator[Alive | Dead | Suspect | None]:
    """memberlist ``mergeState``: each remote member's state as the message we apply
    (None: a state we do not know)."""
    for ns in pp.nodes:
        port = ns.port or bind_port  # memberlist fills a zero port with its own
        if ns.state == MemberState.ALIVE:
            yield Alive(ns.incarnation, ns.name, ns.addr, port, ns.meta, ns.vsn)
        elif ns.state == MemberState.LEFT:
            yield Dead(ns.incarnation, ns.name, ns.name)
        elif ns.state in (MemberState.DEAD, MemberState.SUSPECT):
            # A peer's "dead" is only trusted as far as suspicion (memberlist).
            yield Suspect(ns.incarnation, ns.name, self_name)
        else:
            yield None
