"""Crash trials count only what could be detected: a victim restarted before anyone
declared it dead, an observer that died first, and a node that never heard of the
victim are reported apart instead of as "undetected" (the churn table's old artefact)."""

from __future__ import annotations

import pytest

from simulations.sim.runner import Run, RunOptions

pytestmark = pytest.mark.usefixtures("strict_core")  # a bug the core survives fails the test


def _cluster(n: int, seed: int = 1) -> Run:
    run = Run(RunOptions(scenario="churn", nodes=n, seed=seed, progress=False))
    assert run.bootstrap(n, 1.0) is not None
    return run


def test_victim_restarted_before_detection_is_not_undetected_and_its_leave_is_not_a_detection() -> None:
    run = _cluster(6)
    world, obs = run.world, run.obs
    victim = world.nodes[4]
    world.crash(victim.name)
    run.advance(world.now + 1.0)  # far below the suspicion timeout
    world.restart(victim.name, seeds=[world.nodes[0].address])
    assert victim.name not in obs.trials  # the trial ended with the restart
    first = obs.completed[-1]
    assert first.name == victim.name and first.restarted_at == world.now
    assert first.outcome() == "restarted" and first.all_detection() is None
    run.advance(world.now + 30.0, stop=lambda: obs.converged)
    world.leave(victim.name)  # the old code counted this leave as detecting the crash
    run.advance(world.now + 10.0)
    assert not first.dead_at and first.outcome() == "restarted"
    trials = obs.close_trials()
    assert [t.outcome() for t in trials] == ["restarted"]


def test_observer_that_crashes_before_declaring_the_death_is_lost_not_waited_for() -> None:
    run = _cluster(6)
    world, obs = run.world, run.obs
    victim, observer = world.nodes[4], world.nodes[2]
    world.crash(victim.name)
    trial = obs.trials[victim.name]
    assert trial.observers == {0, 1, 2, 3, 5} and trial.unaware == 0
    run.advance(world.now + 0.5)
    world.crash(observer.name)
    world.restart(observer.name, seeds=[world.nodes[0].address], new_address=True)
    assert observer.index not in trial.observers and trial.lost == 1
    run.advance(world.now + 60.0, stop=lambda: trial.all_detection() is not None)
    assert trial.outcome() == "detected"
    assert set(trial.dead_at) == {0, 1, 3, 5}
    detected = trial.all_detection()
    assert detected is not None and 0.0 < detected < 60.0


def test_a_node_that_never_heard_of_the_victim_is_unaware_not_an_observer() -> None:
    run = _cluster(6)
    world, obs = run.world, run.obs
    loner = world.add_node()  # no seeds: it knows nobody and nobody knows it
    victim = world.nodes[3]
    world.crash(victim.name)
    trial = obs.trials[victim.name]
    assert loner.index not in trial.observers and trial.unaware == 1
    run.advance(world.now + 60.0, stop=lambda: trial.all_detection() is not None)
    assert trial.outcome() == "detected" and loner.index not in trial.dead_at
    assert loner.core is not None and loner.core.member(victim.name) is None


def test_views_of_a_node_restarted_elsewhere_agree_only_once_they_hold_its_new_address() -> None:
    run = _cluster(6)
    world, obs = run.world, run.obs
    victim = world.nodes[4]
    world.crash(victim.name)
    run.advance(world.now + 0.3)  # nobody has suspected it yet: every view says alive
    world.restart(victim.name, seeds=[world.nodes[0].address], new_address=True)
    assert not obs.converged  # "alive" at the old address is not agreement
    run.advance(world.now + 120.0, stop=lambda: obs.converged)
    assert obs.converged
    for i in (0, 1, 2, 3, 5):
        member = world.nodes[i].core.member(victim.name)  # type: ignore[union-attr]
        assert member is not None and member.address == victim.address
