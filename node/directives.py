"""Coordinator directives, sans-I/O: the sender's numbering and the target's filter.

A directive asks one member to do something (enter maintenance, take task counters from
an API heartbeat, leave). The coordinator sends it over the cluster request channel and
the member acknowledges it (``node.cluster_channel``); an unacknowledged attempt is
retried, so a member can receive one directive twice, and a retry of an older directive
can arrive after a newer one of the same kind.

``DirectiveOutbox`` numbers the directives; ``DirectiveInbox`` decides what a received
directive means (its verdict is the acknowledgement); ``DirectiveDesk`` puts both to work
for the agent, carrying out what the inbox lets through. None reads a clock or does I/O
(the desk is handed its sender and its actions).
"""

from __future__ import annotations

import enum
import itertools
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from .app_messages import Directive, encode_directive
from .heartbeat import TASK_FIELDS

__all__ = [
    "SEEN_DIRECTIVES",
    "DirectiveDesk",
    "DirectiveInbox",
    "DirectiveOutbox",
    "Verdict",
    "task_values",
]

log = logging.getLogger(__name__)

SEEN_DIRECTIVES = 1024
"""Directive ids (and, separately, newest sequences per origin and action) remembered."""


class DirectiveOutbox:
    """The coordinator's side: directive ids.

    Args:
        origin: ``"<node id>:<start incarnation>"``; ids are ``origin:<n>`` with n counting
            from 1, so a restarted coordinator is a new origin.
    """

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self._numbers = itertools.count(1)

    def new(self, target: str, action: str, value: Any) -> tuple[Directive, bytes]:
        """A new directive for ``target`` and its encoding (an app message body)."""
        directive = Directive(target, action, value, f"{self.origin}:{next(self._numbers)}")
        return directive, encode_directive(directive)


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


class DirectiveDesk:
    """This node's directives, both ways: the ones it sends as coordinator and the ones
    it receives and carries out.

    Args:
        stats: the agent's counters; ``directives_applied`` and ``directives_stale`` are
            incremented here.
        maintenance: switches this node's maintenance mode.
        tasks: takes task counters (already filtered by ``task_values``).
        shutdown: makes this node leave, after the acknowledgement has gone out.
    """

    def __init__(self, *, stats: dict[str, int], maintenance: Callable[[bool], None],
                 tasks: Callable[[dict[str, Any]], None],
                 shutdown: Callable[[], None]) -> None:
        self._stats = stats
        self._maintenance = maintenance
        self._tasks = tasks
        self._shutdown = shutdown
        self._inbox = DirectiveInbox("")
        self._outbox = DirectiveOutbox("")

    def identify(self, node_id: str, epoch: int) -> None:
        """Start over as ``node_id`` in its run ``epoch`` (its start incarnation)."""
        self._inbox = DirectiveInbox(node_id)
        self._outbox = DirectiveOutbox(f"{node_id}:{epoch}")

    def receive(self, directive: Directive) -> Verdict:
        """Judge a directive (from the request channel, or gossiped by an older
        coordinator) and act on it if it is ours and new."""
        verdict = self._inbox.receive(directive)
        if verdict is Verdict.STALE:
            self._stats["directives_stale"] += 1
        if verdict is not Verdict.APPLY:
            return verdict
        self._stats["directives_applied"] += 1
        log.info("directive %s from the coordinator: %s %r", directive.id, directive.action,
                 directive.value)
        if directive.action == "maintenance" and isinstance(directive.value, bool):
            self._maintenance(directive.value)
        elif directive.action == "tasks" and isinstance(directive.value, dict):
            self._tasks(task_values(directive.value))
        elif directive.action == "shutdown":
            self._shutdown()
        return verdict

    async def send(self, target: str, action: str, value: Any,
                   deliver: Callable[[Directive, bytes], Awaitable[Verdict]]) -> Verdict:
        """Number a directive to member ``target`` and ``deliver`` it (the request
        channel, which raises if it is never acknowledged).

        Returns:
            The target's verdict (its acknowledgement).
        """
        directive, body = self._outbox.new(target, action, value)
        self._inbox.remember(directive.id)  # our own: never for us to apply
        log.info("directive %s to %s: %s %r", directive.id, target, action, value)
        verdict = await deliver(directive, body)
        log.info("directive %s acknowledged by %s (%s)", directive.id, target, verdict.value)
        return verdict
