"""Serf user events and user queries at the agent: send them, and hand what arrives to
the event bus and the ``--event-handler`` scripts.

* ``send_event`` is ``serf event``: one user event, broadcast by the core
  (``gossip.user_events``).
* ``query`` is ``serf query``: it starts a query (``gossip.serf_query``), collects acks
  and responses until the query's deadline and returns them.
* Every user event new to this node and every user query that passed its filters is
  published on the bus (``USER_EVENT`` / ``QUERY``) and run through the matching
  handler scripts (``node.event_handlers``); the first non-empty stdout of a query's
  scripts is its response (Serf responds once; later answers would be refused).
  Member events from the bus run the ``member-*`` scripts. Serf's internal queries
  (``_serf_*``) never reach users.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from gossip.events import (
    Event,
    QueryFinished,
    QueryReceived,
    UserEventReceived,
)
from gossip.serf_query import IncomingQuery, OutboundQuery, QueryError, QueryParams

from .cluster_keys import TransportKeyPort
from .event_handlers import HandlerEvent, HandlerRunner, member_line, payload_stdin
from .events import ClusterEvent, EventKind

__all__ = ["MAX_HANDLER_TASKS", "QueryResult", "TransportUserPort", "UserEventPort", "UserEvents"]

log = logging.getLogger(__name__)

MAX_HANDLER_TASKS = 1024
"""Events and queries being handed to scripts at once; beyond it they are only
published on the bus (counted in ``HandlerRunner.stats.dropped``)."""
QUERY_WAIT_MARGIN_S = 2.0
"""Seconds past a query's deadline that ``query`` waits for the core to close it."""

_MEMBER_TYPES = {EventKind.MEMBER_JOIN: "member-join", EventKind.MEMBER_LEFT: "member-leave",
                 EventKind.MEMBER_FAILED: "member-failed", EventKind.MEMBER_ADDRESS: "member-update"}
"""Bus events Serf's handlers know, by Serf's name."""


class UserEventPort(Protocol):
    """What ``UserEvents`` needs of the gossip side (``node.cluster_keys``'s
    ``TransportKeyPort`` plus ``send_event``)."""

    def send_event(self, name: str, payload: bytes, coalesce: bool) -> None: ...
    def start_query(self, name: str, payload: bytes, params: QueryParams) -> OutboundQuery: ...
    def respond(self, query: IncomingQuery, payload: bytes) -> None: ...
    def close_query(self, query: OutboundQuery) -> None: ...


@dataclass(frozen=True, slots=True)
class QueryResult:
    """What ``serf query`` prints: who acked and who answered what, in arrival order."""

    name: str
    acks: tuple[str, ...]
    responses: tuple[tuple[str, bytes], ...]
    request_ack: bool


class UserEvents:
    """The agent's user events and queries.

    Args:
        port: the gossip side.
        runner: the handler scripts.
        publish: puts an event on the bus.
        wall_clock: unix time for the bus events.
        member_tags: a member's tags by node id (for member-event stdin lines).
    """

    def __init__(self, port: UserEventPort, runner: HandlerRunner, *,
                 publish: Callable[[ClusterEvent], None], wall_clock: Callable[[], float],
                 member_tags: Callable[[str], Mapping[str, str]]) -> None:
        self._port = port
        self.runner = runner
        self._publish = publish
        self._wall = wall_clock
        self._member_tags = member_tags
        self._waiters: dict[int, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # --- sending --------------------------------------------------------------------

    def send_event(self, name: str, payload: bytes, coalesce: bool = True) -> None:
        """``serf event``: raises ``UserEventError`` beyond Serf's 512-byte limit."""
        self._port.send_event(name, payload, coalesce)

    async def query(self, name: str, payload: bytes, params: QueryParams) -> QueryResult:
        """``serf query``: start it, wait for its deadline, return what came back.

        Raises:
            QueryError: over Serf's 1,024-byte limit, a bad parameter, too many open.
        """
        query = self._port.start_query(name, payload, params)
        done = asyncio.Event()
        self._waiters[id(query)] = done
        try:
            loop = asyncio.get_running_loop()
            wait_s = max(query.deadline - loop.time(), 0.0) + QUERY_WAIT_MARGIN_S
            try:
                await asyncio.wait_for(done.wait(), wait_s)
            except TimeoutError:
                pass  # the core stopped before the deadline: report what arrived
        finally:
            self._waiters.pop(id(query), None)
            self._port.close_query(query)
        return QueryResult(name, tuple(query.acks), tuple(query.responses.items()),
                           query.request_ack)

    # --- receiving ------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Feed every core event."""
        if isinstance(event, UserEventReceived):
            self._publish(ClusterEvent(EventKind.USER_EVENT, "", "", self._wall(), {
                "name": event.name, "ltime": event.ltime, "payload": _text(event.payload),
                "coalesce": event.coalesce}))
            self._handle(HandlerEvent("user", event.name, event.ltime, payload_stdin(event.payload)))
        elif isinstance(event, QueryReceived) and not event.query.internal:
            q = event.query
            self._publish(ClusterEvent(EventKind.QUERY, q.source_node, "", self._wall(), {
                "name": q.name, "ltime": q.ltime, "payload": _text(q.payload)}))
            self._handle(HandlerEvent("query", q.name, q.ltime, payload_stdin(q.payload)), q)
        elif isinstance(event, QueryFinished):
            waiter = self._waiters.get(id(event.query))
            if waiter is not None:
                waiter.set()

    def on_cluster_event(self, event: ClusterEvent) -> None:
        """A bus listener: member events run the ``member-*`` scripts."""
        kind = _MEMBER_TYPES.get(event.kind)
        if kind is not None:
            host = event.address.rpartition(":")[0] if event.address else ""
            line = member_line(event.node, host, self._member_tags(event.node))
            self._handle(HandlerEvent(kind, stdin=line))

    async def aclose(self) -> None:
        """Cancel the handler runs still going (the agent is stopping)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def aclose_when_idle(self) -> None:
        """Wait for the handler runs started so far to finish."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _handle(self, event: HandlerEvent, query: IncomingQuery | None = None) -> None:
        if not self.runner.scripts_for(event):
            return
        if len(self._tasks) >= MAX_HANDLER_TASKS:
            self.runner.stats.dropped += 1
            return
        task = asyncio.get_running_loop().create_task(self._run(event, query))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, event: HandlerEvent, query: IncomingQuery | None) -> None:
        for script in self.runner.scripts_for(event):
            out = await self.runner.run(script, event)
            if query is not None and out:
                try:
                    self._port.respond(query, out)
                except (QueryError, RuntimeError) as exc:
                    log.warning("cannot answer query %r from %s: %s", query.name, query.source_node, exc)
                query = None  # one response per query, as Serf


def _text(payload: bytes) -> str:
    return payload.decode("utf-8", "replace")


class TransportUserPort(TransportKeyPort):
    """``UserEventPort`` over the agent's ``gossip.udp.GossipTransport``."""

    def send_event(self, name: str, payload: bytes, coalesce: bool) -> None:
        self._transport.invoke(lambda core, now: core.send_user_event(name, payload, coalesce, now))
