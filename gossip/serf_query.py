"""Serf's queries without I/O: receive, dedupe, filter, ack, respond, relay, collect.

A Serf query (``serf/query.go``, ``serf.go`` ``Query``/``handleQuery``/
``handleQueryResponse``, ``delegate.go`` ``NotifyMsg``) is a broadcast ``messageQuery``
stamped with the query Lamport clock and a random 32-bit ID. Every node that sees it
for the first time re-broadcasts it (unless the no-broadcast flag is set); a node that
passes its filters acks it if asked and hands it to a handler, which may send one
response. Acks and responses do not gossip: they go by UDP straight to the querier's
``Addr:Port`` as memberlist user messages, plus up to ``RelayFactor`` copies wrapped in
a relay message through random other members. The querier collects acks and responses
per node until the query's deadline.

``SerfQueries`` holds that state and returns what to send; the core puts the bytes on
the wire (``gossip.protocol``): ``sends`` as plain user messages to an address,
``rebroadcast`` on its query broadcast queue. Nothing here reads a clock or a socket.

Limits, as Serf's defaults (``serf/config.go``): a query encodes to at most
``QUERY_SIZE_LIMIT`` bytes, a response to at most ``QUERY_RESPONSE_SIZE_LIMIT``; the
dedupe buffer remembers ``QUERY_BUFFER`` LTimes. Hostile input is dropped and counted
(``QueryStats``): queries older than the buffer, duplicates, responses to queries we
are not running, relays that are not a query response.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from random import Random
from typing import NamedTuple

from .addresses import bytes_to_ip, ip_to_bytes
from .errors import LocalProtocolError, MalformedPacket
from .messages import SerfQuery, SerfQueryResponse, SerfRelay
from .query_filters import encode_filters, filters_match
from .serf_codec import decode_serf, encode_serf
from .serf_layer import LamportClock
from .types import Address

__all__ = [
    "INTERNAL_QUERY_PREFIX",
    "MAX_ANSWERABLE",
    "MAX_ANSWERABLE_S",
    "MAX_OPEN_QUERIES",
    "QUERY_BUFFER",
    "QUERY_FLAG_ACK",
    "QUERY_FLAG_NO_BROADCAST",
    "QUERY_RESPONSE_SIZE_LIMIT",
    "QUERY_SIZE_LIMIT",
    "QUERY_TIMEOUT_MULT",
    "IncomingQuery",
    "OutboundQuery",
    "QueryError",
    "QueryParams",
    "QueryStats",
    "QueryVerdict",
    "RelayTargets",
    "SerfQueries",
    "default_query_timeout",
    "querier_address",
]

QUERY_FLAG_ACK = 1
"""Serf ``queryFlagAck``: every node that passes the filters acks at once."""
QUERY_FLAG_NO_BROADCAST = 2
"""Serf ``queryFlagNoBroadcast``: receivers do not re-broadcast the query."""
QUERY_BUFFER = 512
"""Serf ``QueryBuffer``: LTimes remembered for dedupe; older queries are dropped."""
QUERY_TIMEOUT_MULT = 16
"""Serf ``QueryTimeoutMult``: default timeout = gossip interval x this x ceil(log10(N+1))."""
QUERY_SIZE_LIMIT = 1024
"""Serf ``QuerySizeLimit``: the largest encoded query we send (bytes)."""
QUERY_RESPONSE_SIZE_LIMIT = 1024
"""Serf ``QueryResponseSizeLimit``: the largest encoded response or relay we send (bytes)."""
INTERNAL_QUERY_PREFIX = "_serf_"
"""Serf's internal queries (ping, conflict, key management) start with this."""
MAX_OPEN_QUERIES = 256
"""Outbound queries running at once (each holds its acks and responses until its
deadline); starting one more is refused."""
MAX_ANSWERABLE_S = 3600.0
"""Longest a received query stays answerable, whatever Timeout it claims (a hostile
Timeout must not keep state forever)."""
MAX_ANSWERABLE = 4096
"""Received queries remembered as answerable at once (oldest forgotten first)."""

