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
        self._batches: list[_Batch] = []
        """Batches not committed yet, oldest first; only the last one takes new writes."""
        self._runner: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def pending(self) -> int:
        """Submitted writes not finished yet."""
        return sum(len(batch.writes) for batch in self._batches) + len(self._latest)

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
        place = self._enqueue(write)
        if place is not None:
            batch, index = place
            error = (await asyncio.shield(batch.done))[index]
            if error is not None:
                raise error

    def _enqueue(self, write: StoreWrite) -> tuple[_Batch, int] | None:
        if self._closed:
            log.warning("store closed: a write was dropped")
            return None
        self._take_latest()  # they ride along, in the order they came
        return self._append(write)

    def _append(self, write: StoreWrite) -> tuple[_Batch, int]:
        """Add ``write`` to the open batch (a new one when there is none or it is full)
        and start the runner if it is idle; returns where the write's outcome will be."""
        loop = asyncio.get_running_loop()
        if not self._batches or self._batches[-1].taken or len(self._batches[-1].writes) >= MAX_BATCH:
            self._batches.append(_Batch(loop.create_future()))
        batch = self._batches[-1]
        batch.writes.append(write)
        if self._runner is None or self._runner.done():
            self._runner = loop.create_task(self._run_batches())
        return batch, len(batch.writes) - 1

    async def _run_batches(self) -> None:
        # One runner at a time, so batches commit in the order their writes came.
        while self._batches:
            batch = self._batches[0]
            batch.taken = True
            errors = await asyncio.to_thread(self._apply, list(batch.writes))
            self._batches.pop(0)
            batch.done.set_result(errors)

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
        # One future per batch (a handful), not per write: under many concurrent
        # registrations each caller would otherwise watch every write in flight.
        waiting = [batch.done for batch in self._batches]
        if not waiting:
            return
        if len(waiting) == 1:
            results = [await asyncio.shield(waiting[0])]
        else:
            results = await asyncio.shield(asyncio.gather(*waiting))
        for errors in results:
            for error in errors:
                if error is not None:
                    raise error

    async def drain(self) -> None:
        """Wait until every submitted write is done (including those submitted meanwhile)."""
        while self._batches or self._latest:
            self._take_latest()
            await asyncio.gather(*(batch.done for batch in self._batches))

    async def aclose(self) -> None:
        """Refuse new writes, wait for the pending ones, then close the store. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self.drain()
        self.store.close()


class _Batch:
    """Writes committed together, and the future of their outcomes (one error or None
    per write, in order; it never fails itself)."""

    __slots__ = ("done", "taken", "writes")

    def __init__(self, done: asyncio.Future[list[Exception | None]]) -> None:
        self.writes: list[StoreWrite] = []
        self.done = done
        self.taken = False
        """The runner has taken it: later writes go to a new batch."""
