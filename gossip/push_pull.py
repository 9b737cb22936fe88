"""Push-pull anti-entropy and the core's outbound TCP exchanges (memberlist ``pushPull``).

Two nodes swap their whole member tables over TCP (plus Serf's Lamport state and claw's
application state): at a join (``Join`` true) and every ``push_pull_interval_s`` scaled
by the cluster size (``push_pull_scale``). The same stream machinery carries the TCP
fallback ping of a probe round and the application's address checks. The core cannot open sockets:
it hands each exchange to the driver as a ``StreamRequest`` and learns its outcome through ``stream_done``;
``Streams`` keeps the ones in flight and expires those the driver never finished.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from random import Random
from typing import NamedTuple

from . import codec, serf_codec, stream_memo
from .channel import ChannelCall, decode_request, is_channel_payload
from .config import Compression, GossipConfig
from .errors import GossipError, MalformedPacket
from .events import AddressChecked, AppState, Event, JoinResult
from .histogram import PUSH_PULL_BUCKETS_S, Histogram
from .membership import MemberRecord, Membership, SharedTable, alive_is_old_news
from .messages import (
    Ack,
    Alive,
    Dead,
    ErrResp,
    Ping,
    PushNodeState,
    PushPull,
    SerfLeave,
    SerfPushPull,
    StreamMessage,
    Suspect,
    UserMsg,
)
from .serf_layer import SerfLayer
from .shared_merge import entries_to_merge, join_statuses_to_merge
from .shared_push_pull import over_shared
from .stats import CoreStats
from .types import Address, MemberState
from .user_messages import UserMessages
from .wire_encryption import WireEncryption

__all__ = [
    "MAX_PENDING_STREAMS", "PUSH_PULL_SCALE_THRESHOLD", "RECONNECT_INTERVAL_S", "STREAM_GRACE_S", "Exchanges",
    "PendingStream", "StreamKind", "StreamRequest", "Streams", "build_push_pull", "compress_stream",
    "push_pull_scale", "read_push_pull_reply", "remote_node_message", "remote_node_messages",
]

PUSH_PULL_SCALE_THRESHOLD = 32
"""memberlist ``pushPullScaleThreshold``: push-pull is not slowed below this size."""
MAX_PENDING_STREAMS = 256
"""Outbound TCP exchanges in flight; more are refused (counted as ``streams_refused``)."""
STREAM_GRACE_S = 5.0
"""A StreamRequest the driver never completes is failed this long after its deadline."""
RECONNECT_INTERVAL_S = 30.0
"""Serf ``ReconnectInterval``: how often we may try a Join push-pull with one random dead
member (probability ``dead / live`` per try, as Serf), which heals long partitions that
memberlist alone never heals once the dead stop being gossiped to."""


def push_pull_scale(interval_s: float, n: int) -> float:
    """memberlist ``pushPullScale``: ×1 up to 32 members, +1 per doubling beyond."""
    if n <= PUSH_PULL_SCALE_THRESHOLD:
        return interval_s
    multiplier = math.ceil(math.log2(n) - math.log2(PUSH_PULL_SCALE_THRESHOLD)) + 1.0
    return multiplier * interval_s


class StreamRequest(NamedTuple):
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
    ADDRESS_CHECK = "address_check"
    """A ping the application asked for (``SwimProtocol.check_address``)."""


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
    name: str = ""
    """Address check: the member name the ping asks for."""
    report: bool = True
    """Emit ``JoinResult`` (a ``join()`` seed), not for periodic syncs and reconnects."""
    opened: float = 0.0
    """Push-pull: when it was opened (core time), for its duration."""


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
        if not self._pending:  # the common case, without building a generator
            return math.inf
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
                    app_state: Callable[[], bytes] | None, stats: CoreStats,
                    shared: SharedTable | None = None, changed: Collection[str] = ()) -> PushPull:
    """Our side of a push-pull: ``records`` (those still gossiped), Serf's state and the
    application's (``app_state``; an exception there is counted, not raised).

    ``shared``, ``changed``: the ``SharedTable`` the records' table was built from and
    the names that table changed (``Membership.shared_view``), if any; the entry of a
    record that is still the shared one is built once for every table sharing it, and
    when only the changed names differ from the shared table the whole state is the
    shared one with those put in place (``shared_push_pull``).
    """
    records = list(records)
    statuses: tuple[dict[str, int], tuple[str, ...]] | None = None
    if shared is None:
        nodes = tuple(map(push_node_state, records))
    else:
        entry = _shared_entry(shared)
        over = over_shared(records, shared, changed, entry)
        if over is None:
            nodes = tuple(map(entry, records))
        else:
            nodes, statuses = over[0], over[1:]
    claw: bytes | None = None
    if app_state is not None:
        try:
            claw = bytes(app_state())
        except Exception:  # noqa: BLE001 - the app's bug must not break anti-entropy
            stats.app_state_errors += 1
    return PushPull(join=join, nodes=nodes, user_state=serf_codec.encode_serf(
        serf.local_state(records, claw, statuses=statuses)))


def _shared_entry(shared: SharedTable) -> Callable[[MemberRecord], PushNodeState]:
    """A record's push-pull entry, memoised (and packed once) on ``shared`` for a record
    that is still the shared one."""
    table, memo = shared.records, shared.push_states

    def entry(r: MemberRecord) -> PushNodeState:
        if table.get(r.name) is not r:
            return push_node_state(r)  # ours, or changed: build it
        found = memo.get(r.name)
        if found is None:  # packed once too: every push-pull repeats these bytes
            found = memo[r.name] = codec.packed_push_node(push_node_state(r))
        return found

    return entry


def push_node_state(r: MemberRecord) -> PushNodeState:
    """A member's entry in our push-pull."""
    return PushNodeState(name=r.name, addr=r.ip_bytes, port=r.port, meta=r.meta,
                         incarnation=r.incarnation, state=int(r.state), vsn=r.vsn or None)


