"""Acknowledged means replicated: the coordinator's replica confirmations.

A write the coordinator answers 200 must survive the coordinator's death at that very
moment. So before answering a state change of an HTTP-registered node (registration,
shutdown notice, maintenance switch, delete) the coordinator

1. waits until the record is committed to its own store, and
2. sends the record over the cluster request channel (``KIND_REPLICA``) to other live
   claw members; each merges it, waits for its own store commit, and only then confirms.

It answers once ``needed`` members confirmed. ``needed`` is ``--write-replicas`` when
set, else ``min(DEFAULT_WRITE_REPLICAS, live members − 1)``: 0 for a node alone (its own
store is all there is), 1 with two nodes, 2 from three on. An explicit value larger than
the live members can give fails every write (the operator asked for it).

Up to ``REPLICA_FANOUT`` members, in a random order, are sent the record at once (at
least ``needed``); a member that fails is replaced by the next one, until ``needed``
confirmed, the candidates ran out, or ``REPLICA_CONFIRM_TIMEOUT_S`` passed. The answer
does not wait for the copies beyond ``needed``: they finish in the background, so in a
small cluster every live member holds the record within a round trip instead of waiting
for gossip (a member that had just rejoined missed it once, and push-pull repaired it
only ~30 s later). Then ``NotReplicated`` is raised and the API
answers 503 with ``applied: unknown``: the write may or may not be in effect (it is on
the coordinator and perhaps on some members, and gossip keeps spreading it). Every write
is idempotent (a registration with its ``node_id``, a heartbeat, a shutdown, a
maintenance switch or a delete applied twice ends in the same state), so the client
retries it.

Resource heartbeats of HTTP workers are answered on the coordinator's own word: each one
supersedes the previous one within seconds, losing one costs nothing the next does not
repair, and waiting for replicas would add a round trip to the most frequent request.
The heartbeat check's offline/suspect marks are the coordinator's own judgement, redone
by any successor, and are not confirmed either.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

from api.registry import HttpNodeRecord
from gossip.channel import ChannelCall
from gossip.events import Member
from gossip.types import MemberState

from .peer_requests import REPLICA_CONFIRMED
from .store_writer import StoreWriter

__all__ = [
    "DEFAULT_WRITE_REPLICAS", "REPLICA_CONFIRM_TIMEOUT_S", "REPLICA_FANOUT", "DurableWrites",
    "NotReplicated", "ReplicaConfirmer",
    "replicas_needed",
]

DEFAULT_WRITE_REPLICAS = 2
"""Members (besides the coordinator) that confirm a write when ``--write-replicas`` is
not set, fewer when fewer are live: with 3 copies one more failure is survived."""
REPLICA_FANOUT = 8
"""Members sent each record directly (when there are that many): every member of a
small cluster; in a larger one the rest get it by gossip."""
REPLICA_CONFIRM_TIMEOUT_S = 5.0
"""Seconds the coordinator waits for the confirmations of one write before answering 503
(well inside the 15 s a relayed write may take, ``ApiConfig.forward_timeout_s``)."""

SendReplica = Callable[[str, bytes, float], Awaitable[None]]
"""Sends a replica to member ``name`` and returns once it confirmed (within the given
seconds); raises on any failure."""


class NotReplicated(Exception):
    """Too few members confirmed a write in time; the message says which and why."""


def replicas_needed(configured: int | None, live_others: int) -> int:
    """Confirmations one write needs (``configured``: ``--write-replicas``, None: default)."""
    if configured is None:
        return min(DEFAULT_WRITE_REPLICAS, live_others)
    return configured


class ReplicaConfirmer:
    """Collects the confirmations of one write at a time (many writes may run at once).

    Args:
        send: delivers a replica to one member and waits for its confirmation.
        candidates: the live claw members other than this node, by name.
        configured: ``--write-replicas`` (None: the default, see ``replicas_needed``).
        timeout_s: bound of one write's confirmations.
        rng: orders the candidates (spreads the replicas over the members).
    """

    def __init__(self, *, send: SendReplica, candidates: Callable[[], list[str]],
                 configured: Callable[[], int | None],
                 timeout_s: float = REPLICA_CONFIRM_TIMEOUT_S,
                 rng: random.Random | None = None) -> None:
        self._send = send
        self._candidates = candidates
        self._configured = configured
        self.timeout_s = timeout_s
        self._rng = rng or random.Random()
        self._copies: set[asyncio.Task[None]] = set()
        """Sends still running after their write was answered (see ``aclose``)."""

    async def confirm(self, body: bytes) -> list[str]:
        """Replicate ``body`` (an encoded record) until enough members confirmed.

        Returns:
            The members that confirmed (empty when none is needed).

        Raises:
            NotReplicated: too few confirmed within ``timeout_s``.
        """
        names = self._candidates()
        self._rng.shuffle(names)
        needed = replicas_needed(self._configured(), len(names))
        if needed <= 0:
            return []
        if needed > len(names):
            raise NotReplicated(f"needs {needed} replica(s) (--write-replicas) but only "
                                f"{len(names)} other live member(s) can hold one")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        waiting = iter(names)
        running: dict[asyncio.Task[None], str] = {}
        confirmed: list[str] = []
        failures: list[str] = []

        def ask_next() -> None:
            name = next(waiting, None)
            if name is not None:
                coro = self._send(name, body, max(0.0, deadline - loop.time()))
                running[asyncio.ensure_future(coro)] = name

        for _ in range(max(needed, REPLICA_FANOUT)):
            ask_next()
        try:
            while len(confirmed) < needed and running:
                left = deadline - loop.time()
                if left <= 0:
                    break
                done, _ = await asyncio.wait(running, timeout=left,
                                             return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    name = running.pop(task)
                    error = task.exception()
                    if error is None:
                        confirmed.append(name)
                    else:
                        failures.append(f"{name}: {error or type(error).__name__}")
                        ask_next()
        finally:
            if len(confirmed) >= needed:  # answered: the other copies finish on their own
                for task in running:
                    self._copies.add(task)
                    task.add_done_callback(self._copy_done)
            else:
                for task in running:
                    task.cancel()
        if len(confirmed) < needed:
            late = [running[t] for t in running]
            reason = "; ".join(failures + [f"{n}: no confirmation within {self.timeout_s:g} s"
                                           for n in late]) or "no member answered"
            raise NotReplicated(f"{len(confirmed)} of {needed} replica(s) confirmed ({reason})")
        return confirmed

    def _copy_done(self, task: asyncio.Task[None]) -> None:
        self._copies.discard(task)
        if not task.cancelled():
            task.exception()  # a failed extra copy: gossip still carries the record

    async def aclose(self) -> None:
        """Cancel the extra copies still in flight (at shutdown)."""
        copies = list(self._copies)
        for task in copies:
            task.cancel()
        await asyncio.gather(*copies, return_exceptions=True)


class DurableWrites:
    """Both ends of "acknowledged means replicated": the coordinator's ``make_durable``
    and a member's ``serve_replica`` (the ``KIND_REPLICA`` request handler).

    Args:
        send: delivers a replica to one member (``ClusterChannel.send_replica``).
        members: this node's member table.
        node_id: this node's id (known once the store is open).
        configured: ``--write-replicas`` as the agent started (None: the default).
        writer: the store's writer, once the store is open (None before and after).
        merge: merges a received record into the registry; True if it changed it.
        gossip: gossips a record on, in rounds of its own (``RegistryFeed.gossip``).
    """

    def __init__(self, *, send: SendReplica, members: Callable[[], list[Member]],
                 node_id: Callable[[], str], configured: int | None,
                 writer: Callable[[], StoreWriter | None],
                 merge: Callable[[HttpNodeRecord], bool],
                 gossip: Callable[[HttpNodeRecord], None]) -> None:
        self._members = members
        self._node_id = node_id
        self._writer = writer
        self._merge = merge
        self._gossip = gossip
        self._configured = configured
        self.confirmer = ReplicaConfirmer(send=send, candidates=self.candidates,
                                          configured=lambda: configured)
        """Collects the members' confirmations."""

    def candidates(self) -> list[str]:
        """Live claw members other than this node: each keeps a store."""
        node_id = self._node_id()
        return [m.name for m in self._members()
                if m.name != node_id and m.state == MemberState.ALIVE and m.is_claw]

    async def make_durable(self, record: HttpNodeRecord) -> list[str]:
        """Return once ``record`` (just written by this coordinator) is committed to this
        node's store and confirmed by enough members.

        Returns:
            The members that confirmed.

        Raises:
            NotReplicated: the own store write failed, or too few members confirmed.
        """
        async def own_commit() -> None:
            writer = self._writer()
            if writer is not None:
                try:
                    await writer.settled()  # the write the registry's change submitted
                except Exception as exc:
                    raise NotReplicated(f"this node's store write failed: {exc}") from exc

        if replicas_needed(self._configured, len(self.candidates())) == 0:
            await own_commit()  # alone: no record to encode, no replica round to start
            return []
        _, confirmed = await asyncio.gather(own_commit(),
                                            self.confirmer.confirm(record.to_bytes()))
        return confirmed

    async def serve_replica(self, call: ChannelCall) -> bytes:
        """A record from the coordinator: merge it, answer once it is in our store."""
        record = HttpNodeRecord.from_bytes(call.body)  # ValueError: answered as an error
        if self._merge(record):
            # Gossip it on too, in gossip rounds of its own (app messages otherwise only
            # ride on probes): the coordinator may die right after the answer, before its
            # own broadcast went out; the replicas are then the epidemic's sources.
            self._gossip(record)
        writer = self._writer()
        if writer is None:
            raise RuntimeError("no store")
        await writer.settled()  # our copy (or a newer one) is committed
        return REPLICA_CONFIRMED

    async def aclose(self) -> None:
        """Cancel the extra copies still in flight (at shutdown)."""
        await self.confirmer.aclose()
