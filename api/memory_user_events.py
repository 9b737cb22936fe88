"""``MemoryUserEventControl``: ``UserEventControl`` for one node with no cluster.

The reference for the routes' semantics without gossip (tests, standalone API): events
are recorded, a query is acked by this node alone and answered by ``answer`` (if set),
and Serf's limits are applied as the node applies them (a user event's name + payload
at most 512 bytes; a query's name + payload well under 1,024, leaving room for its
header).
"""

from __future__ import annotations

import base64

from .errors import ValidationFailed
from .user_events import EventIn, EventOut, QueryIn, QueryOut, QueryResponseOut

__all__ = ["EVENT_LIMIT", "QUERY_LIMIT", "MemoryUserEventControl"]

EVENT_LIMIT = 512
"""Serf's user event limit: name + payload bytes."""
QUERY_LIMIT = 1024 - 128
"""Name + payload bytes a query may carry here (Serf's 1,024 bytes include its header;
the node checks the exact encoded size)."""


class MemoryUserEventControl:
    """Args:
        node_id: the node's name in acks and responses.
        answer: this node's response to every query (None: it only acks).
    """

    def __init__(self, node_id: str, answer: str | None = None) -> None:
        self.node_id = node_id
        self.answer = answer
        self.events: list[EventIn] = []
        """Every event sent, in order."""

    async def send_event(self, body: EventIn) -> EventOut:
        payload = body.payload.encode()
        _check(len(body.name.encode()) + len(payload), EVENT_LIMIT, "user event")
        self.events.append(body)
        return EventOut(name=body.name, payload_bytes=len(payload),
                        message=f"user event {body.name!r} broadcast")

    async def query(self, body: QueryIn) -> QueryOut:
        _check(len(body.name.encode()) + len(body.payload.encode()), QUERY_LIMIT, "query")
        selected = not body.nodes or self.node_id in body.nodes
        acks = [self.node_id] if selected and body.request_ack else []
        responses = []
        if selected and self.answer is not None:
            raw = self.answer.encode()
            responses.append(QueryResponseOut(node=self.node_id, payload=self.answer,
                                              payload_base64=base64.b64encode(raw).decode()))
        return QueryOut(name=body.name, request_ack=body.request_ack, acks=acks,
                        responses=responses)


def _check(size: int, limit: int, what: str) -> None:
    if size > limit:
        message = f"{what} exceeds limit of {limit} bytes (name + payload: {size} bytes)"
        raise ValidationFailed(f"payload: {message}", [
            {"field": "payload", "message": message, "type": "too_large"}])
