"""The chaos invariant checker on fabricated observations: a broken invariant must fail."""

from __future__ import annotations

import dataclasses

import pytest

from simulations.chaos.invariants import ChaosRecord, NodeReport, check

LIVE = frozenset({"a", "b", "c"})
REGISTERED = frozenset({"worker-1"})


def report(observer: str, statuses: dict[str, str] | None = None, coordinator: str | None = "a",
           t: float = 100.0) -> NodeReport:
    base = {n: "online" for n in LIVE} | {"dead-1": "offline", "worker-1": "online"}
    return NodeReport(observer, t, base | (statuses or {}), coordinator, 3)


def healthy() -> ChaosRecord:
    return ChaosRecord(
        live=LIVE, final={n: report(n) for n in LIVE}, dead=frozenset({"dead-1"}),
        loss_probability=0.1, loss_reports=tuple(report(n, t=50.0) for n in LIVE),
        loss_live=LIVE, registered=REGISTERED, coordinator_killed=True)


def broken(rec: ChaosRecord) -> set[str]:
    return {v.invariant for v in check(rec)}


def test_a_healthy_run_breaks_nothing():
    assert check(healthy()) == []


def test_busy_counts_as_up():
    rec = healthy()
    final = dict(rec.final) | {"a": report("a", {"b": "busy"})}
    assert check(dataclasses.replace(rec, final=final)) == []


@pytest.mark.parametrize("status", ["offline", "error", "maintenance", None])
def test_a_live_node_not_online_somewhere_after_healing_fails(status):
    rec = healthy()
    statuses = report("b").statuses
    statuses = {k: v for k, v in statuses.items() if k != "c"}
    if status is not None:
        statuses["c"] = status
    final = dict(rec.final) | {"b": NodeReport("b", 100.0, statuses, "a", 3)}
    violations = check(dataclasses.replace(rec, final=final))
    assert {v.invariant for v in violations} == {"healed_all_online"}
    assert "b sees c as" in violations[0].detail


def test_a_silent_live_node_fails():
    rec = healthy()
    final = dict(rec.final) | {"c": None}
    assert broken(dataclasses.replace(rec, final=final)) == {"live_nodes_answer"}


def test_a_killed_node_still_online_fails():
    rec = healthy()
    final = dict(rec.final) | {"a": report("a", {"dead-1": "online"})}
    assert broken(dataclasses.replace(rec, final=final)) == {"dead_nodes_offline"}


def test_offline_sighting_under_ten_percent_loss_fails():
    rec = healthy()
    sightings = rec.loss_reports + (report("b", {"c": "offline"}, t=60.0),)
    violations = check(dataclasses.replace(rec, loss_reports=sightings))
    assert [v.invariant for v in violations] == ["no_false_offline_under_loss"]
    assert "b saw c offline at t=60.0" in violations[0].detail


def test_offline_sightings_above_ten_percent_loss_are_not_judged():
    rec = healthy()
    sightings = rec.loss_reports + (report("b", {"c": "offline"}, t=60.0),)
    assert check(dataclasses.replace(rec, loss_reports=sightings, loss_probability=0.3)) == []


def test_sightings_of_nodes_not_live_through_the_window_are_ignored():
    rec = healthy()
    sightings = rec.loss_reports + (report("b", {"c": "offline"}, t=60.0),)
    assert check(dataclasses.replace(rec, loss_reports=sightings,
                                     loss_live=frozenset({"a", "b"}))) == []


def test_two_coordinators_fail():
    rec = healthy()
    final = dict(rec.final) | {"c": report("c", coordinator="c")}
    violations = check(dataclasses.replace(rec, final=final))
    assert [v.invariant for v in violations] == ["one_coordinator"]
    assert "c->c" in violations[0].detail


def test_no_coordinator_fails():
    rec = healthy()
    final = {n: report(n, coordinator=None) for n in LIVE}
    assert broken(dataclasses.replace(rec, final=final)) == {"one_coordinator"}


def test_agreeing_on_a_dead_coordinator_fails():
    rec = healthy()
    final = {n: report(n, coordinator="dead-1") for n in LIVE}
    violations = check(dataclasses.replace(rec, final=final))
    assert [v.invariant for v in violations] == ["one_coordinator"]
    assert "not a live node" in violations[0].detail


def test_a_lost_registration_after_coordinator_kill_fails():
    rec = healthy()
    statuses = {k: v for k, v in report("a").statuses.items() if k != "worker-1"}
    final = dict(rec.final) | {"a": NodeReport("a", 100.0, statuses, "a", 3)}
    violations = check(dataclasses.replace(rec, final=final))
    assert [v.invariant for v in violations] == ["registered_survive"]
    assert "a lost worker-1" in violations[0].detail


def test_registrations_are_judged_only_after_a_coordinator_kill():
    rec = healthy()
    statuses = {k: v for k, v in report("a").statuses.items() if k != "worker-1"}
    final = dict(rec.final) | {"a": NodeReport("a", 100.0, statuses, "a", 3)}
    assert check(dataclasses.replace(rec, final=final, coordinator_killed=False)) == []


def test_many_problems_are_summarized_not_listed_unbounded():
    live = frozenset(f"n{i}" for i in range(30))
    final = {n: NodeReport(n, 1.0, {}, "n0") for n in live}
    violations = check(ChaosRecord(live=live, final=final))
    assert [v.invariant for v in violations] == ["healed_all_online"]
    assert "more)" in violations[0].detail
