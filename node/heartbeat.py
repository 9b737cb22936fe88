"""Resource heartbeats over gossip: records, their wire form, the table, the send rule.

Each node publishes ``HeartbeatRecord``s about itself (cpu, memory, disk, tasks). Every
record carries a version ``(epoch, seq)``: ``epoch`` is the incarnation the agent started
with (strictly growing across restarts, see ``node.store``), ``seq`` counts records within
one run. A table keeps the newest record per node, so an older record never overwrites a
newer one, whatever order gossip delivers them in.

Transport (``node.heartbeat_publisher`` sends them; the agent does the I/O):

* Piggybacked claw application messages (``SwimProtocol.broadcast_app(body, key=node)``):
  a node sends its own record only when its load changed meaningfully since the record
  it last sent (``HeartbeatSchedule``: cpu ±25 at once or ±10 over two samples in a row,
  memory ±5, disk ±2 points, or any change of task counts, counters or fault),
  rate-limited to one per ``min_send_interval`` on average (a token bucket of 3; a
  change that finds it empty is sent when a token is back). There is no periodic
  refresh by gossip: an idle, converged cluster sends no heartbeat at all. The key makes
  a newer record replace its queued older one; the gossip core relays every message new
  to it (epidemic), with the app retransmit count (``GossipConfig.app_retransmit_mult``,
  see ``gossip.config.agent_profile``).
* Push-pull application state (``app_state`` callback, ``AppState`` event): the whole
  table (each node's own row is refreshed at every sample) plus the HTTP-registered
  records, merged newest-wins: anti-entropy for anything a piggyback missed, and the
  slow refresh of small, sub-deadband drifts (``last_heartbeat`` of an idle node is at
  most about one push-pull interval old).

Bandwidth: a record is relayed ``L = retransmit_limit(app_mult, n)`` times by every
node, so one update costs the cluster about ``n × L × size`` bytes; in an idle cluster
the only heartbeat cost is the push-pull state (compact, see below). Measured with
``python -m simulations.bench.heartbeat --compression`` (LAN, idle cluster): 146 B/s
and 2.00 packets/s per node in all at 10 nodes, 165 B/s and 2.13 packets/s at 100
(gossip alone: 136 B/s, 2.00 packets/s); the table in its docstring has the rest.

Wire form of a record: array ``[node, epoch, seq, sampled_at_s, cpu‰, mem‰, disk‰,
running, processed, successful, failed, avg_exec_ms, fault]`` (percentages in tenths);
trailing fields equal to their default (0 or "") are left out, so 4 to 13 elements.
The messages that carry records (and registrations, directives, push-pull state) are
in ``node.app_messages``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from gossip.dissemination import retransmit_limit

__all__ = [
    "MAX_FAULT_CHARS",
    "MAX_NODE_ID_BYTES",
    "MAX_RECORD_BYTES",
    "TASK_FIELDS",
    "HeartbeatRecord",
    "HeartbeatSchedule",
    "HeartbeatTable",
    "decode_record",
    "encode_record",
    "min_send_interval",
]

TASK_FIELDS = ("running_tasks", "total_tasks_processed", "successful_tasks", "failed_tasks",
               "average_execution_time")
"""The load a gossip member takes from an API heartbeat (cpu/memory/disk it samples itself)."""

_MIN_FIELDS = 4
"""node, epoch, seq, sampled_at: the fields a record always carries."""
_DEFAULTS: tuple[Any, ...] = (0, 0, 0, 0, 0, 0, 0, 0, "")
"""Defaults of fields 4..12, left out of the wire form when trailing."""

MAX_NODE_ID_BYTES = 128
"""Longest node id accepted in a record (bytes)."""
MAX_FAULT_CHARS = 200
"""Longest fault text carried (characters); longer ones are cut."""
MAX_RECORD_BYTES = 512
"""Largest encoded heartbeat record accepted (bytes); a typical one is ~40."""
_U53 = 2**53
_MAX_COUNT = 10**12


@dataclass(frozen=True, slots=True)
class HeartbeatRecord:
    """One node's load at one moment. Percentages 0–100 (0.1 resolution on the wire)."""

    node: str
    epoch: int
    seq: int
    sampled_at: float
    """Unix seconds at the sender (whole seconds on the wire)."""
    cpu_usage: float = 0.0
    memory_usage: float = 0.0
    disk_usage: float = 0.0
    running_tasks: int = 0
    total_tasks_processed: int = 0
    successful_tasks: int = 0
    failed_tasks: int = 0
    average_execution_time: float = 0.0
    """Seconds (millisecond resolution on the wire)."""
    fault: str = ""
    """Non-empty: the node reports a fault (status ``error``), with this reason."""

    @property
    def version(self) -> tuple[int, int]:
        return (self.epoch, self.seq)


