"""Our Vivaldi client against Serf's own, sample for sample.

``tests/data/serf_vivaldi_trace.json`` was written by Serf's ``coordinate.Client`` (Debian
golang-github-hashicorp-serf-dev 0.9.4) running ``tests/data/serf_go/vivtrace/main.go``:
six clients at fixed distinct coordinates (so Serf never draws a random direction), 400
RTT samples, and the coordinate Serf returned after each. Replaying the samples must give
bit-identical coordinates and the same ``DistanceTo`` to the nanosecond.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from gossip.coordinate import Coordinate, CoordinateClient

TRACE = json.loads((Path(__file__).parent / "data" / "serf_vivaldi_trace.json").read_text())


def _coordinate(go: dict) -> Coordinate:
    return Coordinate(tuple(go["Vec"]), go["Error"], go["Adjustment"], go["Height"])


class _NoRandom(random.Random):
    def random(self):  # pragma: no cover - reaching it would be the failure
        raise AssertionError("Serf drew no random direction in this trace; we must not either")


def _replay() -> list[CoordinateClient]:
    clients = [CoordinateClient(rng=_NoRandom()) for _ in TRACE["start"]]
    for client, start in zip(clients, TRACE["start"], strict=True):
        client.set_coordinate(_coordinate(start))
    return clients


def test_every_update_matches_serf():
    clients = _replay()
    assert len(TRACE["updates"]) > 300
    for n, step in enumerate(TRACE["updates"]):
        ours = clients[step["From"]].update(
            f"node_{step['To']}", clients[step["To"]].coordinate, step["RTTNanos"] / 1e9)
        assert ours == _coordinate(step["After"]), f"update {n} diverged"


def test_distance_estimates_match_serf_to_the_nanosecond():
    clients = _replay()
    for step in TRACE["updates"]:
        clients[step["From"]].update(f"node_{step['To']}", clients[step["To"]].coordinate, step["RTTNanos"] / 1e9)
    for i, row in enumerate(TRACE["distance_nanos"]):
        for j, serf_nanos in enumerate(row):
            # Serf truncates the float seconds to a time.Duration (integer ns); so do we
            assert round(clients[i].distance_to(clients[j].coordinate) * 1e9) == serf_nanos
