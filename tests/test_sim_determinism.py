"""The simulator is a pure function of its seed: equal seeds give the same trace hash
(bit for bit, even across processes with different string hashing), different seeds don't."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from simulations.sim.runner import Run, RunOptions

pytestmark = pytest.mark.usefixtures("strict_core")  # a bug the core survives fails the test

_PROGRAM = """
from simulations.sim.runner import Run, RunOptions
run = Run(RunOptions(scenario="crash", nodes=8, seed={seed}, progress=False))
run.bootstrap(8, 1.0)
world = run.world
world.network.set_loss(0.05)
world.pause(world.nodes[2].name, 1.5)
world.crash(world.nodes[5].name)
run.advance(world.now + 15.0)
print(world.trace_hash(), world.trace_lines)
"""


def _trace(seed: int) -> tuple[str, int]:
    run = Run(RunOptions(scenario="crash", nodes=8, seed=seed, progress=False))
    run.bootstrap(8, 1.0)
    world = run.world
    world.network.set_loss(0.05)
    world.pause(world.nodes[2].name, 1.5)
    world.crash(world.nodes[5].name)
    run.advance(world.now + 15.0)
    return world.trace_hash(), world.trace_lines


def test_same_seed_same_trace_hash() -> None:
    first, lines = _trace(11)
    assert lines > 8 * 7  # at least every node learning every other one
    assert _trace(11) == (first, lines)


def test_different_seeds_different_trace_hash() -> None:
    assert _trace(11)[0] != _trace(12)[0]


@pytest.mark.slow
def test_same_seed_same_trace_across_processes_and_hash_seeds() -> None:
    """Set iteration order of strings changes with PYTHONHASHSEED; the trace must not."""
    outputs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", _PROGRAM.format(seed=11)], env=env,
                             capture_output=True, text=True, timeout=120, check=True)
        outputs.append(out.stdout.split())
    in_process = _trace(11)
    assert outputs[0] == outputs[1] == [in_process[0], str(in_process[1])]


def test_cached_bootstrap_continues_exactly(tmp_path: object) -> None:
    """A run from a pickled bootstrap matches the run that saved it, hash included."""
    from simulations.sim.scenarios import run_scenario

    opts = RunOptions(scenario="crash", nodes=6, seed=21, progress=False, crashes=1,
                      snapshot_dir=str(tmp_path))
    saved = run_scenario(opts)
    loaded = run_scenario(opts)
    assert list(tmp_path.iterdir())  # type: ignore[attr-defined]
    assert saved.rows == loaded.rows and saved.trace_hash == loaded.trace_hash
