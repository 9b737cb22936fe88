"""``HttpNodeRegistry`` with explicit ``now``: ids, re-registration, timeouts, and the
replication contract (serialise, merge newest-wins, hostile records rejected)."""

from __future__ import annotations

import itertools

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.models import HeartbeatIn, RegisterIn
from api.registry import HttpNodeRecord, HttpNodeRegistry, RegistryFull

T0 = 1_800_000_000.0


def req(**over) -> RegisterIn:
    base = dict(hostname="h", platform="linux", arch="x64", available_skills=["python"])
    return RegisterIn(**{**base, **over})


def test_ids_are_unique_even_when_the_factory_repeats() -> None:
    ids = iter(["n-1", "n-1", "n-1", "n-2"])
    reg = HttpNodeRegistry(new_id=lambda: next(ids))
    a, created_a, _ = reg.register(req(), T0)
    b, created_b, _ = reg.register(req(), T0)
    assert (a.node_id, b.node_id, created_a, created_b) == ("n-1", "n-2", True, True)


def test_reregistration_keeps_registered_at_counters_and_bumps_version() -> None:
    reg = HttpNodeRegistry()
    rec, _, _ = reg.register(req(node_id="w"), T0)
    reg.heartbeat("w", HeartbeatIn(total_tasks_processed=9, running_tasks=2), T0 + 5)
    rec2, created, change = reg.register(req(node_id="w", hostname="renamed",
                                             max_concurrent_tasks=2), T0 + 10)
    assert not created and change is not None  # 2 running of 2 slots → busy
    assert (rec2.registered_at, rec2.total_tasks_processed, rec2.running_tasks) == (T0, 9, 2)
    assert (rec2.hostname, rec2.status, rec2.version, rec2.last_heartbeat) == ("renamed", "busy", 3, T0 + 10)


def test_skills_and_tags_are_deduplicated() -> None:
    reg = HttpNodeRegistry()
    rec, _, _ = reg.register(req(available_skills=["a", "b", "a"], tags=["x", "x"]), T0)
    assert (rec.available_skills, rec.tags) == (("a", "b"), ("x",))


def test_max_nodes() -> None:
    reg = HttpNodeRegistry(max_nodes=2)
    reg.register(req(node_id="a"), T0)
    reg.register(req(node_id="b"), T0)
    with pytest.raises(RegistryFull):
        reg.register(req(node_id="c"), T0)
    reg.register(req(node_id="a"), T0 + 1)  # re-registration still fine


@pytest.mark.parametrize("silent,status,suspect", [
    (0, "online", False), (60, "online", False), (60.5, "online", True),
    (90, "online", True), (90.5, "offline", False), (10_000, "offline", False),
])
def test_check_table(silent: float, status: str, suspect: bool) -> None:
    reg = HttpNodeRegistry(heartbeat_timeout_s=90)
    reg.register(req(node_id="w"), T0)
    if silent > 60.5:
        reg.check(T0 + 60.5)  # pass through suspect first, as the periodic monitor would
    reg.check(T0 + silent)
    rec = reg.get("w")
    assert (rec.status, rec.suspect) == (status, suspect)


def test_check_reports_each_change_once() -> None:
    reg = HttpNodeRegistry(heartbeat_timeout_s=9)
    reg.register(req(node_id="w"), T0)
    assert reg.check(T0 + 5) == []
    assert [(c.liveness_from, c.liveness_to) for c in reg.check(T0 + 7)] == [("online", "suspect")]
    assert reg.check(T0 + 8) == []
    assert [(c.liveness_from, c.liveness_to) for c in reg.check(T0 + 10)] == [("suspect", "offline")]
    assert reg.check(T0 + 100) == []
    _, change = reg.heartbeat("w", HeartbeatIn(), T0 + 101)
    assert (change.liveness_from, change.liveness_to) == ("offline", "online")


def test_maintenance_exit_respects_heartbeat_age() -> None:
    reg = HttpNodeRegistry(heartbeat_timeout_s=90)
    reg.register(req(node_id="w"), T0)
    reg.set_maintenance("w", True, T0 + 1)
    assert reg.get("w").status == "maintenance"
    rec, _ = reg.set_maintenance("w", False, T0 + 200)
    assert rec.status == "offline"
    assert reg.set_maintenance("ghost", True, T0) is None
    assert reg.heartbeat("ghost", HeartbeatIn(), T0) is None
    assert reg.shutdown("ghost", T0) is None


def test_on_change_sees_every_write_not_merges() -> None:
    seen: list[tuple[str, int]] = []
    reg = HttpNodeRegistry(on_change=lambda r: seen.append((r.node_id, r.version)))
    rec, _, _ = reg.register(req(node_id="w"), T0)
    reg.heartbeat("w", HeartbeatIn(cpu_usage=1), T0 + 1)
    reg.shutdown("w", T0 + 2)
    other = HttpNodeRegistry()
    other.register(req(node_id="x"), T0)
    reg.merge(other.get("x").to_dict())
    assert seen == [("w", 1), ("w", 2), ("w", 3)]


