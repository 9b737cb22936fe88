"""The phases of a graceful leave (Serf ``Leave`` over memberlist ``Leave``).

A leaving node first broadcasts Serf's leave intent (so others record a *leave*, not a
failure), then memberlist's ``dead`` message about itself, each until fully
retransmitted or ``LEAVE_BROADCAST_TIMEOUT_S``; probing and push-pull stop at once.
``SwimProtocol`` moves through the phases; this module names them.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["LEAVE_BROADCAST_TIMEOUT_S", "LeavePhase"]

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
