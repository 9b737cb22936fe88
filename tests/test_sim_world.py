"""The simulated world drives real cores: faults do what they say, in virtual time."""

from __future__ import annotations

import pytest

from gossip.events import MemberFailed, MemberLeft
from gossip.types import MemberState
from simulations.sim.runner import Run, RunOptions

pytestmark = pytest.mark.usefixtures("strict_core")  # a bug the core survives fails the test


def _cluster(n: int, seed: int = 1) -> Run:
    run = Run(RunOptions(scenario="crash", nodes=n, seed=seed, progress=False))
    assert run.bootstrap(n, 1.0) is not None
    return run


def _state(run: Run, observer: int, subject: int) -> MemberState | None:
    core = run.world.nodes[observer].core
    assert core is not None
    member = core.member(run.world.nodes[subject].name)
    return None if member is None else member.state


def test_bootstrap_converges_and_every_core_sees_everyone_alive() -> None:
    run = _cluster(6)
    for i in range(6):
        assert all(_state(run, i, j) == MemberState.ALIVE for j in range(6))
    assert run.obs.converged and run.obs.wrong == 0


def test_crash_is_detected_and_restart_at_new_address_rejoins_with_higher_incarnation() -> None:
    run = _cluster(5)
    world = run.world
    victim = world.nodes[3]
    old_address, old_incarnation = victim.address, victim.core.incarnation  # type: ignore[union-attr]
    world.crash(victim.name)
    run.advance(world.now + 30.0, stop=lambda: run.obs.converged)
    assert all(_state(run, i, 3) in (MemberState.DEAD, None) for i in (0, 1, 2, 4))
    world.restart(victim.name, seeds=[world.nodes[0].address], new_address=True)
    assert victim.address != old_address
    run.advance(world.now + 30.0, stop=lambda: run.obs.converged)
    assert run.obs.converged
    for i in (0, 1, 2, 4):
        member = world.nodes[i].core.member(victim.name)  # type: ignore[union-attr]
        assert member is not None and member.state == MemberState.ALIVE
        assert member.address == victim.address and member.incarnation > old_incarnation


def test_pause_queues_inputs_and_the_node_catches_up() -> None:
    run = _cluster(4)
    world = run.world
    slow = world.nodes[2]
    before = slow.core.stats["packets_in"]  # type: ignore[union-attr]
    world.pause(slow.name, 3.0)
    run.advance(world.now + 2.9)
    assert slow.core.stats["packets_in"] == before  # type: ignore[union-attr]
    assert slow.backlog  # peers kept probing it
    run.advance(world.now + 10.0)
    assert not slow.backlog and slow.core.stats["packets_in"] > before  # type: ignore[union-attr]
    run.advance(world.now + 20.0, stop=lambda: run.obs.converged)
    assert run.obs.converged  # a 3 s pause is shorter than the suspicion timeout


def test_graceful_leave_is_seen_as_left_not_failed() -> None:
    run = _cluster(4)
    world = run.world
    seen: list[str] = []
    world.observers.append(lambda now, node, ev: seen.append(type(ev).__name__)
                           if getattr(ev, "member", None) is not None
                           and ev.member.name == world.nodes[1].name else None)
    world.leave(world.nodes[1].name)
    run.advance(world.now + 10.0)
    assert MemberLeft.__name__ in seen and MemberFailed.__name__ not in seen
    assert not world.nodes[1].up


def test_partition_blocks_streams_and_datagrams_then_heals() -> None:
    run = _cluster(4)
    world = run.world
    a, b = world.nodes[0], world.nodes[3]
    world.network.split([[a.address, world.nodes[1].address]])
    run.advance(world.now + 40.0)
    assert _state(run, 0, 3) in (MemberState.SUSPECT, MemberState.DEAD)
    assert world.network.dropped_partition > 0
    world.network.heal()
    run.advance(world.now + 120.0, stop=lambda: run.obs.converged)
    assert _state(run, 0, 3) == MemberState.ALIVE and _state(run, 3, 0) == MemberState.ALIVE
    assert b.up


def test_restart_at_new_address_before_the_old_life_is_dead_is_accepted_when_it_dies() -> None:
    # The restarted node's alive is refused (a live name at another address) while its
    # old life is still alive or suspect; once that life is declared dead, the claim
    # remembered by whoever refused it is applied, instead of waiting for a push-pull.
    run = _cluster(6)
    world = run.world
    victim = world.nodes[4]
    world.crash(victim.name)
    run.advance(world.now + 0.3)
    world.restart(victim.name, seeds=[world.nodes[0].address], new_address=True)
    start = world.now
    others = [world.nodes[i] for i in (0, 1, 2, 3, 5)]

    def accepted() -> bool:
        members = [n.core.member(victim.name) for n in others]  # type: ignore[union-attr]
        return all(m is not None and m.state == MemberState.ALIVE
                   and m.address == victim.address for m in members)

    run.advance(world.now + 120.0, stop=accepted)
    assert accepted()
    took = world.now - start
    interval = run.config.push_pull_interval_s
    assert took < interval / 2, f"{took:.1f} s: waited for anti-entropy ({interval} s)"
