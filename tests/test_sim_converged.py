"""``--start converged``: cores built knowing every member from one shared table.

Every node has a full view at t=0, the same seed gives the same trace, and the
copy-on-write table never lets one core's change reach another core.
"""

from __future__ import annotations

import random

import pytest

from gossip import codec
from gossip.config import GossipConfig
from gossip.converged import converged_table, in_converged_cluster
from gossip.errors import LocalProtocolError
from gossip.membership import MemberRecord, Membership, SharedTable, _private_copy
from gossip.messages import Alive, Suspect
from gossip.probe import ProbeList
from gossip.types import MemberState
from simulations.sim.runner import Run, RunOptions
from simulations.sim.scenarios import run_scenario

pytestmark = pytest.mark.usefixtures("strict_core")  # a bug the core survives fails the test


def _converged(n: int, seed: int = 1) -> Run:
    run = Run(RunOptions(scenario="crash", nodes=n, seed=seed, progress=False,
                         compression=False, start="converged"))
    assert run.bootstrap_cached(n, 1.0, None) == 0.0
    return run


def test_every_node_knows_every_member_alive_at_t0_with_nothing_to_gossip() -> None:
    run = _converged(12)
    world = run.world
    assert world.now == 0.0 and run.obs.converged and run.obs.wrong == 0
    names = [node.name for node in world.nodes]
    for node in world.nodes:
        core = node.core
        assert core is not None
        assert sorted(m.name for m in core.members()) == sorted(names)
        assert all(core.member_state(name) == MemberState.ALIVE for name in names)
        assert core.pending_broadcasts == 0
        assert core.next_event() is None
    assert world.totals()["datagrams"] == 0  # nothing was sent to get there


def test_converged_start_is_deterministic_and_detects_a_crash() -> None:
    opts = RunOptions(scenario="crash", nodes=20, seed=3, crashes=1, progress=False,
                      compression=False, start="converged")
    a, b = run_scenario(opts), run_scenario(opts)
    assert a.trace_hash == b.trace_hash
    assert a.rows == b.rows
    assert a.ok, a.checks
    assert a.rows[0]["undetected"] == 0 and a.rows[0]["false_dead"] == 0
    other = run_scenario(RunOptions(scenario="crash", nodes=20, seed=4, crashes=1,
                                    progress=False, compression=False, start="converged"))
    assert other.trace_hash != a.trace_hash


def test_changes_stay_in_the_core_that_made_them() -> None:
    run = _converged(10)
    world = run.world
    a, b = world.nodes[1].core, world.nodes[2].core
    assert a is not None and b is not None
    victim = world.nodes[5].name
    shared = a._members.get(victim)
    assert shared is b._members.get(victim)  # one shared record before any change
    accusation = codec.encode_message(Suspect(1, victim, world.nodes[7].name))
    a.receive_datagram(accusation, world.nodes[7].address, world.now)
    assert a.member_state(victim) == MemberState.SUSPECT
    assert b.member_state(victim) == MemberState.ALIVE
    assert shared.state == MemberState.ALIVE and shared.suspicion is None
    assert a._members.get(victim) is not shared  # a now holds its own copy
    assert a.stats["internal_errors"] == 0


def test_a_name_conflict_on_a_shared_record_is_remembered_privately() -> None:
    # A restart at a new address while the old life still looks alive is refused as a
    # conflict and remembered on the record (``refused_claim``): on a shared record that
    # must go through copy-on-write, not raise.
    run = _converged(10)
    world = run.world
    a, b = world.nodes[1].core, world.nodes[2].core
    assert a is not None and b is not None
    victim = world.nodes[5].name
    shared = a._members.get(victim)
    claim = Alive(shared.incarnation + 1, victim, bytes([10, 9, 9, 9]), 7946, shared.meta)
    a.receive_datagram(codec.encode_message(claim), world.nodes[7].address, world.now)
    assert a.stats["name_conflicts"] == 1
    assert a.stats["internal_errors"] == 0, a.last_internal_error
    assert a._members.get(victim).refused_claim == claim
    assert shared.refused_claim is None and b._members.get(victim) is shared


def test_a_crash_run_changes_no_shared_record_and_no_core_trips_over_one() -> None:
    run = _converged(30)
    world = run.world
    table = {name: (r.state, r.incarnation, r.status_ltime, r.suspicion)
             for r in world.nodes[0].core._members
             for name in [r.name] if name != world.nodes[0].name}
    run.advance(3.0)
    for victim in ("node-00004", "node-00017"):
        world.crash(victim)
        run.advance(world.now + 25.0, stop=lambda: run.obs.converged)
    assert run.obs.converged
    live = [n for n in world.nodes if n.core is not None]
    for node in live:
        assert node.core.stats["internal_errors"] == 0, node.core.last_internal_error
        assert node.core.member_state("node-00004") == MemberState.DEAD
    # Records nobody changed are still the shared ones, untouched.
    still_shared = [r for r in live[0].core._members
                    if type(r).__name__ == "_SharedRecord"]
    assert still_shared
    for r in still_shared:
        assert (r.state, r.incarnation, r.status_ltime, r.suspicion) == table[r.name]


