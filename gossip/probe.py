"""Failure detection by probing (memberlist ``state.go`` ``probe``/``probeNode``).

* ``Prober``: the probe schedule, the probe round in flight (direct ping, then indirect
  pings and a TCP ping), claw-node's confirmation probes, the indirect pings we relay for
  others, and the pings we answer. It returns what to do (``ProbeAction``: datagrams to
  send, a TCP ping to open, an accusation to make) and ``SwimProtocol`` carries it out
  in order.
* ``ProbeList``: randomized round-robin over members — every member is probed once per
  pass, in an order reshuffled at each wrap (rng injected).
* ``ProbeRound``: the one probe in flight, with its absolute deadlines: direct ack by
  ``ack_deadline`` (``probe_timeout_s``), then indirect pings and a TCP ping, and any
  ack by ``deadline`` (the awareness-scaled probe interval).
* ``Relay``: an indirect ping we perform on behalf of another member.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from random import Random
from typing import NamedTuple

from . import codec
from .addresses import bytes_to_ip
from .awareness import Awareness
from .config import GossipConfig
from .coordinate_exchange import CoordinateExchange
from .errors import MalformedPacket
from .histogram import PROBE_RTT_BUCKETS_S, Histogram
from .membership import MemberRecord, Membership, SharedTable
from .messages import Ack, IndirectPing, Nack, Ping, Suspect
from .probe_ring import ProbeRing
from .stats import CoreStats
from .types import Address, MemberState

__all__ = [
    "MAX_CONFIRM_QUEUE", "MAX_RELAYS", "SEQ_MODULUS", "Accuse", "OpenTcpPing",
    "ProbeAction", "ProbeList", "ProbeRound", "Prober", "Relay", "Send", "SendAlone",
]

MAX_RELAYS = 1024
"""Indirect pings served at once; more are refused so a flood cannot grow memory.
memberlist has no cap (one goroutine each); 1024 is far above 3 per member per second."""

SEQ_MODULUS = 1 << 32
"""Sequence numbers are Go ``uint32`` and wrap."""

MAX_CONFIRM_QUEUE = 16
"""Suspects waiting for our confirmation probe; more are not probed out of turn (they
still get their round-robin probe). Bounds memory under a flood of suspicions."""


class ProbeList:
    """Shuffled round-robin of member names.

    ``from_shared`` starts one over a name list shared by many lists (the simulator's
    converged start) without copying it: the pass order is drawn lazily, one
    Fisher-Yates step per probe, so each list costs memory only for the names it has
    probed. Any other change (``add``) or the end of the pass turns it into an
    ordinary list.
    """

    def __init__(self, rng: Random) -> None:
        self._rng = rng
        self._names: list[str] = []
        self._present: set[str] = set()
        self._index = 0
        self._shared: list[str] | None = None
        """Lazy mode: the shared names, in the order position ``i`` holds unless
        ``_moved`` says otherwise; never mutated."""
        self._moved: dict[int, str] = {}
        """Lazy mode: positions whose name a Fisher-Yates swap changed."""

    @classmethod
    def from_shared(cls, rng: Random, names: list[str]) -> ProbeList:
        """A list holding ``names`` (not copied, not mutated) in an order drawn lazily."""
        probe_list = cls(rng)
        probe_list._shared = names
        return probe_list

    def __len__(self) -> int:
        return len(self._shared) if self._shared is not None else len(self._names)

    def _draw_lazy(self) -> str:
        """Fisher-Yates step at ``_index``: swap in a uniformly drawn later name."""
        shared, moved, i = self._shared, self._moved, self._index
        assert shared is not None
        j = i + self._rng.randrange(len(shared) - i)
        picked = moved.pop(j, None) or shared[j]
        if j != i:
            displaced: str | None = moved.pop(i, None)
            moved[j] = displaced or shared[i]
        else:
            moved.pop(i, None)
        self._index = i + 1
        return picked

    def _materialize(self) -> None:
        """Leave lazy mode: finish this pass's shuffle of the remaining names."""
        shared = self._shared
        if shared is None:
            return
        start = self._index
        rest = [self._moved.get(k) or shared[k] for k in range(start, len(shared))]
        self._rng.shuffle(rest)
        self._names = [""] * start + rest  # positions already passed are not read again
        self._present = set(shared)
        self._shared = None
        self._moved = {}

    def add(self, name: str) -> None:
        """Insert a new member at a random position (memberlist does the same)."""
        self._materialize()
        if name in self._present:
            return
        self._present.add(name)
        self._names.append(name)
        j = self._rng.randrange(len(self._names))
        self._names[j], self._names[-1] = self._names[-1], self._names[j]

    def next(self, eligible: Callable[[str], bool], refill: Callable[[], Iterable[str]]) -> str | None:
        """The next eligible name; reshuffles ``refill()`` at each wrap. None if none.

        At most two passes over the list, so an all-ineligible list costs O(n).
        """
        while self._shared is not None and self._index < len(self._shared):
            name = self._draw_lazy()
            if eligible(name):
                return name
        if self._shared is not None:  # the lazy pass is over: continue as a plain list
            self._names, self._present, self._shared = [], set(), None
            self._index = 0
        wraps = 0
        while True:
            if self._index >= len(self._names):
                if wraps >= 1:
                    return None
                wraps += 1
                self._names = list(dict.fromkeys(refill()))
                self._present = set(self._names)
                self._rng.shuffle(self._names)
                self._index = 0
                if not self._names:
                    return None
            name = self._names[self._index]
            self._index += 1
            if eligible(name):
                return name