def read_push_pull_reply(reply: bytes | None, decode: Callable[[bytes], object],
                         stats: CoreStats) -> tuple[PushPull | None, str]:
    """The peer's push-pull from its reply (``decode``: the node's stream decoding,
    ``Exchanges.decode``), or None and why not."""
    if reply is None:
        return None, "connection failed or timed out"
    try:
        msg = decode(reply)
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
        yield remote_node_message(ns, bind_port=bind_port, self_name=self_name)


def remote_node_message(ns: PushNodeState, *, bind_port: int,
                        self_name: str) -> Alive | Dead | Suspect | None:
    """One remote member's state as the message we apply (``remote_node_messages``)."""
    port = ns.port or bind_port  # memberlist fills a zero port with its own
    if ns.state == MemberState.ALIVE:
        return Alive(ns.incarnation, ns.name, ns.addr, port, ns.meta, ns.vsn)
    if ns.state == MemberState.LEFT:
        return Dead(ns.incarnation, ns.name, ns.name)
    if ns.state in (MemberState.DEAD, MemberState.SUSPECT):
        # A peer's "dead" is only trusted as far as suspicion (memberlist).
        return Suspect(ns.incarnation, ns.name, self_name)
    return None


class Exchanges:
    """The core's TCP side: serves inbound stream requests (push-pull, ping, user
    message), opens push-pulls (periodic ones, Serf's reconnects to the dead), TCP
    pings and address checks, and applies what comes back (memberlist ``mergeState``, then Serf
    ``MergeRemoteState``).

    Members change only through the core's own rules, handed in as callables, so alive,
    suspect and dead keep one implementation.

    Args:
        config, rng, members, stats, serf, user: the core's collaborators (``user`` is
            its ``UserMessages``: user messages and Serf intents; ``adopt`` replaces
            ``members``).
        me: this node's own record.
        cluster_size: memberlist's ``estNumNodes`` now (push-pull is slowed above 32).
        gossiped: the records our push-pull carries (still gossiped about, now).
        app_state: the application's state for push-pulls (``SwimProtocol``'s argument).
        apply_alive, apply_suspect, apply_dead: the core's handlers of those messages.
        emit: queues an event for the application.
        tcp_ping_acked: a TCP ping of a probe round was acked (``Prober``).
        joined: a reported push-pull (a ``join()`` seed) succeeded.
        encryption: the core's ``WireEncryption``, which seals every stream ``encode``
            writes and opens every one ``decode`` reads (None: plaintext).
    """

    def __init__(self, config: GossipConfig, rng: Random, members: Membership,
                 me: MemberRecord, stats: CoreStats, serf: SerfLayer, user: UserMessages, *,
                 cluster_size: Callable[[], int],
                 gossiped: Callable[[], list[MemberRecord]],
                 app_state: Callable[[], bytes] | None,
                 apply_alive: Callable[[Alive, float], None],
                 apply_suspect: Callable[[Suspect, float], None],
                 apply_dead: Callable[[Dead, float], None],
                 emit: Callable[[Event], None],
                 tcp_ping_acked: Callable[[int, float], None],
                 joined: Callable[[PendingStream, float], None],
                 merge_events: Callable[..., None],
                 encryption: WireEncryption | None = None) -> None:
        self._cfg = config
        self._rng = rng
        self._members = members
        self._self = me
        self._self_name = me.name
        self._stats = stats
        self._serf = serf
        self._user = user
        self._merge_events = merge_events
        self._cluster_size = cluster_size
        self._gossiped = gossiped
        self._app_state = app_state
        self._apply_alive = apply_alive
        self._apply_suspect = apply_suspect
        self._apply_dead = apply_dead
        self._emit = emit
        self._tcp_ping_acked = tcp_ping_acked
        self._joined = joined
        self._encryption = encryption if encryption is not None else WireEncryption(None)
        self.streams = Streams(stats)
        self.durations = Histogram(PUSH_PULL_BUCKETS_S)
        """Seconds from opening an outbound push-pull to merging its reply (core time)."""
        self.join_call = 0
        """How many ``join()`` calls were made (a push-pull remembers the one it serves)."""
        self._check_seq = 0
        """Sequence number of the last address check's ping."""
        self.next_push_pull = math.inf
        """When the next periodic push-pull with a random live member is due."""
        self.next_reconnect = math.inf
        """When we next may try a push-pull with a random dead member (Serf)."""
        self.last_merge = -math.inf
        """When a push-pull (ours or a peer's) last merged here (``gossip.catch_up``)."""
        self.merging = False
        """True while a push-pull's members are applied: they are not gossip news."""

    def schedule(self, now: float) -> None:
        """Schedule the periodic push-pull and reconnect of a core starting at ``now``."""
        interval = self._cfg.push_pull_interval_s
        # memberlist's pushPullTrigger waits the stagger and then a whole interval: the
        # join's push-pull just synced, so the first periodic one comes 1-2 intervals on.
        self.next_push_pull = (now + self._rng.uniform(0, interval) + interval
                               if interval > 0 else math.inf)
        self.next_reconnect = now + RECONNECT_INTERVAL_S

    def adopt(self, members: Membership, now: float) -> None:
        """Use ``members`` (a converged cluster's table) and put both timers at random
        phases, as in a long-running node."""
        self._members = members
        if self._cfg.push_pull_interval_s > 0:
            period = push_pull_scale(self._cfg.push_pull_interval_s, self._cluster_size())
            self.next_push_pull = now + self._rng.uniform(0, period)
        self.next_reconnect = now + self._rng.uniform(0, RECONNECT_INTERVAL_S)

    def push_pull_tick(self, now: float) -> None:
        """The periodic push-pull is due."""
        self.push_pull_random(now)
        self.next_push_pull = now + push_pull_scale(self._cfg.push_pull_interval_s,
                                                    self._cluster_size())

    def reconnect_tick(self, now: float) -> None:
        """Serf ``reconnect``: maybe push-pull with one random dead member."""
        self.next_reconnect = now + RECONNECT_INTERVAL_S
        members = self._members
        # Counted from the down records and the table's live count, not a scan of the
        # table: this runs every few seconds on every node that knows a dead member.
        dead_count = members.dead_count()
        if not dead_count:
            return
        if self._rng.random() > dead_count / max(1, members.live_count):
            return  # the more of the cluster is alive, the less often we bother
        dead = [r for r in members if r.state == MemberState.DEAD]  # table order
        self._stats.reconnects += 1
        self.open_push_pull(self._rng.choice(dead).address, join=True, now=now, report=False)

    def push_pull_random(self, now: float) -> None:
        """Push-pull with one random live member, if any."""
        peers = self._members.alive_except(self._self)
        if peers:
            self.open_push_pull(self._rng.choice(peers).address, join=False, now=now)

    def encode(self, msg: object) -> bytes:
        """``msg`` framed for a stream, compressed as ``config.compression`` says, then
        sealed when encryption is on: every stream the core writes goes through here."""
        plain = codec.encode_stream(msg, compress=compress_stream(self._cfg.compression, msg))  # type: ignore[arg-type]
        return self._encryption.seal_stream(plain)

    def decode(self, data: bytes, source: Address, now: float) -> StreamMessage:
        """One received stream message, opened (``WireEncryption.open_stream``) and
        decoded: every stream this node reads, the request channel's too, comes through
        here.

        Raises:
            MalformedPacket: garbage, or refused by the encryption layer (counted there).
        """
        plain = self._encryption.open_stream(data, source, now)
        return codec.decode_stream(plain, max_size=self._cfg.max_stream_bytes)

    def local_push_pull(self, *, join: bool) -> PushPull:
        """Our side of a push-pull (``build_push_pull``)."""
        view = self._members.shared_view()
        return build_push_pull(self._gossiped(), self._serf, join=join,
                               app_state=self._app_state, stats=self._stats,
                               shared=None if view is None else view[0],
                               changed=() if view is None else view[1])

    def open_push_pull(self, address: Address, *, join: bool, now: float,
                       report: bool | None = None) -> None:
        """Start a push-pull with ``address``; ``report`` (default: ``join``) emits its
        ``JoinResult``."""
        report = join if report is None else report
        if self.streams.full:
            self._stats.streams_refused += 1
            if report:
                self._emit(JoinResult(seed=address, ok=False, error="too many pending streams"))
            return
        data = self.encode(self.local_push_pull(join=join))
        self.streams.open(data, PendingStream(
            StreamKind.PUSH_PULL, address, now + self._cfg.tcp_timeout_s, join=join,
            join_call=self.join_call, report=report, opened=now))
        self._stats.push_pulls_out += 1

    def open_tcp_ping(self, ping: Ping, address: Address, deadline: float) -> None:
        """Send a probe round's ping over TCP (nothing if too many streams are open)."""
        if self.streams.full:
            return
        self.streams.open(self.encode(ping), PendingStream(
            StreamKind.TCP_PING, address, deadline, seq=ping.seq_no))
        self._stats.tcp_pings += 1

    def open_address_check(self, name: str, address: Address, now: float) -> None:
        """Ping ``address`` over TCP for member ``name``; ``AddressChecked`` follows."""
        self._stats.address_checks += 1
        if self.streams.full:
            self._stats.streams_refused += 1
            self._emit(AddressChecked(name, address, answered=False))
            return
        self._check_seq = (self._check_seq + 1) & 0xFFFFFFFF
        self.streams.open(self.encode(Ping(self._check_seq, name)), PendingStream(
            StreamKind.ADDRESS_CHECK, address, now + self._cfg.tcp_timeout_s,
            seq=self._check_seq, name=name))

    def on_request(self, msg: object, addr: Address, now: float, *,
                   encrypted: bool) -> bytes | ChannelCall | None:
        """Serve one decoded inbound stream request; return the reply bytes or None, or,
        for a request channel frame, the classified ``ChannelCall`` (the driver serves it).
        ``encrypted``: the stream was sealed under one of our keys (user messages carry
        it on).

        Raises:
            MalformedPacket: a channel frame that does not decode.
        """
        if isinstance(msg, PushPull):
            self._stats.push_pulls_in += 1
            reply = self.encode(self.local_push_pull(join=msg.join))  # echo Join
            try:
                self.merge(msg, sender=addr, now=now)
            except (GossipError, ValueError, TypeError):
                self._stats.malformed += 1  # what merged so far stays; the peer gets ours
            return reply
        if isinstance(msg, Ping):
            if msg.node and msg.node != self._self_name:
                self._stats.pings_wrong_node += 1
                return None  # memberlist closes without replying
            return self.encode(Ack(msg.seq_no, None))
        if isinstance(msg, UserMsg):
            if is_channel_payload(msg.payload):
                return decode_request(msg.payload, addr)
            self._user.on_user(msg.payload, now, encrypted=encrypted)
            return None
        self._stats.unknown_type += 1
        return None

    def on_reply(self, p: PendingStream, reply: bytes | None, now: float) -> None:
        """The outcome of an outbound exchange (``reply`` None: it failed)."""
        if p.kind is StreamKind.TCP_PING:
            if self._acked(reply, p, now):
                self._tcp_ping_acked(p.seq, now)
            return
        if p.kind is StreamKind.ADDRESS_CHECK:
            self._emit(AddressChecked(p.name, p.address, answered=self._acked(reply, p, now)))
            return
        pp, error = read_push_pull_reply(
            reply, lambda data: self.decode(data, p.address, now), self._stats)
        if pp is None:
            self._stats.push_pull_failures += 1
            if p.report:
                self._emit(JoinResult(seed=p.address, ok=False, error=error))
            return
        self.merge(pp, sender=p.address, now=now, our_join=p.report)
        self.durations.observe(now - p.opened)
        if p.report:
            self._emit(JoinResult(seed=p.address, ok=True))
            self._joined(p, now)

    def _acked(self, reply: bytes | None, p: PendingStream, now: float) -> bool:
        """Whether the ``reply`` to TCP ping ``p`` is its ack."""
        if not reply:
            return False
        try:
            ack = self.decode(reply, p.address, now)
        except MalformedPacket:
            self._stats.malformed += 1
            return False
        return isinstance(ack, Ack) and ack.seq_no == p.seq

    def expire(self, now: float) -> None:
        """Fail the exchanges the driver never finished."""
        for pending in self.streams.expire(now):
            self.on_reply(pending, None, now)

    def merge(self, pp: PushPull, *, sender: Address, now: float, our_join: bool = False) -> None:
        """memberlist ``mergeState`` then Serf ``MergeRemoteState`` (``our_join``: the
        answer to a ``join()`` seed, whose user events are history to us)."""
        self.last_merge = now
        self.merging = True
        try:
            self._merge_nodes(pp, now)
        finally:
            self.merging = False
        if not pp.user_state:
            return
        try:
            user = stream_memo.decode_user_state(pp.user_state, serf_codec.decode_serf)
        except MalformedPacket:
            self._stats.malformed += 1
            return
        if not isinstance(user, SerfPushPull):
            self._stats.serf_ignored += 1
            return
        self._serf.witness_remote(user)
        for name in user.left_members:
            # Serf turns each left member into a leave intent one tick past its status.
            ltime = min(user.status_ltimes.get(name, 0) + 1, (1 << 64) - 1)
            self._user.on_leave_intent(SerfLeave(ltime, name), now, rebroadcast=None)
        statuses, skipped_max = join_statuses_to_merge(self._members, user)
        if skipped_max >= 0:
            self._serf.clock.witness(skipped_max)  # what each skipped status would do
        for name, ltime in statuses:
            self._user.on_join_status(name, ltime, now)
        self._merge_events(user.events, user.event_ltime, ignore_old=our_join)
        if user.claw is not None:
            self._emit(AppState(body=user.claw, join=pp.join, sender=sender))

    def _merge_nodes(self, pp: PushPull, now: float) -> None:
        """memberlist ``mergeState``: each remote entry through the core's own rules."""
        bind_port, self_name, me = self._cfg.bind_port, self._self_name, self._self
        known = self._members.get
        for ns in entries_to_merge(self._members, pp.nodes, bind_port):
            # Most entries of a converged cluster's push-pull are what we hold: skip them
            # before building a message (``_on_alive`` would ignore them the same way).
            if ns.state == MemberState.ALIVE and alive_is_old_news(
                    known(ns.name), me, ns.incarnation, ns.addr, ns.port or bind_port):
                continue
            msg = remote_node_message(ns, bind_port=bind_port, self_name=self_name)
            if isinstance(msg, Alive):
                self._apply_alive(msg, now)
            elif isinstance(msg, Dead):
                self._apply_dead(msg, now)
            elif isinstance(msg, Suspect):
                self._apply_suspect(msg, now)
            else:
                self._stats.malformed_parts += 1