RelayTargets = Callable[[int], Sequence[Address]]
"""Given k, up to k addresses of other live members (not us) that may relay a response
(Serf: alive, protocol max >= 5, chosen at random)."""


class QueryError(LocalProtocolError):
    """A query or response this node wanted to send was refused (too large, already
    answered, past its deadline, too many queries open); the message says which."""


def default_query_timeout(gossip_interval_s: float, members: int) -> float:
    """Serf ``DefaultQueryTimeout``: ``gossip_interval * QueryTimeoutMult * ceil(log10(N+1))``
    in seconds (N = members known, us included; 3.2 s for 2-9 nodes at 200 ms)."""
    return gossip_interval_s * QUERY_TIMEOUT_MULT * math.ceil(math.log10(max(members, 1) + 1))


@dataclass(frozen=True, slots=True)
class QueryParams:
    """How to run an outbound query (Serf ``QueryParam``)."""

    filter_nodes: tuple[str, ...] = ()
    """Only these nodes answer (empty: every node)."""
    filter_tags: Mapping[str, str] = field(default_factory=dict)
    """Tag name -> regular expression the node's tag value must match (unanchored)."""
    request_ack: bool = False
    """Ask every node that passes the filters to ack on receipt."""
    relay_factor: int = 0
    """Copies of each ack/response relayed through other members (0-255)."""
    timeout_s: float | None = None
    """How long the query stays open (None: ``default_query_timeout``)."""


class IncomingQuery(NamedTuple):
    """A query this node passed the filters of: what a handler needs to answer it."""

    ltime: int
    id: int
    name: str
    payload: bytes
    source_node: str
    reply_to: Address
    """The querier's address (where acks and responses go)."""
    relay_factor: int
    deadline: float
    """Core time after which a response is refused."""
    encrypted: bool = False
    """It arrived sealed under one of our keys (a datagram or stream the keyring
    opened), so it comes from a key holder; our own queries count as encrypted (they
    never crossed the network). False for plaintext, e.g. accepted while
    ``gossip_verify_incoming`` is off during a migration: key changes are refused then
    (``gossip.key_queries``)."""

    @property
    def internal(self) -> bool:
        """Serf's own query (``_serf_...``), handled by the node, never by users."""
        return self.name.startswith(INTERNAL_QUERY_PREFIX)


@dataclass(slots=True)
class OutboundQuery:
    """A query this node started: the acks and responses collected until ``deadline``.

    ``acks`` and ``responses`` are keyed by node name in arrival order; a node counts
    once (Serf drops duplicates). ``closed`` turns True at the deadline or on
    ``SerfQueries.close``; nothing is added afterwards.
    """

    ltime: int
    id: int
    name: str
    deadline: float
    request_ack: bool
    acks: dict[str, None] = field(default_factory=dict)
    responses: dict[str, bytes] = field(default_factory=dict)
    closed: bool = False


class QueryVerdict(NamedTuple):
    """What to do about one received query."""

    rebroadcast: bool
    """Pass the original bytes on through the query broadcast queue."""
    sends: tuple[tuple[Address, bytes], ...] = ()
    """Serf payloads (type byte + body) to send as user messages straight to an address."""
    deliver: IncomingQuery | None = None
    """The query, for a handler (None: duplicate, too old, or filtered out)."""


@dataclass(slots=True)
class QueryStats:
    """Counters of the query machinery (all only grow)."""

    queries: int = 0
    """New queries received (ours included) and processed."""
    duplicates: int = 0
    too_old: int = 0
    filtered_out: int = 0
    acks: int = 0
    responses: int = 0
    duplicate_answers: int = 0
    unknown_answers: int = 0
    """Acks/responses for a query we are not running (or an ID that does not match)."""
    late_answers: int = 0
    relayed: int = 0
    bad_relays: int = 0
    """Relays that were not a well-formed query response within the size limit."""
    plaintext_answers: int = 0
    """Answers to our key queries dropped because they arrived unencrypted while we
    hold keys (``gossip.query_router``)."""
    plaintext_relays: int = 0
    """Relays dropped because they arrived unencrypted and we would seal them."""


