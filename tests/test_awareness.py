"""Lifeguard local health score (memberlist awareness_test.go as a table)."""

from __future__ import annotations

import pytest

from gossip.awareness import Awareness

# delta applied, score after, scaled 1 s timeout after (max multiplier 8).
STEPS = [
    (0, 0, 1.0),
    (-1, 0, 1.0),
    (-10, 0, 1.0),
    (1, 1, 2.0),
    (-1, 0, 1.0),
    (10, 7, 8.0),
    (-1, 6, 7.0),
    (-1, 5, 6.0),
    (-1, 4, 5.0),
    (-1, 3, 4.0),
    (-1, 2, 3.0),
    (-1, 1, 2.0),
    (-1, 0, 1.0),
    (-1, 0, 1.0),
]


def test_awareness_table() -> None:
    a = Awareness(8)
    for delta, score, scaled in STEPS:
        assert a.apply_delta(delta) == score
        assert a.score == score
        assert a.scale(1.0) == pytest.approx(scaled)


def test_awareness_multiplier_one_never_scales() -> None:
    a = Awareness(1)
    a.apply_delta(5)
    assert a.score == 0
    assert a.scale(0.5) == 0.5


def test_awareness_rejects_bad_multiplier() -> None:
    with pytest.raises(ValueError):
        Awareness(0)
