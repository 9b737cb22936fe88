"""``StoreWriter``: the agent's store writes, off the event loop, one at a time, none lost.

A store write ends in an fsync (milliseconds to tens of milliseconds), so it runs in a
worker thread while the event loop keeps answering probes. Writes that nothing waits for
(a new coordinator term, an HTTP-registered record merged from gossip) are ``submit``-ted;
the writer keeps their tasks, and ``aclose`` waits for every one of them before closing
the store: a record merged just before a SIGTERM is on disk after the graceful stop.
``settled`` waits for the writes submitted so far and says whether they failed: a write
is acknowledged to a client only after it (``node.write_replicas``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from .store import NodeStore

__all__ = ["StoreWrite", "StoreWriter"]

log = logging.getLogger(__name__)

StoreWrite = Callable[[NodeStore], None]
"""One write: called with the store, in a worker thread."""


class StoreWriter:
    """Serialises writes to one ``NodeStore`` and runs them in a worker thread.

    Args:
        store: the open store; ``aclose`` closes it.
    """

    def __init__(self, store: NodeStore) -> None:
        self.store = store
        self._lock = asyncio.Lock()
        self._pending: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def pending(self) -> int:
        """Submitted writes not finished yet."""
        return len(self._pending)

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
        task = self._enqueue(write)
        if task is not None:
            await asyncio.shield(task)

    def _enqueue(self, write: StoreWrite) -> asyncio.Task[None] | None:
        if self._closed:
            log.warning("store closed: a write was dropped")
            return None
        # Tasks start in creation order and the lock serves waiters first come, first
        # served: writes run in the order they were enqueued.
        task = asyncio.get_running_loop().create_task(self._run(write))
        self._pending.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled():
            task.exception()  # logged by _run; a submitted write has no one to tell

    async def _run(self, write: StoreWrite) -> None:
        async with self._lock:
            try:
                await asyncio.to_thread(write, self.store)
            except Exception:  # the agent carries on with what it has in memory
                log.exception("store write failed")
                raise

    async def settled(self) -> None:
        """Wait for every write submitted so far (not those submitted meanwhile).
        Cancelling the caller does not cancel the writes.

        Raises:
            Exception: the first of those writes that failed (its own exception).
        """
        tasks = list(self._pending)
        if tasks:
            results = await asyncio.shield(asyncio.gather(*tasks, return_exceptions=True))
            for result in results:
                if isinstance(result, BaseException):
                    raise result

    async def drain(self) -> None:
        """Wait until every submitted write is done (including those submitted meanwhile)."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def aclose(self) -> None:
        """Refuse new writes, wait for the pending ones, then close the store. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self.drain()
        self.store.close()
