"""Coordinates in probe acks (gossip/coordinate_exchange.py): Serf's ping-delegate rules."""

from __future__ import annotations

import random

import msgpack
import pytest

from gossip.coordinate import Coordinate, CoordinateClient, CoordinateConfig
from gossip.coordinate_exchange import CoordinateExchange
from gossip.ping_payload import encode_ack_payload
from tests.test_ping_payload import SERF_PAYLOADS


def exchange(name: str, seed: int = 1, **config) -> CoordinateExchange:
    return CoordinateExchange(name, CoordinateClient(CoordinateConfig(**config), rng=random.Random(seed)))


def test_two_nodes_learn_each_others_coordinates_and_the_rtt():
    a, b = exchange("a", 1), exchange("b", 2)
    for _ in range(100):  # both probe each other; the true RTT is 8 ms
        b_then = b.client.coordinate
        assert a.ping_complete("b", 0.008, b.ack_payload()) == b_then
        assert b.ping_complete("a", 0.008, a.ack_payload()) is not None
    assert a.coordinate_of("b") == b_then  # the one from the last ack, not b's current
    assert a.client.distance_to(b.client.coordinate) == pytest.approx(0.008, rel=0.05)
    assert a.coordinate_of("a") == a.client.coordinate
    assert len(a) == 1 and (a.rejected, a.malformed) == (0, 0)


def test_a_real_serf_ack_payload_is_accepted_and_cached():
    a = exchange("a")
    payload = bytes.fromhex(next(h for h, c in SERF_PAYLOADS.items() if any(c["Vec"])))
    coord = a.ping_complete("serf-node", 0.0004, payload)
    assert coord is not None and a.coordinate_of("serf-node") == coord
    assert a.client.coordinate != Coordinate.origin(a.client.config)  # we moved


def test_empty_payload_is_ignored_not_counted():
    a = exchange("a")
    assert a.ping_complete("b", 0.01, b"") is None
    assert a.ping_complete("b", 0.01, None) is None
    assert (a.rejected, a.malformed, len(a)) == (0, 0, 0)


@pytest.mark.parametrize("payload", [
    b"\x02" + msgpack.packb({b"Vec": [0.0] * 8}, use_bin_type=False),  # another ping version
    b"\x01\xc1",
    b"\x01" + msgpack.packb(b"not a coordinate", use_bin_type=False),
])
def test_malformed_payload_is_counted_and_changes_nothing(payload):
    a = exchange("a")
    before = a.client.coordinate
    assert a.ping_complete("b", 0.01, payload) is None
    assert (a.malformed, a.rejected) == (1, 0)
    assert a.client.coordinate == before and a.coordinate_of("b") is None


@pytest.mark.parametrize("coord,rtt", [
    (Coordinate((0.001,) * 8, 1.0, 0.0, 1e-5), 10.5),               # RTT beyond 10 s
    (Coordinate((0.001,) * 8, 1.0, 0.0, 1e-5), -0.001),             # negative RTT
    (Coordinate((0.001,) * 3, 1.0, 0.0, 1e-5), 0.01),               # wrong dimensionality
    (Coordinate((float("nan"),) * 8, 1.0, 0.0, 1e-5), 0.01),        # NaN
    (Coordinate((0.001,) * 8, float("inf"), 0.0, 1e-5), 0.01),      # infinite error
])
def test_rejected_coordinate_is_counted_and_not_cached(coord, rtt):
    a = exchange("a")
    before = a.client.coordinate
    assert a.ping_complete("b", rtt, encode_ack_payload(coord)) is None
    assert (a.rejected, a.malformed) == (1, 0)
    assert a.client.coordinate == before and a.coordinate_of("b") is None


def test_a_rejected_update_keeps_the_previous_cached_coordinate():
    a, b = exchange("a", 1), exchange("b", 2)
    good = a.ping_complete("b", 0.01, b.ack_payload())
    bad = encode_ack_payload(Coordinate((float("nan"),) * 8, 1.0, 0.0, 1e-5))
    assert a.ping_complete("b", 0.01, bad) is None
    assert a.coordinate_of("b") == good


def test_forget_drops_the_coordinate_and_the_latency_samples():
    a, b = exchange("a", 1), exchange("b", 2)
    a.ping_complete("b", 0.01, b.ack_payload())
    a.forget("b")
    assert a.coordinate_of("b") is None and len(a) == 0
    assert "b" not in a.client._latency_samples
    a.forget("a")  # forgetting ourselves is a no-op
    assert a.coordinate_of("a") == a.client.coordinate
