"""``Joiner``: joining the cluster through seeds, retried with backoff until one answers.

The seeds are the ``--join`` addresses or, without any, the peers the store remembers
from the last run (``PeerMemory`` decides when to write them). A node counts as settled
(it may claim the coordinator role) once it joined, when it has nobody to join, or after
``JOIN_GRACE_S`` of failures: nodes of a cluster booting together then do not each elect
themselves for a moment, and a node whose seeds are all down still runs alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable

from gossip.events import JoinResult
from gossip.types import Address
from gossip.udp import GossipTransport

__all__ = [
    "JOIN_BACKOFF_START_S",
    "JOIN_GRACE_S",
    "PEER_QUIET_S",
    "PEER_SAVE_INTERVAL_S",
    "Joiner",
    "PeerMemory",
]

log = logging.getLogger(__name__)

JOIN_GRACE_S = 10.0
"""Failed joining this long: run alone (elect ourselves) while still retrying."""
JOIN_BACKOFF_START_S = 1.0
"""First wait between two join attempts, seconds; doubles up to ``--join-backoff-max``."""
JOIN_ROUND_SLACK_S = 2.0
"""Seconds an attempt waits for answers beyond gossip's TCP timeout."""
PEER_SAVE_INTERVAL_S = 30.0
"""How often alive peers are written to the store (for rejoining without --join) when
nobody joined since the last write."""
PEER_QUIET_S = 5.0
"""New peers are saved once no member has joined for this long (seconds), or after
``PEER_SAVE_INTERVAL_S``: while a cluster forms, every join would otherwise rewrite the
peer table (an fsync per agent every few seconds)."""


class Joiner:
    """Runs the join attempts of one agent.

    Args:
        transport: the running gossip transport (joins go through it).
        node_id: this node (its own advertised address is never a seed).
        seeds: the configured seeds (``--join``) or, when there are none, the remembered
            peers; called before each attempt.
        tcp_timeout_s: gossip's TCP timeout (a join is a push-pull over TCP); an attempt
            waits ``JOIN_ROUND_SLACK_S`` longer for the answers.
        backoff_max_s: longest wait between two attempts (``--join-backoff-max``).
        on_settled: called when the node may claim the role (see the module docstring);
            may be called more than once.
    """

    def __init__(self, transport: GossipTransport, *, node_id: str,
                 seeds: Callable[[], list[Address]], tcp_timeout_s: float,
                 backoff_max_s: float, on_settled: Callable[[], None]) -> None:
        self._transport = transport
        self._node_id = node_id
        self._seeds = seeds
        self._attempt_timeout_s = tcp_timeout_s + JOIN_ROUND_SLACK_S
        self._backoff_max_s = backoff_max_s
        self._on_settled = on_settled
        self._settled = False
        self._round: _Round | None = None
        self.first_attempt_done = asyncio.Event()
        """Set once the first attempt ended (or there was nobody to join)."""

    async def run(self) -> None:
        """Attempt joins until one succeeds or there is nobody to join."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        delay = JOIN_BACKOFF_START_S
        while True:
            seeds = await self._resolve_seeds()
            if not seeds:
                break
            joined = await self._join_once(seeds)
            self.first_attempt_done.set()
            if joined:
                break
            if not self._settled and loop.time() - started >= JOIN_GRACE_S:
                log.warning("no seed answered (%s); running alone meanwhile, still retrying",
                            ", ".join(f"{h}:{p}" for h, p in seeds))
                self._settle()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff_max_s)
        self.first_attempt_done.set()
        self._settle()

    def on_result(self, event: JoinResult) -> None:
        """Feed a ``JoinResult`` event from gossip (one per seed of an attempt)."""
        round_ = self._round
        if round_ is None:
            return
        round_.pending -= 1
        if event.ok:
            round_.ok = True
            self._settle()
        else:
            host, port = event.seed
            log.warning("join through %s failed: %s", f"{host}:{port}",
                        event.error or "no answer")
        if event.ok or round_.pending <= 0:
            round_.done.set()

    def _settle(self) -> None:
        self._settled = True
        self._on_settled()

    async def _resolve_seeds(self) -> list[Address]:
        transport = self._transport
        own = transport.address
        own_member = transport.core.member(self._node_id)
        own_advertised = own_member.address if own_member is not None else None
        loop = asyncio.get_running_loop()
        out: list[Address] = []
        for host, port in self._seeds():
            try:
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
            except OSError as exc:
                log.warning("--join %s:%d: cannot resolve: %s", host, port, exc)
                continue
            for info in infos[:1]:
                addr = (str(info[4][0]), int(info[4][1]))
                if addr not in (own, own_advertised) and addr not in out:
                    out.append(addr)
        return out

    async def _join_once(self, seeds: list[Address]) -> bool:
        """One join attempt through every seed; True if any answered."""
        round_ = self._round = _Round(pending=len(seeds))
        self._transport.join(seeds)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._attempt_timeout_s):
                await round_.done.wait()
        self._round = None
        if round_.ok:
            log.info("joined the cluster")
        return round_.ok


class _Round:
    """The answers awaited by one join attempt."""

    def __init__(self, pending: int) -> None:
        self.pending = pending
        self.ok = False
        self.done = asyncio.Event()


class PeerMemory:
    """When to write the alive peers to the store, for rejoining without ``--join``.

    Sans-I/O: the agent calls ``due`` with its event loop's time every few seconds.
    """

    def __init__(self) -> None:
        self._last_saved = -PEER_SAVE_INTERVAL_S
        self._dirty = False
        self._last_join_at = 0.0
        self._saved_once = False

    @property
    def last_join_at(self) -> float:
        """When a member last joined (event loop time)."""
        return self._last_join_at

    def member_joined(self, now: float) -> bool:
        """A member joined at ``now``: the peers changed.

        Returns True while no peers were ever saved: the caller saves this one at once.
        A node killed in the seconds after its cluster formed (before the first periodic
        save) would otherwise restart knowing nobody, think itself alone and acknowledge
        writes with no replica (seen in the lab: a seed killed 1 s after the others
        joined)."""
        self._dirty = True
        self._last_join_at = now
        return not self._saved_once

    def due(self, now: float, have_peers: bool) -> bool:
        """Whether to save the peers now: they changed and no member joined for
        ``PEER_QUIET_S``, or ``PEER_SAVE_INTERVAL_S`` passed since the last save. True
        counts as saved."""
        quiet = now - self._last_join_at >= PEER_QUIET_S
        if have_peers and ((self._dirty and quiet) or now - self._last_saved >= PEER_SAVE_INTERVAL_S):
            self._dirty = False
            self._last_saved = now
            self._saved_once = True
            return True
        return False
