"""The Vivaldi client (gossip/coordinate.py): Serf's coordinate unit facts on our code."""

from __future__ import annotations

import dataclasses
import math
import random

import pytest

from gossip.coordinate import (
    MAX_RTT_S,
    Coordinate,
    CoordinateClient,
    CoordinateConfig,
    InvalidCoordinate,
)
from gossip.errors import ConfigError, RemoteProtocolError


def client(**config) -> CoordinateClient:
    return CoordinateClient(CoordinateConfig(**config), rng=random.Random(7))


def coord(vec, *, error=1.5, adjustment=0.0, height=10.0e-6) -> Coordinate:
    return Coordinate(tuple(float(x) for x in vec), error, adjustment, height)


def test_defaults_are_serfs():
    cfg = CoordinateConfig()
    assert (cfg.dimensionality, cfg.vivaldi_error_max, cfg.vivaldi_ce, cfg.vivaldi_cc) == (8, 1.5, 0.25, 0.25)
    assert (cfg.adjustment_window_size, cfg.height_min, cfg.latency_filter_size, cfg.gravity_rho) == (
        20, 10.0e-6, 3, 150.0)


@pytest.mark.parametrize("field,value", [
    ("dimensionality", 0), ("latency_filter_size", 0), ("adjustment_window_size", -1),
    ("vivaldi_error_max", 0.0), ("height_min", -1.0), ("gravity_rho", 0.0), ("vivaldi_cc", 1.5),
    ("vivaldi_ce", float("nan")),
])
def test_config_out_of_range_names_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        CoordinateConfig(**{field: value})


def test_fresh_client_sits_at_the_origin():
    c = client(dimensionality=7)
    assert c.coordinate == Coordinate((0.0,) * 7, 1.5, 0.0, 10.0e-6)


def test_update_moves_away_from_a_peer_that_is_farther_than_it_looks():
    # Serf TestClient_Update: peer at z=1 ms, measured RTT 2 ms -> we move to negative z
    c = client(dimensionality=3)
    other = coord([0.0, 0.0, 0.001])
    mine = c.update("node", other, 0.002)
    assert mine.vec[2] < 0.0
    assert mine == c.coordinate
    c.set_coordinate(dataclasses.replace(mine, vec=(mine.vec[0], mine.vec[1], 99.0)))
    assert c.coordinate.vec[2] == 99.0


def test_repeated_samples_converge_to_the_measured_rtt():
    c = client()
    peer = coord([0.0] * 8, error=0.1)  # a confident peer at the origin
    for _ in range(200):
        c.update("peer", peer, 0.020)
    assert c.distance_to(peer) == pytest.approx(0.020, rel=0.01)
    assert c.coordinate.error < 0.2


@pytest.mark.parametrize("rtt", [-35.0, -1e-9, MAX_RTT_S + 1e-9, 11.0, float("nan"), float("inf"), 9.2e18])
def test_rtt_outside_zero_to_ten_seconds_is_rejected_without_effect(rtt):
    c = client(dimensionality=3)
    other = coord([0.0, 0.0, 0.001])
    before = c.coordinate
    with pytest.raises(InvalidCoordinate, match="round trip time"):
        c.update("node", other, rtt)
    assert c.coordinate == before
    # the bad sample did not enter the latency filter either: the next median is the sample
    c.update("node", other, 0.5)
    assert c._latency_samples["node"] == [0.5]


def test_rtt_bounds_are_inclusive():
    c = client(dimensionality=3)
    c.update("a", coord([0, 0, 0.001]), 0.0)
    c.update("b", coord([0, 0, 0.001]), MAX_RTT_S)
    assert c.coordinate.is_valid()


@pytest.mark.parametrize("bad", [
    coord([float("nan"), 0, 0]),
    coord([0, float("inf"), 0]),
    coord([0, 0, 0], error=float("nan")),
    coord([0, 0, 0], adjustment=float("-inf")),
    coord([0, 0, 0], height=float("nan")),
])
def test_non_finite_coordinate_is_rejected(bad):
    c = client(dimensionality=3)
    with pytest.raises(InvalidCoordinate, match="NaN or infinite"):
        c.update("node", bad, 0.25)
    with pytest.raises(InvalidCoordinate):
        c.set_coordinate(bad)
    assert c.coordinate == Coordinate.origin(c.config)


@pytest.mark.parametrize("dims", [0, 2, 6, 64])
def test_wrong_dimensionality_is_rejected(dims):
    c = client(dimensionality=3)
    with pytest.raises(InvalidCoordinate, match=f"{dims} dimensions, expected 3"):
        c.update("node", coord([0.0] * dims), 0.25)
    with pytest.raises(InvalidCoordinate):
        c.set_coordinate(coord([0.0] * dims))
    assert c.coordinate.is_valid()


def test_rejection_is_a_remote_protocol_error_the_caller_can_count():
    assert issubclass(InvalidCoordinate, RemoteProtocolError)


def test_a_non_finite_result_resets_to_the_origin_and_is_counted():
    # Serf TestClient_NaN_Defense: our own coordinate went bad -> reset, Resets == 1
    c = client(dimensionality=3)
    c._coord = dataclasses.replace(c.coordinate, vec=(float("nan"), 0.0, 0.0))
    mine = c.update("node", Coordinate.origin(c.config), 0.25)
    assert mine == Coordinate.origin(c.config)
    assert c.resets == 1


def test_hostile_finite_coordinate_cannot_make_ours_non_finite():
    c = client(dimensionality=3)
    for i in range(20):
        c.update(f"evil{i}", coord([1e300, -1e300, 1e300], error=1e-300, adjustment=-1e300, height=1e300), 10.0)
        assert c.coordinate.is_valid()


