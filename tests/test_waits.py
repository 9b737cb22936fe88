"""The one polling helper of the tests (``tests.conftest.eventually``): what it returns,
how ``hold`` restarts, and that a timeout names what was awaited."""

from __future__ import annotations

import itertools

import pytest

from tests.conftest import eventually, eventually_async

pytestmark = pytest.mark.slow  # waits on real time (a few tens of milliseconds each)


def test_returns_once_the_predicate_holds() -> None:
    checks = itertools.count(1)
    assert eventually(lambda: next(checks) >= 3, 30.0, 0.001) >= 0.0
    assert next(checks) == 4  # checked exactly until it held


def test_a_false_check_restarts_the_hold() -> None:
    answers = iter([True, False] + [True] * 10_000)
    took = eventually(lambda: next(answers), 30.0, 0.001, hold=0.02)
    assert took > 0.0  # first held at the third check, after the break


def test_a_timeout_names_what_was_awaited() -> None:
    with pytest.raises(TimeoutError, match="timed out after .* waiting for: the moon"):
        eventually(lambda: False, 0.01, 0.001, what="the moon")
    with pytest.raises(TimeoutError, match="did not stay true"):
        flips = itertools.cycle([True, False])
        eventually(lambda: next(flips), 0.01, 0.001, what="a flapping light", hold=0.05)


async def test_the_async_wait_awaits_coroutine_predicates() -> None:
    checks = itertools.count(1)

    async def third_time_lucky() -> bool:
        return next(checks) >= 3

    assert await eventually_async(third_time_lucky, 30.0, 0.001) >= 0.0
    with pytest.raises(TimeoutError, match="waiting for: nothing"):
        await eventually_async(lambda: False, 0.01, 0.001, what="nothing")
