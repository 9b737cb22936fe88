"""``api.user_events.UserEventControl`` over the agent's ``node.user_events.UserEvents``."""

from __future__ import annotations

import base64
import re

from api.errors import Unavailable, ValidationFailed
from api.user_events import EventIn, EventOut, QueryIn, QueryOut, QueryResponseOut
from gossip.serf_query import QueryError, QueryParams
from gossip.user_events import UserEventError

from .user_events import UserEvents

__all__ = ["ClusterUserEventControl"]


class ClusterUserEventControl:
    """REST's user events and queries (None: gossip not running)."""

    def __init__(self, events: UserEvents | None) -> None:
        self._events = events

    async def send_event(self, body: EventIn) -> EventOut:
        payload = body.payload.encode()
        try:
            self._running().send_event(body.name, payload, body.coalesce)
        except UserEventError as exc:
            raise _too_large(exc) from None
        except RuntimeError as exc:  # the transport stopped
            raise Unavailable(f"events: {exc}") from None
        return EventOut(name=body.name, payload_bytes=len(payload),
                        message=f"user event {body.name!r} broadcast")

    async def query(self, body: QueryIn) -> QueryOut:
        for tag, pattern in body.tags.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValidationFailed(f"tags.{tag}: not a regular expression ({exc})", [
                    {"field": f"tags.{tag}", "message": str(exc), "type": "regex"}]) from None
        params = QueryParams(filter_nodes=tuple(body.nodes), filter_tags=dict(body.tags),
                             request_ack=body.request_ack, relay_factor=body.relay_factor,
                             timeout_s=body.timeout)
        try:
            result = await self._running().query(body.name, body.payload.encode(), params)
        except QueryError as exc:
            raise _too_large(exc) from None
        except RuntimeError as exc:
            raise Unavailable(f"queries: {exc}") from None
        return QueryOut(name=result.name, request_ack=result.request_ack, acks=list(result.acks),
                        responses=[QueryResponseOut(node=node, payload=raw.decode("utf-8", "replace"),
                                                    payload_base64=base64.b64encode(raw).decode())
                                   for node, raw in result.responses])

    def _running(self) -> UserEvents:
        if self._events is None:
            raise Unavailable("events: gossip is not running on this node")
        return self._events


def _too_large(exc: Exception) -> ValidationFailed:
    return ValidationFailed(f"payload: {exc}", [
        {"field": "payload", "message": str(exc), "type": "too_large"}])
