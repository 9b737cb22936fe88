"""SwimProtocol: memberlist's SWIM + Lifeguard as a sans-I/O state machine.

No sockets, sleeps, clock reads or global randomness: every input carries ``now``
(monotonic seconds, the same scale as ``loop.time()``), randomness comes from the
injected ``random.Random``. Drivers (``gossip.udp`` for asyncio, ``simulations``
for virtual time) feed inputs and flush outputs:

    core.receive_datagram(data, addr, now)      # a UDP datagram arrived
    core.handle_timer(now)                      # the deadline from next_deadline() passed
    reply = core.handle_stream(data, addr, now) # an inbound TCP request was read whole
    core.stream_done(stream_id, reply, now)     # an outbound TCP exchange finished/failed
    ...
    for addr, data in core.datagrams_to_send(): sendto(...)
    for req in core.streams_to_open(): dial req.address, write req.data, read a reply
                                       if req.expect_reply, then stream_done(...)
    while (ev := core.next_event()) is not None: ...
    for exc in core.internal_errors_to_report(): log it (a bug the core survived)
    loop.call_at(core.next_deadline(), ...)

Stream framing for drivers: ``gossip.codec.stream_message_length(buf)`` says how many
bytes of ``buf`` make one complete stream message (None: need more).

The rules live in small modules this class composes: ``membership`` (the table and
the alive/suspect/dead decisions), ``suspicion`` (Lifeguard timeouts), ``awareness``
(Lifeguard local health), ``probe`` (the ``Prober``: rounds, confirmation probes,
relays), ``outbox`` (broadcast queues and datagram packing), ``gossiper`` (gossip rounds
and direct announcements), ``push_pull`` (``Exchanges``: TCP requests, push-pull
anti-entropy, reconnects), ``user_messages`` (Serf intents and claw app messages),
``query_router`` (Serf queries on the wire), ``leave`` (the phases of a graceful leave),
``serf_layer`` (Lamport clocks and intent decisions), ``stale_accusations``,
``name_claims`` and ``catch_up`` (claw-node departures with state of their own) and
``stats`` (the counters). A collaborator moves a member between states only through the callables this
class hands it. Its facets are base classes, each in its own module:
``core_timers.CoreTimers`` (the one timer table, over ``core_assembly.CoreAssembly``,
which builds the sub-systems and wires them to this class, over
``core_views.CoreViews``, the read-only views), ``serf_commands.SerfCommands`` (Serf
queries and user events) and ``self_announcement.SelfAnnouncement`` (``set_meta``,
``reannounce`` and the identity checks ``check_address`` and ``outbid``). This class
keeps the other commands, the inputs and outputs, the packet handler table
(``_PACKET_HANDLERS``), and applies alive/suspect/dead and refutes. ``converged`` builds
cores that start inside a converged cluster (the simulator's loader).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from random import Random
from typing import Any

from . import codec
from .addresses import bytes_to_ip
from .app_relay import AppVersion, AppVersionOf
from .catch_up import ANY_PEER
from .channel import ChannelCall, is_channel_payload
from .config import GossipConfig
from .core_timers import REAP_INTERVAL_S, CoreTimers
from .decode_cache import DecodeCache
from .dissemination import retransmit_limit
from .errors import GossipError, LocalProtocolError, MalformedPacket
from .events import (
    Event,
    MemberFailed,
    MemberJoined,
    MemberLeft,
    MemberRecovered,
    MemberSuspected,
    MemberUpdated,
    NameConflict,
    Refuted,
)
from .keyring import Keyring
from .leave import LeavePhase
from .membership import (
    AliveVerdict,
    DeadVerdict,
    MemberRecord,
    SuspectVerdict,
    alive_is_old_news,
    decide_alive,
    decide_dead,
    decide_suspect,
    meta_is_claw,
)
from .messages import (
    Ack,
    Alive,
    ClawAppMessage,
    Dead,
    ErrResp,
    IndirectPing,
    Nack,
    Ping,
    Suspect,
    UserMsg,
)
from .name_claims import claim_to_replay, remember_refused_claim
from .push_pull import PendingStream, StreamRequest
from .self_announcement import SelfAnnouncement, own_record
from .serf_commands import SerfCommands
from .suspicion import Suspicion
from .types import Address, MemberState
from .user_messages import serf_payload

__all__ = ["SwimProtocol"]

# --- limits and constants (each bounds memory or mirrors a memberlist/Serf constant) ---

MAX_EVENTS = 65536
"""Undrained events kept; the oldest are dropped beyond it (``events_dropped``)."""
MAX_ERRORS_TO_REPORT = 16
"""Internal errors kept for the driver to log (``internal_errors_to_report``); older
ones are only counted."""

class SwimProtocol(CoreTimers, SerfCommands, SelfAnnouncement):
    """One node's view of the cluster and its failure detector.

    Args:
        config: timing and sizing knobs (``GossipConfig.lan()`` etc.).
        name: this node's unique name.
        address: (ip, port) that peers should dial (the advertise address).
        meta: node metadata, at most ``config.meta_max_bytes``; claw nodes use
            ``gossip.tags.encode_tags`` with the ``claw`` tag.
        rng: the only source of randomness.
        now: current time.
        incarnation: starting incarnation (>= 1; a restarted node passes stored + 1).
        app_state: called when a push-pull is built; returns claw application state
            bytes carried to the peer (``AppState`` event on the other side).
        decode_cache: memo of decoded broadcasts (``gossip.decode_cache``); None: a
            bounded one of this core's own. Sharing one between cores (the simulator)
            changes no result, only how often identical bytes are decoded.
        strict: re-raise an unexpected exception caught at an input boundary (a bug in
            the core) instead of counting it (``internal_errors``) and keeping it for
            the driver to log (``internal_errors_to_report``). Tests and the simulator
            run strict; a production driver must not, so one bug cannot stop the node.
        keyring: the gossip encryption keys (``gossip.keyring``), shared, not copied:
            a key installed, used or removed on it applies to the next message. None
            or empty: no encryption. ``config.gossip_verify_incoming/outgoing`` say
            what is enforced (``gossip.wire_encryption``).
        clock_offset_s: ``now`` + this = the clock every member shares (Unix time),
            which aligns probe orders (``GossipConfig.aligned_probe_order``). A driver
            on ``loop.time()`` passes ``time.time() - loop.time()``; the simulator 0
            (its virtual time is shared by every core).
        app_version_of: names the record and version of a claw app message, so this
            node relays only the newest version of each record (``gossip.app_relay``);
            None: every distinct body is relayed once.
    Raises:
        LocalProtocolError: bad arguments (meta too large, incarnation < 1, ...).
    """

    def __init__(
        self,
        config: GossipConfig,
        *,
        name: str,
        address: Address,
        meta: bytes = b"",
        rng: Random,
        now: float,
        incarnation: int = 1,
        app_state: Callable[[], bytes] | None = None,
        decode_cache: DecodeCache | None = None,
        strict: bool = False,
        keyring: Keyring | None = None,
        clock_offset_s: float = 0.0,
        app_version_of: AppVersionOf | None = None,
    ) -> None:
        try:
            config.validate()
        except GossipError as exc:
            raise LocalProtocolError(f"invalid config: {exc}") from exc
        me = own_record(config, name=name, address=address, meta=meta,
                        incarnation=incarnation, now=now)

        self._assemble(config, me, rng=rng, now=now, app_state=app_state,
                       decode_cache=decode_cache, keyring=keyring, clock_offset_s=clock_offset_s,
                       app_version_of=app_version_of)
        self.last_internal_error: str = ""
        """repr of the last unexpected exception swallowed at an input boundary (a bug)."""
        self._strict = strict
        self._errors_to_report: deque[BaseException] = deque(maxlen=MAX_ERRORS_TO_REPORT)

        self._gossiper.schedule(now)
        self._exchanges.schedule(now)
        self._next_reap = now + REAP_INTERVAL_S
        self._size_cache: tuple[float, int, int] = (math.nan, -1, 0)
        self._version = 0  # bumped on every membership change (size cache key)
        # memberlist's setAlive: our own alive waits in the queue until there are peers,
        # so a joiner announces itself too (not only through its seed's 2-3 retransmits).
        self._broadcast_self_alive()

    # --- commands -------------------------------------------------------------

    def join(self, seeds: Iterable[Address], now: float) -> None:
        """Start a push-pull (Join=true) with each seed; ``JoinResult`` events follow."""
        self._now = now
        self._exchanges.join_call += 1
        self._join_intent_for = self._exchanges.join_call
        for seed in seeds:
            self._exchanges.open_push_pull(tuple(seed), join=True, now=now)  # type: ignore[arg-type]

    def leave(self, now: float) -> None:
        """Graceful leave: Serf leave intent, then ``dead(self, from=self)`` broadcast.

        ``leave_done`` becomes true once both were sent to peers (or there is nobody).
        """
        self._now = now
        if self._leave.phase:
            return
        intent = self._serf.new_leave_intent(self._self)
        self._prober.abandon()
        self._leave.start(serf_payload(intent), now)
        if self._leave.phase is LeavePhase.INTENT and self._cfg.leave_gossip_at_once:
            self._gossiper.next_round = now

    def force_leave(self, name: str, now: float, *, prune: bool = False) -> MemberState | None:
        """Serf's ``force-leave``: broadcast a leave intent for member ``name``.

        A failed (dead) member becomes ``left`` here and on every Serf or claw node the
        intent reaches; a live one is only marked leaving (if it is alive it refutes with
        a newer join intent, as in Serf). ``prune``: a member that is left afterwards is
        erased from the table at once, here and on the receivers, instead of waiting
        for the reaper. Returns the member's state afterwards (None: unknown or erased).

        Raises:
            LocalProtocolError: ``name`` is this node (use ``leave``).
        """
        self._now = now
        if name == self._self.name:
            raise LocalProtocolError("a node cannot force itself out; use leave()")
        intent = self._serf.new_force_leave_intent(name, prune=prune)
        self._user.on_leave_intent(intent, now, rebroadcast=serf_payload(intent))
        return self.member_state(name)

    def set_gossip_verify(self, incoming: bool, outgoing: bool, now: float) -> None:
        """Change ``gossip_verify_incoming`` / ``_outgoing`` while running (an agent
        reload moving a migration to encryption a step): from the next packet on."""
        self._now = now
        self._encryption.verify_incoming = incoming
        self._encryption.verify_outgoing = outgoing

    def broadcast_app(self, body: bytes, now: float, *, key: str | None = None,
                      urgent: bool = False, version: AppVersion | None = None) -> None:
        """Disseminate a claw application message to claw members by piggybacking.

        A later broadcast with the same ``key`` replaces a queued older one. Receivers
        deliver each distinct body once (``AppMessage``) and relay it to other claw
        members, so it spreads epidemically; an identical body re-sent while its digest
        is still remembered is delivered only once. ``urgent``: this node starts gossip
        rounds for it even when ``app_gossip_rounds`` is off (its relays do not).
        ``version``: what ``app_version_of`` returns for ``body``, when the caller has
        just encoded it and knows it (spares decoding it again; None: decode).
        """
        self._now = now
        if not isinstance(body, (bytes, bytearray)):
            raise LocalProtocolError("body must be bytes")
        body = bytes(body)
        payload = serf_payload(ClawAppMessage(body))
        if not self._outbox.fits(payload):
            raise LocalProtocolError(
                f"app message of {len(body)} bytes does not fit in udp_buffer_bytes")
        self._user.remember_app(body, version)
        self._outbox.push_app(payload, None if key is None else f"app:{key}", urgent=urgent)

    # --- inputs -----------------------------------------------------------------

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        """Process one UDP datagram. Never raises on bad input: it is counted in ``stats``."""
        self._now = now
        st = self._stats
        st.packets_in += 1
        try:
            st.bytes_in += len(data)
            opened = self._encryption.open_datagram(data, addr, now)
            if opened is None:
                return  # not sealed with one of our keys: counted per source, dropped
            plain, encrypted = opened
            msgs, bad = codec.decode_packet(plain, max_size=self._cfg.max_udp_packet_bytes,
                                            cache=self._decode_cache)
        except MalformedPacket as exc:
            if "checksum" in str(exc):
                st.crc_errors += 1
            else:
                st.malformed += 1
            return
        except Exception as exc:  # noqa: BLE001 - the receive path must never raise
            self._internal_error(exc)
            return
        st.malformed_parts += bad
        for msg in msgs[: self._cfg.handoff_queue_depth]:
            try:
                if type(msg) is UserMsg:  # Serf queries carry on whether it was sealed
                    self._user.on_user(msg.payload, now, encrypted=encrypted)
                else:
                    self._on_packet_message(msg, addr, now)
            except (GossipError, ValueError, TypeError):
                st.malformed += 1
            except Exception as exc:  # noqa: BLE001
                self._internal_error(exc)

    def handle_timer(self, now: float) -> None:
        """Run everything due at ``now`` (probes, gossip, suspicion timeouts, push-pull)."""
        self._now = now
        cfg = self._cfg
        expected, self._timer_expected = self._timer_expected, None
        if cfg.late_timer_s > 0 and expected is not None:
            if now - expected >= cfg.late_timer_s:
                # claw-node: our own timers run late, so we are the slow one (CPU
                # starvation): Lifeguard's local health should say so, which gives
                # members more time to answer us before we accuse them.
                self._awareness.apply_delta(1)
                self._stats.late_timers += 1
        try:
            self._run_timers(now)
        except Exception as exc:  # noqa: BLE001 - one bad timer must not stop the others
            self._internal_error(exc)

    def handle_stream(self, data: bytes, addr: Address, now: float) -> bytes | ChannelCall | None:
        """Serve one inbound TCP request (push-pull, ping, user); return reply bytes or None.

        A cluster request channel frame (``gossip.channel``) is classified, not served:
        the ``ChannelCall`` goes to the driver, which runs the application's handler and
        writes ``channel_frame(answer)`` back.
        """
        self._now = now
        self._stats.streams_in += 1
        try:
            self._stats.bytes_in += len(data)
            msg = self._exchanges.decode(data, addr, now)
        except MalformedPacket as exc:  # memberlist answers an error (sealed if we seal)
            self._stats.malformed += 1
            return self._exchanges.encode(ErrResp(str(exc)[:200]))
        except Exception as exc:  # noqa: BLE001
            self._internal_error(exc)
            return None
        try:
            return self._exchanges.on_request(
                msg, addr, now, encrypted=self._encryption.stream_was_sealed(data))
        except (GossipError, ValueError, TypeError):
            self._stats.malformed += 1
        except Exception as exc:  # noqa: BLE001
            self._internal_error(exc)
        return None

    def channel_frame(self, payload: bytes) -> bytes:
        """A request channel frame (``gossip.channel``) as a stream message, encoded like
        every other stream of this node."""
        return self._exchanges.encode(UserMsg(payload))

    def channel_payload(self, data: bytes, source: Address, now: float) -> bytes:
        """The channel frame in a stream message read from ``source`` (untrusted), opened
        like every other stream of this node.

        Raises:
            MalformedPacket: undecodable, refused by the encryption layer, or a stream
                message that is no channel frame.
        """
        msg = self._exchanges.decode(data, source, now)
        if not isinstance(msg, UserMsg) or not is_channel_payload(msg.payload):
            raise MalformedPacket("not a request channel frame")
        return msg.payload

    def stream_done(self, stream_id: int, reply: bytes | None, now: float) -> None:
        """Result of a ``StreamRequest``: its reply, b"" when no reply was expected, None on failure."""
        self._now = now
        pending = self._exchanges.streams.finish(stream_id)
        if pending is None:
            return  # unknown or already expired: nothing waits for it
        try:
            if reply is not None:
                self._stats.bytes_in += len(reply)
            self._exchanges.on_reply(pending, reply, now)
        except Exception as exc:  # noqa: BLE001
            self._internal_error(exc)

    # --- outputs ---------------------------------------------------------------

    def datagrams_to_send(self) -> list[tuple[Address, bytes]]:
        return self._outbox.drain()

    def streams_to_open(self) -> list[StreamRequest]:
        return self._exchanges.streams.drain()

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def internal_errors_to_report(self) -> list[BaseException]:
        """Unexpected exceptions the core caught since the last call (bugs; at most
        ``MAX_ERRORS_TO_REPORT``), for the driver to log with their tracebacks."""
        out = list(self._errors_to_report)
        self._errors_to_report.clear()
        return out

    # --- packet handling ----------------------------------------------------------

    def _on_packet_message(self, msg: object, addr: Address, now: float) -> None:
        handler = _PACKET_HANDLERS.get(type(msg))
        if handler is None:
            self._stats.unknown_type += 1
            return
        handler(self, msg, addr, now)

    def _on_alive(self, a: Alive, now: float) -> None:
        rec = self._members.get(a.node)
        if alive_is_old_news(rec, self._self, a.incarnation, a.addr, a.port):
            return  # the common case (decide_alive: IGNORE)
        try:
            ip = bytes_to_ip(a.addr)
        except MalformedPacket:
            self._stats.malformed += 1
            return
        if not a.node:
            self._stats.bad_names += 1  # an empty name cannot be addressed or refuted
            return
        meta = a.meta or b""
        if len(meta) > self._cfg.meta_max_bytes:
            self._stats.meta_too_large += 1  # memberlist would panic building it
            return
        vsn = a.vsn or b""
        is_self = a.node == self._self.name
        address = (ip, a.port)
        verdict = decide_alive(
            rec, incarnation=a.incarnation, address=address, meta=meta, vsn=vsn,
            is_self=is_self, self_left=self._leave.phase >= LeavePhase.DEAD, now=now,
            dead_node_reclaim_s=self._cfg.dead_node_reclaim_s,
            accept_restart_elsewhere=self._cfg.accept_restart_elsewhere,
            reaccuse_stale=self._cfg.reaccuse_stale_alives,
        )
        if verdict is AliveVerdict.IGNORE:
            return
        if verdict is AliveVerdict.BAD_VSN:
            self._stats.bad_vsn += 1
            return
        if verdict is AliveVerdict.UNKNOWN_ZERO:
            self._stats.unknown_zero_incarnation += 1
            return
        if verdict is AliveVerdict.CONFLICT:
            assert rec is not None
            self._stats.name_conflicts += 1
            if self._cfg.replay_refused_claims and not is_self:
                rec = remember_refused_claim(self._members, rec, a, now)
            self._emit(NameConflict(existing=rec.snapshot(), claimed_by=address,
                                    claimed_meta=meta, claimed_incarnation=a.incarnation))
            return
        if verdict is AliveVerdict.STALE:
            assert rec is not None
            self._stats.stale_alives += 1
            self._reaccuse(rec, address, now)
            return
        if verdict is AliveVerdict.REFUTE:
            self._refute(a.incarnation, accuser="", now=now)
            return
        if verdict is AliveVerdict.NEW:
            rec = MemberRecord(
                name=a.node, ip=ip, port=a.port, meta=meta, incarnation=a.incarnation,
                state=MemberState.ALIVE, state_since=now, vsn=vsn, is_claw=meta_is_claw(meta),
                ip_bytes=bytes(a.addr),
            )
            if not self._members.add(rec):
                self._stats.members_refused += 1  # table full of live members
                return
            self._version += 1
            self._prober.add(rec.name)
            self._outbox.memberlist.push(codec.encode_message(a), a.node, sent=self._merged_news_sent())
            self._stats.joins += 1
            self._emit(MemberJoined(rec.snapshot()))
            self._user.apply_recent_intent(rec, now)
            if self._exchanges.merging:
                self._catch_up.taught()
            else:
                self._catch_up_with(address, now)
            return
        assert rec is not None and verdict is AliveVerdict.UPDATE
        rec = self._members.writable(rec)
        old_state, old_meta, old_addr = rec.state, rec.meta, rec.address
        rec.refused_claim = None
        rec.incarnation = a.incarnation
        rec.meta, rec.vsn, rec.ip, rec.port = meta, vsn, ip, a.port
        rec.ip_bytes = bytes(a.addr)
        rec.is_claw = meta_is_claw(meta) if meta != old_meta else rec.is_claw
        self._clear_suspicion(rec)
        if old_state != MemberState.ALIVE:
            self._set_state(rec, MemberState.ALIVE, now)
        self._outbox.memberlist.push(codec.encode_message(a), a.node)
        if old_state in (MemberState.DEAD, MemberState.LEFT):
            rec.leaving = False
            self._prober.add(rec.name)
            self._stats.joins += 1
            self._emit(MemberJoined(rec.snapshot()))
            return
        if old_state == MemberState.SUSPECT:
            rec.refuted_at = now
            self._stats.recoveries += 1
            self._emit(MemberRecovered(rec.snapshot()))
        if meta != old_meta or rec.address != old_addr:
            self._stats.updates += 1
            self._emit(MemberUpdated(rec.snapshot()))

    def _merged_news_sent(self) -> int:
        """Transmits a new member's alive starts with: 0 from gossip; with catch-up on,
        from a push-pull it gets only the last ``retransmit_mult`` (its sender, and
        likely most members, know it already), so gossip news goes first."""
        if not self._exchanges.merging or self._cfg.catch_up_burst <= 0:
            return 0
        mult = self._cfg.retransmit_mult
        return retransmit_limit(mult, self._current_size()) - mult

    def _catch_up_with(self, address: Address, now: float) -> None:
        """A new member reached us by gossip: push-pull if we lag (``catch_up``)."""
        partner = self._catch_up.learned(address, now, self._exchanges.last_merge)
        if partner is not None and not self._leave.phase:
            self._stats.catch_ups += 1
            self._exchanges.open_push_pull(partner, join=False, now=now)

    def _catch_up_due(self, now: float) -> None:
        """The catch-up window ended: push-pull again while the view grows (``catch_up``)."""
        partner = self._catch_up.due(now)
        if partner is None:
            return
        self._stats.catch_ups += 1
        if partner == ANY_PEER:
            self._exchanges.push_pull_random(now)
        else:
            self._exchanges.open_push_pull(partner, join=False, now=now)

    def _reaccuse(self, rec: MemberRecord, address: Address, now: float) -> None:
        """Tell a node we hold dead that it is dead, so it refutes with a higher incarnation."""
        if now - rec.last_reaccused < self._cfg.probe_interval_s:
            return  # rate limit: one accusation per member per probe interval
        rec = self._members.writable(rec)
        rec.last_reaccused = now
        self._stats.reaccusations += 1
        dead = Dead(rec.incarnation, rec.name, self._self.name)
        self._send(address, codec.encode_message(dead), None)

    def _on_suspect_packet(self, s: Suspect, addr: Address, now: float) -> None:
        self._on_suspect(s, now)
        # After the refutation it may have caused: the accusation is then stale, and its
        # sender gets our new alive straight back rather than only by gossip.
        if self._cfg.answer_stale_accusations and not self._leave.phase:
            self._stale_answers.on_accusation(s.node, s.incarnation, addr, now)

    def _on_suspect(self, s: Suspect, now: float) -> None:
        rec = self._members.get(s.node)
        verdict = decide_suspect(rec, incarnation=s.incarnation,
                                 is_self=s.node == self._self.name,
                                 restart_newer=self._cfg.restart_newer_suspicions)
        if verdict is SuspectVerdict.IGNORE:
            return
        assert rec is not None
        if verdict is SuspectVerdict.REFUTE:
            self._refute(s.incarnation, accuser=s.from_, now=now)
            return
        rec = self._members.writable(rec)
        if verdict is SuspectVerdict.CONFIRM:
            assert rec.suspicion is not None
            if rec.suspicion.confirm(s.from_, now):
                self._stats.confirmations += 1
                self._outbox.memberlist.push(codec.encode_message(s), s.node)
            return
        if verdict is SuspectVerdict.RESTART:
            self._clear_suspicion(rec)
            rec.refuted_at = now  # it did refute: it was alive, perhaps only slow
            self._stats.suspicion_restarts += 1
        rec.incarnation = s.incarnation
        self._set_state(rec, MemberState.SUSPECT, now)
        rec.suspicion = Suspicion.start(s.from_, now, n=self.cluster_size_estimate,
                                        config=self._cfg,
                                        floor=self._floor_allowed(rec, now))
        self._suspects[rec.name] = None
        self._outbox.memberlist.push(codec.encode_message(s), s.node)
        self._stats.suspicions += 1
        self._emit(MemberSuspected(rec.snapshot(), accuser=s.from_))
        if s.from_ != self._self.name and not self._leave.phase:
            self._prober.want_confirm_probe(rec, now)

    def _floor_allowed(self, rec: MemberRecord, now: float) -> bool:
        """claw-node: may this suspicion shrink below memberlist's minimum? Not when we
        may be starved ourselves (health score above 0) nor when the suspect recently
        proved it was only slow (``health_gated_floor``, ``slow_member_memory_s``)."""
        cfg = self._cfg
        if cfg.suspicion_floor_mult <= 0:
            return False  # no floor (memberlist): nothing to withhold
        if cfg.health_gated_floor and self._awareness.score > 0:
            self._stats.floors_withheld += 1
            return False
        if now - rec.refuted_at < cfg.slow_member_memory_s:
            self._stats.floors_withheld += 1
            return False
        return True

    def _on_dead_packet(self, d: Dead, addr: Address, now: float) -> None:
        self._on_dead(d, now)  # first, as for a suspect: a refutation makes it stale
        if (self._cfg.answer_stale_accusations and not self._leave.phase
                and d.from_ != d.node):  # (a node's own dead is its leave, not an accusation)
            self._stale_answers.on_accusation(d.node, d.incarnation, addr, now)

    def _on_dead(self, d: Dead, now: float) -> None:
        rec = self._members.get(d.node)
        is_self = d.node == self._self.name
        verdict = decide_dead(rec, incarnation=d.incarnation, from_=d.from_, is_self=is_self,
                              self_leaving=self._leave.phase is not LeavePhase.NONE)
        if verdict is DeadVerdict.IGNORE:
            return
        assert rec is not None
        if verdict is DeadVerdict.REFUTE:
            self._refute(d.incarnation, accuser=d.from_, now=now)
            return
        rec = self._members.writable(rec)
        self._outbox.memberlist.push(codec.encode_message(d), d.node)
        rec.incarnation = d.incarnation
        self._mark_down(rec, left=verdict is DeadVerdict.LEFT or rec.leaving, accuser=d.from_, now=now)

    def _mark_down(self, rec: MemberRecord, *, left: bool, accuser: str, now: float) -> None:
        self._clear_suspicion(rec)
        self._set_state(rec, MemberState.LEFT if left else MemberState.DEAD, now)
        if left:
            self._stats.leaves += 1
            self._emit(MemberLeft(rec.snapshot()))
        else:
            self._stats.deaths += 1
            self._emit(MemberFailed(rec.snapshot(), accuser=accuser))
        if rec.refused_claim is not None:
            # The name restarted elsewhere while this life still looked alive.
            claim = claim_to_replay(rec, now, self._cfg, self.cluster_size_estimate)
            if claim is not None:
                self._stats.claims_applied += 1
                self._on_alive(claim, now)

    def _clear_suspicion(self, rec: MemberRecord) -> None:
        rec.suspicion = None
        self._suspects.pop(rec.name, None)

    def _refute(self, accused_incarnation: int, *, accuser: str, now: float) -> None:
        inc = self._self.incarnation + 1
        if accused_incarnation >= inc:
            inc = accused_incarnation + 1
        self._bump_incarnation(inc)
        self._broadcast_self_alive()
        self._awareness.apply_delta(1)  # being accused hints that we are the slow one
        self._stats.refutes += 1
        self._emit(Refuted(incarnation=self._self.incarnation, accuser=accuser))

    def _joined(self, p: PendingStream, now: float) -> None:
        """A push-pull with a ``join()`` seed succeeded."""
        if self._join_intent_for == p.join_call and not self._leave.phase:
            # Serf announces a join intent once, after memberlist.Join succeeded.
            self._join_intent_for = None
            intent = serf_payload(self._serf.new_join_intent(self._self))
            self._outbox.serf.push(intent)
            self._gossiper.announce([self._self_alive(), intent], skip=p.address)
            self._catch_up.joined(now)

    # --- timers -------------------------------------------------------------------

    def _suspicion_deadline(self) -> float:
        t = math.inf
        for name in self._suspects:
            rec = self._members.get(name)
            if rec is not None and rec.suspicion is not None:
                t = min(t, rec.suspicion.deadline)
        return t

    def _expire_suspicions(self, now: float) -> None:
        for name in list(self._suspects):
            rec = self._members.get(name)
            if rec is None or rec.suspicion is None:
                self._suspects.pop(name, None)
            elif now >= rec.suspicion.deadline and not self._last_chance(rec, now):
                self._suspicion_expired(rec, now)

    def _last_chance(self, rec: MemberRecord, now: float) -> bool:
        """claw-node ``last_chance_probe``: put off a verdict due on weak evidence until
        one more probe of the suspect has ended; True if it was put off."""
        s = rec.suspicion
        if (not self._cfg.last_chance_probe or s is None or s.last_chance or not s.weak
                or self._leave.phase):
            return False
        s.last_chance = True
        s.deadline = self._prober.want_last_chance_probe(rec, now)
        return True

    def _suspicion_expired(self, rec: MemberRecord, now: float) -> None:
        dead = Dead(rec.incarnation, rec.name, self._self.name)
        self._outbox.memberlist.push(codec.encode_message(dead), rec.name)
        self._mark_down(rec, left=rec.leaving, accuser=self._self.name, now=now)

    # --- gossip, push-pull, leave -----------------------------------------------------

    def _send(self, address: Address, primary: bytes, dest: MemberRecord | None) -> None:
        """``primary`` plus piggybacked broadcasts (app ones only to a claw member)."""
        self._outbox.send(address, primary, to_claw=dest is not None and dest.is_claw)

    # --- plumbing ---------------------------------------------------------------------

    def _erase(self, rec: MemberRecord) -> None:
        """Drop a member from the table now (a pruning leave intent), as the reaper would."""
        self._members.remove(rec.name)
        self._suspects.pop(rec.name, None)
        if self._coordinates is not None:
            self._coordinates.forget(rec.name)  # Serf's eraseNode: it goes with the member
        self._stats.pruned += 1
        self._version += 1

    def _set_state(self, rec: MemberRecord, state: MemberState, now: float) -> None:
        self._members.set_state(rec, state, now)
        self._version += 1

    def _emit(self, event: Event) -> None:
        if len(self._events) >= MAX_EVENTS:
            self._events.popleft()
            self._stats.events_dropped += 1
        self._events.append(event)

    def _internal_error(self, exc: BaseException) -> None:
        """A bug surfaced at an input boundary: raise it (``strict``), or count it and
        keep it for the driver to log, so one bad input cannot stop the node."""
        if self._strict:
            raise exc
        self._stats.internal_errors += 1
        self.last_internal_error = repr(exc)
        self._errors_to_report.append(exc)




_PACKET_HANDLERS: dict[type, Callable[[SwimProtocol, Any, Address, float], None]] = {
    Alive: lambda core, msg, addr, now: core._on_alive(msg, now),
    Ping: lambda core, msg, addr, now: core._carry_out(core._prober.on_ping(msg, addr), now),
    Ack: lambda core, msg, addr, now: core._carry_out(
        core._prober.on_ack(msg.seq_no, now, msg.payload), now),
    Suspect: SwimProtocol._on_suspect_packet,
    Dead: SwimProtocol._on_dead_packet,
    IndirectPing: lambda core, msg, addr, now: core._carry_out(
        core._prober.on_indirect_ping(msg, addr, now), now),
    Nack: lambda core, msg, addr, now: core._prober.on_nack(msg.seq_no),
}
"""What a datagram's message does, by its type (user messages: ``receive_datagram``;
anything else: ``unknown_type``)."""
