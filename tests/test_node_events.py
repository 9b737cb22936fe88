"""The cluster event bus, the translation of gossip and registry changes into events, and
their log lines (fake clock, no I/O)."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from gossip import events as core
from gossip.events import Member
from gossip.types import MemberState
from node.event_log import format_event, log_event
from node.events import (
    ClusterEvent,
    EventBus,
    EventKind,
    MemberEventTranslator,
    WorkerEventTranslator,
)
from node.logs import JsonFormatter


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def member(name: str, host: str = "10.0.0.2", port: int = 7946, *, incarnation: int = 1,
           maintenance: bool = False) -> Member:
    return Member(name=name, address=(host, port), meta=b"mt" if maintenance else b"",
                  incarnation=incarnation, state=MemberState.ALIVE, state_since=0.0,
                  vsn=b"", is_claw=True)


def translator(clock: FakeClock) -> MemberEventTranslator:
    return MemberEventTranslator(clock, lambda m: m.meta == b"mt")


def event(kind: EventKind, node: str = "n1", **details: object) -> ClusterEvent:
    return ClusterEvent(kind, node, "10.0.0.2:7946", 5.0, details)


# --- the bus -----------------------------------------------------------------------------


def test_listeners_then_subscriptions_get_every_event_in_order() -> None:
    bus = EventBus()
    heard: list[str] = []
    bus.add_listener(lambda e: heard.append(e.node))
    sub = bus.subscribe(max_queued=10)
    for name in ("a", "b", "c"):
        bus.publish(event(EventKind.MEMBER_JOIN, name))
    assert heard == ["a", "b", "c"]
    assert [e.node for e in sub.drain()] == ["a", "b", "c"]
    assert sub.dropped == 0 and bus.published == 3


def test_a_slow_subscriber_loses_the_oldest_and_counts_them() -> None:
    bus = EventBus()
    slow, fast = bus.subscribe(max_queued=2), bus.subscribe(max_queued=10)
    for name in ("a", "b", "c", "d", "e"):
        bus.publish(event(EventKind.MEMBER_JOIN, name))
    assert [e.node for e in slow.drain()] == ["d", "e"]
    assert slow.dropped == 3
    assert [e.node for e in fast.drain()] == ["a", "b", "c", "d", "e"]
    assert fast.dropped == 0


def test_a_failing_listener_is_logged_and_the_others_still_run(
        caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    heard: list[str] = []
    bus.add_listener(lambda e: 1 / 0)
    bus.add_listener(lambda e: heard.append(e.node))
    bus.publish(event(EventKind.MEMBER_LEFT))
    assert heard == ["n1"]
    assert "event listener" in caplog.text and "ZeroDivisionError" in caplog.text


async def test_a_subscriber_waits_for_events_and_ends_when_closed() -> None:
    bus = EventBus()
    sub = bus.subscribe()

    async def consume() -> list[str]:
        return [e.node async for e in sub]

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)  # the consumer waits on an empty queue
    bus.publish(event(EventKind.MEMBER_JOIN, "a"))
    bus.publish(event(EventKind.MEMBER_JOIN, "b"))
    sub.close()
    bus.publish(event(EventKind.MEMBER_JOIN, "after-close"))
    assert await asyncio.wait_for(task, timeout=10) == ["a", "b"]


def test_subscription_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_queued"):
        EventBus().subscribe(max_queued=0)


def test_event_details_are_read_only() -> None:
    e = event(EventKind.MEMBER_FAILED, accuser="n2")
    with pytest.raises(TypeError):
        e.details["accuser"] = "n3"  # type: ignore[index]


# --- gossip changes → events --------------------------------------------------------------


def test_member_changes_become_one_event_each_at_the_clock_time() -> None:
    clock = FakeClock(100.0)
    t = translator(clock)
    n1 = member("n1")
    out = []
    for change in (core.MemberJoined(n1), core.MemberSuspected(n1, "n2"),
                   core.MemberRecovered(n1), core.MemberFailed(n1, "n3"), core.MemberLeft(n1)):
        clock.now += 1
        out += t.translate(change)
    assert [(e.kind, e.time, dict(e.details)) for e in out] == [
        (EventKind.MEMBER_JOIN, 101.0, {"incarnation": 1}),
        (EventKind.MEMBER_SUSPECT, 102.0, {"accuser": "n2"}),
        (EventKind.MEMBER_ALIVE, 103.0, {"incarnation": 1}),
        (EventKind.MEMBER_FAILED, 104.0, {"accuser": "n3"}),
        (EventKind.MEMBER_LEFT, 105.0, {}),
    ]
    assert {(e.node, e.address) for e in out} == {("n1", "10.0.0.2:7946")}


def test_an_update_is_an_address_change_or_a_maintenance_switch_or_nothing() -> None:
    t = translator(FakeClock())
    t.translate(core.MemberJoined(member("n1")))
    assert t.translate(core.MemberUpdated(member("n1", incarnation=2))) == []  # other metadata
    [moved] = t.translate(core.MemberUpdated(member("n1", "10.0.0.9", 7947, incarnation=3)))
    assert (moved.kind, moved.address, moved.details["previous"]) == (
        EventKind.MEMBER_ADDRESS, "10.0.0.9:7947", "10.0.0.2:7946")
    [on] = t.translate(core.MemberUpdated(member("n1", "10.0.0.9", 7947, maintenance=True)))
    assert (on.kind, dict(on.details)) == (EventKind.MAINTENANCE,
                                           {"enabled": True, "worker": False})
    [off] = t.translate(core.MemberUpdated(member("n1", "10.0.0.9", 7947)))
    assert off.details["enabled"] is False


def test_a_member_joining_in_maintenance_says_so() -> None:
    kinds = [e.kind for e in translator(FakeClock()).translate(
        core.MemberJoined(member("n1", maintenance=True)))]
    assert kinds == [EventKind.MEMBER_JOIN, EventKind.MAINTENANCE]


def test_ipv6_addresses_are_bracketed_and_missing_members_forgotten() -> None:
    t = translator(FakeClock())
    [joined] = t.translate(core.MemberJoined(member("n6", "fd00::2")))
    assert joined.address == "[fd00::2]:7946"
    t.forget_missing(["other"])
    # Forgotten: the next update is a first sighting, not an address change.
    assert t.translate(core.MemberUpdated(member("n6", "fd00::3"))) == []


class Record:
    """The fields of ``api.registry.HttpNodeRecord`` the translator reads."""

    def __init__(self, node_id: str, status: str) -> None:
        self.node_id, self.status = node_id, status
        self.ip_address, self.port = "10.0.0.7", 18789


def test_worker_records_become_registered_offline_maintenance_removed() -> None:
    clock = FakeClock(50.0)
    t = WorkerEventTranslator(clock)
    t.prime([Record("old", "online")])  # from the store: not news
    assert t.observe(Record("old", "online")) == []
    kinds = []
    for status in ("online", "busy", "offline", "offline", "online", "maintenance", "online"):
        kinds += [e.kind for e in t.observe(Record("w1", status))]
    assert kinds == [EventKind.WORKER_REGISTERED, EventKind.WORKER_OFFLINE,
                     EventKind.MAINTENANCE, EventKind.MAINTENANCE]
    [removed] = t.removed("w1")
    assert (removed.kind, removed.node, removed.time) == (EventKind.WORKER_REMOVED, "w1", 50.0)
    assert t.removed("w1") == []


def test_a_worker_registering_in_maintenance_says_so() -> None:
    events = WorkerEventTranslator(FakeClock()).observe(Record("w2", "maintenance"))
    assert [(e.kind, e.address) for e in events] == [
        (EventKind.WORKER_REGISTERED, "10.0.0.7:18789"), (EventKind.MAINTENANCE, "10.0.0.7:18789")]


# --- log lines ---------------------------------------------------------------------------


@pytest.mark.parametrize("e, line", [
    (event(EventKind.MEMBER_JOIN, "host1", incarnation=1), "member join: host1 10.0.0.2:7946"),
    (event(EventKind.MEMBER_SUSPECT, accuser="n2"),
     "member suspect: n1 10.0.0.2:7946 (accused by n2)"),
    (event(EventKind.MEMBER_FAILED, accuser="n2"),
     "member failed: n1 10.0.0.2:7946 (declared by n2)"),
    (event(EventKind.MEMBER_LEFT), "member left: n1 10.0.0.2:7946"),
    (event(EventKind.MEMBER_ALIVE, incarnation=4),
     "member alive: n1 10.0.0.2:7946 (refuted, incarnation 4)"),
    (event(EventKind.MEMBER_ADDRESS, previous="10.0.0.1:7946"),
     "member address: n1 10.0.0.2:7946 (was 10.0.0.1:7946)"),
    (event(EventKind.COORDINATOR, term=4, previous="n3"),
     "coordinator: n1 10.0.0.2:7946 (term 4, was n3)"),
    (ClusterEvent(EventKind.COORDINATOR, "", "", 0.0, {"term": 0, "previous": "n3"}),
     "coordinator: none (term 0, was n3)"),
    (event(EventKind.MAINTENANCE, enabled=True, worker=False), "maintenance on: n1 10.0.0.2:7946"),
    (event(EventKind.MAINTENANCE, "w1", enabled=False, worker=True),
     "worker maintenance off: w1 10.0.0.2:7946"),
    (event(EventKind.WORKER_REGISTERED, "w1", status="online"),
     "worker registered: w1 10.0.0.2:7946"),
    (event(EventKind.WORKER_OFFLINE, "w1", previous="busy"),
     "worker offline: w1 10.0.0.2:7946 (was busy)"),
    (ClusterEvent(EventKind.WORKER_REMOVED, "w1", "", 0.0), "worker removed: w1"),
])
def test_each_kind_has_its_line(e: ClusterEvent, line: str) -> None:
    assert format_event(e) == line


def test_json_log_lines_carry_the_event_as_fields() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.node.event_log")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        log_event(event(EventKind.MEMBER_FAILED, "host3", accuser="host2"), logger)
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["level"] == "INFO"
    assert line["message"] == "member failed: host3 10.0.0.2:7946 (declared by host2)"
    assert (line["event"], line["node"], line["address"], line["event_time"],
            line["details"]) == ("member failed", "host3", "10.0.0.2:7946", 5.0,
                                 {"accuser": "host2"})
