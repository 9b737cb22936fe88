"""The phases of a graceful leave (Serf ``Leave`` over memberlist ``Leave``).

A leaving node first broadcasts Serf's leave intent (so others record a *leave*, not a
failure), then memberlist's ``dead`` message about itself, each until fully
retransmitted or ``LEAVE_BROADCAST_TIMEOUT_S``; probing and push-pull stop at once.
``LeavePhase`` names the phases; ``Leave`` moves one core through them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import IntEnum

from . import codec
from .config import GossipConfig
from .membership import MemberRecord
from .messages import Dead
from .outbox import Outbox

__all__ = ["LEAVE_BROADCAST_TIMEOUT_S", "Leave", "LeavePhase"]

LEAVE_BROADCAST_TIMEOUT_S = 5.0
"""Serf ``BroadcastTimeout``: longest wait for the leave intent, then the dead message,
to be fully retransmitted before moving on."""


class LeavePhase(IntEnum):
    """Where a node is in its graceful leave; ordered, and false only for ``NONE``."""

    NONE = 0
    """Not leaving."""
    INTENT = 1
    """The Serf leave intent is queued (and was told straight to ``announce_fanout``
    members)."""
    DEAD = 2
    """We consider ourselves left; our dead message is queued."""
    DONE = 3
    """Both were sent (or there was nobody to tell): ``leave_done``."""


class Leave:
    """One core's graceful leave: its phase, the broadcast it waits for, its deadline.

    Args:
        config, outbox: the core's.
        me: the core's own record (our dead message names it).
        announce: sends parts in one datagram straight to ``announce_fanout`` random
            live members, or to the named ones (``to``) still up; returns their names.
        become_left: marks ourselves left.
        has_live_peers: whether any other member is alive or suspect.
        live_peer_count: how many other members are alive.
    """

    def __init__(self, config: GossipConfig, outbox: Outbox, me: MemberRecord, *,
                 announce: Callable[..., list[str]], become_left: Callable[[float], None],
                 has_live_peers: Callable[[], bool],
                 live_peer_count: Callable[[], int]) -> None:
        self._cfg = config
        self._outbox = outbox
        self._self = me
        self._announce = announce
        self._become_left = become_left
        self._has_live_peers = has_live_peers
        self._live_peer_count = live_peer_count
        self.phase = LeavePhase.NONE
        self.deadline = math.inf
        """When the current phase moves on even if its broadcast is still queued."""
        self._handle = 0
        self._told: list[str] = []
        """Names of the members that got our leave intent straight from us."""

    def begun(self) -> bool:
        """Whether the leave has started (``start`` was called)."""
        return self.phase is not LeavePhase.NONE

    def start(self, intent_payload: bytes, now: float) -> None:
        """Begin with the encoded Serf leave intent (or finish at once if alone)."""
        if not self._has_live_peers():
            self._become_left(now)
            self.phase = LeavePhase.DONE
            return
        self._handle = self._outbox.serf.push(intent_payload)
        self.phase = LeavePhase.INTENT
        self.deadline = now + LEAVE_BROADCAST_TIMEOUT_S
        self._told = self._announce([intent_payload])
        if self._told and len(self._told) == self._live_peer_count():
            # Every live member has the intent straight from us: the dead message may
            # follow one gossip interval later instead of after the intent's epidemic.
            self.deadline = now + self._cfg.gossip_interval_s

    def after_gossip_packet(self, now: float) -> None:
        """A gossip packet went out: Serf queues the dead message the moment the intent's
        last transmit is taken, so the rest of this round carries it (not the next)."""
        if self.phase is LeavePhase.INTENT and not self._outbox.serf.is_pending(self._handle):
            self.advance(now)

    def advance(self, now: float) -> None:
        """Move to the next phase once the current broadcast is sent or timed out."""
        if self.phase is LeavePhase.INTENT:
            if self._outbox.serf.is_pending(self._handle) and now < self.deadline:
                return
            self._become_left(now)
            if not self._has_live_peers():
                self.phase = LeavePhase.DONE
                return
            me = self._self
            dead_bytes = codec.encode_message(Dead(me.incarnation, me.name, me.name))
            self._handle = self._outbox.memberlist.push(dead_bytes, me.name)
            # Only to the members told the intent directly: one that got the dead first
            # would count a failure (Serf), not a leave.
            self._announce([dead_bytes], to=self._told)
            self.phase = LeavePhase.DEAD
            self.deadline = now + LEAVE_BROADCAST_TIMEOUT_S
        elif self.phase is LeavePhase.DEAD:
            if self._outbox.memberlist.is_pending(self._handle) and now < self.deadline:
                return
            self.phase = LeavePhase.DONE
            self.deadline = math.inf