def _tenths(value: float) -> int:
    return round(min(100.0, max(0.0, value)) * 10)


def encode_record(rec: HeartbeatRecord, *, base_s: int | None = None) -> list[Any]:
    """The record as a msgpack-ready array, trailing default fields left out.

    With ``base_s`` the time field is the record's age ``base_s - sampled_at`` (>= 0)
    instead of the absolute time (push-pull state, see ``encode_state``).
    """
    t = int(rec.sampled_at)
    out: list[Any] = [
        rec.node, rec.epoch, rec.seq, t if base_s is None else max(0, base_s - t),
        _tenths(rec.cpu_usage), _tenths(rec.memory_usage), _tenths(rec.disk_usage),
        rec.running_tasks, rec.total_tasks_processed, rec.successful_tasks,
        rec.failed_tasks, round(rec.average_execution_time * 1000),
        rec.fault[:MAX_FAULT_CHARS],
    ]
    end = len(out)
    while end > _MIN_FIELDS and out[end - 1] == _DEFAULTS[end - 1 - _MIN_FIELDS]:
        end -= 1
    return out[:end]


def _count(value: Any, hi: int = _MAX_COUNT) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= hi:
        raise ValueError("bad integer")
    return value


def decode_record(obj: Any, *, base_s: int | None = None) -> HeartbeatRecord:
    """A record from a decoded msgpack array (untrusted); ``base_s`` as in ``encode_record``.

    Raises:
        ValueError: wrong shape, type or range.
    """
    if not isinstance(obj, (list, tuple)) or not _MIN_FIELDS <= len(obj) <= 13:
        raise ValueError("heartbeat: not a 4..13-element array")
    if len(obj) < 13:
        obj = [*obj, *_DEFAULTS[len(obj) - _MIN_FIELDS:]]
    node, fault = obj[0], obj[12]
    if not isinstance(node, str) or not node or len(node.encode()) > MAX_NODE_ID_BYTES:
        raise ValueError("heartbeat: bad node id")
    if not isinstance(fault, str) or len(fault) > MAX_FAULT_CHARS:
        raise ValueError("heartbeat: bad fault text")
    return HeartbeatRecord(
        node=node, epoch=_count(obj[1], _U53), seq=_count(obj[2], _U53),
        sampled_at=float(_count(obj[3], _U53) if base_s is None
                         else max(0, base_s - _count(obj[3], _U53))),
        cpu_usage=_count(obj[4], 1000) / 10, memory_usage=_count(obj[5], 1000) / 10,
        disk_usage=_count(obj[6], 1000) / 10, running_tasks=_count(obj[7]),
        total_tasks_processed=_count(obj[8]), successful_tasks=_count(obj[9]),
        failed_tasks=_count(obj[10]), average_execution_time=_count(obj[11]) / 1000,
        fault=fault,
    )


