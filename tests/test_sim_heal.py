"""Scenario ``heal`` (the simulator's partition with the claw layer): a minority-side
incumbent gives way to the larger side's coordinator, a majority-side incumbent stays,
records written on both sides converge at their newest versions; the run is
reproducible from its seed."""

from __future__ import annotations

import pytest

from gossip.config import GossipConfig
from simulations.sim.heal import run_case

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize("case", [(0.7, "second"), (0.7, "first"), (0.5, "first")])
def test_heal_case_passes_every_check_and_is_reproducible(case: tuple[float, str]) -> None:
    config = GossipConfig.profile("lan")
    row, checks = run_case(config, seed=11, nodes=6, split_s=40.0, case=case)
    failed = [(what, detail) for what, ok, detail in checks if not ok]
    assert failed == [], row
    assert row["acked_writes"] > 10 and row["coordinator_s"] is not None
    again, _ = run_case(config, seed=11, nodes=6, split_s=40.0, case=case)
    assert again == row  # same seed, same trace hash and figures
