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


def _failure(what: str, waited: float, held_once: bool) -> TimeoutError:
    state = "did not stay true" if held_once else "timed out"
    return TimeoutError(f"{state} after {waited:.1f} s waiting for: {what or 'the condition'}")


def eventually(predicate: Callable[[], Any], timeout: float = EVENTUALLY_TIMEOUT_S,
               interval: float = EVENTUALLY_INTERVAL_S, *, what: str = "",
               hold: float = 0.0) -> float:
    """Check ``predicate()`` every ``interval`` seconds until it is truthy; with ``hold``,
    until it has stayed truthy for ``hold`` seconds (a false check restarts the hold).

    Returns the seconds until it first held. Raises ``TimeoutError`` naming ``what``
    when ``timeout`` (plus ``hold``) passes first.
    """
    start = time.monotonic()
    deadline = start + timeout + hold
    held_since: float | None = None
    first: float | None = None
    while True:
        now = time.monotonic()
        if predicate():
            if held_since is None:
                held_since = now
                first = now - start if first is None else first
            if now - held_since >= hold:
                assert first is not None
                return first
        else:
            held_since = None
        if now >= deadline:
            raise _failure(what, now - start, first is not None)
        time.sleep(interval)


async def eventually_async(predicate: Callable[[], Awaitable[Any] | Any],
                           timeout: float = EVENTUALLY_TIMEOUT_S,
                           interval: float = EVENTUALLY_INTERVAL_S, *, what: str = "",
                           hold: float = 0.0) -> float:
    """``eventually`` inside an event loop: waits with ``asyncio.sleep`` so the code under
    test keeps running; ``predicate`` may also be a coroutine function."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start + timeout + hold
    held_since: float | None = None
    first: float | None = None
    while True:
        now = loop.time()
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
            now = loop.time()
        if result:
            if held_since is None:
                held_since = now
                first = now - start if first is None else first
            if now - held_since >= hold:
                assert first is not None
                return first
        else:
            held_since = None
        if now >= deadline:
            raise _failure(what, now - start, first is not None)
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
