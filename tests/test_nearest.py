"""Ordering candidates by estimated RTT (gossip/nearest.py), for the API's ``near=``."""

from __future__ import annotations

import pytest

from gossip.coordinate import Coordinate
from gossip.nearest import estimated_rtt, sort_by_estimated_rtt


def at(x: float, *, height: float = 0.0, adjustment: float = 0.0, dims: int = 8) -> Coordinate:
    return Coordinate((x,) + (0.0,) * (dims - 1), 0.5, adjustment, height)


ORIGIN = at(0.0)


def test_nearest_first_unknown_last_in_their_given_order():
    view = {
        "far": at(0.050), "near": at(0.002), "none-a": None, "mid": at(0.010),
        "wrong-dims": at(0.001, dims=3), "nan": at(float("nan")), "none-b": None,
    }
    ordered = sort_by_estimated_rtt(ORIGIN, view, view.get)
    assert ordered == ["near", "mid", "far", "none-a", "wrong-dims", "nan", "none-b"]


def test_height_and_adjustment_count():
    # "tall" is nearer on the axis but its access link (height) makes it farther
    view = {"tall": at(0.001, height=0.020), "short": at(0.005), "adjusted": at(0.003, adjustment=0.010)}
    assert sort_by_estimated_rtt(ORIGIN, view, view.get) == ["short", "adjusted", "tall"]
    assert estimated_rtt(ORIGIN, view["tall"]) == pytest.approx(0.021)
    assert estimated_rtt(ORIGIN, view["adjusted"]) == pytest.approx(0.013)


def test_ties_keep_the_callers_order_so_a_prior_sort_is_the_tie_break():
    by_load = ["light", "medium", "heavy"]  # already sorted by load
    same_spot = {name: at(0.004) for name in by_load}
    assert sort_by_estimated_rtt(ORIGIN, by_load, same_spot.get) == by_load
    assert sort_by_estimated_rtt(ORIGIN, reversed(by_load), same_spot.get) == by_load[::-1]


def test_estimated_rtt_is_none_without_a_usable_coordinate():
    assert estimated_rtt(ORIGIN, None) is None
    assert estimated_rtt(ORIGIN, at(0.001, dims=2)) is None
    assert estimated_rtt(ORIGIN, at(float("inf"))) is None
    assert estimated_rtt(ORIGIN, at(0.0)) == 0.0  # the origin itself: distance 0, known


def test_empty_and_objects():
    assert sort_by_estimated_rtt(ORIGIN, [], lambda c: None) == []

    class Node:
        def __init__(self, name, coord):
            self.name, self.coord = name, coord

    nodes = [Node("b", at(0.3)), Node("a", at(0.1)), Node("x", None)]
    assert [n.name for n in sort_by_estimated_rtt(ORIGIN, nodes, lambda n: n.coord)] == ["a", "b", "x"]
