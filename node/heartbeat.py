"""Resource heartbeats over gossip: records, their wire form, the table, the send rule.

Each node publishes ``HeartbeatRecord``s about itself (cpu, memory, disk, tasks). Every
record carries a version ``(epoch, seq)``: ``epoch`` is the incarnation the agent started
with (strictly growing across restarts, see ``node.store``), ``seq`` counts records within
one run. A table keeps the newest record per node, so an older record never overwrites a
newer one, whatever order gossip delivers them in.

Transport (``node.agent`` does the I/O):

* Piggybacked claw application messages (``SwimProtocol.broadcast_app(body, key=node)``):
  a node sends its own record when its load changed meaningfully or the refresh period
  passed (the key makes a newer record replace its queued older one); the gossip core
  relays every message new to it once (epidemic, like Serf's messages).
* Push-pull application state (``app_state`` callback, ``AppState`` event): the whole
  table plus the HTTP-registered records, merged newest-wins: anti-entropy for anything a
  piggyback missed.

Bandwidth: every record is sent at most ``L = retransmit_limit(mult, n)`` times by every
node, so one node sends at most ``n × L × size`` bytes per round of heartbeats.
``min_send_interval`` stretches the heartbeat period with cluster size so that this bound
stays under ``budget_bytes_per_s`` (``--heartbeat-budget``). Measured
(``simulations/bench_heartbeat.py``, LAN profile, seed 1): about 180–360 B/s per node at
10 nodes and about 1 KB/s at 100 nodes, below the bound.

Wire form (all msgpack, hostile input is bounded and never raises past ``decode_*``):

* app message: 1 kind byte + payload. ``0x01`` heartbeat record, ``0x02`` HTTP-registered
  record (``api.registry.HttpNodeRecord.to_bytes``), ``0x03`` directive to one member.
* heartbeat record: array ``[node, epoch, seq, sampled_at_s, cpu‰, mem‰, disk‰, running,
  processed, successful, failed, avg_exec_ms, fault]`` (percentages in tenths).
* app state: 1 version byte (1) + array ``[[record…], [registered bytes…]]``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgpack

from gossip.dissemination import retransmit_limit

__all__ = [
    "APP_DIRECTIVE",
    "APP_HEARTBEAT",
    "APP_REGISTRY",
    "MAX_FAULT_CHARS",
    "MAX_NODE_ID_BYTES",
    "MAX_RECORD_BYTES",
    "MAX_STATE_BYTES",
    "MAX_STATE_RECORDS",
    "Directive",
    "HeartbeatRecord",
    "HeartbeatSchedule",
    "HeartbeatTable",
    "decode_app",
    "decode_directive",
    "decode_heartbeat_payload",
    "decode_record",
    "decode_state",
    "encode_app",
    "encode_directive",
    "encode_record",
    "encode_state",
    "heartbeat_message",
    "min_send_interval",
]

APP_HEARTBEAT = 0x01
APP_REGISTRY = 0x02
APP_DIRECTIVE = 0x03
_STATE_VERSION = 1

MAX_NODE_ID_BYTES = 128
"""Longest node id accepted in a record (bytes)."""
MAX_FAULT_CHARS = 200
"""Longest fault text carried (characters); longer ones are cut."""
MAX_RECORD_BYTES = 512
"""Largest encoded heartbeat record accepted (bytes); a typical one is ~40."""
MAX_STATE_RECORDS = 100_000
"""Most heartbeat records (and, separately, registered records) accepted from one push-pull."""
MAX_STATE_BYTES = 16 * 1024 * 1024
"""Largest app state accepted (bytes); the stream itself is capped at 20 MiB by gossip."""
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


def encode_record(rec: HeartbeatRecord) -> list[Any]:
    """The record as a msgpack-ready array."""
    return [
        rec.node, rec.epoch, rec.seq, int(rec.sampled_at),
        _tenths(rec.cpu_usage), _tenths(rec.memory_usage), _tenths(rec.disk_usage),
        rec.running_tasks, rec.total_tasks_processed, rec.successful_tasks,
        rec.failed_tasks, round(rec.average_execution_time * 1000),
        rec.fault[:MAX_FAULT_CHARS],
    ]


def _count(value: Any, hi: int = _MAX_COUNT) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= hi:
        raise ValueError("bad integer")
    return value


def decode_record(obj: Any) -> HeartbeatRecord:
    """A record from a decoded msgpack array (untrusted).

    Raises:
        ValueError: wrong shape, type or range.
    """
    if not isinstance(obj, (list, tuple)) or len(obj) < 13:
        raise ValueError("heartbeat: not a 13-element array")
    node, fault = obj[0], obj[12]
    if not isinstance(node, str) or not node or len(node.encode()) > MAX_NODE_ID_BYTES:
        raise ValueError("heartbeat: bad node id")
    if not isinstance(fault, str) or len(fault) > MAX_FAULT_CHARS:
        raise ValueError("heartbeat: bad fault text")
    return HeartbeatRecord(
        node=node, epoch=_count(obj[1], _U53), seq=_count(obj[2], _U53),
        sampled_at=float(_count(obj[3], _U53)),
        cpu_usage=_count(obj[4], 1000) / 10, memory_usage=_count(obj[5], 1000) / 10,
        disk_usage=_count(obj[6], 1000) / 10, running_tasks=_count(obj[7]),
        total_tasks_processed=_count(obj[8]), successful_tasks=_count(obj[9]),
        failed_tasks=_count(obj[10]), average_execution_time=_count(obj[11]) / 1000,
        fault=fault,
    )


def _unpack(data: bytes, *, max_len: int, max_items: int) -> Any:
    if len(data) > max_len:
        raise ValueError(f"{len(data)} bytes, more than {max_len}")
    try:
        return msgpack.unpackb(
            data, raw=False, strict_map_key=True, max_str_len=max_len, max_bin_len=max_len,
            max_array_len=max_items, max_map_len=64, max_ext_len=0)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise ValueError(f"undecodable msgpack ({type(exc).__name__})") from None


def encode_app(kind: int, payload: bytes) -> bytes:
    """An app message body: kind byte + payload."""
    return bytes((kind,)) + payload


def decode_app(body: bytes) -> tuple[int, bytes]:
    """(kind, payload) of an app message body. Raises ValueError if empty."""
    if not body:
        raise ValueError("empty app message")
    return body[0], bytes(body[1:])


def heartbeat_message(rec: HeartbeatRecord) -> bytes:
    """The app message carrying ``rec``."""
    return encode_app(APP_HEARTBEAT, msgpack.packb(encode_record(rec), use_bin_type=True))


def decode_heartbeat_payload(payload: bytes) -> HeartbeatRecord:
    """The record in an ``APP_HEARTBEAT`` payload (untrusted). Raises ValueError."""
    return decode_record(_unpack(payload, max_len=MAX_RECORD_BYTES, max_items=16))


@dataclass(frozen=True, slots=True)
class Directive:
    """A request for one member, relayed by the coordinator through gossip.

    ``action``: ``"maintenance"`` (``value`` bool), ``"tasks"`` (``value`` a dict of
    task counters from an API heartbeat) or ``"shutdown"`` (leave the cluster). ``id`` makes it unique (sender id + counter),
    so relays can drop repeats.
    """

    target: str
    action: str
    value: Any
    id: str


_DIRECTIVE_ACTIONS = ("maintenance", "tasks", "shutdown")


def encode_directive(d: Directive) -> bytes:
    return encode_app(APP_DIRECTIVE, msgpack.packb([d.target, d.action, d.value, d.id], use_bin_type=True))


def decode_directive(payload: bytes) -> Directive:
    obj = _unpack(payload, max_len=1024, max_items=16)
    if not isinstance(obj, list) or len(obj) != 4:
        raise ValueError("directive: not a 4-element array")
    target, action, value, ident = obj
    if (not isinstance(target, str) or not isinstance(ident, str) or len(ident) > 200
            or action not in _DIRECTIVE_ACTIONS):
        raise ValueError("directive: bad fields")
    return Directive(target, action, value, ident)


def encode_state(records: Iterable[HeartbeatRecord], registered: Iterable[bytes]) -> bytes:
    """Push-pull app state: the heartbeat table and the HTTP-registered records."""
    body = [[encode_record(r) for r in records], list(registered)]
    return bytes((_STATE_VERSION,)) + msgpack.packb(body, use_bin_type=True)


def decode_state(data: bytes) -> tuple[list[HeartbeatRecord], list[bytes], int]:
    """Parse app state (untrusted).

    Returns:
        (heartbeat records, registered-record bytes, number of malformed entries skipped).
    Raises:
        ValueError: the state as a whole is malformed or too large.
    """
    if not data or data[0] != _STATE_VERSION:
        raise ValueError("app state: unknown version")
    obj = _unpack(bytes(data[1:]), max_len=MAX_STATE_BYTES, max_items=MAX_STATE_RECORDS)
    if not isinstance(obj, list) or len(obj) < 2 or not all(isinstance(x, list) for x in obj[:2]):
        raise ValueError("app state: not [[records], [registered]]")
    records: list[HeartbeatRecord] = []
    bad = 0
    for item in obj[0]:
        try:
            records.append(decode_record(item))
        except ValueError:
            bad += 1
    registered = [bytes(x) for x in obj[1] if isinstance(x, (bytes, bytearray))]
    bad += len(obj[1]) - len(registered)
    return records, registered, bad


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
    """Shortest time between two heartbeats of one node, seconds.

    ``max(base_s, n × L × record_bytes / budget)`` with ``L = retransmit_limit(mult, n)``:
    each of ``n`` nodes' records is sent ``L`` times by every node, so this keeps one
    node's heartbeat traffic near ``budget_bytes_per_s`` whatever the cluster size.
    """
    n = max(1, n_members)
    limit = retransmit_limit(retransmit_mult, n)
    return max(base_s, n * limit * record_bytes / budget_bytes_per_s)


@dataclass
class HeartbeatSchedule:
    """Decides when this node publishes its own record.

    Send when the load changed meaningfully (``cpu_step``/``memory_step``/``disk_step``
    points, or any task count or fault change) and ``min_interval`` passed since the last
    send, or unconditionally every ``refresh_factor × min_interval`` (so a lost message
    is repaired even between push-pulls).
    """

    cpu_step: float = 5.0
    """CPU change (percentage points) that counts as meaningful."""
    memory_step: float = 2.0
    """Memory change (percentage points) that counts as meaningful."""
    disk_step: float = 1.0
    """Disk change (percentage points) that counts as meaningful."""
    refresh_factor: float = 6.0
    """Unchanged load is re-sent after this many minimum intervals."""
    last_sent: HeartbeatRecord | None = None
    last_sent_at: float = field(default=-math.inf)

    def changed(self, rec: HeartbeatRecord) -> bool:
        old = self.last_sent
        if old is None:
            return True
        return (
            abs(rec.cpu_usage - old.cpu_usage) >= self.cpu_step
            or abs(rec.memory_usage - old.memory_usage) >= self.memory_step
            or abs(rec.disk_usage - old.disk_usage) >= self.disk_step
            or (rec.running_tasks, rec.total_tasks_processed, rec.successful_tasks,
                rec.failed_tasks, rec.fault)
            != (old.running_tasks, old.total_tasks_processed, old.successful_tasks,
                old.failed_tasks, old.fault)
        )

    def due(self, rec: HeartbeatRecord, now: float, min_interval: float) -> bool:
        """True if ``rec`` should be sent at ``now`` (monotonic seconds)."""
        elapsed = now - self.last_sent_at
        if elapsed >= self.refresh_factor * min_interval:
            return True
        return elapsed >= min_interval and self.changed(rec)

    def sent(self, rec: HeartbeatRecord, now: float) -> None:
        self.last_sent = rec
        self.last_sent_at = now
