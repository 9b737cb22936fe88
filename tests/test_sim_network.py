"""The simulated network: loss rate, latency bounds, partitions and healing, ordering."""

from __future__ import annotations

import random

import pytest

from simulations.sim.clock import SimClock
from simulations.sim.network import DATAGRAM, NetworkOptions, SimNetwork

pytestmark = pytest.mark.usefixtures("strict_core")  # a bug the core survives fails the test

A, B, C, D = ("10.0.0.1", 7946), ("10.0.0.2", 7946), ("10.0.0.3", 7946), ("10.0.0.4", 7946)


def _net(**kw: float) -> SimNetwork:
    return SimNetwork(NetworkOptions(**kw), random.Random(1))


def test_loss_rate_matches_probability() -> None:
    net = _net(loss_probability=0.2)
    sent = 20_000
    delivered = sum(net.send_datagram(A, B, b"x", 0.0) for _ in range(sent))
    assert net.dropped_loss + delivered == sent
    # 20,000 Bernoulli(0.2) draws: sd ≈ 57, so ±400 is > 7 sigma.
    assert abs(net.dropped_loss - 4000) < 400
    assert len(net) == delivered


def test_zero_loss_delivers_everything_and_delay_respects_minimum() -> None:
    net = _net(one_way_delay_min_s=0.001, one_way_delay_mean_s=0.002)
    for i in range(1000):
        assert net.send_datagram(A, B, bytes([i % 256]), 5.0)
    times = []
    while len(net):
        at, _, kind, src, dst, _ = net.pop()
        assert kind == DATAGRAM and (src, dst) == (A, B)
        times.append(at - 5.0)
    assert min(times) >= 0.001
    mean_extra = sum(times) / len(times) - 0.001
    assert 0.0015 < mean_extra < 0.0025  # Exp(2 ms) mean over 1000 samples


def test_link_delay_is_per_directed_pair_and_survives_heal() -> None:
    net = _net(one_way_delay_min_s=0.001, one_way_delay_mean_s=0.0)
    net.set_link_delay(A, B, 0.040)
    net.heal()
    for src, dst in ((A, B), (B, A), (A, C)):
        net.send_datagram(src, dst, b"x", 1.0)
    arrivals = {(src, dst): at - 1.0 for at, _, _, src, dst, _ in (net.pop() for _ in range(3))}
    assert arrivals == {(A, B): pytest.approx(0.040), (B, A): pytest.approx(0.001),
                        (A, C): pytest.approx(0.001)}
    with pytest.raises(ValueError):
        net.set_link_delay(A, B, -1.0)


def test_heap_pops_in_time_order_with_fifo_ties() -> None:
    net = _net(one_way_delay_min_s=0.0, one_way_delay_mean_s=0.0)
    for i in range(5):
        net.send_datagram(A, B, bytes([i]), 1.0)
    net.send_datagram(A, B, b"early", 0.5)
    order = [net.pop()[5] for _ in range(6)]
    assert order == [b"early", b"\x00", b"\x01", b"\x02", b"\x03", b"\x04"]


def test_split_partition_blocks_both_directions_until_heal() -> None:
    net = _net()
    net.split([[A, B]])
    assert net.reachable(A, B) and net.reachable(C, D)
    assert not net.reachable(A, C) and not net.reachable(C, A)
    assert not net.send_datagram(A, C, b"x", 0.0)
    assert net.dropped_partition == 1
    net.heal()
    assert net.reachable(A, C) and net.send_datagram(A, C, b"x", 0.0)


def test_isolate_one_node() -> None:
    net = _net()
    net.isolate(C)
    assert not net.reachable(C, A) and not net.reachable(B, C)
    assert net.reachable(A, B) and net.reachable(B, D)


def test_asymmetric_block_is_one_way() -> None:
    net = _net()
    net.block(A, B)
    assert not net.reachable(A, B)
    assert net.reachable(B, A)
    net.heal()
    assert net.reachable(A, B)


def test_one_way_link_loss_only_affects_that_direction() -> None:
    net = _net()
    net.set_link_loss(A, B, 1.0)
    assert not any(net.send_datagram(A, B, b"x", 0.0) for _ in range(100))
    assert all(net.send_datagram(B, A, b"x", 0.0) for _ in range(100))


def test_same_seed_same_schedule() -> None:
    def schedule(seed: int) -> list[float]:
        net = SimNetwork(NetworkOptions(loss_probability=0.3), random.Random(seed))
        for i in range(200):
            net.send_datagram(A, B, b"x", i * 0.01)
        return [net.pop()[0] for _ in range(len(net))]

    assert schedule(7) == schedule(7)
    assert schedule(7) != schedule(8)


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError):
        NetworkOptions(loss_probability=1.5).validate()
    with pytest.raises(ValueError):
        _net().set_loss(-0.1)


def test_clock_only_moves_forward() -> None:
    clock = SimClock()
    clock.advance_to(1.5)
    assert clock.now == 1.5
    with pytest.raises(ValueError):
        clock.advance_to(1.0)


def test_coordinates_bench_world_learns_every_pair_from_its_latency_matrix() -> None:
    # The bench's world in small: 9 nodes, 30 simulated s; the figures are the bench's.
    from simulations.bench.coordinates import latency_matrix, run

    truth = latency_matrix(9, random.Random(1))
    assert all(truth[i][j] == pytest.approx(truth[j][i]) and truth[i][j] > 0
               for i in range(9) for j in range(9) if i != j)
    result = run(9, 30.0, seed=1, jitter_s=0.0001)
    assert result["covered"] == 1.0
    assert result["median"] < 0.25  # far pairs dominate: estimates within tens of percent
