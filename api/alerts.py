"""Alerts: a Python hook and a webhook POST per liveness transition, sent by the
coordinator only, retried with backoff, never blocking the caller (the view's listener
only enqueues)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable

import aiohttp

from .config import AlertHook
from .models import NodeTransition

__all__ = ["MAX_BACKOFF_S", "AlertDispatcher"]

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0
"""Cap of the webhook retry delay (seconds)."""


class AlertDispatcher:
    """Queue of transitions drained by one background task.

    ``notify`` is the view's transition listener: synchronous, O(1), never blocks. The
    worker checks ``is_coordinator()`` at send time, so only the coordinator alerts.
    """

    def __init__(
        self,
        *,
        is_coordinator: Callable[[], Awaitable[bool]],
        session: aiohttp.ClientSession | None,
        webhook_url: str | None = None,
        hook: AlertHook | None = None,
        retries: int = 5,
        backoff_s: float = 0.5,
        timeout_s: float = 5.0,
        queue_max: int = 1000,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._is_coordinator = is_coordinator
        self._session = session
        self.webhook_url = webhook_url
        self.hook = hook
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self._queue: deque[NodeTransition] = deque(maxlen=queue_max)
        self._wake = asyncio.Event()
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        """Webhook POSTs answered 2xx."""
        self.failed = 0
        """Alerts dropped after ``retries`` failed attempts."""
        self.dropped = 0
        """Alerts dropped because the queue was full."""
        self.skipped = 0
        """Alerts not sent because this node was not the coordinator."""

    @property
    def enabled(self) -> bool:
        return self.webhook_url is not None or self.hook is not None

    def notify(self, transition: NodeTransition) -> None:
        """Enqueue one transition (the view's listener). Never blocks, never raises."""
        if not self.enabled:
            return
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(transition)
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="alerts")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def drain(self) -> None:
        """Wait until the queue is empty (tests)."""
        while self._queue or self._busy:
            await asyncio.sleep(0.01)

    _busy = False

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            t = self._queue.popleft()
            self._busy = True
            try:
                await self._deliver(t)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("alert delivery failed")
            finally:
                self._busy = False

    async def _deliver(self, t: NodeTransition) -> None:
        try:
            coordinating = await self._is_coordinator()
        except Exception:
            coordinating = False
        if not coordinating:
            self.skipped += 1
            return
        if self.hook is not None:
            try:
                res = self.hook(t)
                if inspect.isawaitable(res):
                    await res
            except Exception:
                log.exception("alert hook failed for %s", t.node_id)
        if self.webhook_url is not None and self._session is not None:
            await self._post(t)

    async def _post(self, t: NodeTransition) -> None:
        body = t.model_dump(mode="json")
        delay = self.backoff_s
        for attempt in range(1, self.retries + 1):
            try:
                async with self._session.post(  # type: ignore[union-attr]
                    self.webhook_url, json=body,  # type: ignore[arg-type]
                    timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                ) as resp:
                    if 200 <= resp.status < 300:
                        self.sent += 1
                        return
                    log.warning("alert webhook answered %s (attempt %d)", resp.status, attempt)
            except (TimeoutError, aiohttp.ClientError) as exc:
                log.warning("alert webhook failed (attempt %d): %s", attempt, exc)
            if attempt < self.retries:
                await self._sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)
        self.failed += 1
