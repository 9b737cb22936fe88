"""Gossip configuration: one frozen object, every knob with its unit and default.

The numbers of the three presets are memberlist's ``DefaultLANConfig``,
``DefaultWANConfig`` and ``DefaultLocalConfig`` (memberlist 0.2.2, ``config.go``),
except ``udp_buffer_bytes``: claw-node packs at most 1200 bytes per datagram
because Tailscale's interface MTU is 1280 and most users gossip over a tailnet.

Every claw-node departure from memberlist is a knob whose docstring says so
("claw-node: ..."); ``GossipConfig.memberlist()`` sets all of them back to memberlist's
values for its exact behaviour (``python -m simulations.bench.suspicion`` measures both).
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass

from .errors import ConfigError

__all__ = ["Compression", "GossipConfig", "PROFILES"]


class Compression(enum.Enum):
    """What is LZW-compressed on the way out (``GossipConfig.compression``)."""

    OFF = "off"
    STREAMS = "streams"
    """TCP streams, except the push-pull of a join."""
    ALL = "all"
    """Every TCP stream and every datagram that comes out smaller (memberlist)."""


@dataclass(frozen=True, slots=True)
class GossipConfig:
    """Every timing and sizing knob of the SWIM core. Times are seconds (float)."""

    bind_port: int = 7946
    """UDP and TCP port (same number for both). memberlist default 7946."""

    probe_interval_s: float = 1.0
    """Time between two failure-detection probes of this node (one target per round).
    Scaled by the awareness score: ``probe_interval_s × (score + 1)``. LAN 1 s."""

    probe_timeout_s: float = 0.5
    """How long to wait for a direct ack before asking ``indirect_checks`` others.
    Should be about the 99th percentile RTT. Not scaled by awareness. LAN 500 ms."""

    indirect_checks: int = 3
    """Members asked to probe a target on our behalf after a missed direct ack. LAN 3."""

    suspicion_mult: int = 4
    """Suspicion minimum = ``suspicion_mult × max(1, log10(n)) × probe_interval_s``
    (see ``suspicion.suspicion_bounds``). Higher: fewer false alarms, slower detection. LAN 4."""

    suspicion_max_mult: int = 6
    """Suspicion maximum = ``suspicion_max_mult × minimum``; the timer starts here and
    shrinks toward the minimum with independent confirmations (Lifeguard). LAN 6."""

    restart_newer_suspicions: bool = True
    """claw-node: a suspect message about a newer incarnation than the suspicion we hold
    (the suspect refuted, we missed its alive, and it is accused anew) restarts our
    suspicion timer. memberlist counts it as one more confirmation of the old timer,
    which under heavy loss declares live nodes dead. Default true; ``memberlist()``
    false."""

    confirm_probes: bool = True
    """claw-node: on first hearing someone else's suspicion of X, probe X next (out of
    round-robin order, at once if no probe is in flight but at most one probe start per
    ``probe_timeout_s``; once per suspicion), so independent confirmations, or the buddy
    warning that lets a live X refute, arrive within about one probe round instead of by
    round-robin chance. Default true; ``memberlist()`` false."""

    aligned_probe_order: bool = True
    """claw-node: probe members in one ring order shared by every member, at the place
    the shared clock's probe slot gives (``gossip.probe_ring``), so each member is
    probed by someone in every probe interval and a crash waits at most about two
    intervals for its first probe, instead of an exponential wait (p99 4.6 intervals)
    under independent shuffles. Same probes, same rate, nothing on the wire; needs
    clocks that agree to well under ``probe_interval_s`` and degrades to the shuffle's
    behaviour without. Default true; ``memberlist()`` false (randomized round-robin)."""

    suspicion_floor_mult: float = 4.0
    """claw-node: lowest suspicion timeout = ``suspicion_floor_mult × probe_interval_s``
    seconds (capped at memberlist's minimum), reached after ``2 × (suspicion_mult - 2)``
    independent confirmations (``suspicion.suspicion_timeout``). Unlike memberlist's
    minimum it does not grow with ``log10(n)``. It bounds the pause a live node survives
    once many peers confirm it (a longer SIGSTOP/GC freeze can be declared dead): lower is
    faster detection and less pause tolerance. 0: stop at memberlist's minimum (as
    ``memberlist()`` does). Presets: ``suspicion_mult`` (LAN 4, WAN 6, local 3)."""

    late_timer_s: float = 0.5
    """claw-node: a timer the driver hands over this many seconds (or more) after the
    deadline the core asked for raises our Lifeguard health score by 1, as a missed nack
    does: the process is starved (CPU, a paused VM), so our probes and verdicts deserve
    less trust. 0 disables it (``memberlist()``). A healthy asyncio loop is ~1 ms late.
    Default 0.5 s."""
    relay_nack_fraction: float = 0.8
    """claw-node: a node relaying an indirect probe nacks (if asked) after this fraction
    of ``probe_timeout_s`` without an ack, and still forwards an ack that comes later, up
    to ``probe_timeout_s``. memberlist nacks after the whole ``probe_timeout_s``; its
    requester sends the indirect pings ``probe_timeout_s`` into a round of
    ``probe_interval_s`` = 2 × ``probe_timeout_s`` (LAN), so those nacks arrive just after
    the round ended and count as missing: every failed probe then adds the number of
    helpers to the requester's health score, although its own network is fine. 0.8 is the
    Lifeguard paper's value (default); 1.0 (``memberlist()``) gives memberlist's."""
    health_gated_floor: bool = True
    """claw-node: go below memberlist's suspicion minimum (``suspicion_floor_mult``) only
    while our own Lifeguard health score is 0. A node whose own probes fail or come back
    late may be starved itself (a saturated host: every member slow at once), and then
    its confirmations are not independent evidence. Without a floor
    (``suspicion_floor_mult`` 0) it has nothing to gate. Default true: ``python -m simulations slow --nodes 50
    --slow-nodes 25 --lag-s 1.5`` declared slow-but-live nodes dead without it."""

    suspect_ack_grace: bool = True
    """claw-node: when a suspect acknowledges our probe (direct, indirect or TCP), our
    own timer for it is pushed to at least memberlist's minimum from that ack: it is
    alive as far as we can see, and its refutation may have been lost on its way to us.
    A crashed node never acks, so detection is unchanged. Under 30 % loss (20 agents in
    namespaces) single observers declared live agents dead whose refutations they missed
    (``python -m simulations.versus_serf --nodes 20 --loss 0.3``). Default true;
    ``memberlist()`` false."""

    last_chance_probe: bool = True
    """claw-node: when our suspicion of X ends on weak evidence (fewer than ``k``
    independent confirmations, so its timeout was above memberlist's minimum), probe X
    once more, with the suspect message in the ping, before declaring it dead; the
    verdict waits for that probe (at most two scaled probe intervals). If X acks, the
    ack (``suspect_ack_grace``) and its answer to the stale accusation
    (``answer_stale_accusations``) keep it alive. A crash is confirmed by many probers,
    reaches the floor and never waits for it. Under 30 % loss (simulator, N = 30) each
    remaining false death was one observer whose only confirmation was its own failed
    probe and that got none of the refutation's gossiped copies. Default true;
    ``memberlist()`` false."""

    answer_stale_accusations: bool = True
    """claw-node: a suspect or dead message about this node at an older incarnation than
    its own (the sender missed our refutation) is answered with our alive message, sent
    straight to the sender, at most once per second per address. memberlist ignores it,
    and the sender then declares us dead when its suspicion ends: under 30 % loss (20
    agents in namespaces) one observer missed a refutation that all 18 others got in
    0.4 s and declared a live agent dead 15 s later. An accusation at our current
    incarnation is stale once it made us refute, so its sender (often a buddy probe's)
    is answered too, not left to gossip (simulator, 30 % loss: one observer got none of
    the refutation's copies and declared us dead). Default true; ``memberlist()``
    false."""

    reaccuse_stale_alives: bool = True
    """claw-node: an alive message about a member we hold dead, from the address it died
    at, at an incarnation not above the one it died with (it was cut off and re-announces
    unaware of its death), is answered with its ``dead`` message, straight to it, at most
    once per ``probe_interval_s`` per member, so it refutes with a higher incarnation at
    once. memberlist ignores such an alive (old incarnation numbers carry no news) and
    the member learns of its death only from gossip or a push-pull. Default true;
    ``memberlist()`` false."""

    replay_refused_claims: bool = True
    """claw-node: an alive refused as a name conflict (another address claims a name whose
    life here still looks alive, e.g. a restart at a new address) is remembered on the
    record, one per member, and applied when that life is declared dead or left, at most
    twice the longest suspicion timeout later: nobody re-gossips a refused alive, so the
    new holder would otherwise wait for its next alive or a push-pull. memberlist forgets
    it (``aliveNode`` logs the conflict, tells the conflict delegate and returns). Default
    true; ``memberlist()`` false."""

    slow_member_memory_s: float = 60.0
    """claw-node: seconds after a member refuted a suspicion (it was alive, only slow)
    during which a new suspicion of it stops at memberlist's minimum instead of claw's
    floor. A crashed member never refutes, so its detection keeps the floor. 0: off.
    Without a floor (``suspicion_floor_mult`` 0) it has nothing to limit. Default 60 s."""

    retransmit_mult: int = 4
    """Each broadcast is sent ``retransmit_mult × ceil(log10(n + 1))`` times
    (``dissemination.retransmit_limit``). More: more reliable, more bandwidth. LAN 4."""

    app_retransmit_mult: int = 0
    """Retransmit multiplier of claw application messages (``broadcast_app`` and their
    relays) only; memberlist and Serf messages keep ``retransmit_mult``. App messages
    (resource heartbeats) are superseded by the next one and repaired by push-pull, so
    they need less redundancy. 0: same as ``retransmit_mult``. Presets: 0; the claw-node
    agent sets ``node.agent.APP_RETRANSMIT_MULT`` (3)."""

    app_gossip_rounds: bool = True
    """Whether queued claw application messages start a gossip round of their own.
    False: they only ride on packets sent anyway (probes, acks, membership gossip), so
    resource heartbeats add bytes but no packets, and spread within a few probe rounds
    (about 2 packets/s per node) instead of a few gossip intervals. Presets: true
    (memberlist sends every queued broadcast); the claw-node agent sets
    ``node.agent.APP_GOSSIP_ROUNDS`` (false)."""

    announce_fanout: int = 128
    """claw-node: a join (once the first push-pull with a seed succeeded) and a graceful
    leave are also sent straight to up to this many random live members, one datagram
    each, besides the epidemic: these rare events are then seen in one hop instead of
    a few gossip rounds, for ``announce_fanout`` datagrams per event. A leave sends the
    Serf intent this way, then the ``dead`` message one gossip interval later (Serf
    needs the intent first to count a leave, not a failure). 0: epidemic only
    (memberlist and Serf, ``memberlist()``). Default 128."""

    catch_up_burst: int = 8
    """claw-node: a member that hears of at least this many members it did not know,
    through gossip (not a push-pull) within ``catch_up_window_s``, and whose last
    push-pull is at least that old, push-pulls at once with one of them, then keeps
    push-pulling once per window while its view grows and stops after a window without
    news (a newcomer follows through the same way from its own join push-pull;
    ``gossip.catch_up``): a mass join then spreads by state transfer instead of waiting
    for the gossip backlog (N rumours × ``retransmit_limit`` sends per member) or the
    periodic push-pull. Standard push-pulls on the wire; a single join never reaches the
    burst, so a steady cluster sends none. While on, a member first learned from a
    push-pull is gossiped only ``retransmit_mult`` times, behind fresher news (its sender,
    and likely most members, know it). 0: off (memberlist, ``memberlist()``). Unit:
    members. Default 8: in the simulator's join through one seed over 10 s, one view
    2.3 s after the last start at 1,000 nodes and 3.6 s at 2,000, against memberlist's
    27.7 and 53.9 s (``simulations/RESULTS.md``, 7 Dec 2026)."""

    catch_up_window_s: float = 2.0
    """claw-node: the window of ``catch_up_burst``, and the least time between two
    catch-up push-pulls of one member (seconds; > 0 while the burst is on). Default 2 s."""

    gossip_nodes: int = 3
    """Random members each gossip round is sent to (only when there is something to say). LAN 3."""

    gossip_interval_s: float = 0.2
    """Time between gossip rounds. LAN 200 ms."""

    gossip_to_the_dead_s: float = 30.0
    """Dead members still receive gossip for this long, so they can learn of and refute
    their death; they also leave the probe list after it. LAN 30 s."""

    push_pull_interval_s: float = 30.0
    """Base interval of full-state anti-entropy over TCP, scaled with cluster size
    (``push_pull_scale``: ×1 up to 32 nodes, +1 per doubling beyond). 0 disables. LAN 30 s."""

    tcp_timeout_s: float = 10.0
    """Dial, read and write deadline of one TCP exchange (push-pull, user stream). LAN 10 s."""

    awareness_max_multiplier: int = 8
    """Local health score range is ``[0, awareness_max_multiplier - 1]``; probe interval
    and deadline are multiplied by ``score + 1``. LAN 8."""

    disable_tcp_pings: bool = False
    """Skip the TCP fallback probe that runs beside indirect probes. LAN false."""

    coordinates: bool = True
    """Serf's network coordinates (``gossip.coordinate_exchange``): our Vivaldi coordinate
    rides in every ack we send for a UDP ping, and each timely direct ack updates it and
    caches the peer's. Off: acks carry no payload and no coordinate is kept (Serf's
    ``DisableCoordinates``). Default true, as Serf. memberlist itself has no coordinates
    (Serf adds them through its ping delegate), but ``memberlist()`` keeps this knob as
    it is: it changes no failure-detection behaviour, only ~130 bytes per ack, and the
    Serf agents claw-node is compared and mixed with send them too."""

    udp_buffer_bytes: int = 1200
    """Largest datagram we pack (piggybacked broadcasts fill up to it). memberlist uses
    1400 (``memberlist()``); 1200 fits Tailscale's 1280-byte MTU with IP/UDP/WireGuard
    headroom. Default 1200."""

    max_udp_packet_bytes: int = 65536
    """Largest datagram accepted on receive; bigger ones are dropped and counted."""

    max_stream_bytes: int = 20 * 1024 * 1024
    """Largest TCP message (push-pull state) accepted. memberlist ``maxPushStateBytes`` 20 MiB."""

    max_push_pull_requests: int = 128
    """Concurrent inbound push-pull exchanges served; more are refused (memberlist 128)."""

    max_members: int = 100_000
    """Hard cap on the member table, so hostile input cannot grow memory without bound."""

    meta_max_bytes: int = 512
    """Node metadata limit (memberlist ``MetaMaxSize``)."""

    compression: Compression = Compression.STREAMS
    """What we LZW-compress on the way out (receivers always accept both forms):

    * ``OFF``: nothing.
    * ``STREAMS`` (claw-node's default): TCP streams except the push-pull of a join.
      Datagrams are not compressed: the datagrams of a converged cluster (probes, acks,
      heartbeats) never came out smaller, so every try was wasted CPU, and in a
      100-agent start on 2 cores the pure-Python LZW coding of full gossip packets was
      44% of an agent's CPU (py-spy); without it each agent used 0.37 instead of 1.11
      CPU-s until all saw all, and the start took 14 s instead of 59 s (``python -m
      simulations.bench.agent_start --agents 100``); the cost is bytes during bursts of
      changes: 470 instead of 396 B/s per node with 100 busy nodes, the same 203 B/s
      idle (``python -m simulations.bench.heartbeat --piggyback-only --compression``).
      Join push-pulls are not compressed: a seed codes its whole state once per joiner,
      and in a 100-agent start that was 59% of the seed's CPU (py-spy), which kept it
      from answering probes for seconds: 93 of the other agents declared the live seed
      failed (``python -m simulations.versus_serf --nodes 100``). The periodic
      push-pulls, the idle TCP traffic, stay compressed.
    * ``ALL`` (memberlist, ``memberlist()``): every stream, and each datagram when that
      makes it smaller.
    """

    dead_node_reclaim_s: float = 0.0
    """memberlist ``DeadNodeReclaimTime``: after this long (seconds) a dead node's name may
    be reclaimed by another address at any incarnation. 0: never by this rule (see
    ``accept_restart_elsewhere``). Default 0 (memberlist's)."""

    accept_restart_elsewhere: bool = True
    """claw-node: an alive message for a dead name from another address, at a higher
    incarnation than its death, is a restart there (a new DHCP lease, a moved container)
    and is accepted; at a lower one the sender is told it is dead, so it refutes higher.
    memberlist refuses both as a name conflict until ``dead_node_reclaim_s`` passed (with
    0, never), and the restarted node stays dead in its view. Default true;
    ``memberlist()`` false."""

    abandon_stalled_round_s: float = 2.0
    """claw-node: a probe round whose deadline we only get to handle this many seconds
    late (or more) is abandoned without accusing its target (``probes_abandoned``): this
    process was frozen (laptop sleep, SIGSTOP, a long GC pause), not the target.
    memberlist carries on with the round (indirect pings, then a suspicion). 0 disables
    it (``memberlist()``). Default 2 s."""

    leave_gossip_at_once: bool = True
    """claw-node: a graceful leave sends its first gossip round at once rather than at the
    next gossip tick, so the leave is seen sooner by half a gossip interval on average,
    at no extra cost. Serf waits for the tick. Default true; ``memberlist()`` false."""

    handoff_queue_depth: int = 1024
    """Per-tick cap of gossip messages processed from one burst (memberlist 1024)."""

    gossip_verify_incoming: bool = True
    """With keys installed, drop datagrams and refuse streams that are not encrypted
    with one of them (memberlist ``GossipVerifyIncoming``). Off: accept plaintext too,
    the first steps of moving a running cluster to encryption. No effect without keys.
    Default True."""

    gossip_verify_outgoing: bool = True
    """With keys installed, encrypt every datagram and stream we send (memberlist
    ``GossipVerifyOutgoing``). Off: send plaintext while already accepting encrypted
    messages, the first step of a migration. No effect without keys. Default True."""

    def validate(self) -> GossipConfig:
        """Check ranges; return self. Raises ConfigError naming the field."""
        positives = (
            "probe_interval_s", "probe_timeout_s", "gossip_interval_s", "tcp_timeout_s",
        )
        for name in positives:
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.probe_timeout_s > self.probe_interval_s:
            raise ConfigError("probe_timeout_s must not exceed probe_interval_s")
        for name in ("indirect_checks", "announce_fanout", "catch_up_burst", "catch_up_window_s",
                     "gossip_to_the_dead_s", "push_pull_interval_s",
                     "dead_node_reclaim_s", "suspicion_floor_mult", "slow_member_memory_s",
                     "abandon_stalled_round_s"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.catch_up_burst > 0 and not self.catch_up_window_s > 0:
            # The follow-through push-pulls are one window apart: 0 would be a busy loop.
            raise ConfigError("catch_up_window_s must be > 0 while catch_up_burst is on")
        for name in ("suspicion_mult", "suspicion_max_mult", "retransmit_mult",
                     "gossip_nodes", "awareness_max_multiplier"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.late_timer_s < 0:
            raise ConfigError(f"late_timer_s must be >= 0, got {self.late_timer_s!r}")
        if not 0 < self.relay_nack_fraction <= 1:
            raise ConfigError(f"relay_nack_fraction must be in (0, 1], got {self.relay_nack_fraction!r}")
        if self.app_retransmit_mult < 0:
            raise ConfigError(f"app_retransmit_mult must be >= 0, got {self.app_retransmit_mult!r}")
        if not 0 <= self.bind_port <= 65535:
            raise ConfigError(f"bind_port must be in 0..65535, got {self.bind_port}")
        if not 256 <= self.udp_buffer_bytes <= 65000:
            raise ConfigError("udp_buffer_bytes must be in 256..65000")
        if not isinstance(self.compression, Compression):
            raise ConfigError(f"compression must be a Compression, got {self.compression!r}")
        return self

    def replace(self, **changes: object) -> GossipConfig:
        """A copy with some fields changed, validated."""
        return dataclasses.replace(self, **changes).validate()  # type: ignore[arg-type]

    def memberlist(self) -> GossipConfig:
        """A copy with every claw-node departure set back to memberlist's value (Serf's
        for ``announce_fanout``): memberlist 0.2.2's exact failure detector, packing and
        compression, on the same timings. What ``simulations.bench.suspicion`` compares
        claw-node against. Knobs of claw's application messages (``app_*``) have no
        memberlist counterpart and are kept, as is ``coordinates`` (Serf's, see there)."""
        return self.replace(
            restart_newer_suspicions=False,
            confirm_probes=False,
            aligned_probe_order=False,
            suspicion_floor_mult=0.0,
            late_timer_s=0.0,
            relay_nack_fraction=1.0,
            suspect_ack_grace=False,
            answer_stale_accusations=False,
            last_chance_probe=False,
            reaccuse_stale_alives=False,
            replay_refused_claims=False,
            accept_restart_elsewhere=False,
            abandon_stalled_round_s=0.0,
            leave_gossip_at_once=False,
            announce_fanout=0,
            catch_up_burst=0,
            compression=Compression.ALL,
            udp_buffer_bytes=1400,
        )

    @classmethod
    def lan(cls) -> GossipConfig:
        """memberlist DefaultLANConfig: what Serf uses by default."""
        return cls()

    @classmethod
    def wan(cls) -> GossipConfig:
        """memberlist DefaultWANConfig, as a delta from LAN."""
        return cls().replace(
            tcp_timeout_s=30.0,
            suspicion_mult=6,
            suspicion_floor_mult=6.0,
            push_pull_interval_s=60.0,
            probe_timeout_s=3.0,
            probe_interval_s=5.0,
            gossip_nodes=4,
            gossip_interval_s=0.5,
            gossip_to_the_dead_s=60.0,
        )

    @classmethod
    def local(cls) -> GossipConfig:
        """memberlist DefaultLocalConfig (loopback / one host), as a delta from LAN."""
        return cls().replace(
            tcp_timeout_s=1.0,
            indirect_checks=1,
            retransmit_mult=2,
            suspicion_mult=3,
            suspicion_floor_mult=3.0,
            push_pull_interval_s=15.0,
            probe_timeout_s=0.2,
            probe_interval_s=1.0,
            gossip_interval_s=0.1,
            gossip_to_the_dead_s=15.0,
        )

    @classmethod
    def profile(cls, name: str) -> GossipConfig:
        """The preset called ``name`` (lan, wan or local). Raises ConfigError."""
        try:
            return PROFILES[name]()
        except KeyError:
            raise ConfigError(f"unknown profile {name!r}; expected one of lan, wan, local") from None


PROFILES = {"lan": GossipConfig.lan, "wan": GossipConfig.wan, "local": GossipConfig.local}


# --- the claw-node agent's delta ------------------------------------------------------------

AGENT_APP_RETRANSMIT_MULT = 3
"""Retransmit multiplier the claw-node agent gives its app messages (``app_retransmit_mult``;
the profile's ``retransmit_mult`` if lower; memberlist's LAN value is 4). A heartbeat is
superseded by the next one and repaired by push-pull, so it needs less redundancy than a
membership change. Each node relays a message L = mult × ceil(log10(n+1)) times, so a
receiver misses it with probability about e^-L. ``simulations/bench/heartbeat.py
--app-mult 2|3|4`` at 100 nodes (busy trace, compression off) showed 0.3 % of receivers
late (until the node's next heartbeat or a push-pull) with 2, about 0.02 % with 3, none
with 4, for +459 / +587 / +696 B/s and +5.6 / +7.5 / +9.0 packets/s per node."""

AGENT_APP_GOSSIP_ROUNDS = False
"""Whether the agent's app messages (heartbeats, registry records) start gossip rounds of
their own (``app_gossip_rounds``). False: they cost bytes but no packets (idle UDP
packets/s equal to Serf's; busy N=30 simulator 2.00 vs 4.06 packets/s per node) and a
load change reaches a receiver in median 2.0 s instead of 0.23 s
(``simulations/bench/heartbeat.py [--piggyback-only]``); push-pull repairs what is lost.
Directives do not travel by gossip: the coordinator sends them over the cluster request
channel and the target acknowledges them (``node.cluster_channel``)."""


def agent_profile(base: GossipConfig) -> GossipConfig:
    """The claw-node agent's tuning as a delta over any preset (``lan``, ``wan``, ``local``):
    only its application messages change (``AGENT_APP_RETRANSMIT_MULT``, capped at the
    preset's ``retransmit_mult``, and ``AGENT_APP_GOSSIP_ROUNDS``); memberlist's and
    Serf's messages keep the preset's values."""
    return base.replace(
        app_retransmit_mult=min(AGENT_APP_RETRANSMIT_MULT, base.retransmit_mult),
        app_gossip_rounds=AGENT_APP_GOSSIP_ROUNDS)
