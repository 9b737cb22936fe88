"""``StoreWriter``: the agent's store writes, off the event loop, in order, none lost.

A store write ends in an fsync (milliseconds to tens of milliseconds), so writes run in
a worker thread while the event loop keeps answering probes. Writes queued while one
transaction commits go together in the next one (a group commit: one fsync for up to
``MAX_BATCH`` writes), so concurrent registrations do not queue behind each other's
fsyncs. If a batch fails, its writes run again one by one, so each failure is its own.

Writes that nothing waits for (a new coordinator term, an HTTP-registered record merged
from gossip) are ``submit``-ted; the writer keeps them, and ``aclose`` waits for every
one of them before closing the store: a record merged just before a SIGTERM is on disk
after the graceful stop. ``settled`` waits for the writes submitted so far and says
whether they failed: a write is acknowledged to a client only after it
(``node.write_replicas``).

A registry row is written with ``submit_latest`` (keyed by node): it waits up to
``LATEST_DELAY_S`` for company, and a newer write with the same key replaces it. Resource
heartbeats (answered on this node's word) thus cost one commit per fraction of a second
instead of a thread hand-off and an fsync each. Nothing acknowledged waits: ``settled``,
``write``, ``submit`` and ``drain`` take the waiting writes along at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from .store import NodeStore

__all__ = ["LATEST_DELAY_S", "MAX_BATCH", "StoreWrite", "StoreWriter"]

log = logging.getLogger(__name__)

StoreWrite = Callable[[NodeStore], None]
"""One write: called with the store, in a worker thread."""

MAX_BATCH = 64
"""Most writes committed in one transaction (bounds the time one fsync covers)."""
LATEST_DELAY_S = 0.2
"""Seconds a ``submit_latest`` write waits for company before it is committed: on a
kill -9 at most this much of the unacknowledged writes (heartbeats, gossiped copies) is
lost, which the next heartbeat or push-pull repairs."""


class StoreWriter:
    """Serialises writes to one ``NodeStore`` and runs them in a worker thread.

    Args:
        store: the open store (its ``batch()`` groups writes in one transaction);
            ``aclose`` closes it.
        latest_delay_s: see ``LATEST_DELAY_S``.
    """

    def __init__(self, store: NodeStore, *, latest_delay_s: float = LATEST_DELAY_S) -> None:
        self.store = store
        self.latest_delay_s = latest_delay_s
        self._latest: dict[str, StoreWrite] = {}
        """``submit_latest`` writes waiting for company, by key (insertion order kept)."""
        self._latest_timer: asyncio.TimerHandle | None = None
        self._queue: list[tuple[StoreWrite, asyncio.Future[None]]] = []
        self._unfinished: set[asyncio.Future[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def pending(self) -> int:
        """Submitted writes not finished yet."""
        return len(self._unfinished) + len(self._latest)

    def submit(self, write: StoreWrite) -> None:
        """Schedule ``write`` (after the writes before it) without waiting for it.

        Must be called from the event loop's thread. After ``aclose`` the write is
        dropped with a warning (the store is closed).
        """
        self._enqueue(write)

    def submit_latest(self, key: str, write: StoreWrite) -> None:
        """Like ``submit``, for a write that a newer one with the same ``key`` makes
        pointless (a whole registry row): it waits up to ``latest_delay_s`` (or until the
        next ``submit``, ``write``, ``settled`` or ``drain``) and a later call with the same
        key replaces it. Must be called from the event loop's thread."""
        if self._closed:
            log.warning("store closed: a write was dropped")
            return
        self._latest[key] = write
        if self._latest_timer is None:
            self._latest_timer = asyncio.get_running_loop().call_later(
                self.latest_delay_s, self._take_latest)

    def _take_latest(self) -> None:
        """Queue the waiting ``submit_latest`` writes (before whatever comes next)."""
        if self._latest_timer is not None:
            self._latest_timer.cancel()
            self._latest_timer = None
        latest, self._latest = self._latest, {}
        for write in latest.values():
            self._append(write)

    async def write(self, write: StoreWrite) -> None:
        """Run ``write`` after the writes before it and wait for it (its exception is
        raised here). Cancelling the caller does not cancel the write (``aclose`` still
        waits for it)."""
        done = self._enqueue(write)
        if done is not None:
            await asyncio.shield(done)

    def _enqueue(self, write: StoreWrite) -> asyncio.Future[None] | None:
        if self._closed:
            log.warning("store closed: a write was dropped")
            return None
        self._take_latest()  # they ride along, in the order they came
        return self._append(write)

    def _append(self, write: StoreWrite) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._queue.append((write, done))
        self._unfinished.add(done)
        done.add_done_callback(self._finished)
        if self._runner is None or self._runner.done():
            self._runner = loop.create_task(self._run_batches())
        return done

    def _finished(self, done: asyncio.Future[None]) -> None:
        self._unfinished.discard(done)
        if not done.cancelled():
            done.exception()  # logged by _apply; a submitted write has no one to tell

    async def _run_batches(self) -> None:
        # One runner at a time, so batches commit in the order their writes came.
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            errors = await asyncio.to_thread(self._apply, [write for write, _ in batch])
            for (_, done), error in zip(batch, errors, strict=True):
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)

    def _apply(self, writes: list[StoreWrite]) -> list[Exception | None]:
        """In the worker thread: the writes in one transaction; each alone if it fails."""
        if len(writes) > 1:
            try:
                with self.store.batch():
                    for write in writes:
                        write(self.store)
                return [None] * len(writes)
            except Exception as exc:  # rolled back: find which one fails
                log.info("a batch of %d store writes failed (%s); retrying one by one",
                         len(writes), exc)
        errors: list[Exception | None] = []
        for write in writes:
            try:
                write(self.store)
                errors.append(None)
            except Exception as exc:  # the agent carries on with what it has in memory
                log.exception("store write failed")
                errors.append(exc)
        return errors

    async def settled(self) -> None:
        """Wait for every write submitted so far (not those submitted meanwhile).
        Cancelling the caller does not cancel the writes.

        Raises:
            Exception: the first of those writes that failed (its own exception).
        """
        self._take_latest()
        waiting = list(self._unfinished)
        if waiting:
            results = await asyncio.shield(asyncio.gather(*waiting, return_exceptions=True))
            for result in results:
                if isinstance(result, BaseException):
                    raise result

    async def drain(self) -> None:
        """Wait until every submitted write is done (including those submitted meanwhile)."""
        while self._unfinished or self._latest:
            self._take_latest()
            await asyncio.gather(*self._unfinished, return_exceptions=True)

    async def aclose(self) -> None:
        """Refuse new writes, wait for the pending ones, then close the store. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self.drain()
        self.store.close()
