"""Scenario ``heal``: the partition scenario with the claw layer on top.

Four cases, each its own world from the seed: splits 50/50 and 70/30, with the
incumbent coordinator on the larger (or first) side and on the other one. Every node's
clock is skewed by up to ±``SKEW_S``. While split, the coordinator of each side writes:
fresh registrations, and heartbeats of one record both sides share (concurrent writes
of the same record). Checks, per case:

* while split, every node reports itself partitioned, and the nodes of a side holding at
  most half of the last stable view report a minority;
* after the heal, every node names one coordinator: the one of the side that held the
  larger share (50/50: the higher term), within the bound measured (``coordinator_s``);
* every acknowledged record is on every node at its newest version (the merge order of
  ``HttpNodeRecord.newer_than``), within the bound measured (``registry_s``).
"""

from __future__ import annotations

import random
from typing import Any

from api.registry import HttpNodeRecord

from .claw_layer import ClawLayer
from .world import SimWorld, WorldOptions

__all__ = ["CASES", "HealCase", "run_case"]

SKEW_S = 5.0
"""Largest clock skew of a node, seconds (each node draws one in ±SKEW_S)."""
SETTLE_S = 30.0
"""Virtual seconds for the cluster to form and elect before the split."""
WRITE_EVERY_S = 2.0
"""Seconds between two write rounds on each side while split."""
ELECT_EVERY_S = 0.5
"""Seconds between two election passes of every node (the agent re-elects on events)."""
HEAL_BOUND_S = 120.0
"""Longest the scenario waits after the heal (a check fails beyond it)."""

HealCase = tuple[float, str]
"""(share of the first side, where the incumbent is: 'first' or 'second')."""
CASES: tuple[HealCase, ...] = ((0.5, "first"), (0.5, "second"), (0.7, "first"),
                               (0.7, "second"))


def _records_agree(layer: ClawLayer, names: list[str],
                   newest: dict[str, HttpNodeRecord]) -> bool:
    for name in names:
        registry = layer.nodes[name].registry
        for node_id, rec in newest.items():
            held = registry.get(node_id)
            if held is None or held != rec:
                return False
    return True


def run_case(config: Any, seed: int, nodes: int, split_s: float, case: HealCase
             ) -> tuple[dict[str, Any], list[tuple[str, bool, str]]]:
    """One case; its row and its checks."""
    share, incumbent_side = case
    world = SimWorld(config, seed, options=WorldOptions(trace_packets=True))
    layer = ClawLayer(world)
    rng = random.Random(seed)
    names = [f"n{i:02d}" for i in range(nodes)]
    seed_addr = None
    for i, name in enumerate(names):  # n00 starts first: the incumbent
        node = layer.add(name, started_at=1000.0 + i, skew_s=rng.uniform(-SKEW_S, SKEW_S),
                         seeds=[] if seed_addr is None else [seed_addr])
        seed_addr = seed_addr or node.address
        world.run_until(world.now + 0.2)

    def elect_until(t_end: float, step: Any = None) -> None:
        while world.now < t_end:
            world.run_until(min(t_end, world.now + ELECT_EVERY_S))
            layer.elect_all()
            if step is not None:
                step()

    elect_until(world.now + SETTLE_S)
    incumbent = layer.coordinator_of(names[0])
    shared = layer.register(names[0], "shared", names)
    elect_until(world.now + 5.0)

    rest = names[1:]
    rng.shuffle(rest)
    first_n = round(nodes * share)
    if incumbent_side == "first":
        first, second = [names[0], *rest[:first_n - 1]], rest[first_n - 1:]
    else:
        first, second = rest[:first_n], [names[0], *rest[first_n:]]
    world.network.split([[world.node(n).address for n in first]])
    split_at = world.now
    acked: list[HttpNodeRecord] = [shared]
    counter = [0]
    next_write = [split_at + WRITE_EVERY_S * 5]  # after the sides elected

    def write_round() -> None:
        if world.now < next_write[0]:
            return
        next_write[0] = world.now + WRITE_EVERY_S
        for side, label in ((first, "a"), (second, "b")):
            writer = layer.coordinator_of(side[0])[0]
            if writer not in side:
                continue  # this side has not elected yet
            counter[0] += 1
            acked.append(layer.register(writer, f"w-{label}-{counter[0]}", side))
            beat = layer.heartbeat(writer, "shared", float(counter[0] % 100), side)
            if beat is not None:
                acked.append(beat)

    elect_until(split_at + split_s, write_round)
    during = {n: layer.partition_of(n) for n in names}
    split_coordinators = {side_name: layer.coordinator_of(side[0])
                          for side_name, side in (("first", first), ("second", second))}
    larger = first if len(first) > len(second) else second if len(second) > len(first) else None
    if larger is None:
        expected = max(split_coordinators.values(), key=lambda ct: ct[1])[0]
    else:
        expected = layer.coordinator_of(larger[0])[0]

    world.network.heal()
    heal_at = world.now
    newest: dict[str, HttpNodeRecord] = {}
    for rec in acked:
        old = newest.get(rec.node_id)
        if old is None or rec.newer_than(old):
            newest[rec.node_id] = rec
    coordinator_s = registry_s = None
    while world.now < heal_at + HEAL_BOUND_S and (coordinator_s is None or registry_s is None):
        elect_until(world.now + ELECT_EVERY_S)
        views = {layer.coordinator_of(n)[0] for n in names}
        if coordinator_s is None and views == {expected}:
            coordinator_s = world.now - heal_at
        if registry_s is None and _records_agree(layer, names, newest):
            registry_s = world.now - heal_at

    checks = [
        ("every node reported itself partitioned while split",
         all(p.partitioned for p in during.values()),
         f"not partitioned: {sorted(n for n, p in during.items() if not p.partitioned)}"),
        ("a side with at most half of the view reported a minority",
         all(during[n].minority == (2 * len(side) <= nodes)
             for side in (first, second) for n in side), "minority flags differ"),
        ("one coordinator after the heal, the larger side's (50/50: higher term)",
         coordinator_s is not None,
         f"expected {expected}; nodes name {sorted({str(layer.coordinator_of(n)[0]) for n in names})}"),
        ("every acknowledged record everywhere at its newest version", registry_s is not None,
         f"{len(newest)} records, not converged {HEAL_BOUND_S:g} s after the heal"),
    ]
    row = {
        "split": f"{len(first)}/{len(second)}", "incumbent": incumbent_side,
        "incumbent_before": f"{incumbent[0]} t{incumbent[1]}",
        "split_coordinators": " ".join(f"{c} t{t}" for c, t in split_coordinators.values()),
        "after_heal": f"{expected}", "acked_writes": len(acked), "records": len(newest),
        "coordinator_s": None if coordinator_s is None else round(coordinator_s, 1),
        "registry_s": None if registry_s is None else round(registry_s, 1),
        "trace": world.trace_hash()[:12], "sim_s": round(world.now, 1),
    }
    return row, checks
