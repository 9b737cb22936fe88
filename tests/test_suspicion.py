"""Lifeguard suspicion timeout: pure formulas (tables) and the Suspicion record."""

from __future__ import annotations

import math

import pytest

from gossip.suspicion import (
    Suspicion,
    confirmations_needed,
    remaining_suspicion_time,
    suspicion_bounds,
)


# memberlist suspicion_test.go TestSuspicion_remainingSuspicionTime, in seconds.
@pytest.mark.parametrize("n,k,elapsed,min_s,max_s,expected", [
    (0, 3, 0.0, 2.0, 30.0, 30.0),
    (1, 3, 2.0, 2.0, 30.0, 14.0),
    (2, 3, 3.0, 2.0, 30.0, 4.81),
    (3, 3, 4.0, 2.0, 30.0, -2.0),
    (4, 3, 5.0, 2.0, 30.0, -3.0),
    (5, 3, 10.0, 2.0, 30.0, -8.0),
    (1, 1, 0.0, 4.0, 24.0, 4.0),      # k confirmations reached: exactly min
    (2, 0, 1.0, 4.0, 24.0, 3.0),      # nobody can confirm: min from the start
])
def test_remaining_suspicion_time(n, k, elapsed, min_s, max_s, expected) -> None:
    assert remaining_suspicion_time(n, k, elapsed, min_s, max_s) == pytest.approx(expected, abs=1e-9)


def test_remaining_is_floored_to_milliseconds() -> None:
    # max - ln2/ln3 * (max - min) = 10 - 0.63093 * 9 = 4.32163... -> 4.321
    assert remaining_suspicion_time(1, 2, 0.0, 1.0, 10.0) == pytest.approx(4.321, abs=1e-9)


@pytest.mark.parametrize("mult,max_mult,n,interval,expected", [
    (4, 6, 1, 1.0, (4.0, 24.0)),
    (4, 6, 5, 1.0, (4.0, 24.0)),
    (4, 6, 10, 1.0, (4.0, 24.0)),
    (4, 6, 50, 1.0, (6.792, 40.752)),   # log10(50)=1.69897 truncated to 1.698
    (4, 6, 100, 1.0, (8.0, 48.0)),
    (3, 6, 5, 1.0, (3.0, 18.0)),        # local profile
    (6, 6, 5, 5.0, (30.0, 180.0)),      # wan profile
    (4, 6, 0, 1.0, (4.0, 24.0)),        # n is clamped to >= 1
])
def test_suspicion_bounds(mult, max_mult, n, interval, expected) -> None:
    lo, hi = suspicion_bounds(mult, max_mult, n, interval)
    assert lo == pytest.approx(expected[0], abs=1e-9)
    assert hi == pytest.approx(expected[1], abs=1e-9)


@pytest.mark.parametrize("mult,n,k", [
    (4, 1, 0), (4, 2, 0), (4, 3, 0), (4, 4, 2), (4, 100, 2),
    (3, 2, 0), (3, 3, 1), (6, 5, 0), (6, 6, 4), (1, 10, 0), (2, 10, 0),
])
def test_confirmations_needed(mult, n, k) -> None:
    assert confirmations_needed(mult, n) == k


def test_suspicion_starts_at_max_and_shrinks_with_new_confirmers() -> None:
    s = Suspicion("accuser", k=3, min_s=2.0, max_s=30.0, start=100.0)
    assert s.deadline == 130.0
    assert not s.confirm("accuser", 101.0)          # the accuser is pre-counted
    assert s.deadline == 130.0
    assert s.confirm("b", 102.0)                    # 1 of 3: total 16 s
    assert s.deadline == pytest.approx(116.0)
    assert not s.confirm("b", 102.5)                # duplicates are not independent
    assert s.confirm("c", 103.0)                    # 2 of 3: total 7.81 s
    assert s.deadline == pytest.approx(107.81)
    assert s.confirm("d", 104.0)                    # 3 of 3: total = min
    assert s.deadline == pytest.approx(102.0)       # already overdue
    assert not s.confirm("e", 104.0)                # beyond k nothing changes
    assert s.confirmations == 3


def test_suspicion_without_confirmers_uses_min() -> None:
    s = Suspicion("a", k=0, min_s=4.0, max_s=24.0, start=0.0)
    assert s.deadline == 4.0
    assert not s.confirm("b", 1.0)
    assert s.deadline == 4.0


def test_deadline_never_before_start_plus_min() -> None:
    for k in range(1, 6):
        s = Suspicion("a", k=k, min_s=4.0, max_s=24.0, start=0.0)
        for i in range(k):
            s.confirm(f"c{i}", 0.0)
        assert math.isclose(s.deadline, 4.0)