def test_replication_round_trip_and_newest_wins() -> None:
    a, b = HttpNodeRegistry(), HttpNodeRegistry()
    a.register(req(node_id="w"), T0)
    for rec in a.snapshot():
        assert b.merge(rec) is True
    assert b.get("w") == a.get("w")
    # A newer version replaces, an older or equal one does not.
    a.heartbeat("w", HeartbeatIn(cpu_usage=50), T0 + 1)
    newer = a.get("w").to_bytes()
    assert b.merge(newer) is True and b.get("w").cpu_usage == 50
    assert b.merge(newer) is False
    old = HttpNodeRegistry()
    old.register(req(node_id="w", hostname="stale"), T0 + 100)  # version 1, later clock
    assert b.merge(old.get("w")) is False and b.get("w").hostname == "h"
    # The new coordinator keeps timing merged records out.
    assert [c.after.status for c in b.check(T0 + 1 + 91)] == ["offline"]


def test_concurrent_versions_converge_in_any_order() -> None:
    base = HttpNodeRegistry()
    base.register(req(node_id="w"), T0)
    r1 = HttpNodeRegistry()
    r1.merge(base.get("w"))
    r2 = HttpNodeRegistry()
    r2.merge(base.get("w"))
    r1.heartbeat("w", HeartbeatIn(cpu_usage=1), T0 + 5)
    r2.heartbeat("w", HeartbeatIn(cpu_usage=2), T0 + 5)  # same version, same time
    records = [r1.get("w"), r2.get("w")]
    winners = set()
    for order in itertools.permutations(records):
        reg = HttpNodeRegistry()
        for r in order:
            reg.merge(r)
        winners.add(reg.get("w"))
    assert len(winners) == 1


@pytest.mark.parametrize("mutate", [
    lambda d: d.pop("hostname"), lambda d: d.update(extra=1), lambda d: d.update(cpu_usage=101),
    lambda d: d.update(cpu_usage=True), lambda d: d.update(status="zombie"),
    lambda d: d.update(platform="bsd"), lambda d: d.update(available_skills=["x" * 65]),
    lambda d: d.update(tags=list(map(str, range(33)))), lambda d: d.update(version=-1),
    lambda d: d.update(node_id=""), lambda d: d.update(port=0), lambda d: d.update(suspect=1),
])
def test_hostile_records_are_rejected(mutate) -> None:
    reg = HttpNodeRegistry()
    reg.register(req(node_id="w"), T0)
    d = reg.get("w").to_dict()
    mutate(d)
    with pytest.raises(ValueError):
        HttpNodeRegistry().merge(d)
    with pytest.raises(ValueError):
        HttpNodeRecord.from_bytes(msgpack.packb(d))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_bytes_never_crash(data: bytes) -> None:
    try:
        HttpNodeRecord.from_bytes(data)
    except ValueError:
        pass


def test_oversized_bytes_rejected() -> None:
    with pytest.raises(ValueError):
        HttpNodeRecord.from_bytes(b"\x00" * 20_000)


def test_maximal_record_size() -> None:
    reg = HttpNodeRegistry()
    reg.register(req(node_id="n" * 128, hostname="h" * 253,
                     available_skills=[f"{i:064d}" for i in range(64)],
                     tags=[f"{i:064d}" for i in range(32)], ip_address="a" * 64,
                     tailscale_ip="b" * 64), T0)
    data = reg.get("n" * 128).to_bytes()
    assert len(data) < 16 * 1024
    assert HttpNodeRecord.from_bytes(data) == reg.get("n" * 128)


def test_node_info_cache_follows_writes_and_merges() -> None:
    reg = HttpNodeRegistry()
    reg.register(req(node_id="w"), T0)
    first = reg.node_info("w")
    assert reg.node_info("w") is first and reg.node_infos() == [first]
    reg.heartbeat("w", HeartbeatIn(cpu_usage=42), T0 + 1)
    assert reg.node_info("w").cpu_usage == 42
    other = HttpNodeRegistry()
    other.merge(reg.get("w"))
    other.heartbeat("w", HeartbeatIn(cpu_usage=7), T0 + 2)
    reg.merge(other.get("w"))
    assert reg.node_info("w").cpu_usage == 7
    reg.remove("w")
    assert reg.node_info("w") is None and reg.node_infos() == []


def test_json_cache_keeps_one_entry_per_listed_node_however_many_writes() -> None:
    from api.json_cache import NodeJsonCache
    from api.models import NodeListOut
    reg = HttpNodeRegistry()
    for i in range(5):
        reg.register(req(node_id=f"n{i}"), T0)
    cache = NodeJsonCache()
    nodes = reg.node_infos()
    assert cache.node_list(nodes).decode() == NodeListOut(count=5, nodes=nodes).model_dump_json()
    node = reg.node_info("n0")
    assert cache.encode(node) is cache.encode(node)
    for beat in range(1, 200):  # each heartbeat makes a new NodeInfo: it replaces the entry
        reg.heartbeat("n0", HeartbeatIn(cpu_usage=beat % 100), T0 + beat)
        cache.encode(reg.node_info("n0"))
    assert len(cache) == 5
    assert b'"cpu_usage":99.0' in cache.encode(reg.node_info("n0"))
    reg.remove("n1")
    reg.remove("n2")
    cache.retain(reg.node_infos())
    assert len(cache) == 3
    assert cache.node_list(reg.node_infos()).decode() == NodeListOut(
        count=3, nodes=reg.node_infos()).model_dump_json()


