"""HeartbeatPublisher: the record it builds, when it gossips, and a failing sensor."""

from __future__ import annotations

import pytest

from node.app_messages import APP_HEARTBEAT, decode_app, decode_heartbeat_payload
from node.heartbeat import HeartbeatTable
from node.heartbeat_publisher import HeartbeatPublisher
from node.resources import ResourceSnapshot


class Harness:
    def __init__(self, sampler=lambda: ResourceSnapshot(12.0, 34.0, 56.0)) -> None:  # type: ignore[no-untyped-def]
        self.sent: list[tuple[bytes, str]] = []
        self.live = True
        self.stats = {"heartbeats_sent": 0, "clock_jumps": 0}
        self.table = HeartbeatTable()
        self.publisher = HeartbeatPublisher(
            table=self.table, sampler=sampler, wall_clock=lambda: 1_800_000_000.0,
            interval_s=5.0, budget_bytes_per_s=4096, app_retransmit_mult=3,
            broadcast=lambda body, key: self.sent.append((body, key)), live=lambda: self.live,
            member_count=lambda: 3, on_clock_jump=lambda late: None, stats=self.stats)
        self.publisher.identify("n1", epoch=7)


async def test_a_forced_publish_gossips_the_current_record_under_the_node_key() -> None:
    h = Harness()
    h.publisher.sample()
    h.publisher.apply_tasks({"running_tasks": 2, "unknown": 9})  # first record: sent
    h.publisher.publish(force=True)
    assert h.stats["heartbeats_sent"] == 2 and [key for _, key in h.sent] == ["hb:n1", "hb:n1"]
    kind, payload = decode_app(h.sent[-1][0])
    rec = decode_heartbeat_payload(payload)
    assert kind == APP_HEARTBEAT and (rec.node, rec.epoch, rec.seq) == ("n1", 7, 2)
    assert (rec.cpu_usage, rec.memory_usage, rec.disk_usage, rec.running_tasks) == (12.0, 34.0, 56.0, 2)
    assert h.table.get("n1") == rec == h.publisher.last_sent  # our own row, as others see it


async def test_an_unchanged_load_is_not_sent_again() -> None:
    h = Harness()
    h.publisher.sample()
    h.publisher.publish(force=False)
    h.publisher.publish(force=False)
    assert h.stats["heartbeats_sent"] == 1
    assert h.table.get("n1").seq == 2  # type: ignore[union-attr]  # the row still refreshes


async def test_nothing_is_published_while_gossip_is_down() -> None:
    h = Harness()
    h.live = False
    h.publisher.publish(force=True)
    assert h.sent == [] and h.table.get("n1") is None


async def test_a_failing_sensor_is_the_node_fault_until_it_recovers() -> None:
    readings: list[object] = [OSError("no /proc"), ResourceSnapshot(1.0, 2.0, 3.0)]

    def sampler() -> ResourceSnapshot:
        value = readings.pop(0)
        if isinstance(value, Exception):
            raise value
        return value  # type: ignore[return-value]

    h = Harness(sampler)
    h.publisher.sample()
    assert h.publisher.current_record().fault == "resource sampling failed: no /proc"
    h.publisher.sample()
    assert h.publisher.current_record().fault == ""


@pytest.mark.parametrize("values", [{"running_tasks": 1}, {"failed_tasks": 4}])
async def test_task_counters_are_taken(values: dict[str, int]) -> None:
    h = Harness()
    h.publisher.apply_tasks(values)
    assert {k: h.publisher.tasks[k] for k in values} == values
