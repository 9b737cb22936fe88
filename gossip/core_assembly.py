"""``CoreAssembly``: how ``SwimProtocol`` is put together from its sub-systems.

A base class of ``gossip.protocol.SwimProtocol``. ``_assemble`` builds, in one fixed
order (the order of the random draws a trace hash depends on), the member table,
Lifeguard's awareness, the counters, wire encryption, the outbox, the Serf layer, the
optional coordinate exchange, the prober, the gossiper, the leave phases, query routing,
user events and messages, the stream exchanges and the stale-accusation answers, and
hands each the core's callbacks it may call back with. The small adapters those
sub-systems are given (the cluster size, the records a push-pull carries, what the leave
asks of the table) live here too. The state changes themselves (``_on_alive``,
``_on_suspect``, ``_on_dead``, ``_set_state``, ``_erase``, ``_emit``) stay with
``SwimProtocol``; they are declared here for the type checker.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from random import Random

from .app_relay import AppVersionOf
from .awareness import Awareness
from .catch_up import CatchUp
from .config import GossipConfig
from .coordinate import CoordinateClient
from .coordinate_exchange import CoordinateExchange
from .core_views import CoreViews
from .decode_cache import DecodeCache
from .events import Event
from .gossiper import Gossiper
from .keyring import Keyring
from .leave import Leave
from .membership import MemberRecord, Membership
from .messages import Alive, Dead, Suspect
from .outbox import Outbox
from .probe import Prober
from .push_pull import Exchanges, PendingStream
from .query_router import QueryRouter
from .serf_layer import SerfLayer
from .stale_accusations import StaleAccusationAnswers
from .stats import CoreStats
from .types import MemberState
from .user_events import UserEvents
from .user_messages import UserMessages
from .wire_encryption import WireEncryption

__all__ = ["CoreAssembly"]


class CoreAssembly(CoreViews):
    """Builds the core's sub-systems and wires them to its callbacks (``_assemble``)."""

    _on_alive: Callable[[Alive, float], None]
    _on_suspect: Callable[[Suspect, float], None]
    _on_dead: Callable[[Dead, float], None]
    _joined: Callable[[PendingStream, float], None]
    _emit: Callable[[Event], None]
    _set_state: Callable[[MemberRecord, MemberState, float], None]
    _erase: Callable[[MemberRecord], None]
    _self_alive: Callable[[], bytes]

    def _assemble(self, config: GossipConfig, me: MemberRecord, *, rng: Random, now: float,
                  app_state: Callable[[], bytes] | None, decode_cache: DecodeCache | None,
                  keyring: Keyring | None, clock_offset_s: float,
                  app_version_of: AppVersionOf | None) -> None:
        """Build every sub-system around ``me`` (this node's record); arguments as for
        ``SwimProtocol``."""
        self._cfg = config
        self._rng = rng
        self._app_state = app_state
        self._decode_cache = decode_cache if decode_cache is not None else DecodeCache()
        self._ip_bytes = ip_bytes = me.ip_bytes
        self._now = now
        self._members = Membership(config.max_members)
        self._self = me
        self._members.add(self._self)
        self._awareness = Awareness(config.awareness_max_multiplier)
        self._stats = CoreStats()
        self._encryption = WireEncryption(
            keyring, verify_incoming=config.gossip_verify_incoming,
            verify_outgoing=config.gossip_verify_outgoing,
            max_stream_bytes=config.max_stream_bytes)
        self._outbox = Outbox(config, self._stats, self._current_size, self._encryption)
        self._serf = SerfLayer()
        self._timer_expected: float | None = None
        """When the driver was told to call ``handle_timer`` (``next_deadline``, not before
        the input it followed); a call much later means we were starved."""
        self._suspects: dict[str, None] = {}
        """Names with a running suspicion timer, in the order they were suspected (a dict,
        not a set: timers that expire at the same instant then fire in an order that does
        not depend on Python's per-process string hashing)."""
        self._events: deque[Event] = deque()
        self._coordinates = (
            # Its own random source (only for ties: two nodes at one point), so turning
            # coordinates on or off leaves the core's random draws as they were.
            CoordinateExchange(me.name, CoordinateClient(rng=Random(f"vivaldi:{me.name}")))
            if config.coordinates else None)
        self._prober = Prober(config, rng, self._members, self._self, ip_bytes,
                              self._awareness, self._stats, now, self._coordinates,
                              clock_offset_s)
        self._join_intent_for: int | None = None
        self._gossiper = Gossiper(config, rng, self._members, self._self, self._outbox,
                                  self._stats, after_packet=self._after_gossip_packet)
        self._leave = Leave(config, self._outbox, self._self, announce=self._gossiper.announce,
                            become_left=self._become_left, has_live_peers=self._has_live_peers,
                            live_peer_count=self._live_peer_count)
        self._queries = QueryRouter(self._members, self._self, self._serf.query_clock, rng,
                                    self._outbox, emit=self._emit,
                                    gossip_interval_s=config.gossip_interval_s,
                                    encryption=self._encryption)
        self._user_events = UserEvents(self._serf.event_clock, self._outbox, emit=self._emit)
        self._serf.local_events = self._user_events.local_events
        self._user = UserMessages(self._members, self._self, self._serf, self._outbox,
                                  self._stats, self._decode_cache, emit=self._emit,
                                  set_state=self._set_state, leaving=self._leave.begun,
                                  erase=self._erase,
                                  on_query=self._queries.on_message,
                                  on_user_event=self._user_events.on_message,
                                  app_version_of=app_version_of)
        self._exchanges = Exchanges(
            config, rng, self._members, self._self, self._stats, self._serf, self._user,
            cluster_size=self._current_size, gossiped=self._gossiped_records, app_state=app_state,
            apply_alive=self._on_alive, apply_suspect=self._on_suspect,
            apply_dead=self._on_dead, emit=self._emit,
            tcp_ping_acked=self._prober.tcp_ping_acked, joined=self._joined,
            merge_events=self._user_events.merge_remote, encryption=self._encryption)
        self._catch_up = CatchUp(config, rng)
        self._stale_answers = StaleAccusationAnswers(self._self, self._outbox, self._stats,
                                                     self._self_alive)

    # --- what the sub-systems are handed --------------------------------------------

    def _gossiped_records(self) -> list[MemberRecord]:
        """The records a push-pull carries: those still gossiped about."""
        now, g2d, members = self._now, self._cfg.gossip_to_the_dead_s, self._members
        if members.all_gossiped(now, g2d):  # the usual case, without a call per record
            return list(members)
        return [r for r in members if members.gossiped(r, now, g2d)]

    def _current_size(self) -> int:
        return self.cluster_size_estimate

    def _after_gossip_packet(self, now: float) -> None:
        self._leave.after_gossip_packet(now)

    def _has_live_peers(self) -> bool:
        return any(r is not self._self and r.state in (MemberState.ALIVE, MemberState.SUSPECT)
                   for r in self._members)

    def _live_peer_count(self) -> int:
        return len(self._members.alive_except(self._self))

    def _become_left(self, now: float) -> None:
        self._set_state(self._self, MemberState.LEFT, now)
