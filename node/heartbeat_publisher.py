"""``HeartbeatPublisher``: this node's own resource heartbeats, sampled and sent on change.

Every ``resource_interval`` the publisher samples cpu, memory and disk, refreshes this
node's row of the heartbeat table (what push-pull carries and the API shows) and gossips
the record when ``HeartbeatSchedule`` says the load changed enough, at most once per
``min_send_interval`` on average (a change inside the rate limit goes out when it ends).
The same loop notices a suspended machine: a tick arriving more than ``CLOCK_JUMP_S`` late
(by the wall clock or the monotonic one) means peers may think us dead, and the agent
re-announces at once instead of flapping.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
from collections.abc import Callable
from typing import Any

from .app_messages import heartbeat_message
from .heartbeat import (
    TASK_FIELDS,
    HeartbeatRecord,
    HeartbeatSchedule,
    HeartbeatTable,
    min_send_interval,
)
from .resources import ResourceSnapshot, Sampler

__all__ = ["CLOCK_JUMP_S", "HEARTBEAT_MIN_INTERVAL_S", "HeartbeatPublisher"]

log = logging.getLogger(__name__)

CLOCK_JUMP_S = 10.0
"""A resource tick arriving this many seconds later than planned (by the wall clock or
the monotonic clock) means the machine was suspended: re-announce at once."""
HEARTBEAT_MIN_INTERVAL_S = 1.0
"""Floor of the time between two heartbeats of this node, seconds (``min_send_interval``
raises it with cluster size to stay within ``--heartbeat-budget``)."""


class HeartbeatPublisher:
    """Samples this node's load and publishes its heartbeat records.

    Args:
        table: the heartbeat table (this node's row is written here).
        sampler: the resource sampler.
        wall_clock: unix time.
        interval_s: seconds between two samples.
        budget_bytes_per_s: heartbeat bandwidth target per node (``--heartbeat-budget``).
        app_retransmit_mult: the gossip retransmit multiplier of app messages.
        broadcast: gossips an app message body under a key; called only while ``live()``.
        live: whether gossip runs (nothing is published otherwise).
        member_count: members that have not left (this node included), for the rate limit.
        on_clock_jump: called with the lateness (seconds) of a tick after a suspension.
        stats: counters ``heartbeats_sent`` and ``clock_jumps`` are incremented here.
    """

    def __init__(self, *, table: HeartbeatTable, sampler: Sampler,
                 wall_clock: Callable[[], float], interval_s: float, budget_bytes_per_s: int,
                 app_retransmit_mult: int, broadcast: Callable[[bytes, str], None],
                 live: Callable[[], bool], member_count: Callable[[], int],
                 on_clock_jump: Callable[[float], None], stats: dict[str, int]) -> None:
        self.table = table
        self.node_id = ""
        self.epoch = 0
        self.tasks: dict[str, Any] = dict.fromkeys(TASK_FIELDS, 0)
        """The task counters last reported by an API heartbeat (or a directive)."""
        self.tasks["average_execution_time"] = 0.0
        self.fault = ""
        """Why this node is faulty (a failing sensor), or ""."""
        self._sampler = sampler
        self._wall = wall_clock
        self._interval_s = interval_s
        self._budget = budget_bytes_per_s
        self._app_mult = app_retransmit_mult
        self._broadcast = broadcast
        self._live = live
        self._member_count = member_count
        self._on_clock_jump = on_clock_jump
        self._stats = stats
        self._schedule = HeartbeatSchedule(cpu_confirm_s=0.8 * interval_s)
        self._seq = itertools.count(1)
        self._last_sample: ResourceSnapshot | None = None
        self._deferred: asyncio.TimerHandle | None = None

    @property
    def last_sent(self) -> HeartbeatRecord | None:
        """The record this node last gossiped."""
        return self._schedule.last_sent

    def identify(self, node_id: str, epoch: int) -> None:
        """Set the identity records carry (known once the store is open)."""
        self.node_id, self.epoch = node_id, epoch

    def apply_tasks(self, values: dict[str, Any]) -> None:
        """Take new task counters (unknown keys ignored) and publish if that matters."""
        for key, value in values.items():
            if key in TASK_FIELDS:
                self.tasks[key] = value
        self.publish(force=False)

    async def run(self) -> None:
        """Sample and publish every ``interval_s``, watching for clock jumps. Runs until
        cancelled."""
        loop = asyncio.get_running_loop()
        interval = self._interval_s
        last_mono, last_wall = loop.time(), self._wall()
        while True:
            await asyncio.sleep(interval)
            mono, wall = loop.time(), self._wall()
            late = max(mono - last_mono, wall - last_wall) - interval
            last_mono, last_wall = mono, wall
            if late > CLOCK_JUMP_S and self._live():
                self._stats["clock_jumps"] += 1
                log.warning("clock jumped %.1f s (suspended?): re-announcing", late)
                self._on_clock_jump(late)
            self.sample()
            self.publish(force=False)

    def sample(self) -> None:
        """Read the sensors; a failing sensor becomes this node's fault, not a crash."""
        try:
            self._last_sample = self._sampler()
            if self.fault.startswith("resource sampling"):
                self.fault = ""
        except Exception as exc:  # noqa: BLE001 - a broken sensor is a node fault
            self.fault = f"resource sampling failed: {exc}"[:200]

    def current_record(self) -> HeartbeatRecord:
        """This node's record now (sequence number 0: ``publish`` numbers it)."""
        s = self._last_sample
        t = self.tasks
        return HeartbeatRecord(
            node=self.node_id, epoch=self.epoch, seq=0, sampled_at=self._wall(),
            cpu_usage=s.cpu_percent if s else 0.0, memory_usage=s.memory_percent if s else 0.0,
            disk_usage=s.disk_percent if s else 0.0, running_tasks=int(t["running_tasks"]),
            total_tasks_processed=int(t["total_tasks_processed"]),
            successful_tasks=int(t["successful_tasks"]), failed_tasks=int(t["failed_tasks"]),
            average_execution_time=float(t["average_execution_time"]), fault=self.fault)

    def publish(self, *, force: bool) -> None:
        """Update our own row of the table; gossip it now if ``force`` or the schedule
        says so, or once the rate limit allows (then with the then-current record)."""
        if not self._live():
            return
        rec = self.current_record()
        loop = asyncio.get_running_loop()
        now = loop.time()
        body = heartbeat_message(rec)
        interval = min_send_interval(
            base_s=HEARTBEAT_MIN_INTERVAL_S, n_members=self._member_count(),
            retransmit_mult=self._app_mult, record_bytes=len(body) + 4,
            budget_bytes_per_s=self._budget)
        rec = dataclasses.replace(rec, seq=next(self._seq))
        self.table.apply(rec)  # our own row: what push-pull carries and we display
        at = now if force else self._schedule.next_send(rec, now, interval)
        if at is None:
            return
        if at <= now:
            self.cancel_deferred()
            self._schedule.sent(rec, now)
            self._broadcast(heartbeat_message(rec), f"hb:{self.node_id}")
            self._stats["heartbeats_sent"] += 1
        elif self._deferred is None:
            # A meaningful change inside the rate limit: send the then-current record
            # when the interval ends.
            self._deferred = loop.call_at(at, self._publish_deferred)

    def cancel_deferred(self) -> None:
        """Drop a send waiting for the rate limit (on stop)."""
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None

    def _publish_deferred(self) -> None:
        self._deferred = None
        self.publish(force=False)