class SerfQueries:
    """One node's query state: the dedupe buffer, answerable queries, open queries.

    Args:
        node_name: our name (the ``From`` of our acks and responses, node filters).
        clock: the query Lamport clock (``SerfLayer.query_clock``), witnessed here.
        rng: source of query IDs.
        tags: returns our current tags (for tag filters).
        relay_targets: picks relays for ``RelayFactor`` copies.
    """

    def __init__(self, *, node_name: str, clock: LamportClock, rng: Random,
                 tags: Callable[[], Mapping[str, str]], relay_targets: RelayTargets) -> None:
        self._name = node_name
        self._clock = clock
        self._rng = rng
        self._tags = tags
        self._relay_targets = relay_targets
        self._seen: list[tuple[int, list[int]] | None] = [None] * QUERY_BUFFER
        self._open: dict[int, OutboundQuery] = {}
        self._answerable: OrderedDict[tuple[int, int], IncomingQuery] = OrderedDict()
        self.min_ltime = 0
        """Serf ``queryMinTime``: queries below it are ignored (set on a restart that
        restored an old clock)."""
        self.stats = QueryStats()

    # --- receiving ------------------------------------------------------------------

    def receive_query(self, msg: SerfQuery, now: float, *, encrypted: bool = False) -> QueryVerdict:
        """Serf ``handleQuery``: dedupe, filter, ack; the query for a handler.

        Args:
            encrypted: the query arrived sealed under one of our keys (or is ours):
                carried to ``IncomingQuery.encrypted``.
        Changes: witnesses the query clock, records the (LTime, ID) pair, and remembers
        the query as answerable until its deadline.
        """
        self._clock.witness(msg.ltime)
        if msg.ltime < self.min_ltime:
            self.stats.too_old += 1
            return QueryVerdict(rebroadcast=False)
        cur = self._clock.time()
        if cur > QUERY_BUFFER and msg.ltime < cur - QUERY_BUFFER:
            self.stats.too_old += 1  # outside the dedupe window: cannot tell if seen
            return QueryVerdict(rebroadcast=False)
        idx = msg.ltime % QUERY_BUFFER
        slot = self._seen[idx]
        if slot is not None and slot[0] == msg.ltime:
            if msg.id in slot[1]:
                self.stats.duplicates += 1
                return QueryVerdict(rebroadcast=False)
            if len(slot[1]) >= QUERY_BUFFER:  # a flood of IDs at one LTime: stop growing
                self.stats.duplicates += 1
                return QueryVerdict(rebroadcast=False)
        else:
            slot = (msg.ltime, [])
            self._seen[idx] = slot
        slot[1].append(msg.id)
        self.stats.queries += 1
        rebroadcast = not msg.flags & QUERY_FLAG_NO_BROADCAST
        if not filters_match(msg.filters, self._name, self._tags()):
            self.stats.filtered_out += 1
            return QueryVerdict(rebroadcast=rebroadcast)  # first sighting: pass it on anyway
        reply_to = querier_address(msg)
        if reply_to is None:
            return QueryVerdict(rebroadcast=rebroadcast)  # nowhere to answer
        timeout_s = min(max(msg.timeout_ns, 0) / 1e9, MAX_ANSWERABLE_S)
        query = IncomingQuery(
            ltime=msg.ltime, id=msg.id, name=msg.name, payload=msg.payload or b"",
            source_node=msg.source_node, reply_to=reply_to,
            relay_factor=msg.relay_factor, deadline=now + timeout_s, encrypted=encrypted,
        )
        sends: tuple[tuple[Address, bytes], ...] = ()
        if msg.flags & QUERY_FLAG_ACK:
            ack = SerfQueryResponse(ltime=msg.ltime, id=msg.id, from_=self._name,
                                    flags=QUERY_FLAG_ACK, payload=None)
            sends = self._answer(query, ack)
        self._remember_answerable(query, now)
        return QueryVerdict(rebroadcast=rebroadcast, sends=sends, deliver=query)

    def find(self, ltime: int, qid: int) -> OutboundQuery | None:
        """Our open query with this LTime and ID, if any."""
        query = self._open.get(ltime)
        return query if query is not None and query.id == qid else None

    def receive_response(self, msg: SerfQueryResponse, now: float) -> bool:
        """Serf ``handleQueryResponse``: record an ack or a response to our query.

        Returns:
            True if it was new and recorded.
        """
        query = self._open.get(msg.ltime)
        if query is None or query.id != msg.id:
            self.stats.unknown_answers += 1
            return False
        if query.closed or now > query.deadline:
            self.stats.late_answers += 1
            return False
        if msg.flags & QUERY_FLAG_ACK:
            if not query.request_ack or msg.from_ in query.acks:
                self.stats.duplicate_answers += 1
                return False
            query.acks[msg.from_] = None
            self.stats.acks += 1
            return True
        if msg.from_ in query.responses:
            self.stats.duplicate_answers += 1
            return False
        query.responses[msg.from_] = msg.payload or b""
        self.stats.responses += 1
        return True

    def receive_relay(self, msg: SerfRelay) -> tuple[Address, bytes] | None:
        """Serf's relay handling: forward the inner message to its destination.

        Serf forwards any inner bytes; here only a well-formed query response within
        the response size limit is forwarded, so a relay cannot be used to make this
        node send arbitrary datagrams.

        Returns:
            (destination, Serf payload) to send as a user message, or None (counted).
        """
        try:
            inner = decode_serf(msg.inner)
        except MalformedPacket:
            inner = None
        if (not isinstance(inner, SerfQueryResponse) or len(msg.inner) > QUERY_RESPONSE_SIZE_LIMIT
                or msg.dest_ip is None):
            self.stats.bad_relays += 1
            return None
        self.stats.relayed += 1
        return (bytes_to_ip(msg.dest_ip), msg.dest_port), msg.inner

    # --- answering ------------------------------------------------------------------

    def respond(self, query: IncomingQuery, payload: bytes | None, now: float) -> tuple[tuple[Address, bytes], ...]:
        """Serf ``Query.Respond``: our one response to a received query.

        Returns:
            The Serf payloads to send as user messages (the querier, then relays).
        Raises:
            QueryError: the response encodes to more than ``QUERY_RESPONSE_SIZE_LIMIT``
                bytes, the query was already answered, or its deadline passed.
        """
        resp = SerfQueryResponse(ltime=query.ltime, id=query.id, from_=self._name, flags=0,
                                 payload=payload)
        raw = encode_serf(resp)
        if len(raw) > QUERY_RESPONSE_SIZE_LIMIT:
            raise QueryError(f"response exceeds limit of {QUERY_RESPONSE_SIZE_LIMIT} bytes")
        key = (query.ltime, query.id)
        if key not in self._answerable:
            raise QueryError("response already sent")
        if now > query.deadline:
            del self._answerable[key]
            raise QueryError("response is past the deadline")
        del self._answerable[key]
        return self._answer(query, resp)

    def response_fits(self, query: IncomingQuery, payload: bytes | None) -> bool:
        """Whether ``respond`` would accept ``payload`` by size (to truncate a list)."""
        resp = SerfQueryResponse(ltime=query.ltime, id=query.id, from_=self._name, flags=0,
                                 payload=payload)
        return len(encode_serf(resp)) <= QUERY_RESPONSE_SIZE_LIMIT

    def _answer(self, query: IncomingQuery, resp: SerfQueryResponse) -> tuple[tuple[Address, bytes], ...]:
        raw = encode_serf(resp)
        sends = [(query.reply_to, raw)]
        if query.relay_factor:
            relay = encode_serf(SerfRelay(
                dest_ip=ip_to_bytes(query.reply_to[0]), dest_port=query.reply_to[1],
                dest_name=query.source_node, inner=raw,
            ))
            if len(relay) <= QUERY_RESPONSE_SIZE_LIMIT:  # Serf gives up the relays beyond it
                sends.extend((addr, relay) for addr in self._relay_targets(query.relay_factor))
        return tuple(sends)

    def _remember_answerable(self, query: IncomingQuery, now: float) -> None:
        self._answerable[(query.ltime, query.id)] = query
        while len(self._answerable) > MAX_ANSWERABLE:
            self._answerable.popitem(last=False)

    # --- querying -------------------------------------------------------------------

    def start_query(self, name: str, payload: bytes | None, params: QueryParams, *,
                    address: Address, members: int, gossip_interval_s: float,
                    now: float) -> tuple[OutboundQuery, bytes, QueryVerdict]:
        """Serf ``Query``: build a query, register it, and process it locally.

        Args:
            address: our advertised address (where answers must come).
            members: members known, us included (for the default timeout).
        Returns:
            (the open query, the Serf payload to broadcast, the verdict of processing it
            locally: our own ack and the query for our own handler).
        Raises:
            QueryError: the query encodes to more than ``QUERY_SIZE_LIMIT`` bytes,
                ``MAX_OPEN_QUERIES`` are open, or a parameter is out of range.
        """
        if len(self._open) >= MAX_OPEN_QUERIES:
            raise QueryError(f"too many queries open ({MAX_OPEN_QUERIES})")
        if not 0 <= params.relay_factor <= 255:
            raise QueryError(f"relay factor must be 0-255, got {params.relay_factor}")
        timeout_s = params.timeout_s
        if timeout_s is None:
            timeout_s = default_query_timeout(gossip_interval_s, members)
        if not 0 < timeout_s <= MAX_ANSWERABLE_S:
            raise QueryError(f"timeout must be in (0, {MAX_ANSWERABLE_S:g}] s, got {timeout_s}")
        msg = SerfQuery(
            ltime=self._clock.time(), id=self._rng.getrandbits(31), addr=ip_to_bytes(address[0]),
            port=address[1], source_node=self._name,
            filters=encode_filters(params.filter_nodes, params.filter_tags),
            flags=QUERY_FLAG_ACK if params.request_ack else 0,
            relay_factor=params.relay_factor, timeout_ns=round(timeout_s * 1e9),
            name=name, payload=payload,
        )
        raw = encode_serf(msg)
        if len(raw) > QUERY_SIZE_LIMIT:
            raise QueryError(f"query exceeds limit of {QUERY_SIZE_LIMIT} bytes")
        query = OutboundQuery(ltime=msg.ltime, id=msg.id, name=name, deadline=now + timeout_s,
                              request_ack=params.request_ack)
        old = self._open.pop(msg.ltime, None)
        if old is not None:
            old.closed = True  # Serf maps LTime -> query; the newer one wins
        self._open[msg.ltime] = query
        return query, raw, self.receive_query(msg, now, encrypted=True)

    def close(self, query: OutboundQuery) -> None:
        """Stop collecting for ``query`` (all expected answers are in)."""
        query.closed = True
        if self._open.get(query.ltime) is query:
            del self._open[query.ltime]

    def next_deadline(self) -> float:
        """When the earliest open query closes (inf: none open)."""
        if not self._open:  # the common case, without building a generator
            return math.inf
        return min((q.deadline for q in self._open.values()), default=math.inf)

    def expire(self, now: float) -> list[OutboundQuery]:
        """Close the queries whose deadline passed and forget stale answerable ones.

        Returns:
            The queries closed now (their collection is final).
        """
        done = [q for q in self._open.values() if now >= q.deadline]
        for q in done:
            self.close(q)
        stale = [k for k, q in self._answerable.items() if now > q.deadline]
        for k in stale:
            del self._answerable[k]
        return done

    @property
    def open_queries(self) -> int:
        return len(self._open)


def querier_address(msg: SerfQuery) -> Address | None:
    """Where a query's acks and responses go (its ``Addr``/``Port``); None if invalid."""
    if not msg.addr or not 0 < msg.port <= 0xFFFF:
        return None
    return bytes_to_ip(msg.addr), msg.port
