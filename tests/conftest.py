"""Fixtures and helpers shared by test modules.

* ``eventually`` / ``eventually_async``: the one way a test waits for something that
  happens on real time (processes, sockets, an event loop). A generous timeout turns a
  hang into a failure; it is never a timing claim (those go to ``simulations/bench_*``).
* ``strict_core``: every gossip core built during the test raises its internal errors
  instead of counting them, so a bug the core would survive in production fails the test.
* ``make_lab``: the multi-host lab (``tests/lab.py``).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from gossip.protocol import SwimProtocol
from tests.lab import make_lab  # noqa: F401  (the multi-host lab fixture)

EVENTUALLY_TIMEOUT_S = 30.0
"""Default bound of one wait (seconds): generous, a loaded 2-core machine is slow."""
EVENTUALLY_INTERVAL_S = 0.05
"""Default pause between two checks (seconds)."""


class _Wait:
    """What both waits track: when the predicate first held, since when it has held
    without a break, and when to give up."""

    def __init__(self, start: float, timeout: float, hold: float, what: str) -> None:
        self.start = start
        self.deadline = start + timeout + hold
        self.hold = hold
        self.what = what
        self.first: float | None = None
        self.held_since: float | None = None

    def step(self, now: float, holds: bool) -> float | None:
        """Record one check made at ``now``. Returns the seconds until the predicate first
        held once it has held long enough, else None (check again); raises
        ``TimeoutError`` naming ``what`` past the deadline."""
        if holds:
            if self.held_since is None:
                self.held_since = now
                if self.first is None:
                    self.first = now - self.start
            if now - self.held_since >= self.hold:
                return self.first
        else:
            self.held_since = None
        if now >= self.deadline:
            state = "did not stay true" if self.first is not None else "timed out"
            raise TimeoutError(f"{state} after {now - self.start:.1f} s waiting for: "
                               f"{self.what or 'the condition'}")
        return None


def eventually(predicate: Callable[[], Any], timeout: float = EVENTUALLY_TIMEOUT_S,
               interval: float = EVENTUALLY_INTERVAL_S, *, what: str = "",
               hold: float = 0.0) -> float:
    """Check ``predicate()`` every ``interval`` seconds until it is truthy; with ``hold``,
    until it has stayed truthy for ``hold`` seconds (a false check restarts the hold).

    Returns the seconds until it first held. Raises ``TimeoutError`` naming ``what``
    when ``timeout`` (plus ``hold``) passes first.
    """
    wait = _Wait(time.monotonic(), timeout, hold, what)
    while (took := wait.step(time.monotonic(), bool(predicate()))) is None:
        time.sleep(interval)
    return took


async def eventually_async(predicate: Callable[[], Awaitable[Any] | Any],
                           timeout: float = EVENTUALLY_TIMEOUT_S,
                           interval: float = EVENTUALLY_INTERVAL_S, *, what: str = "",
                           hold: float = 0.0) -> float:
    """``eventually`` inside an event loop: waits with ``asyncio.sleep`` so the code under
    test keeps running; ``predicate`` may also be a coroutine function."""
    loop = asyncio.get_running_loop()
    wait = _Wait(loop.time(), timeout, hold, what)
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        took = wait.step(loop.time(), bool(result))
        if took is not None:
            return took
        await asyncio.sleep(interval)


@pytest.fixture
def strict_core(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[SwimProtocol]]:
    """Run every ``SwimProtocol`` built during the test strict: an unexpected exception at
    an input boundary is raised where it happens, not counted and survived.

    A test that builds a core with an explicit ``strict=False`` (the lenient path under
    test) keeps it. At teardown the test fails if any other core counted an internal
    error. Yields the list of cores built (it grows as the test builds more).
    """
    cores: list[SwimProtocol] = []
    lenient: set[int] = set()
    original = SwimProtocol.__init__

    def strict_init(self: SwimProtocol, *args: Any, **kwargs: Any) -> None:
        lenient_on_purpose = kwargs.get("strict") is False
        if not lenient_on_purpose:
            kwargs["strict"] = True
        original(self, *args, **kwargs)
        cores.append(self)
        if lenient_on_purpose:
            lenient.add(id(self))

    monkeypatch.setattr(SwimProtocol, "__init__", strict_init)
    yield cores
    counted = {core.name: core.stats["internal_errors"] for core in cores
               if id(core) not in lenient and core.stats["internal_errors"]}
    if counted:
        pytest.fail(f"internal errors of the core: {counted}")
