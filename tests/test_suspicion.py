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


# --- claw-node: shrinking below memberlist's minimum toward a floor ----------------------

from gossip.suspicion import suspicion_floor, suspicion_timeout  # noqa: E402 - this section's own imports


@pytest.mark.parametrize("c,k,min_s,max_s,floor_s,expected", [
    # memberlist part (c <= k) is unchanged by a floor
    (0, 2, 5.908, 35.448, 4.0, 35.448),
    (1, 2, 5.908, 35.448, 4.0, 16.81),    # 35.448 - ln2/ln3 * 29.54 = 16.8103... -> ms floor
    (2, 2, 5.908, 35.448, 4.0, 5.908),
    # claw part: min - ln(c-k+1)/ln(k+1) * (min - floor), floor reached at 2k
    (3, 2, 5.908, 35.448, 4.0, 4.704),    # 5.908 - 0.63093 * 1.908 = 4.70418...
    (4, 2, 5.908, 35.448, 4.0, 4.0),
    (9, 2, 5.908, 35.448, 4.0, 4.0),      # never below the floor
    (3, 2, 8.0, 48.0, 4.0, 5.476),        # n = 100: 8 - 0.63093 * 4 = 5.4763
    (4, 2, 8.0, 48.0, 4.0, 4.0),
    # no floor, or a floor not below min: memberlist
    (4, 2, 8.0, 48.0, None, 8.0),
    (4, 2, 4.0, 24.0, 4.0, 4.0),
    (4, 2, 4.0, 24.0, 5.0, 4.0),
    # nobody can confirm: min from the start, floor or not
    (0, 0, 4.0, 24.0, 3.0, 4.0),
    (3, 0, 4.0, 24.0, 3.0, 4.0),
    # k = 1 (local profile): floor at 2 confirmations
    (1, 1, 4.5, 27.0, 3.0, 4.5),
    (2, 1, 4.5, 27.0, 3.0, 3.0),
])
def test_suspicion_timeout_table(c, k, min_s, max_s, floor_s, expected) -> None:
    assert suspicion_timeout(c, k, min_s, max_s, floor_s) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("n,k", [(3, 1), (4, 2), (6, 3), (10, 4)])
def test_memberlist_curve_is_remaining_time_plus_elapsed(n, k) -> None:
    for c in range(k + 1):
        assert suspicion_timeout(c, k, 6.0, 36.0) == pytest.approx(
            remaining_suspicion_time(c, k, 1.5, 6.0, 36.0) + 1.5)


@pytest.mark.parametrize("floor_mult,interval,min_s,expected", [
    (4.0, 1.0, 5.908, 4.0),
    (4.0, 1.0, 8.0, 4.0),
    (4.0, 1.0, 4.0, 4.0),      # small cluster: floor = min, nothing changes
    (4.0, 1.0, 3.0, 3.0),      # never above min
    (6.0, 5.0, 30.0, 30.0),    # wan preset, n <= 10
    (6.0, 5.0, 60.0, 30.0),    # wan preset, n = 100
    (0.0, 1.0, 8.0, 8.0),      # 0: off (memberlist)
    (2.5, 0.5, 8.0, 1.25),
])
def test_suspicion_floor_table(floor_mult, interval, min_s, expected) -> None:
    assert suspicion_floor(floor_mult, interval, min_s) == pytest.approx(expected)


def test_suspicion_with_floor_counts_up_to_2k_confirmations() -> None:
    s = Suspicion("a", k=2, min_s=8.0, max_s=48.0, start=10.0, floor_s=4.0)
    assert s.limit == 4 and not s.saturated
    for i, total in enumerate([22.762, 8.0, 5.476, 4.0], start=1):
        assert s.confirm(f"c{i}", 11.0)
        assert s.deadline == pytest.approx(10.0 + total)
    assert s.saturated and not s.confirm("c9", 12.0)
    assert s.confirmations == 4


def test_suspicion_without_floor_stops_at_k_like_memberlist() -> None:
    s = Suspicion("a", k=2, min_s=8.0, max_s=48.0, start=0.0)
    assert s.limit == 2
    s.confirm("b", 0.0)
    s.confirm("c", 0.0)
    assert s.saturated and not s.confirm("d", 0.0) and s.deadline == pytest.approx(8.0)