def test_shared_records_refuse_assignment() -> None:
    table = converged_table([("a", ("10.0.0.1", 7946), b"", 1),
                             ("b", ("10.0.0.2", 7946), b"", 1)], 0.0)
    with pytest.raises(AttributeError):
        table.records["a"].state = MemberState.DEAD
    core = in_converged_cluster(
        GossipConfig.lan(), table, name="a", address=("10.0.0.1", 7946),
        rng=random.Random(1), now=0.0)
    assert core.member_state("b") == MemberState.ALIVE
    with pytest.raises(LocalProtocolError):  # not in the table as itself
        in_converged_cluster(GossipConfig.lan(), table, name="c",
                             address=("10.0.0.3", 7946), rng=random.Random(1), now=0.0)


def _record(name: str, state: MemberState = MemberState.ALIVE) -> MemberRecord:
    return MemberRecord(name=name, ip="10.0.0.1", port=7946, meta=b"", incarnation=1,
                        state=state, state_since=0.0, vsn=b"\x01\x05\x02", is_claw=False,
                        ip_bytes=b"\x0a\x00\x00\x01")


@pytest.mark.parametrize("shared", [False, True])
def test_cached_alive_list_matches_a_scan(shared: bool) -> None:
    """``alive_except`` feeds ``rng.sample``: same members, same order as a scan."""
    rng = random.Random(11)
    me = _record("me")
    if shared:
        table = SharedTable([_record(f"n{i}") for i in range(30)] + [_record("me")])
        m = Membership.from_shared(100, table, me)
    else:
        m = Membership(100)
        m.add(me)
    now = 0.0
    for _ in range(3000):
        now += 1.0
        name = f"n{rng.randrange(45)}"
        rec = m.get(name)
        op = rng.random()
        if rec is None or op < 0.15:
            m.add(_record(name, rng.choice(list(MemberState))))
        elif op < 0.8:
            m.set_state(m.writable(rec), rng.choice(list(MemberState)), now)
        elif op < 0.9:
            m.remove(name)
        else:
            m.reap(now, 5.0, "me")
        other = m.get(f"n{rng.randrange(45)}") or me
        scan = [r for r in m if r.state == MemberState.ALIVE and r is not me and r is not other]
        assert list(m.alive_except(me, other)) == scan


def test_a_table_over_a_shared_one_behaves_as_a_plain_table() -> None:
    """``from_shared`` reads through to the shared records instead of copying them:
    after any mix of changes it holds the same names, in the same order, as a table
    that was filled with those records one by one."""
    rng = random.Random(3)
    for _ in range(20):
        start = [_record(f"n{i}") for i in range(25)]
        table = SharedTable(start)
        me = _private_copy(table.records["n5"])
        overlay = Membership.from_shared(40, table, me)
        plain = Membership(40)
        for r in table.order:
            plain.add(me if r.name == "n5" else _record(r.name))
        for step in range(60):
            name = f"n{rng.randrange(35)}"
            op, state = rng.random(), rng.choice(list(MemberState))
            for m in (overlay, plain):
                rec = m.get(name)
                if rec is None or op < 0.3:
                    m.add(_record(name, state))
                elif op < 0.7:
                    m.set_state(m.writable(rec), MemberState.DEAD, float(step))
                else:
                    m.remove(name)
            assert [r.name for r in overlay] == [r.name for r in plain]
            assert len(overlay) == len(plain) and overlay.full == plain.full
            for probe in (name, "n5", "n30", "nobody"):
                assert (probe in overlay) == (probe in plain)
                got, want = overlay.get(probe), plain.get(probe)
                assert (got is None) == (want is None)
                assert got is None or want is None or got.state == want.state
            assert overlay.estimated_size(float(step), 1.0) == plain.estimated_size(float(step), 1.0)
            dead = sum(1 for r in plain if r.state == MemberState.DEAD)
            assert overlay.dead_count() == plain.dead_count() == dead


def test_lazy_probe_order_visits_every_member_once_per_pass() -> None:
    names = [f"n{i}" for i in range(50)]
    probe_list = ProbeList.from_shared(random.Random(5), names)
    seen = [probe_list.next(lambda n: True, lambda: names) for _ in range(20)]
    probe_list.add("new")  # leaves lazy mode mid-pass
    while True:
        name = probe_list.next(lambda n: True, lambda: names + ["new"])
        if name in seen or len(seen) > 60:
            break  # the next pass started
        seen.append(name)
    assert sorted(seen) == sorted(names + ["new"])
    assert names == [f"n{i}" for i in range(50)]  # the shared list is never changed
