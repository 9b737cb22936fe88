"""Phantom networks for the Vivaldi client: known RTT matrices, a probing loop, the error.

The logic of Serf's ``coordinate/phantom.go`` (the helpers of its performance tests),
rewritten: ``truth[i][j]`` is the true RTT (seconds) between nodes i and j;
``simulate`` lets every node sample one random peer per cycle, as a probe round would;
``evaluate`` compares every pair's estimate with the truth. No network, no clock: the
``random.Random`` given drives the peer choices (and, shared with the clients, their
tie-break directions, as Go's global ``rand`` does in Serf's tests).

RTTs are made as Go makes its ``time.Duration`` values (whole nanoseconds, truncated)
and read back as ``Duration.Seconds()`` does, so that fed Go's random stream these
helpers reproduce Serf's figures to the last bit (``tests/test_coordinate_performance.py``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from gossip.coordinate import CoordinateClient, CoordinateConfig, duration_seconds

__all__ = [
    "ErrorStats",
    "evaluate",
    "generate_circle",
    "generate_clients",
    "generate_grid",
    "generate_line",
    "generate_random",
    "generate_split",
    "simulate",
    "symmetric",
]

Matrix = list[list[float]]


def symmetric(nodes: int, rtt_nanos_of: Callable[[int, int], int]) -> Matrix:
    """Seconds of ``rtt_nanos_of(i, j)`` (integer ns) for every ``i < j``, mirrored,
    zero on the diagonal."""
    truth = [[0.0] * nodes for _ in range(nodes)]
    for i in range(nodes):
        for j in range(i + 1, nodes):
            truth[i][j] = truth[j][i] = duration_seconds(rtt_nanos_of(i, j))
    return truth


def _nanos(seconds: float) -> int:
    """A Go ``time.Duration`` literal such as ``10 * time.Millisecond``, from seconds."""
    return round(seconds * 1e9)


def generate_clients(nodes: int, config: CoordinateConfig, rng: random.Random) -> list[CoordinateClient]:
    """``nodes`` fresh clients (all at the origin) sharing ``rng``."""
    return [CoordinateClient(config, rng=rng) for _ in range(nodes)]


def generate_line(nodes: int, spacing_s: float) -> Matrix:
    """Nodes evenly spaced on a line, ``spacing_s`` apart."""
    spacing = _nanos(spacing_s)
    return symmetric(nodes, lambda i, j: (j - i) * spacing)


def generate_grid(nodes: int, spacing_s: float) -> Matrix:
    """Nodes on a square grid of side ``floor(sqrt(nodes))``, ``spacing_s`` apart."""
    n = int(math.sqrt(nodes))
    spacing = _nanos(spacing_s)

    def rtt(i: int, j: int) -> int:
        dx, dy = float(j % n - i % n), float(j // n - i // n)
        return int(math.sqrt(dx * dx + dy * dy) * spacing)

    return symmetric(nodes, rtt)


def generate_split(nodes: int, lan_s: float, wan_s: float) -> Matrix:
    """Two LANs (nodes ``0..nodes//2`` and the rest) joined by a WAN link of ``wan_s``."""
    split, lan, wan = nodes // 2, _nanos(lan_s), _nanos(wan_s)
    return symmetric(nodes, lambda i, j: lan + (wan if (i <= split) != (j <= split) else 0))


def generate_circle(nodes: int, radius_s: float) -> Matrix:
    """Nodes 1.. evenly spaced on a circle of ``radius_s``, node 0 at its centre reachable
    only through the rim (RTT ``2 × radius_s`` to all): a topology that needs the height."""
    radius = _nanos(radius_s)

    def rtt(i: int, j: int) -> int:
        if i == 0:
            return 2 * radius
        t1, t2 = 2.0 * math.pi * i / nodes, 2.0 * math.pi * j / nodes
        dx, dy = math.cos(t2) - math.cos(t1), math.sin(t2) - math.sin(t1)
        return int(math.sqrt(dx * dx + dy * dy) * radius)

    return symmetric(nodes, rtt)


def generate_random(nodes: int, mean_s: float, deviation_s: float, rng: random.Random) -> Matrix:
    """Independent normally distributed RTTs: no geometry to find, the hardest case."""
    return symmetric(nodes, lambda i, j: int(rng.gauss(mean_s, deviation_s) * 1e9))


def simulate(clients: list[CoordinateClient], truth: Matrix, cycles: int, rng: random.Random) -> None:
    """Each cycle, every node samples the true RTT to one random peer (itself: skipped)."""
    nodes = len(clients)
    for _ in range(cycles):
        for i, client in enumerate(clients):
            j = rng.randrange(nodes)
            if j != i:
                client.update(f"node_{j}", clients[j].coordinate, truth[i][j])


@dataclass(frozen=True, slots=True)
class ErrorStats:
    """Relative error ``|estimate − truth| / truth`` over every pair of nodes."""

    error_avg: float
    error_max: float


def evaluate(clients: list[CoordinateClient], truth: Matrix) -> ErrorStats:
    """The mean and worst relative error of every pair's RTT estimate."""
    total, worst, count = 0.0, 0.0, 0
    for i in range(len(clients)):
        for j in range(i + 1, len(clients)):
            error = abs(clients[i].distance_to(clients[j].coordinate) - truth[i][j]) / truth[i][j]
            total += error  # added in Serf's order, so the mean matches to the bit
            worst = max(worst, error)
            count += 1
    return ErrorStats(total / count, worst)
