"""Pooling of kill -9 detection samples and the bootstrap interval of their ratio."""

from __future__ import annotations

from simulations.versus_serf.phases import _within_kill
from simulations.versus_serf.pool import bootstrap_ratio, detection_table, pool_kills


def _kill(role: str, victim: str, all_s: float | None, t: float = 0.0,
          restart: float | None = None) -> dict:
    return {"role": role, "victim": victim, "found_by": "random", "n": 30, "t_kill": t,
            "t_restart": restart, "first": all_s, "all": all_s, "load": 1.0}


def _results() -> list[dict]:
    return [
        {"kind": "serf", "run": 0, "figures": {"false_failures": 0, "kills": [
            _kill("member", "s1", 8.0), _kill("coordinator", "s0", 9.0),
            _kill("member", "s2", 8.4)]}},
        {"kind": "claw", "run": 0, "figures": {"false_failures": 1, "kills": [
            _kill("member", "c1", 6.0), _kill("coordinator", "c0", 7.0),
            _kill("member", "c2", None)]}},
    ]


def test_pool_groups_by_kind_and_role_and_counts_unseen_kills() -> None:
    pooled = pool_kills(_results())
    assert pooled[("serf", "member")]["all"] == [8.0, 8.4]
    assert pooled[("claw", "member")]["all"] == [6.0]
    assert pooled[("claw", "member")]["missed"] == 1
    assert pooled[("claw", "all roles")]["all"] == [6.0, 7.0]
    assert pooled[("claw", "all roles")]["false_failures"] == 1


def test_bootstrap_interval_contains_the_point_and_is_degenerate_without_spread() -> None:
    point, lo, hi = bootstrap_ratio([6.0, 6.2, 5.8, 7.0], [8.0, 8.5, 7.9, 9.0], resamples=2000)
    assert lo <= point <= hi < 1.0
    assert bootstrap_ratio([3.0] * 5, [6.0] * 7, resamples=200) == (0.5, 0.5, 0.5)


def test_bootstrap_is_reproducible_for_a_seed() -> None:
    a = bootstrap_ratio([1.0, 2.0, 3.0], [2.0, 3.0, 4.0], seed=5, resamples=500)
    assert a == bootstrap_ratio([1.0, 2.0, 3.0], [2.0, 3.0, 4.0], seed=5, resamples=500)


def test_table_has_one_row_per_role_present_in_both_kinds() -> None:
    table = detection_table(pool_kills(_results()))
    rows = [line for line in table.splitlines()[2:]]
    assert [r.split("|")[1].strip() for r in rows] == ["coordinator", "member", "all roles"]
    assert "(+0/1 unseen)" in table


def test_failure_inside_a_kill_window_is_not_false() -> None:
    kills = [_kill("member", "c3", 6.0, t=100.0, restart=107.0)]
    assert _within_kill(kills, "c3", 103.0)
    assert not _within_kill(kills, "c3", 110.0)  # after its restart: a false failure
    assert not _within_kill(kills, "c4", 103.0)
    assert _within_kill([_kill("member", "c3", 6.0, t=100.0)], "c3", 500.0)  # never restarted