@dataclass(slots=True)
class ProbeRound:
    """The probe in flight (memberlist probes one member at a time)."""

    target: str
    address: Address
    seq: int
    start: float
    ack_deadline: float
    """Direct ack expected by then; afterwards indirect pings and the TCP ping go out."""
    deadline: float
    """End of the round: no ack by then means the target becomes suspect."""
    indirect_sent: bool = False
    expected_nacks: int = 0
    nacks: int = 0
    confirm: bool = False
    """claw-node confirmation probe of a member someone else suspects: its failure does
    not count against our local health (``Prober._round_failed``)."""


@dataclass(slots=True)
class Relay:
    """An indirect ping we relay: our own ping's seq maps to the requester's."""

    requester: Address
    requester_seq: int
    requester_name: str
    want_nack: bool
    deadline: float
    """After ``probe_timeout_s`` without ack: forget (and nack, if not done yet)."""
    nack_at: float = math.inf
    """When to nack if asked and still no ack (``GossipConfig.relay_nack_fraction``)."""


# --- what the prober asks the core to do --------------------------------------------


class Send(NamedTuple):
    """Send ``message`` to ``address`` with piggybacked gossip (memberlist ``sendMsg``);
    ``to`` is the member there, if known (claw members also get app messages)."""

    address: Address
    message: bytes
    to: MemberRecord | None


class SendAlone(NamedTuple):
    """Send ``data`` as it is (nothing piggybacked), with a CRC if ``crc``."""

    address: Address
    data: bytes
    crc: bool


class OpenTcpPing(NamedTuple):
    """Open the TCP fallback ping of round ``ping.seq_no`` (answered: ``tcp_ping_acked``)."""

    address: Address
    ping: Ping
    deadline: float


class Accuse(NamedTuple):
    """The verdict of a failed round: suspect ``name`` at ``incarnation``."""

    name: str
    incarnation: int


ProbeAction = Send | SendAlone | OpenTcpPing | Accuse


