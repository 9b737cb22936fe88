"""Serf queries inside a core: ``SerfQueries``' decisions put on the wire.

``UserMessages`` hands query, query-response and relay messages here. ``QueryRouter``
feeds them to ``SerfQueries`` and carries out what it decides: a query new to us goes
on the Serf broadcast queue as received (Serf re-broadcasts it byte for byte), except a
plaintext key change we would seal (``key_queries.passes_on``); acks,
responses and relayed copies leave as single user-message datagrams to an address
(memberlist ``SendToAddress``: no piggybacking, no CRC, compressed only if that makes
them smaller); the application hears of queries and answers through events. The core
forwards its query commands (``SwimProtocol.start_query`` ...) and runs ``expire`` from
its timer table.

A query's few transmits (memberlist: ``retransmit_mult`` x ceil(log10(N+1)), 2 in a
3-node cluster with the local profile) go each to a different member and never back to
its querier (``BroadcastQueue.push(once_per_member=...)``); spent blindly, as memberlist
does, both could go to one node, and a third node then missed the query and its answer
missed Serf's deadline.

With a keyring, answers to our key queries count only if they arrived sealed, and a
relay that arrived in plaintext is not forwarded sealed: while
``gossip_verify_incoming`` is off anyone could otherwise fake how many nodes hold a key
(Serf counts every answer memberlist accepts, and relays whatever it is sent). Our own
answers to our own queries never touch the network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from random import Random

from . import codec
from .events import Event, QueryAnswered, QueryFinished, QueryReceived
from .internal_queries import CONFLICT_QUERY, conflict_response, handled_here
from .key_queries import KEY_QUERIES, passes_on
from .membership import Membership, MemberRecord
from .messages import SerfQuery, SerfQueryResponse, SerfRelay, UserMsg
from .outbox import Outbox
from .serf_codec import decode_serf
from .serf_layer import LamportClock
from .serf_query import (
    QUERY_FLAG_ACK, IncomingQuery, OutboundQuery, QueryError, QueryParams, QueryVerdict, SerfQueries, default_query_timeout,
    querier_address,
)
from .tags import decode_tags
from .types import Address, MemberState
from .wire_encryption import WireEncryption

__all__ = ["QueryRouter", "RELAY_MIN_PROTOCOL"]

RELAY_MIN_PROTOCOL = 5
"""Serf relays only through members whose memberlist protocol max is at least 5."""


class QueryRouter:
    """One core's queries.

    Args:
        members: the core's member table (``adopt`` replaces it).
        me: the core's own record (name, address, tags for filters).
        clock: Serf's query Lamport clock.
        rng: the core's randomness (query IDs, relay choice).
        outbox: where datagrams and broadcasts go.
        emit: queues an event for the application.
        gossip_interval_s: for Serf's default query timeout.
        encryption: the core's encryption layer (keys installed? sealing what we send?).
    """

    def __init__(self, members: Membership, me: MemberRecord, clock: LamportClock, rng: Random,
                 outbox: Outbox, *, emit: Callable[[Event], None], gossip_interval_s: float,
                 encryption: WireEncryption) -> None:
        self._members = members
        self._self = me
        self._rng = rng
        self._outbox = outbox
        self._encryption = encryption
        self._emit = emit
        self._gossip_interval_s = gossip_interval_s
        self.queries = SerfQueries(node_name=me.name, clock=clock, rng=rng,
                                   tags=self._tags, relay_targets=self._relay_targets)

    def adopt(self, members: Membership) -> None:
        """Use ``members`` from now on (the core replaced its table)."""
        self._members = members

    # --- messages -----------------------------------------------------------------

    def on_message(self, msg: SerfQuery | SerfQueryResponse | SerfRelay, payload: bytes,
                   now: float, encrypted: bool) -> None:
        """A query, response or relay arrived (``payload``: the Serf bytes as received;
        ``encrypted``: in a datagram or stream sealed under one of our keys)."""
        if isinstance(msg, SerfQuery):
            verdict = self.queries.receive_query(msg, now, encrypted=encrypted)
            if verdict.rebroadcast and passes_on(msg.name, encrypted, self._encryption.sealing):
                self._rebroadcast(payload, querier_address(msg))
            self._carry_out(verdict, now)
        elif isinstance(msg, SerfQueryResponse):
            self._on_answer(msg, now, encrypted)
        elif not encrypted and self._encryption.sealing:
            self.queries.stats.plaintext_relays += 1  # forwarding would seal it: laundering
        else:
            forward = self.queries.receive_relay(msg)
            if forward is not None:
                self._send(*forward, now, encrypted=encrypted)

    def _on_answer(self, msg: SerfQueryResponse, now: float, encrypted: bool) -> None:
        if not encrypted and self._encryption.enabled:
            query = self.queries.find(msg.ltime, msg.id)
            if query is not None and query.name in KEY_QUERIES:
                self.queries.stats.plaintext_answers += 1
                return
        if self.queries.receive_response(msg, now):
            query = self.queries.find(msg.ltime, msg.id)
            assert query is not None  # it was just recorded there
            self._emit(QueryAnswered(query, msg.from_, ack=bool(msg.flags & QUERY_FLAG_ACK)))

    def _rebroadcast(self, payload: bytes, querier: Address | None) -> None:
        """Queue a query (Serf bytes) for gossip: each transmit to another member, none
        to the querier, which has it."""
        self._outbox.serf.push(codec.encode_message(UserMsg(payload)),
                               once_per_member=() if querier is None else (querier,))

    # --- commands -----------------------------------------------------------------

    def start(self, name: str, payload: bytes | None, params: QueryParams, now: float) -> OutboundQuery:
        """Serf ``Query`` (see ``SerfQueries.start_query``); also handled locally."""
        query, raw, local = self.queries.start_query(
            name, payload, params, address=self._self.address, members=self.live_count(),
            gossip_interval_s=self._gossip_interval_s, now=now)
        self._rebroadcast(raw, None)
        self._carry_out(local, now)
        return query

    def respond(self, query: IncomingQuery, payload: bytes | None, now: float) -> None:
        """Send our response to ``query`` (raises ``QueryError``)."""
        for address, raw in self.queries.respond(query, payload, now):
            self._send(address, raw, now)

    def default_timeout(self) -> float:
        """Serf's default timeout for a query started now (seconds)."""
        return default_query_timeout(self._gossip_interval_s, self.live_count())

    def expire(self, now: float) -> None:
        """Close the queries whose deadline passed (``QueryFinished`` for each)."""
        for query in self.queries.expire(now):
            self._emit(QueryFinished(query))

    def live_count(self) -> int:
        """memberlist ``NumMembers``: members not dead or left, us included."""
        return sum(1 for r in self._members if r.state in (MemberState.ALIVE, MemberState.SUSPECT))

    # --- internals ----------------------------------------------------------------

    def _carry_out(self, verdict: QueryVerdict, now: float) -> None:
        for address, raw in verdict.sends:
            self._send(address, raw, now)
        query = verdict.deliver
        if query is None:
            return
        if query.internal and handled_here(query.name):
            self._answer_internal(query, now)
        else:
            self._emit(QueryReceived(query))

    def _answer_internal(self, query: IncomingQuery, now: float) -> None:
        """Serf ``serfQueries.handleQuery`` for ping (the ack is all) and conflict."""
        if query.name != CONFLICT_QUERY:
            return
        name = query.payload.decode("utf-8", "surrogateescape")
        if name == self._self.name:
            return  # Serf: a conflict query about us is not ours to answer
        raw = conflict_response(self._members.get(name))
        try:
            sends = self.queries.respond(query, raw, now)
        except QueryError:
            return  # larger than a response may be (a huge tag set): Serf gives up too
        for address, data in sends:
            self._send(address, data, now)

    def _send(self, address: Address, serf_bytes: bytes, now: float, *,
              encrypted: bool = True) -> None:
        """Send a query answer (Serf bytes) to ``address``; one to ourselves is taken
        here (Serf sends it to itself by UDP), counted as sealed if it is our own
        (``encrypted``: false for a relayed copy that arrived in plaintext)."""
        if address == self._self.address:
            answer = decode_serf(serf_bytes)
            assert isinstance(answer, SerfQueryResponse)  # only answers are sent or relayed
            self._on_answer(answer, now, encrypted)
            return
        self._outbox.emit(address, codec.encode_message(UserMsg(serf_bytes)), crc=False)

    def _tags(self) -> dict[str, str]:
        return decode_tags(self._self.meta)  # bound methods, not lambdas: cores are pickled

    def _relay_targets(self, k: int) -> Sequence[Address]:
        """Serf ``kRandomMembers``: up to k alive members other than us that relay."""
        if len(self._members) < k + 1:  # Serf: worth it only with k *other* members
            return ()
        candidates = [r for r in self._members if r is not self._self
                      and r.state is MemberState.ALIVE and r.pmax >= RELAY_MIN_PROTOCOL]
        return [r.address for r in self._rng.sample(candidates, min(k, len(candidates)))]
