"""How well the network coordinates estimate RTT: a 30-node world with a latency matrix.

    python -m simulations.bench.coordinates [--nodes 30] [--seconds 60] [--seeds 5]

The deterministic simulator (``simulations.sim``) runs the real cores, LAN profile, over
a network whose links have their own latency (``SimNetwork.set_link_delay``): the kind
of cluster the issue describes, one third on a home LAN, one third spread over a tailnet
and one third in a cloud region far away. Each node has a position in a plane and an
access-link delay ("height"); the true RTT of a pair is the distance of their positions
plus both heights plus the mean jitter of the two legs (exponential, ``--jitter-ms`` per
leg). Such a matrix fits Vivaldi's model (Euclidean part plus heights) up to the jitter,
so the figure measures how far the coordinates converged in the time given, not how
well 8 dimensions embed a real Internet matrix.

After ``--seconds`` simulated seconds every node's estimate of every other node is what
``claw-node rtt B`` on that node would print (its own coordinate against the one it
cached for B from a probe ack). Per seed: the median and 90th percentile of the relative
error ``|estimate - truth| / truth`` over all ordered pairs that have an estimate, the
median over the short pairs alone (true RTT under ``SHORT_RTT_S``, the home-LAN ones,
where an absolute error of a millisecond is a large relative one), and the share of
pairs that have an estimate. Then the spread over the seeds. A figure, not a test.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time

from gossip.config import Compression, GossipConfig
from gossip.nearest import estimated_rtt

from ..sim.metrics import percentile
from ..sim.network import NetworkOptions
from ..sim.world import SimWorld

__all__ = ["SHORT_RTT_S", "latency_matrix", "run"]

SHORT_RTT_S = 0.002
"""Pairs with a true RTT below this (seconds) are reported apart as well."""

_SITES = (
    # (name, centre x ms, centre y ms, spread ms, height range ms)
    ("home-lan", 0.0, 0.0, 0.3, (0.05, 0.3)),
    ("tailnet", 15.0, 10.0, 12.0, (0.5, 4.0)),
    ("cloud", 70.0, 25.0, 1.0, (0.1, 0.5)),
)


def latency_matrix(nodes: int, rng: random.Random) -> list[list[float]]:
    """Minimum RTTs (seconds) of ``nodes`` nodes spread over the three sites in turn."""
    points = []
    for i in range(nodes):
        _, cx, cy, spread, (h_lo, h_hi) = _SITES[i % len(_SITES)]
        points.append((cx + rng.uniform(-spread, spread), cy + rng.uniform(-spread, spread),
                       rng.uniform(h_lo, h_hi)))
    return [[0.0 if i == j else
             (math.dist(a[:2], b[:2]) + a[2] + b[2]) / 1e3
             for j, b in enumerate(points)] for i, a in enumerate(points)]


def run(nodes: int, seconds: float, seed: int, jitter_s: float) -> dict[str, float]:
    """One world; returns the median and p90 relative error and the pairs covered."""
    cfg = GossipConfig.lan().replace(compression=Compression.OFF)
    world = SimWorld(cfg, seed, NetworkOptions(one_way_delay_min_s=0.0,
                                               one_way_delay_mean_s=jitter_s))
    sim_nodes = world.add_converged_nodes(nodes)
    truth = latency_matrix(nodes, random.Random(seed))
    for i, a in enumerate(sim_nodes):
        for j, b in enumerate(sim_nodes):
            if i != j:
                world.network.set_link_delay(a.address, b.address, truth[i][j] / 2)
    world.run_until(seconds)
    errors = []
    short = []
    pairs = 0
    for i, a in enumerate(sim_nodes):
        assert a.core is not None
        origin = a.core.coordinate_of(a.name)
        for j, b in enumerate(sim_nodes):
            if i == j:
                continue
            pairs += 1
            estimate = estimated_rtt(origin, a.core.coordinate_of(b.name)) if origin else None
            if estimate is not None:
                true_rtt = truth[i][j] + 2 * jitter_s
                errors.append(abs(estimate - true_rtt) / true_rtt)
                if true_rtt < SHORT_RTT_S:
                    short.append(errors[-1])
    return {"median": _percentile(errors, 50), "p90": _percentile(errors, 90),
            "short_median": _percentile(short, 50), "covered": len(errors) / pairs}


def _percentile(values: list[float], q: float) -> float:
    found = percentile(values, q)
    return math.nan if found is None else found


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m simulations.bench.coordinates",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=30, help="cluster size (default 30)")
    p.add_argument("--seconds", type=float, default=60.0, help="simulated seconds (default 60)")
    p.add_argument("--seeds", type=int, default=5, help="seeds 1..N (default 5)")
    p.add_argument("--jitter-ms", type=float, default=0.1,
                   help="mean exponential jitter per one-way leg, ms (default 0.1)")
    args = p.parse_args()
    print(f"nodes={args.nodes} seconds={args.seconds:g} seeds=1..{args.seeds} "
          f"jitter={args.jitter_ms:g} ms/leg; sites: "
          + ", ".join(site[0] for site in _SITES))
    print(f"{'seed':>4}  {'median rel err':>14}  {'p90 rel err':>11}  "
          f"{'median, pairs < 2 ms':>20}  {'pairs covered':>13}  {'wall s':>6}")
    medians = []
    for seed in range(1, args.seeds + 1):
        started = time.perf_counter()
        r = run(args.nodes, args.seconds, seed, args.jitter_ms / 1e3)
        medians.append(r["median"])
        print(f"{seed:>4}  {r['median']:>14.3f}  {r['p90']:>11.3f}  {r['short_median']:>20.3f}  "
              f"{r['covered']:>12.0%}  "
              f"{time.perf_counter() - started:>6.1f}")
    print(f"median relative error over seeds: min {min(medians):.3f}, "
          f"median {statistics.median(medians):.3f}, max {max(medians):.3f}")


if __name__ == "__main__":
    main()