class Prober:
    """One node's probing: whom to probe when, and what each ack, nack and timeout means.

    Owns the probe schedule (``next_probe``), the round in flight (``round``), the
    confirmation-probe queue (``confirm_queue``) and the relays. Reads the member table
    and Lifeguard's local health (``awareness``), which it raises on failed rounds and
    lowers on acks. Every method that decides something returns the ``ProbeAction``s to
    carry out, in order.
    """

    def __init__(self, config: GossipConfig, rng: Random, members: Membership,
                 me: MemberRecord, ip_bytes: bytes, awareness: Awareness,
                 stats: CoreStats, now: float,
                 coordinates: CoordinateExchange | None = None,
                 clock_offset_s: float = 0.0) -> None:
        self._cfg = config
        self._coordinates = coordinates
        """Serf's ping delegate (``GossipConfig.coordinates``): our coordinate in every
        ack we send for a UDP ping, the peer's taken from each timely direct ack."""
        self._rng = rng
        self._members = members
        self._me = me
        self._ip_bytes = ip_bytes
        self._awareness = awareness
        self._stats = stats
        self._probe_list = ProbeList(rng)
        self._ring = (ProbeRing(me.name, config.probe_interval_s, clock_offset_s)
                      if config.aligned_probe_order else None)
        """``aligned_probe_order``: the shared ring replaces the shuffled list."""
        self.round: ProbeRound | None = None
        self.confirm_queue: list[str] = []
        """claw-node: suspects to probe next, out of round-robin order (``confirm_probes``)."""
        self._last_probe_start = -math.inf
        self.confirm_at = math.inf
        """When a queued confirmation probe may start out of turn (inf: none pending)."""
        self._relays: dict[int, Relay] = {}
        self.rtt = Histogram(PROBE_RTT_BUCKETS_S)
        """Round trips of probes acked directly (core time, seconds; no per-peer split)."""
        self._seq = rng.randrange(SEQ_MODULUS)
        # Random initial stagger, as memberlist does, so restarted clusters spread out.
        self.next_probe = now + rng.uniform(0, config.probe_interval_s)
        self._interval = config.probe_interval_s
        """The interval of the round ``tick`` is about to start (scaled at the tick)."""

    # --- membership ---------------------------------------------------------------

    def add(self, name: str) -> None:
        """A member joined (or came back): probe it in this pass, at a random position
        (or, aligned, at its place on the ring)."""
        if self._ring is not None:
            self._ring.add(name)
        else:
            self._probe_list.add(name)

    def adopt(self, members: Membership, table: SharedTable) -> None:
        """A converged start: probe the members of ``table`` (shared, not copied)."""
        self._members = members
        if self._ring is not None:
            self._ring.use_shared(table.ring(), members)
        else:
            self._probe_list = ProbeList.from_shared(self._rng, table.names)

    def abandon(self) -> bool:
        """Drop the round in flight without a verdict; True if there was one."""
        had_round, self.round = self.round is not None, None
        return had_round

    # --- deadlines ------------------------------------------------------------------

    def round_deadline(self) -> float:
        r = self.round
        if r is None:
            return math.inf
        return r.deadline if r.indirect_sent else r.ack_deadline

    def relay_deadline(self) -> float:
        if not self._relays:  # the common case, without building a generator
            return math.inf
        return min((min(relay.deadline, relay.nack_at) for relay in self._relays.values()),
                   default=math.inf)

    # --- timers ---------------------------------------------------------------------

    def tick(self, now: float) -> list[ProbeAction]:
        """The regular probe tick, first half: schedule the next tick and give the
        verdict of a round still unanswered. Then the core applies that verdict and
        calls ``start_round``, which must see it (the next target may be the accused)."""
        self._interval = self._awareness.scale(self._cfg.probe_interval_s)
        self.next_probe = now + self._interval
        if self.round is not None:
            return self._round_failed(self.round, now)
        return []

    def start_round(self, now: float) -> list[ProbeAction]:
        """The regular probe tick, second half: probe a queued suspect, or the next member."""
        name = self._next_confirm_target()
        if name is not None:
            return self._begin_round(name, now, self._interval, confirm=True)
        if self._ring is not None:
            name = self._ring.next(now, self._members, self._eligible)
        else:
            name = self._probe_list.next(self._eligible, self._refill)
        if name is not None:
            return self._begin_round(name, now, self._interval)
        return []

    def start_confirm_probe(self, now: float) -> list[ProbeAction]:
        """Out of turn: probe the first queued suspect now, unless a round is in flight
        (then the next regular tick takes it). The probe replaces the next regular one,
        and the schedule keeps its phase: if every node restarted its schedule from the
        moment it heard a suspicion, all probers would tick in lock-step afterwards, and a
        crash would wait e/(e-1) rounds instead of one for its first probe (measured)."""
        self.confirm_at = math.inf
        if self.round is not None:
            return []
        name = self._next_confirm_target()
        if name is None:
            return []
        interval = self._awareness.scale(self._cfg.probe_interval_s)
        actions = self._begin_round(name, now, interval, confirm=True)
        self.next_probe += interval  # > now + interval: this round ends before it
        return actions

    def run_round(self, now: float) -> list[ProbeAction]:
        """The round's deadlines: indirect pings after ``ack_deadline``, the verdict after
        ``deadline``; a round we come back to long after its end is abandoned."""
        r = self.round
        actions: list[ProbeAction] = []
        stall_s = self._cfg.abandon_stalled_round_s
        if r is not None and stall_s > 0 and now > r.deadline + stall_s:
            self.round = r = None  # we were frozen, not the target: no accusation
            self._stats.probes_abandoned += 1
        if r is not None and not r.indirect_sent and now >= r.ack_deadline:
            actions += self._probe_indirect(r)
        if r is not None and now >= r.deadline and self.round is r:
            actions += self._round_failed(r, now)
        return actions

    def run_relays(self, now: float) -> list[ProbeAction]:
        """Nack relays still unanswered (once, if asked) and forget expired ones."""
        actions: list[ProbeAction] = []
        for seq in [s for s, rl in self._relays.items()
                    if now >= rl.deadline or now >= rl.nack_at]:
            relay = self._relays[seq]
            if now >= relay.nack_at:
                relay.nack_at = math.inf  # once
                actions.append(Send(relay.requester,
                                    codec.encode_message(Nack(relay.requester_seq)),
                                    self._members.get(relay.requester_name)))
            if now >= relay.deadline:
                del self._relays[seq]
        return actions

    # --- messages -------------------------------------------------------------------

    def on_ping(self, ping: Ping, addr: Address) -> list[ProbeAction]:
        """Answer a ping meant for us with an ack."""
        if ping.node and ping.node != self._me.name:
            self._stats.pings_wrong_node += 1  # meant for whoever had our address before
            return []
        dest = self._reply_address(ping.source_addr, ping.source_port, addr)
        # memberlist's handlePing: the delegate's payload in every ack for a UDP ping,
        # whether the pinger probes us itself or on someone's behalf.
        payload = self._coordinates.ack_payload() if self._coordinates is not None else None
        return [Send(dest, codec.encode_message(Ack(ping.seq_no, payload)),
                     self._members.get(ping.source_node) if ping.source_node else None)]

    def on_indirect_ping(self, req: IndirectPing, addr: Address, now: float) -> list[ProbeAction]:
        """Probe ``req.node`` on the requester's behalf (a relay)."""
        try:
            target = (bytes_to_ip(req.target), req.port)
        except MalformedPacket:
            self._stats.malformed += 1
            return []
        if len(self._relays) >= MAX_RELAYS:
            self._stats.relays_refused += 1
            return []
        seq = self._next_seq()
        self._relays[seq] = Relay(
            requester=self._reply_address(req.source_addr, req.source_port, addr),
            requester_seq=req.seq_no, requester_name=req.source_node, want_nack=req.nack,
            deadline=now + self._cfg.probe_timeout_s,
            nack_at=math.inf if not req.nack
            else now + self._cfg.probe_timeout_s * self._cfg.relay_nack_fraction,
        )
        self._stats.relays += 1
        ping = Ping(seq, req.node, self._ip_bytes, self._me.port, self._me.name)
        return [Send(target, codec.encode_message(ping), self._members.get(req.node))]

    def on_ack(self, seq: int, now: float, payload: bytes | None = None) -> list[ProbeAction]:
        """An ack (received at ``now``): ends our round, or is forwarded to the member we
        relay for."""
        self._stats.acks_in += 1
        r = self.round
        if r is not None and seq == r.seq:
            if not r.indirect_sent:  # a direct answer: the round trip to the target
                self.rtt.observe(now - r.start)
                if now <= r.ack_deadline:
                    self._direct_ack(r, now, payload)
            self._round_succeeded(now)
            return []
        relay = self._relays.pop(seq, None)
        if relay is not None:
            # Relayed acks carry the requester's SeqNo and no payload (memberlist does so).
            return [Send(relay.requester, codec.encode_message(Ack(relay.requester_seq, None)),
                         self._members.get(relay.requester_name))]
        self._stats.unexpected_acks += 1  # late, duplicate, or for a finished round
        return []

    def on_nack(self, seq: int) -> None:
        """A helper could not reach our target: its network, not ours, is fine."""
        self._stats.nacks_in += 1
        r = self.round
        if r is not None and seq == r.seq:
            r.nacks += 1

    def tcp_ping_acked(self, seq: int, now: float) -> None:
        """The TCP fallback ping of round ``seq`` was acked."""
        r = self.round
        if r is not None and seq == r.seq:
            self._round_succeeded(now)

    def want_confirm_probe(self, rec: MemberRecord, now: float) -> None:
        """claw-node ``confirm_probes``: someone else suspects ``rec``; probe it next.

        Once per suspicion. If no probe is in flight the probe starts now, but never
        sooner than ``probe_timeout_s`` after the previous one (rate limit), in place of
        the next regular probe (``start_confirm_probe``), so probing stays at one per
        interval.
        """
        cfg = self._cfg
        s = rec.suspicion
        if not cfg.confirm_probes or s is None or s.confirm_probed or s.saturated:
            return
        if len(self.confirm_queue) >= MAX_CONFIRM_QUEUE:
            return
        s.confirm_probed = True
        self._queue_out_of_turn(rec.name, now)

    def want_last_chance_probe(self, rec: MemberRecord, now: float) -> float:
        """claw-node ``last_chance_probe``: our verdict on ``rec`` is due on weak
        evidence; probe it out of turn, as a confirmation probe. Returns the time by
        which that probe has ended: the next tick at the latest, plus one round."""
        r = self.round
        if r is not None and r.target == rec.name:
            self._stats.last_chance_probes += 1
            return r.deadline  # we are probing it already: that round is the last chance
        if rec.name not in self.confirm_queue and len(self.confirm_queue) < MAX_CONFIRM_QUEUE:
            self._queue_out_of_turn(rec.name, now)
        self._stats.last_chance_probes += 1
        return max(now, self.next_probe) + self._awareness.scale(self._cfg.probe_interval_s)

    def _queue_out_of_turn(self, name: str, now: float) -> None:
        """Probe ``name`` at the next tick, or at once if no round is in flight (but no
        sooner than ``probe_timeout_s`` after the previous probe start)."""
        self.confirm_queue.append(name)
        if self.round is None:
            self.confirm_at = min(self.confirm_at,
                                  max(now, self._last_probe_start + self._cfg.probe_timeout_s))

    # --- rounds ---------------------------------------------------------------------

    def _eligible(self, name: str) -> bool:
        rec = self._members.get(name)
        return (rec is not None and rec is not self._me
                and rec.state in (MemberState.ALIVE, MemberState.SUSPECT))

    def _refill(self) -> list[str]:
        return [r.name for r in self._members
                if r is not self._me and r.state in (MemberState.ALIVE, MemberState.SUSPECT)]

    def _next_confirm_target(self) -> str | None:
        """The first queued suspect still worth a confirmation probe, or None."""
        while self.confirm_queue:
            name = self.confirm_queue.pop(0)
            rec = self._members.get(name)
            if (rec is not None and rec.state == MemberState.SUSPECT
                    and rec.suspicion is not None and not rec.suspicion.saturated):
                self._stats.confirm_probes += 1
                return name
        return None

    def _begin_round(self, name: str, now: float, interval: float, *,
                     confirm: bool = False) -> list[ProbeAction]:
        self._last_probe_start = now
        rec = self._members.get(name)
        assert rec is not None
        seq = self._next_seq()
        self.round = ProbeRound(target=name, address=rec.address, seq=seq, start=now,
                                ack_deadline=now + self._cfg.probe_timeout_s,
                                deadline=now + interval, confirm=confirm)
        self._stats.probes += 1
        ping = Ping(seq, name, self._ip_bytes, self._me.port, self._me.name)
        if rec.state == MemberState.ALIVE:
            return [Send(rec.address, codec.encode_message(ping), rec)]
        # Buddy system: tell a suspect it is suspected inside the probe itself.
        suspect = Suspect(rec.incarnation, name, self._me.name)
        buf = codec.encode_compound([codec.encode_message(ping), codec.encode_message(suspect)])
        return [SendAlone(rec.address, buf, rec.pmax >= 5)]

    def _probe_indirect(self, r: ProbeRound) -> list[ProbeAction]:
        r.indirect_sent = True
        target = self._members.get(r.target)
        if target is None:
            return []
        actions: list[ProbeAction] = []
        peers = self._members.alive_except(self._me, target)
        chosen = self._rng.sample(peers, min(self._cfg.indirect_checks, len(peers)))
        for peer in chosen:
            want_nack = peer.pmax >= 4
            r.expected_nacks += want_nack
            req = IndirectPing(r.seq, target.ip_bytes, target.port, target.name, want_nack,
                               self._ip_bytes, self._me.port, self._me.name)
            actions.append(Send(peer.address, codec.encode_message(req), peer))
            self._stats.indirect_probes += 1
        if not self._cfg.disable_tcp_pings and target.pmax >= 3:
            ping = Ping(r.seq, target.name, self._ip_bytes, self._me.port, self._me.name)
            actions.append(OpenTcpPing(target.address, ping, r.deadline))
        return actions

    def _direct_ack(self, r: ProbeRound, now: float, payload: bytes | None) -> None:
        """memberlist's ``NotifyPingComplete``: only for the direct ack within
        ``probe_timeout_s``. A late, relayed or TCP ack says nothing about the RTT of
        the direct path, so it updates no coordinate."""
        exchange = self._coordinates
        if exchange is None:
            return
        malformed, rejected = exchange.malformed, exchange.rejected
        exchange.ping_complete(r.target, now - r.start, payload)
        self._stats.coordinates_malformed += exchange.malformed - malformed
        self._stats.coordinates_rejected += exchange.rejected - rejected

    def _round_succeeded(self, now: float) -> None:
        r = self.round
        self.round = None
        self._awareness.apply_delta(-1)
        if r is not None and self._cfg.suspect_ack_grace:
            rec = self._members.get(r.target)
            if rec is not None and rec.state == MemberState.SUSPECT and rec.suspicion is not None:
                # It answered us: alive as far as we can see, its refutation perhaps
                # lost on the way. Our verdict waits memberlist's minimum from now.
                rec = self._members.writable(rec)
                assert rec.suspicion is not None
                rec.suspicion.answered(now)
                self._stats.suspect_acks += 1
        if r is not None and not r.confirm:
            # memberlist's rate: the health score lengthens a round that fails (more
            # time for indirect acks and nacks), not the wait after one that succeeded.
            self.next_probe = min(self.next_probe, r.start + self._cfg.probe_interval_s)

    def _round_failed(self, r: ProbeRound, now: float) -> list[ProbeAction]:
        self.round = None
        rec = self._members.get(r.target)
        if r.confirm and rec is not None and rec.state == MemberState.SUSPECT:
            # claw-node: a failed confirmation probe agrees with the independent accuser,
            # so it says nothing about *our* health. (Relayed nacks come ~probe_timeout
            # after the indirect pings, mostly after the round ends, so this would add
            # up to indirect_checks: after each crash every confirming node would slow
            # its probing down to a quarter, and the next crash would be found later.)
            pass
        elif r.expected_nacks > 0:
            # Missing nacks mean *our* network is suspect, not just the target.
            self._awareness.apply_delta(max(0, r.expected_nacks - r.nacks))
        else:
            self._awareness.apply_delta(1)
        self._stats.probe_failures += 1
        if rec is None or rec.state not in (MemberState.ALIVE, MemberState.SUSPECT):
            return []
        if rec.address != r.address:
            return []  # it restarted elsewhere while we probed the old address: not this life
        return [Accuse(rec.name, rec.incarnation)]

    def _reply_address(self, source_addr: bytes | None, source_port: int,
                       fallback: Address) -> Address:
        if source_addr and source_port:
            try:
                return (bytes_to_ip(source_addr), source_port)
            except MalformedPacket:
                self._stats.malformed += 1
        return fallback

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) % SEQ_MODULUS
        return self._seq
