"""The read-only views of the gossip core: members, health, counters, coordinates.

``CoreViews`` is one facet of ``SwimProtocol`` (its base class), kept apart from the
commands and inputs so ``protocol.py`` holds only what changes state. Every view reads
state the core owns; none changes it (``cluster_size_estimate`` only caches).
"""

from __future__ import annotations

import dataclasses

from .awareness import Awareness
from .config import GossipConfig
from .coordinate import Coordinate
from .coordinate_exchange import CoordinateExchange
from .decrypt_failures import DecryptFailureReport
from .events import Member
from .histogram import Histogram
from .keyring import Keyring
from .leave import Leave, LeavePhase
from .membership import MemberRecord, Membership
from .outbox import Outbox
from .probe import Prober
from .push_pull import Exchanges
from .query_router import QueryRouter
from .stats import CoreStats
from .types import Address, MemberState
from .user_events import UserEvents
from .wire_encryption import WireEncryption

__all__ = ["CoreViews"]


class CoreViews:
    """Read-only views of ``SwimProtocol``; the state they read is set up by its
    ``__init__`` (declared here for the type checker)."""

    _cfg: GossipConfig
    _now: float
    _self: MemberRecord
    _members: Membership
    _awareness: Awareness
    _stats: CoreStats
    _outbox: Outbox
    _encryption: WireEncryption
    _queries: QueryRouter
    _user_events: UserEvents
    _coordinates: CoordinateExchange | None
    _prober: Prober
    _exchanges: Exchanges
    _leave: Leave
    _version: int
    """Bumped on every membership change (the key of the size cache)."""
    _size_cache: tuple[float, int, int]
    """(now, _version, size) of the last ``cluster_size_estimate``."""

    @property
    def leave_done(self) -> bool:
        """True once a graceful leave was sent to peers (or there was nobody to tell)."""
        return self._leave.phase is LeavePhase.DONE

    @property
    def is_leaving(self) -> bool:
        """True once ``leave`` was called (probing and push-pull have stopped)."""
        return self._leave.phase is not LeavePhase.NONE

    @property
    def name(self) -> str:
        return self._self.name

    @property
    def incarnation(self) -> int:
        return self._self.incarnation

    def members(self) -> list[Member]:
        """Every known member including self, dead and left ones (until reaped)."""
        return [r.snapshot() for r in self._members]

    def member(self, name: str) -> Member | None:
        rec = self._members.get(name)
        return rec.snapshot() if rec is not None else None

    @property
    def health_score(self) -> int:
        """Lifeguard local health (0 = healthy)."""
        return self._awareness.score

    @property
    def stats(self) -> dict[str, int]:
        """Counters since start (all ints; their meaning: ``gossip.stats``), plus
        ``members`` (table size) and ``broadcasts_dropped``."""
        out = self._stats.as_dict()
        out["members"] = len(self._members)
        out["broadcasts_dropped"] = self._outbox.dropped
        failures = self._encryption.failures
        out["decrypt_failures"] = failures.total
        for reason, count in failures.by_reason.items():
            out[f"decrypt_failed_{reason}"] = count
        for key, value in dataclasses.asdict(self._queries.queries.stats).items():
            out[f"query_{key}"] = value
        for key, value in dataclasses.asdict(self._user_events.stats).items():
            out[f"user_event_{key}"] = value
        return out

    @property
    def keyring(self) -> Keyring | None:
        """The gossip keys this core seals and opens with (the one it was given)."""
        return self._encryption.keyring

    def decrypt_failures_by_source(self) -> dict[Address, int]:
        """Datagrams and streams that failed to decrypt, per source (the most recent
        ``gossip.decrypt_failures.MAX_SOURCES``; streams under port 0)."""
        return self._encryption.failures.by_source()

    def decrypt_failure_reports(self) -> list[DecryptFailureReport]:
        """What to log about decrypt failures since the last call: at most one report
        per source and minute (``gossip.decrypt_failures``)."""
        return self._encryption.failures.reports()

    @property
    def coordinates(self) -> CoordinateExchange | None:
        """Serf's ping delegate (``GossipConfig.coordinates``): our Vivaldi client and the
        peers' cached coordinates; None when coordinates are off."""
        return self._coordinates

    def coordinate_of(self, name: str) -> Coordinate | None:
        """Our network coordinate (our own name) or the one last learnt for member
        ``name`` from its probe ack (kept until it is reaped); None if unknown or off."""
        return self._coordinates.coordinate_of(name) if self._coordinates is not None else None

    def member_state(self, name: str) -> MemberState | None:
        """State of ``name`` without building a ``Member`` snapshot (cheap; None if unknown)."""
        rec = self._members.get(name)
        return rec.state if rec is not None else None

    def suspicion_deadline(self, name: str) -> float | None:
        """When the running suspicion of ``name`` expires (core time), or None."""
        rec = self._members.get(name)
        return rec.suspicion.deadline if rec is not None and rec.suspicion is not None else None

    @property
    def cluster_size_estimate(self) -> int:
        """memberlist's ``estNumNodes``: members counted for timeouts and retransmits."""
        now, version, n = self._size_cache
        if now != self._now or version != self._version:
            n = self._members.estimated_size(self._now, self._cfg.gossip_to_the_dead_s)
            self._size_cache = (self._now, self._version, n)
        return n

    @property
    def probe_rtt(self) -> Histogram:
        """Round trips of our probes that were acked directly, seconds."""
        return self._prober.rtt

    @property
    def push_pull_durations(self) -> Histogram:
        """Durations of our outbound push-pulls that succeeded, seconds."""
        return self._exchanges.durations

    @property
    def pending_broadcasts(self) -> int:
        """Broadcasts waiting in the memberlist, Serf and app queues together."""
        return self._outbox.pending
