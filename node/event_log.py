"""One log line per cluster event, in the spirit of Serf's ``EventMemberJoin: name addr``.

    member join: host1 10.0.0.2:7946
    member failed: host3 10.0.0.4:7946 (declared by host2)
    coordinator: host1 10.0.0.2:7946 (term 4, was host3)
    user event: deploy (ltime 7, 4 chars)
    query: uptime from host2 (ltime 3, 0 chars)

Lines go to the ``node.event_log`` logger at INFO. With ``--log-format json`` the line
also carries the event as fields (``event``, ``node``, ``address``, ``event_time`` and
``details``), so tools need not parse the text. Measurement tools read these lines
(``simulations.versus_serf``): the text before the colon is the kind's value, the first
word after it the node.
"""

from __future__ import annotations

import logging
from typing import Any

from .events import ClusterEvent, EventKind

__all__ = ["event_fields", "format_event", "log_event"]

log = logging.getLogger(__name__)


def _suffix(event: ClusterEvent) -> str:
    d = event.details
    kind = event.kind
    if kind in (EventKind.MEMBER_SUSPECT, EventKind.MEMBER_FAILED) and d.get("accuser"):
        verb = "accused" if kind is EventKind.MEMBER_SUSPECT else "declared"
        return f" ({verb} by {d['accuser']})"
    if kind is EventKind.MEMBER_ALIVE and "incarnation" in d:
        return f" (refuted, incarnation {d['incarnation']})"
    if kind is EventKind.MEMBER_ADDRESS and d.get("previous"):
        return f" (was {d['previous']})"
    if kind is EventKind.COORDINATOR:
        was = f", was {d['previous']}" if d.get("previous") else ""
        return f" (term {d.get('term', 0)}{was})"
    if kind in (EventKind.USER_EVENT, EventKind.QUERY):
        return f" (ltime {d.get('ltime', 0)}, {len(str(d.get('payload', '')))} chars)"
    if kind is EventKind.WORKER_OFFLINE and d.get("previous"):
        return f" (was {d['previous']})"
    return ""


def format_event(event: ClusterEvent) -> str:
    """The event's line: ``<kind>: <node> <address>`` and a parenthesised detail."""
    kind = event.kind.value
    if event.kind is EventKind.MAINTENANCE:
        kind += " on" if event.details.get("enabled") else " off"
        if event.details.get("worker"):
            kind = "worker " + kind
    node = event.node or "none"
    if event.kind is EventKind.USER_EVENT:
        return f"{kind}: {event.details.get('name', '')}{_suffix(event)}"
    if event.kind is EventKind.QUERY:
        return f"{kind}: {event.details.get('name', '')} from {node}{_suffix(event)}"
    address = f" {event.address}" if event.address else ""
    return f"{kind}: {node}{address}{_suffix(event)}"


def event_fields(event: ClusterEvent) -> dict[str, Any]:
    """The event as ``extra`` fields of a log record (names that no LogRecord uses)."""
    return {"event": event.kind.value, "node": event.node, "address": event.address,
            "event_time": event.time, "details": dict(event.details)}


def log_event(event: ClusterEvent, logger: logging.Logger = log) -> None:
    """Log ``event`` at INFO (an ``EventBus`` listener)."""
    logger.info("%s", format_event(event), extra=event_fields(event))