def test_delete_leaves_a_tombstone_that_replicates_and_wins_over_the_old_record() -> None:
    written: list[HttpNodeRecord] = []
    a = HttpNodeRegistry(on_change=written.append)
    b = HttpNodeRegistry()
    rec, _, _ = a.register(req(node_id="w"), T0)
    b.merge(rec.to_bytes())
    assert a.delete("w", T0 + 5) == rec and a.delete("w", T0 + 6) is None
    tomb = written[-1]
    assert tomb.removed and tomb.version == rec.version + 1
    assert a.get("w") is None and a.node_infos() == [] and len(a) == 0
    assert a.merge(rec.to_bytes()) is False  # a peer's older copy does not bring it back
    assert b.merge(HttpNodeRecord.from_bytes(tomb.to_bytes())) is True
    assert b.get("w") is None and b.heartbeat("w", HeartbeatIn(), T0 + 7) is None
    assert [r.removed for r in b.replicated()] == [True]


def test_live_records_encode_without_the_removed_field() -> None:
    reg = HttpNodeRegistry()
    rec, _, _ = reg.register(req(node_id="w"), T0)
    assert "removed" not in rec.to_dict()  # nodes that predate deletes still read it
    assert HttpNodeRecord.from_dict(rec.to_dict()) == rec


def test_registering_again_after_a_delete_wins_over_the_tombstone() -> None:
    a, b = HttpNodeRegistry(), HttpNodeRegistry()
    a.register(req(node_id="w"), T0)
    a.delete("w", T0 + 1)
    [tomb] = a.replicated()
    again, created, _ = a.register(req(node_id="w"), T0 + 2)
    assert created and again.version == tomb.version + 1
    b.merge(again.to_bytes())
    assert b.merge(tomb.to_bytes()) is False and b.get("w") == again


def test_tombstones_expire_after_a_day() -> None:
    reg = HttpNodeRegistry()
    reg.register(req(node_id="w"), T0)
    reg.delete("w", T0)
    reg.check(T0 + 3600)
    assert len(reg.replicated()) == 1
    reg.check(T0 + 24 * 3600 + 1)
    assert reg.replicated() == []


def _three_registered() -> HttpNodeRegistry:
    reg = HttpNodeRegistry()
    for i in range(3):
        reg.register(req(node_id=f"n{i}"), T0)
    return reg


def test_a_summary_is_built_once_per_state_of_the_view_and_of_its_inputs() -> None:
    from api.json_cache import NodeJsonCache
    reg, cache = _three_registered(), NodeJsonCache()
    built: list[str] = []

    def summary(inputs: str) -> tuple[str, float]:
        built.append(inputs)
        return inputs, sum(n.cpu_usage for n in reg.node_infos())

    first = cache.per_view("health", "a", reg.node_infos(), lambda: summary("a"))
    assert cache.per_view("health", "a", reg.node_infos(), lambda: summary("a")) is first
    assert built == ["a"]
    assert cache.per_view("health", "b", reg.node_infos(), lambda: summary("b")) == ("b", 0.0)
    reg.heartbeat("n1", HeartbeatIn(cpu_usage=42), T0 + 1)  # a new NodeInfo: rebuilt
    assert cache.per_view("health", "b", reg.node_infos(), lambda: summary("b")) == ("b", 42.0)
    assert built == ["a", "b", "b"]


def test_a_list_body_is_built_once_per_state_of_the_view() -> None:
    from api.json_cache import MAX_LIST_BODIES, NodeJsonCache
    from api.models import NodeListOut
    reg, cache = _three_registered(), NodeJsonCache()
    built: list[int] = []

    def select(every):
        built.append(len(every))
        return sorted(every, key=lambda n: n.node_id, reverse=True)

    first = cache.list_body("q", reg.node_infos(), select)
    assert first.decode() == NodeListOut(count=3, nodes=select(reg.node_infos())).model_dump_json()
    built.clear()
    assert cache.list_body("q", reg.node_infos(), select) is first and built == []
    reg.heartbeat("n1", HeartbeatIn(cpu_usage=42), T0 + 1)  # a new NodeInfo: rebuilt
    assert b'"cpu_usage":42.0' in cache.list_body("q", reg.node_infos(), select)
    assert built == [3]
    for k in range(MAX_LIST_BODIES + 3):  # other queries push the oldest out
        cache.list_body(("other", k), reg.node_infos(), select)
    built.clear()
    cache.list_body("q", reg.node_infos(), select)
    assert built == [3]
