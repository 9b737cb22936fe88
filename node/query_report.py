"""``claw-node event`` and ``claw-node query`` output, in ``serf event`` / ``serf query``'s
words (``serf/cmd/serf/command/event.go``, ``query.go``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["format_event_sent", "format_query", "parse_tag_filter"]


def format_event_sent(name: str, coalesce: bool) -> str:
    """What ``serf event`` prints once the event is broadcast."""
    return f"Event '{name}' dispatched! Coalescing enabled: {'true' if coalesce else 'false'}"


def format_query(answer: Mapping[str, Any]) -> str:
    """A ``POST /api/v1/queries`` answer as ``serf query`` prints it: dispatched, one line
    per ack and response (in arrival order), then the totals."""
    lines = [f"Query '{answer.get('name', '')}' dispatched"]
    acks = answer.get("acks") or []
    responses = answer.get("responses") or []
    lines += [f"Ack from '{node}'" for node in acks]
    lines += [f"Response from '{r.get('node', '')}': {r.get('payload', '')}" for r in responses]
    if answer.get("request_ack"):
        lines.append(f"Total Acks: {len(acks)}")
    lines.append(f"Total Responses: {len(responses)}")
    return "\n".join(lines)


def parse_tag_filter(text: str) -> tuple[str, str]:
    """``serf query -tag key=regexp``: split at the first ``=``.

    Raises:
        ValueError: no ``=`` or an empty key.
    """
    key, sep, pattern = text.partition("=")
    if not sep or not key:
        raise ValueError(f"tag filter must be key=regexp, got {text!r}")
    return key, pattern
