"""The Serf commands of the gossip core: queries and user events.

``SerfCommands`` is one facet of ``SwimProtocol`` (its base class): the commands an
application calls to start and answer Serf queries (``gossip.serf_query``'s decisions,
carried on the wire by ``query_router.QueryRouter``) and to send Serf user events
(``user_events.UserEvents``). Answers arrive as ``Query*`` and ``UserEventReceived``
events from the core's inputs.
"""

from __future__ import annotations

from .query_router import QueryRouter
from .serf_query import IncomingQuery, OutboundQuery, QueryParams
from .user_events import UserEvents

__all__ = ["SerfCommands"]


class SerfCommands:
    """Serf query and user-event commands of ``SwimProtocol``; the collaborators they
    drive are set up by its ``__init__`` (declared here for the type checker)."""

    _now: float
    _queries: QueryRouter
    _user_events: UserEvents

    def start_query(self, name: str, payload: bytes | None, params: QueryParams,
                    now: float) -> OutboundQuery:
        """Start a Serf query: broadcast it, handle it here too (our own ack and
        ``QueryReceived``), and collect acks and responses until its deadline
        (``QueryAnswered`` per answer, ``QueryFinished`` at the deadline).

        Returns:
            The open query; its ``acks``/``responses`` fill as answers arrive.
        Raises:
            QueryError: larger than Serf's 1,024-byte limit, too many open, bad params.
        """
        self._now = now
        return self._queries.start(name, payload, params, now)

    def respond_query(self, query: IncomingQuery, payload: bytes | None, now: float) -> None:
        """Answer a query from ``QueryReceived`` (once, before its deadline), straight to
        the querier and through ``relay_factor`` other members.

        Raises:
            QueryError: larger than Serf's 1,024-byte limit, answered already, or late.
        """
        self._now = now
        self._queries.respond(query, payload, now)

    def query_response_fits(self, query: IncomingQuery, payload: bytes | None) -> bool:
        """Whether ``respond_query`` would accept ``payload`` by size."""
        return self._queries.queries.response_fits(query, payload)

    def close_query(self, query: OutboundQuery, now: float) -> None:
        """Stop collecting answers for ``query`` (no ``QueryFinished`` follows)."""
        self._now = now
        self._queries.queries.close(query)

    def default_query_timeout(self) -> float:
        """Serf's default timeout for a query started now: gossip interval x 16 x
        ceil(log10(live members + 1)), in seconds."""
        return self._queries.default_timeout()

    def send_user_event(self, name: str, payload: bytes, coalesce: bool, now: float) -> None:
        """Serf ``UserEvent``: broadcast a user event (``UserEventReceived`` here too).

        Raises:
            UserEventError: name + payload or the encoded event over Serf's 512 bytes.
        """
        self._now = now
        self._user_events.send(name, payload, coalesce)
