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
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from .store import NodeStore

__all__ = ["MAX_BATCH", "StoreWrite", "StoreWriter"]

log = logging.getLogger(__name__)

StoreWrite = Callable[[NodeStore], None]
"""One write: called with the store, in a worker thread."""

MAX_BATCH = 64
"""Most writes committed in one transaction (bounds the time one fsync covers)."""


class StoreWriter:
    """Serialises writes to one ``NodeStore`` and runs them in a worker thread.

    Args:
        store: the open store (its ``batch()`` groups writes in one transaction);
            ``aclose`` closes it.
    """

    def __init__(self, store: NodeStore) -> None:
        self.store = store
        self._queue: list[tuple[StoreWrite, asyncio.Future[None]]] = []
        self._unfinished: set[asyncio.Future[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def pending(self) -> int:
        """Submitted writes not finished yet."""
        return len(self._unfinished)

    def submit(self, write: StoreWrite) -> None:
        """Schedule ``write`` (after the writes before it) without waiting for it.

        Must be called from the event loop's thread. After ``aclose`` the write is
        dropped with a warning (the store is closed).
        """
        self._enqueue(write)

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
        waiting = list(self._unfinished)
        if waiting:
            results = await asyncio.shield(asyncio.gather(*waiting, return_exceptions=True))
            for result in results:
                if isinstance(result, BaseException):
                    raise result

    async def drain(self) -> None:
        """Wait until every submitted write is done (including those submitted meanwhile)."""
        while self._unfinished:
            await asyncio.gather(*self._unfinished, return_exceptions=True)

    async def aclose(self) -> None:
        """Refuse new writes, wait for the pending ones, then close the store. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self.drain()
        self.store.close()
