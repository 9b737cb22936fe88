"""Key rotation across the cluster: Serf's key queries, answered and sent by the agent.

Answering (``answer``): a ``_serf_*-key`` query from any node (``serf keys`` on a Serf
agent, or another claw node) is planned on a copy of the keyring
(``gossip.key_queries.plan_answer``), the resulting keyring is written to the keyring
file, and only then applied to the live keyring and acknowledged. A change that cannot
be persisted is answered as a failure and not applied, so a restart never brings back a
keyring the cluster was told this node no longer has (Consul's issues #719, #4163).

Asking (``list``, ``install``, ``use``, ``remove``): the operator's commands run the same
queries from this node and wait for every live member's answer (or the query's
deadline). ``use`` and ``remove`` list first and refuse, naming the nodes, a change that
would leave a live node unable to decrypt: ``use K`` while a node does not hold K (or
did not answer the list), ``remove K`` while a node still encrypts with K.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from gossip.errors import KeyringError
from gossip.events import Event, QueryAnswered, QueryFinished, QueryReceived
from gossip.key_queries import (
    INSTALL_KEY,
    KEY_QUERIES,
    LIST_KEYS,
    REMOVE_KEY,
    USE_KEY,
    KeySummary,
    NodeKeyResponse,
    encode_key_request,
    encode_key_response,
    plan_answer,
    summarize,
)
from gossip.keyring import Keyring
from gossip.serf_query import IncomingQuery, OutboundQuery, QueryError, QueryParams
from gossip.types import MemberState

from .keyring_file import KeyringFileError, fingerprint, write_keyring_file

if TYPE_CHECKING:
    from gossip.udp import GossipTransport

__all__ = ["ClusterKeys", "KeyChangeRefused", "KeyQueryPort", "KeyReport", "TransportKeyPort"]

log = logging.getLogger(__name__)

MAX_PENDING_ANSWERS = 64
"""Key queries waiting to be answered at once (each may write the keyring file);
beyond it new ones are dropped and counted (``dropped``): a flood cannot queue
unbounded work."""

QUERY_WAIT_MARGIN_S = 1.0
"""Seconds past a query's deadline that ``run`` waits for the core to close it before
giving up (a stopped transport must not hang an operator's command)."""


class KeyQueryPort(Protocol):
    """What ``ClusterKeys`` needs from the gossip side (the agent's transport)."""

    def start_query(self, name: str, payload: bytes, params: QueryParams) -> OutboundQuery:
        """Start a query (raises ``QueryError``)."""
        ...

    def respond(self, query: IncomingQuery, payload: bytes) -> None:
        """Answer a received query (raises ``QueryError``)."""
        ...

    def response_fits(self, query: IncomingQuery, payload: bytes) -> bool:
        ...

    def close_query(self, query: OutboundQuery) -> None:
        ...

    def live_members(self) -> list[str]:
        """Names of the members that are alive or suspect, us included."""
        ...


class KeyChangeRefused(Exception):
    """A ``use`` or ``remove`` that would lock live nodes out; ``nodes`` names them."""

    def __init__(self, message: str, nodes: tuple[str, ...]) -> None:
        super().__init__(message)
        self.nodes = nodes


@dataclass(frozen=True, slots=True)
class KeyReport:
    """The outcome of one cluster-wide key command."""

    action: str
    """``list``, ``install``, ``use`` or ``remove``."""
    summary: KeySummary
    primary_key: str | None
    """This node's primary key (base64) after the command, None without encryption."""

    @property
    def lacking_primary(self) -> tuple[str, ...]:
        """Live nodes that do not hold this node's primary key (list only; else empty)."""
        if self.primary_key is None or self.action != "list":
            return ()
        return self.summary.lacking(self.primary_key)


class ClusterKeys:
    """The agent's key manager.

    Args:
        port: the gossip side.
        keyring: the live keyring (shared with the encryption layer).
        keyring_path: the keyring file (None: changes are not persisted, e.g. no data
            dir); written before every change is applied.
        write: how the file is written (``write_keyring_file``; tests inject failures).
    """

    def __init__(self, port: KeyQueryPort, keyring: Keyring, keyring_path: Path | None, *,
                 write: Callable[[Path, tuple[bytes, ...]], None] = write_keyring_file) -> None:
        self._port = port
        self.keyring = keyring
        self._path = keyring_path
        self._write = write
        self._waiters: dict[int, tuple[OutboundQuery, asyncio.Event, frozenset[str]]] = {}
        self._lock = asyncio.Lock()  # one cluster-wide command at a time, as Serf's KeyManager
        self._answering = asyncio.Lock()  # changes applied in the order they arrive
        self._tasks: set[asyncio.Task[None]] = set()
        self.dropped = 0
        """Key queries not answered because ``MAX_PENDING_ANSWERS`` were pending."""

    # --- events from the gossip core -------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Feed every core event: key queries are answered in the background, answers
        to our own queries wake ``list``/``install``/``use``/``remove``."""
        if isinstance(event, QueryReceived):
            if event.query.name in KEY_QUERIES:
                if len(self._tasks) >= MAX_PENDING_ANSWERS:
                    self.dropped += 1
                    return
                task = asyncio.get_running_loop().create_task(self.answer(event.query))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        elif isinstance(event, (QueryAnswered, QueryFinished)):
            self.on_answer(event.query)

    async def aclose(self) -> None:
        """Cancel the answers still being written (the agent is stopping)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- answering ------------------------------------------------------------------

    async def answer(self, query: IncomingQuery) -> None:
        """Answer a key query: plan, persist, apply, respond. Never raises."""
        async with self._answering:
            plan = plan_answer(query.name, query.payload, self.keyring,
                               fits=lambda raw: self._port.response_fits(query, raw),
                               encrypted=query.encrypted)
            response = plan.response
            if plan.keys is not None:
                response = await self._persist_then_apply(plan.keys, plan.apply, response)
            try:
                self._port.respond(query, response)
            except (QueryError, RuntimeError) as exc:
                log.warning("cannot answer %s from %s: %s", query.name, query.source_node, exc)

    async def _persist_then_apply(self, keys: tuple[bytes, ...], apply: Callable[[Keyring], None],
                                  ok_response: bytes) -> bytes:
        if self._path is not None:
            try:
                await asyncio.to_thread(self._write, self._path, keys)
            except KeyringFileError as exc:
                log.error("key change not applied: %s", exc)
                return encode_key_response(NodeKeyResponse(result=False, message=str(exc)))
        try:
            apply(self.keyring)
        except KeyringError as exc:  # the keyring changed under us since planning
            return encode_key_response(NodeKeyResponse(result=False, message=str(exc)))
        log.info("keyring changed: %d key(s), primary %s", len(self.keyring),
                 fingerprint(self.keyring.primary or b""))
        return ok_response

    # --- asking ---------------------------------------------------------------------

    async def list(self) -> KeyReport:
        """``serf keys -list``: every live node's keys."""
        async with self._lock:
            return KeyReport("list", await self._run(LIST_KEYS, b""), self._primary())

    async def install(self, key: bytes) -> KeyReport:
        """``serf keys -install``: add ``key`` everywhere (decrypting only)."""
        async with self._lock:
            return KeyReport("install", await self._run(INSTALL_KEY, key), self._primary())

    async def use(self, key: bytes) -> KeyReport:
        """``serf keys -use``: make ``key`` primary everywhere.

        Raises:
            KeyChangeRefused: a live node does not hold ``key`` (it could not read what
                the others would then send).
        """
        return await self._guarded(
            USE_KEY, key, lambda listed: listed.lacking(_text(key)),
            "{n} live node(s) do not hold it (install it first)")

    async def remove(self, key: bytes) -> KeyReport:
        """``serf keys -remove``: drop ``key`` everywhere.

        Raises:
            KeyChangeRefused: a live node still encrypts with ``key`` (the others could
                no longer read it).
        """
        return await self._guarded(
            REMOVE_KEY, key, lambda listed: listed.using_as_primary(_text(key)),
            "it is the primary key of {n} live node(s) (use another key first)")

    async def _guarded(self, name: str, key: bytes,
                       blockers: Callable[[KeySummary], tuple[str, ...]], why: str) -> KeyReport:
        """List first; refuse naming ``blockers(listed)`` if any, else run ``name``."""
        action = name.removeprefix("_serf_").removesuffix("-key")
        async with self._lock:
            nodes = blockers(await self._run(LIST_KEYS, b""))
            if nodes:
                raise KeyChangeRefused(
                    f"refusing to {action} key {fingerprint(key)}: {why.format(n=len(nodes))}: "
                    f"{', '.join(nodes)}", nodes)
            return KeyReport(action, await self._run(name, key), self._primary())

    async def _run(self, name: str, key: bytes) -> KeySummary:
        live = frozenset(self._port.live_members())
        query = self._port.start_query(name, encode_key_request(key), QueryParams())
        done = asyncio.Event()
        self._waiters[id(query)] = (query, done, live)
        try:
            self._check_done(query)
            loop = asyncio.get_running_loop()
            wait_s = max(query.deadline - loop.time(), 0.0) + QUERY_WAIT_MARGIN_S
            try:
                await asyncio.wait_for(done.wait(), wait_s)
            except TimeoutError:
                pass  # the transport stopped; report what arrived
        finally:
            self._waiters.pop(id(query), None)
            self._port.close_query(query)
        return summarize(dict(query.responses), live)

    def on_answer(self, query: OutboundQuery) -> None:
        """An ack or response arrived for ``query`` (or it closed): wake its waiter once
        every live node answered, as Serf's key manager returns early."""
        self._check_done(query)

    def _check_done(self, query: OutboundQuery) -> None:
        entry = self._waiters.get(id(query))
        if entry is None:
            return
        _, done, live = entry
        if query.closed or live <= query.responses.keys():
            done.set()

    def _primary(self) -> str | None:
        primary = self.keyring.primary
        return None if primary is None else _text(primary)


class TransportKeyPort:
    """``KeyQueryPort`` over the agent's ``gossip.udp.GossipTransport``."""

    def __init__(self, transport: GossipTransport) -> None:
        self._transport = transport

    def start_query(self, name: str, payload: bytes, params: QueryParams) -> OutboundQuery:
        return self._transport.invoke(lambda core, now: core.start_query(name, payload, params, now))

    def respond(self, query: IncomingQuery, payload: bytes) -> None:
        self._transport.invoke(lambda core, now: core.respond_query(query, payload, now))

    def response_fits(self, query: IncomingQuery, payload: bytes) -> bool:
        return self._transport.core.query_response_fits(query, payload)

    def close_query(self, query: OutboundQuery) -> None:
        if self._transport.running:
            self._transport.invoke(lambda core, now: core.close_query(query, now))

    def live_members(self) -> list[str]:
        return [m.name for m in self._transport.core.members()
                if m.state in (MemberState.ALIVE, MemberState.SUSPECT)]


def _text(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")
