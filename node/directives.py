"""Coordinator directives, sans-I/O: the sender's re-send plan and the target's filter.

A directive asks one member to do something (enter maintenance, take task counters from
an API heartbeat, leave). The coordinator gossips it (``urgent``: it starts gossip rounds
of its own) and also sends it straight to the target. Directives are not carried by
push-pull, and an epidemic with few retransmits (the local profile relays each app
message twice) can miss the target, so each send is repeated ``DIRECTIVE_RESEND_S``
after the first one; receivers drop repeats by id.

``DirectiveOutbox`` numbers the directives and plans the re-sends; ``DirectiveInbox``
decides what a received directive means. Neither reads a clock nor touches gossip: the
agent passes ``now`` (its event loop's time), sends what ``due`` returns, and arms one
timer at ``next_deadline``.
"""

from __future__ import annotations

import enum
import heapq
import itertools
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from .app_messages import Directive, encode_directive
from .heartbeat import TASK_FIELDS

__all__ = [
    "DIRECTIVE_RESEND_S",
    "SEEN_DIRECTIVES",
    "DirectiveInbox",
    "DirectiveOutbox",
    "DirectiveSend",
    "Verdict",
    "task_values",
]

DIRECTIVE_RESEND_S = (1.0, 3.0, 7.0)
"""Seconds after the first send at which a directive is sent again (broadcast and direct)."""
SEEN_DIRECTIVES = 1024
"""Directive ids (and, separately, newest sequences per origin and action) remembered."""


@dataclass(frozen=True, slots=True)
class DirectiveSend:
    """One send of a directive: gossip ``body`` under ``key`` and send it to ``target``."""

    target: str
    body: bytes
    key: str


class DirectiveOutbox:
    """The coordinator's side: directive ids and the re-send plan.

    Args:
        origin: ``"<node id>:<start incarnation>"``; ids are ``origin:<n>`` with n counting
            from 1, so a restarted coordinator is a new origin.
        resend_s: delays of the re-sends after the first send (seconds).
    """

    def __init__(self, origin: str, resend_s: tuple[float, ...] = DIRECTIVE_RESEND_S) -> None:
        self.origin = origin
        self._resend_s = resend_s
        self._numbers = itertools.count(1)
        self._order = itertools.count()
        self._plan: list[tuple[float, int, DirectiveSend]] = []

    def send(self, target: str, action: str, value: Any, now: float) -> tuple[Directive, DirectiveSend]:
        """A new directive for ``target``: returns it and its first send (due now); its
        re-sends are due at ``now + resend_s``."""
        directive = Directive(target, action, value, f"{self.origin}:{next(self._numbers)}")
        out = DirectiveSend(target, encode_directive(directive), f"dir:{directive.id}")
        for delay in self._resend_s:
            heapq.heappush(self._plan, (now + delay, next(self._order), out))
        return directive, out

    def due(self, now: float) -> list[DirectiveSend]:
        """The re-sends due at ``now`` (in the order they were planned); removes them."""
        out = []
        while self._plan and self._plan[0][0] <= now:
            out.append(heapq.heappop(self._plan)[2])
        return out

    def next_deadline(self) -> float | None:
        """When the next re-send is due, or None if none is planned."""
        return self._plan[0][0] if self._plan else None


class Verdict(enum.Enum):
    """What a received directive means for this node."""

    APPLY = "apply"
    """Ours, new, and the newest of its origin and action: act on it."""
    REPEAT = "repeat"
    """Seen before (a re-send or a relay): ignore."""
    STALE = "stale"
    """Ours and new, but a newer one of the same origin and action was applied: ignore."""
    NOT_OURS = "not_ours"
    """For another member: ignore (the gossip core relays it anyway)."""


class DirectiveInbox:
    """The target's side: drops repeats, and all but the newest per (origin, action).

    Re-sends can arrive after a newer directive of the same kind (maintenance on, then
    off: the late re-send of "on" must not win).

    Args:
        node_id: this node (directives for others are ``NOT_OURS``).
        memory: ids, and (origin, action) pairs, remembered (oldest forgotten first).
    """

    def __init__(self, node_id: str, memory: int = SEEN_DIRECTIVES) -> None:
        self.node_id = node_id
        self._memory = memory
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._newest: dict[tuple[str, str], int] = {}

    def remember(self, ident: str) -> bool:
        """Record ``ident`` as seen; False if it was already (this node's own sends too)."""
        if ident in self._seen:
            return False
        self._seen[ident] = None
        if len(self._seen) > self._memory:
            self._seen.popitem(last=False)
        return True

    def receive(self, directive: Directive) -> Verdict:
        """Judge a received directive (untrusted but decoded) and remember it."""
        if directive.target != self.node_id:
            return Verdict.NOT_OURS
        if not self.remember(directive.id):
            return Verdict.REPEAT
        origin, _, number = directive.id.rpartition(":")
        if number.isdigit():  # ids of other forms carry no order: applied as they come
            key = (origin, directive.action)
            if int(number) < self._newest.get(key, -1):
                return Verdict.STALE
            self._newest[key] = int(number)
            if len(self._newest) > self._memory:
                self._newest.pop(next(iter(self._newest)))
        return Verdict.APPLY


def task_values(values: dict[Any, Any]) -> dict[str, Any]:
    """The valid task counters of a ``tasks`` directive (untrusted): known fields only,
    counts in 0..1,000,000, ``average_execution_time`` in 0..1e9 seconds; others dropped."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in TASK_FIELDS or isinstance(value, bool):
            continue
        if key == "average_execution_time":
            if isinstance(value, (int, float)) and 0 <= value <= 1e9:
                out[key] = float(value)
        elif isinstance(value, int) and 0 <= value <= 1_000_000:
            out[key] = value
    return out