class HeartbeatTable:
    """The newest record per node, bounded.

    Args:
        max_entries: records kept at most; a record for a new node beyond it is refused
            (``prune`` frees room by dropping nodes that left the membership).
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self._records: dict[str, HeartbeatRecord] = {}
        self.max_entries = max_entries
        self.refused = 0

    def apply(self, rec: HeartbeatRecord) -> bool:
        """Keep ``rec`` if it is newer than what we have. Returns True if it was kept."""
        old = self._records.get(rec.node)
        if old is not None and old.version >= rec.version:
            return False  # older or the same: never overwrite newer information
        if old is None and len(self._records) >= self.max_entries:
            self.refused += 1
            return False
        self._records[rec.node] = rec
        return True

    def get(self, node: str) -> HeartbeatRecord | None:
        return self._records.get(node)

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[HeartbeatRecord]:
        return iter(list(self._records.values()))

    def prune(self, keep: set[str]) -> int:
        """Drop records of nodes not in ``keep`` (reaped members). Returns how many."""
        gone = [name for name in self._records if name not in keep]
        for name in gone:
            del self._records[name]
        return len(gone)


def min_send_interval(
    *, base_s: float, n_members: int, retransmit_mult: int, record_bytes: int,
    budget_bytes_per_s: float,
) -> float:
    """Shortest time between two heartbeats of one node, seconds (the rate limit).

    ``max(base_s, n × L × record_bytes / budget)`` with ``L = retransmit_limit(mult, n)``:
    each update of one node is relayed ``L`` times by each of ``n`` nodes, so this keeps
    the cluster's cost of one fast-changing node near ``n × budget_bytes_per_s``.
    """
    n = max(1, n_members)
    limit = retransmit_limit(retransmit_mult, n)
    return max(base_s, n * limit * record_bytes / budget_bytes_per_s)


@dataclass
class HeartbeatSchedule:
    """Decides when this node publishes its own record: only on meaningful change.

    A record is worth sending when, compared with the last one sent, memory moved by
    ``memory_step`` or disk by ``disk_step`` points, any task count, counter or the fault
    changed, or cpu moved by ``cpu_jump`` points; a cpu move between ``cpu_step`` and
    ``cpu_jump`` counts once it has lasted ``cpu_confirm_s`` (the next sample), so one
    noisy sample of an idle node sends nothing.

    Rate limit: a token bucket of ``burst`` sends, refilled at one per ``min_interval``.
    Its long-run rate is the minimum interval's, but a task change right after a cpu
    change still goes at once; when the bucket is empty the change goes as soon as a
    token is back (``next_send`` says when; the agent arms a timer). No periodic
    refresh: push-pull anti-entropy repairs a lost message and carries sub-deadband drift.
    """

    cpu_step: float = 10.0
    """CPU change (percentage points) that counts as meaningful once sustained."""
    cpu_jump: float = 25.0
    """CPU change (percentage points) sent at once."""
    cpu_confirm_s: float = 4.0
    """Seconds a cpu change of ``cpu_step``..``cpu_jump`` must last (the agent: 0.8 ×
    ``--resource-interval``, i.e. two samples in a row)."""
    memory_step: float = 5.0
    """Memory change (percentage points) that counts as meaningful."""
    disk_step: float = 2.0
    """Disk change (percentage points) that counts as meaningful."""
    burst: float = 3.0
    """Sends allowed back to back before the rate limit applies."""
    last_sent: HeartbeatRecord | None = None
    last_sent_at: float = field(default=-math.inf)
    cpu_over_since: float | None = None
    tokens: float = field(default=math.nan)
    """Sends available now (NaN: full bucket, nothing sent yet)."""
    _refilled_at: float = field(default=-math.inf)
    _interval: float = 1.0
    """Monotonic time since which cpu has been ``cpu_step`` or more away from the last sent."""

    def changed(self, rec: HeartbeatRecord, now: float) -> bool:
        """True if ``rec`` differs meaningfully from the last record sent."""
        old = self.last_sent
        if old is None or old.epoch != rec.epoch:
            return True
        if (abs(rec.memory_usage - old.memory_usage) >= self.memory_step
                or abs(rec.disk_usage - old.disk_usage) >= self.disk_step
                or (rec.running_tasks, rec.total_tasks_processed, rec.successful_tasks,
                    rec.failed_tasks, rec.average_execution_time, rec.fault)
                != (old.running_tasks, old.total_tasks_processed, old.successful_tasks,
                    old.failed_tasks, old.average_execution_time, old.fault)):
            return True
        cpu_move = abs(rec.cpu_usage - old.cpu_usage)
        if cpu_move < self.cpu_step:
            self.cpu_over_since = None
            return False
        if self.cpu_over_since is None:
            self.cpu_over_since = now
        return cpu_move >= self.cpu_jump or now - self.cpu_over_since >= self.cpu_confirm_s

    def next_send(self, rec: HeartbeatRecord, now: float, min_interval: float) -> float | None:
        """When ``rec`` should be sent (monotonic seconds; ``<= now`` means now), or None
        if it is not worth sending."""
        if not self.changed(rec, now):
            return None
        self._refill(now, min_interval)
        if self.tokens >= 1.0:
            return now
        return now + (1.0 - self.tokens) * min_interval

    def _refill(self, now: float, min_interval: float) -> None:
        self._interval = min_interval
        if math.isnan(self.tokens):
            self.tokens = self.burst
        elif now > self._refilled_at:
            self.tokens = min(self.burst, self.tokens + (now - self._refilled_at) / min_interval)
        self._refilled_at = max(now, self._refilled_at)

    def due(self, rec: HeartbeatRecord, now: float, min_interval: float) -> bool:
        """True if ``rec`` should be sent at ``now``."""
        at = self.next_send(rec, now, min_interval)
        return at is not None and at <= now

    def sent(self, rec: HeartbeatRecord, now: float) -> None:
        self._refill(now, self._interval)
        self.tokens = max(0.0, self.tokens - 1.0)
        self.last_sent = rec
        self.last_sent_at = now
        self.cpu_over_since = None