def test_an_astronomical_coordinate_resets_instead_of_raising():
    c = client(dimensionality=3)
    c.set_coordinate(coord([1e300, 1e300, -1e300]))  # finite, so accepted, as in Serf
    c.update("node", coord([0.0, 0.0, 0.001]), 0.01)
    assert c.coordinate == Coordinate.origin(c.config)
    assert c.resets == 1


def test_latency_filter_is_the_median_of_the_last_three_per_node():
    # Serf TestClient_latencyFilter, sample by sample
    c = client()
    expected = [(0.201, 0.201), (0.200, 0.201), (0.207, 0.201), (1.9, 0.207),
                (0.203, 0.207), (0.199, 0.203), (0.211, 0.203)]
    for sample, median in expected:
        assert c._latency_filter("alice", sample) == median
    assert c._latency_filter("bob", 0.310) == 0.310
    c.forget_node("alice")
    assert c._latency_filter("alice", 0.888) == 0.888
    c.forget_node("nobody")  # forgetting an unknown node is fine


def test_forget_node_frees_its_samples():
    c = client()
    for i in range(50):
        c.update(f"n{i}", coord([0.001] * 8), 0.01)
    for i in range(50):
        c.forget_node(f"n{i}")
    assert c._latency_samples == {}


def test_distance_to():
    # Serf TestCoordinate_DistanceTo
    c1 = coord([-0.5, 1.3, 2.4], height=0.0)
    c2 = coord([1.2, -2.3, 3.4], height=0.0)
    base = 4.104875150354758
    assert c1.distance_to(c1) == 0.0
    assert c1.distance_to(c2) == pytest.approx(base) == pytest.approx(c2.distance_to(c1))
    assert dataclasses.replace(c1, adjustment=-1.0e6).distance_to(c2) == pytest.approx(base)  # never <= 0
    c1, c2 = dataclasses.replace(c1, adjustment=0.1), dataclasses.replace(c2, adjustment=0.2)
    assert c1.distance_to(c2) == pytest.approx(base + 0.3)
    c1, c2 = dataclasses.replace(c1, height=0.7), dataclasses.replace(c2, height=0.1)
    assert c1.distance_to(c2) == pytest.approx(base + 0.3 + 0.8)
    assert c1.raw_distance_to(c2) == pytest.approx(base + 0.8)
    with pytest.raises(ValueError, match="dimensionality"):
        c1.distance_to(coord([0.0] * 4))


def test_client_distance_to_is_from_its_own_coordinate():
    # Serf TestClient_DistanceTo
    c = client(dimensionality=3, height_min=0.0)
    assert c.distance_to(coord([0.0, 0.0, 12.345], height=0.0)) == 12.345


def test_apply_force():
    # Serf TestCoordinate_ApplyForce
    cfg = CoordinateConfig(dimensionality=3, height_min=0.0)
    rng = random.Random(1)
    origin = Coordinate.origin(cfg)
    above = coord([0.0, 0.0, 2.9], height=0.0)
    c = origin.apply_force(cfg, 5.3, above, rng)
    assert c.vec == pytest.approx((0.0, 0.0, -5.3))
    c = c.apply_force(cfg, 2.0, coord([3.4, 0.0, -5.3], height=0.0), rng)
    assert c.vec == pytest.approx((-2.0, 0.0, -5.3))
    # coincident coordinates: a random direction, still the full force
    assert origin.distance_to(origin.apply_force(cfg, 1.0, origin, rng)) == pytest.approx(1.0)

    cfg = CoordinateConfig(dimensionality=3)
    origin = Coordinate.origin(cfg)
    # ``above`` keeps height 0, as in Serf's test (made under height_min 0)
    c = origin.apply_force(cfg, 5.3, above, rng)
    assert c.vec == pytest.approx((0.0, 0.0, -5.3))
    assert c.height == pytest.approx(cfg.height_min + 5.3 * cfg.height_min / 2.9)
    c = origin.apply_force(cfg, -5.3, above, rng)
    assert c.vec == pytest.approx((0.0, 0.0, 5.3))
    assert c.height == cfg.height_min
    with pytest.raises(ValueError, match="dimensionality"):
        c.apply_force(cfg, 1.0, coord([0.0] * 4), rng)


def test_coincident_coordinates_draw_the_direction_from_the_injected_rng():
    cfg = CoordinateConfig(dimensionality=3)
    origin = Coordinate.origin(cfg)
    a = origin.apply_force(cfg, 1.0, origin, random.Random(5))
    b = origin.apply_force(cfg, 1.0, origin, random.Random(5))
    c = origin.apply_force(cfg, 1.0, origin, random.Random(6))
    assert a == b and a != c
    assert math.sqrt(sum(x * x for x in a.vec)) == pytest.approx(1.0)


def test_a_degenerate_random_draw_falls_back_to_the_first_axis():
    class Half(random.Random):
        def random(self):
            return 0.5

    cfg = CoordinateConfig(dimensionality=3)
    origin = Coordinate.origin(cfg)
    assert origin.apply_force(cfg, 2.0, origin, Half()).vec == (2.0, 0.0, 0.0)


def test_same_inputs_same_coordinates():
    def run(seed):
        c = CoordinateClient(rng=random.Random(seed))
        for i in range(30):
            c.update(f"n{i % 4}", coord([0.001 * (i % 4)] * 8, error=0.5), 0.002 + 0.0001 * i)
        return c.coordinate

    assert run(3) == run(3)
