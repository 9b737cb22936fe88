"""Pure domain logic of HTTP-registered nodes (workers that don't run gossip).

No clock reads, no I/O: every method that depends on time takes ``now`` (Unix seconds,
wall clock — records travel between machines, so a monotonic clock would not do).

Replication: every write bumps the record's ``version`` and sets ``updated_at = now``.
``snapshot()`` returns every record as a plain dict (``HttpNodeRecord.to_dict``), and
``merge(record)`` applies a record received from a peer or from disk if it is newer
(higher ``(version, updated_at)``); the agent gossips records via the ``on_change``
callback and persists them, so a new coordinator has every record and keeps timing them
out.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgpack

from .bounds import (
    ARCHES,
    MAX_ADDRESS_CHARS,
    MAX_HOSTNAME_CHARS,
    MAX_LABEL_CHARS,
    MAX_NODE_ID_CHARS,
    MAX_SKILLS,
    MAX_TAGS,
    MAX_TASKS,
    PLATFORMS,
    NodeStatus,
)

if TYPE_CHECKING:  # pydantic: imported when an API request needs a model, not at start
    from .models import HeartbeatIn, NodeInfo, RegisterIn

__all__ = [
    "DEFAULT_CHECK_INTERVAL_S",
    "DEFAULT_HEARTBEAT_TIMEOUT_S",
    "DEFAULT_MAX_NODES",
    "MAX_RECORD_BYTES",
    "Change",
    "HttpNodeRecord",
    "HttpNodeRegistry",
    "RegistryFull",
]

DEFAULT_HEARTBEAT_TIMEOUT_S = 90.0
"""Seconds without a heartbeat before an HTTP-registered node is marked offline (seed)."""
DEFAULT_CHECK_INTERVAL_S = 30.0
"""Seconds between heartbeat checks on the coordinator (seed)."""
SUSPECT_FRACTION = 2.0 / 3.0
"""A node is suspect once it has been silent this fraction of the timeout (60 s of 90 s):
one missed heartbeat at the seed's suggested interval of timeout/3."""
DEFAULT_MAX_NODES = 10_000
"""Bound on HTTP-registered records (memory and gossip state stay bounded); deleted
nodes' tombstones are bounded by the same number, separately."""
TOMBSTONE_KEEP_S = 24 * 3600.0
"""Seconds a deleted node's tombstone is kept (and replicated) so that no peer that
still holds the old record brings it back; ``check`` drops older ones."""
MAX_RECORD_BYTES = 16 * 1024
"""Largest encoded record ``from_bytes`` accepts (a maximal valid record is ~6 KiB)."""

_STATUSES = {s.value for s in NodeStatus}


class RegistryFull(Exception):
    """``register`` would exceed ``max_nodes``."""


def _iso(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC)


@dataclass(frozen=True, slots=True)
class HttpNodeRecord:
    """One HTTP-registered node. Immutable: writes produce a new record (version + 1)."""

    node_id: str
    hostname: str
    platform: str
    arch: str
    status: str
    """A ``NodeStatus`` value."""
    suspect: bool
    cpu_usage: float
    memory_usage: float
    disk_usage: float
    available_skills: tuple[str, ...]
    max_concurrent_tasks: int
    running_tasks: int
    ip_address: str
    tailscale_ip: str
    port: int
    total_tasks_processed: int
    successful_tasks: int
    failed_tasks: int
    average_execution_time: float
    registered_at: float
    """Unix seconds of the first registration (kept across re-registrations)."""
    last_heartbeat: float
    """Unix seconds of the last heartbeat or registration."""
    tags: tuple[str, ...]
    version: int
    """Bumped by every write; the merge order is ``(version, updated_at)``."""
    updated_at: float
    """Unix seconds of the last write."""
    removed: bool = False
    """A tombstone: the node was deleted (``DELETE /api/v1/nodes/{id}``). It replicates
    like any write so that no peer brings the node back; omitted from the encoding when
    false, so nodes that predate it still read every live record."""

    # --- serialisation ------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/msgpack-safe dict (lists instead of tuples)."""
        # Every field is a scalar or a tuple of str: a shallow copy, not asdict()'s deep
        # recursion (a third of a heartbeat's CPU, paid twice per write: store, gossip).
        d = {name: getattr(self, name) for name in _RECORD_FIELDS}
        if not self.removed:
            del d["removed"]
        d["available_skills"] = list(self.available_skills)
        d["tags"] = list(self.tags)
        return d

    def to_bytes(self) -> bytes:
        """msgpack encoding of ``to_dict()`` (for gossip user messages and the store)."""
        data: bytes = msgpack.packb(self.to_dict(), use_bin_type=True)
        return data

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HttpNodeRecord:
        """Build a record from untrusted data (a peer's gossip, a file), checking every
        field's type and bounds.

        Raises:
            ValueError: missing/extra field, wrong type, or out of bounds.
        """
        if not isinstance(d, Mapping):
            raise ValueError("record must be a map")
        names = [f.name for f in dataclasses.fields(cls)]
        missing = [n for n in names if n not in d and n != "removed"]
        extra = [k for k in d if k not in names]
        if missing or extra:
            raise ValueError(f"record fields: missing {missing}, unexpected {extra}")

        def text(name: str, max_chars: int, allow_empty: bool = True) -> str:
            v = d[name]
            if not isinstance(v, str) or len(v) > max_chars or (not allow_empty and not v.strip()):
                raise ValueError(f"{name}: bad string")
            return v

        def num(name: str, lo: float, hi: float) -> float:
            v = d[name]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (lo <= v <= hi):
                raise ValueError(f"{name}: bad number")
            return float(v)

        def integer(name: str, lo: int, hi: int) -> int:
            v = d[name]
            if isinstance(v, bool) or not isinstance(v, int) or not (lo <= v <= hi):
                raise ValueError(f"{name}: bad integer")
            return v

        def labels(name: str, max_items: int) -> tuple[str, ...]:
            v = d[name]
            if (not isinstance(v, (list, tuple)) or len(v) > max_items
                    or not all(isinstance(x, str) and 0 < len(x) <= MAX_LABEL_CHARS for x in v)):
                raise ValueError(f"{name}: bad list")
            return tuple(v)

        status = d["status"]
        if status not in _STATUSES:
            raise ValueError("status: unknown")
        if d["platform"] not in PLATFORMS or d["arch"] not in ARCHES:
            raise ValueError("platform/arch: unknown")
        if not isinstance(d["suspect"], bool) or not isinstance(d.get("removed", False), bool):
            raise ValueError("suspect/removed: bad bool")
        return cls(
            node_id=text("node_id", MAX_NODE_ID_CHARS, allow_empty=False),
            hostname=text("hostname", MAX_HOSTNAME_CHARS, allow_empty=False),
            platform=d["platform"], arch=d["arch"], status=status, suspect=d["suspect"],
            cpu_usage=num("cpu_usage", 0, 100), memory_usage=num("memory_usage", 0, 100),
            disk_usage=num("disk_usage", 0, 100),
            available_skills=labels("available_skills", MAX_SKILLS),
            max_concurrent_tasks=integer("max_concurrent_tasks", 1, MAX_TASKS),
            running_tasks=integer("running_tasks", 0, MAX_TASKS),
            ip_address=text("ip_address", MAX_ADDRESS_CHARS),
            tailscale_ip=text("tailscale_ip", MAX_ADDRESS_CHARS),
            port=integer("port", 1, 65535),
            total_tasks_processed=integer("total_tasks_processed", 0, MAX_TASKS),
            successful_tasks=integer("successful_tasks", 0, MAX_TASKS),
            failed_tasks=integer("failed_tasks", 0, MAX_TASKS),
            average_execution_time=num("average_execution_time", 0, 1e9),
            registered_at=num("registered_at", 0, 1e11),
            last_heartbeat=num("last_heartbeat", 0, 1e11),
            tags=labels("tags", MAX_TAGS),
            version=integer("version", 0, 2**63 - 1),
            updated_at=num("updated_at", 0, 1e11),
            removed=d.get("removed", False),
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> HttpNodeRecord:
        """Decode ``to_bytes()`` output from an untrusted source.

        Raises:
            ValueError: oversized, not msgpack, or an invalid record.
        """
        if len(data) > MAX_RECORD_BYTES:
            raise ValueError("record too large")
        try:
            d = msgpack.unpackb(data, raw=False, max_str_len=MAX_RECORD_BYTES,
                                max_bin_len=0, max_array_len=MAX_SKILLS + MAX_TAGS,
                                max_map_len=64, max_ext_len=0)
        except (ValueError, msgpack.UnpackException, TypeError) as exc:
            raise ValueError(f"not a record: {exc}") from exc
        return cls.from_dict(d)

    def newer_than(self, other: HttpNodeRecord) -> bool:
        """Merge order: higher version wins; ties broken by ``updated_at``, then bytes
        (so every node picks the same winner)."""
        if (self.version, self.updated_at) != (other.version, other.updated_at):
            return (self.version, self.updated_at) > (other.version, other.updated_at)
        return self.to_bytes() > other.to_bytes()

    # --- presentation -------------------------------------------------------------------

    def member_state(self, heartbeat_timeout_s: float) -> str:
        """``alive``, ``suspect``, ``failed`` or ``left`` (``NodeInfo.member_state``).

        An offline record written more than the timeout after its last heartbeat was
        marked by the heartbeat check (failed); one written sooner by a shutdown notice
        (left). Later writes to an offline record keep the answer: the check leaves
        offline records alone and a shutdown notice does not refresh the heartbeat.
        """
        if self.status != NodeStatus.OFFLINE.value:
            return "suspect" if self.suspect else "alive"
        silent = self.updated_at - self.last_heartbeat
        return "failed" if silent > heartbeat_timeout_s else "left"

    def to_node_info(self, **extra: Any) -> NodeInfo:
        """The seed's ``NodeInfo`` for this record (``extra`` sets e.g. ``is_coordinator``).
        Building one costs ~20 µs: views that list many nodes should cache it per
        ``(node_id, version)`` (records are immutable), as ``MemoryClusterView`` does."""
        fields: dict[str, Any] = dict(
            node_id=self.node_id, hostname=self.hostname, platform=self.platform,
            arch=self.arch, status=NodeStatus(self.status), cpu_usage=self.cpu_usage,
            memory_usage=self.memory_usage, disk_usage=self.disk_usage,
            available_skills=list(self.available_skills),
            max_concurrent_tasks=self.max_concurrent_tasks, running_tasks=self.running_tasks,
            ip_address=self.ip_address, tailscale_ip=self.tailscale_ip, port=self.port,
            total_tasks_processed=self.total_tasks_processed,
            successful_tasks=self.successful_tasks, failed_tasks=self.failed_tasks,
            average_execution_time=self.average_execution_time,
            registered_at=_iso(self.registered_at), last_heartbeat=_iso(self.last_heartbeat),
            tags=list(self.tags), source="http", gossip_state=None, suspect=self.suspect,
            incarnation=None, is_coordinator=False, api_url=None,
        )
        fields.update(extra)
        from .models import NodeInfo
        return NodeInfo(**fields)


_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(HttpNodeRecord))
"""Field names in declaration order (the order ``asdict`` gave: same msgpack bytes)."""

@dataclass(frozen=True, slots=True)
class Change:
    """A status or suspect change made by a registry write or check."""

    before: HttpNodeRecord | None
    """None for a new registration."""
    after: HttpNodeRecord
    reason: str

    @property
    def liveness_from(self) -> str:
        """Alert vocabulary: 'suspect' if it was suspect, else its status ('new' if none)."""
        if self.before is None:
            return "new"
        return "suspect" if self.before.suspect else self.before.status

    @property
    def liveness_to(self) -> str:
        return "suspect" if self.after.suspect else self.after.status


def _load_status(running: int, slots: int) -> str:
    return NodeStatus.BUSY.value if running >= slots else NodeStatus.ONLINE.value


class HttpNodeRegistry:
    """The table of HTTP-registered nodes. Not thread-safe; call from one event loop."""

    def __init__(
        self,
        *,
        heartbeat_timeout_s: float = DEFAULT_HEARTBEAT_TIMEOUT_S,
        max_nodes: int = DEFAULT_MAX_NODES,
        new_id: Callable[[], str] | None = None,
        on_change: Callable[[HttpNodeRecord], None] | None = None,
    ) -> None:
        """
        Args:
            heartbeat_timeout_s: silence (seconds) after which ``check`` marks a node
                offline; suspect after ``SUSPECT_FRACTION`` of it.
            max_nodes: bound on records; ``register`` of a new node beyond it raises
                ``RegistryFull``.
            new_id: id factory for nodes registering without one (default
                ``node-<12 random hex chars>``); retried until unique.
            on_change: called with every record this registry writes (not with records
                it merges), so the caller can gossip and persist it.
        """
        if heartbeat_timeout_s <= 0:
            raise ValueError("heartbeat_timeout_s must be > 0")
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.suspect_after_s = heartbeat_timeout_s * SUSPECT_FRACTION
        self.max_nodes = max_nodes
        # os.urandom = secrets.token_hex, without the libcrypto that secrets' hmac loads
        self._new_id = new_id or (lambda: f"node-{os.urandom(6).hex()}")
        self._on_change = on_change
        self._records: dict[str, HttpNodeRecord] = {}
        self._tombstones: dict[str, HttpNodeRecord] = {}
        """Deleted nodes (``removed`` records), oldest first; never shown by reads."""
        self._infos: dict[str, tuple[HttpNodeRecord, NodeInfo]] = {}
        self._all_infos: list[NodeInfo] | None = None
        """``node_infos()`` as last built; None once any record changed."""

    # --- reads --------------------------------------------------------------------------

    def get(self, node_id: str) -> HttpNodeRecord | None:
        return self._records.get(node_id)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._records

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[HttpNodeRecord]:
        return iter(list(self._records.values()))

    def node_info(self, node_id: str) -> NodeInfo | None:
        """``NodeInfo`` of a record, cached until the record changes (building one costs
        tens of µs; a list of 1,000 nodes would pay that on every request)."""
        rec = self._records.get(node_id)
        if rec is None:
            return None
        hit = self._infos.get(node_id)
        if hit is not None and hit[0] is rec:
            return hit[1]
        info = rec.to_node_info(member_state=rec.member_state(self.heartbeat_timeout_s))
        self._infos[node_id] = (rec, info)
        return info

    def node_infos(self) -> list[NodeInfo]:
        """Every record's cached ``NodeInfo`` (see ``node_info``), the same list object
        until a record changes: a list request over 1,000 records then costs no walk of
        the records (1 ms of the 2 a request took). Callers must not modify it."""
        if self._all_infos is None:
            self._all_infos = [info for node_id in list(self._records)
                               if (info := self.node_info(node_id)) is not None]
        return self._all_infos

    def snapshot(self) -> list[dict[str, Any]]:
        """Every record and tombstone as ``to_dict()`` (for a push-pull or the store)."""
        return [r.to_dict() for r in self.replicated()]

    def tombstone(self, node_id: str) -> HttpNodeRecord | None:
        """The tombstone of a deleted node while it is kept (``delete``), or None."""
        return self._tombstones.get(node_id)

    def tombstones(self) -> list[HttpNodeRecord]:
        """Every tombstone kept, oldest first."""
        return list(self._tombstones.values())

    def replicated(self) -> list[HttpNodeRecord]:
        """What peers must hold a copy of: the records and the tombstones."""
        return [*self._records.values(), *self._tombstones.values()]

    # --- writes -------------------------------------------------------------------------

    def _store(self, rec: HttpNodeRecord) -> HttpNodeRecord:
        self._records[rec.node_id] = rec
        self._all_infos = None
        if self._on_change is not None:
            self._on_change(rec)
        return rec

    def _bump(self, rec: HttpNodeRecord, now: float, **changes: Any) -> HttpNodeRecord:
        # max(): a write never moves updated_at backwards, even if this clock lags the
        # clock of the coordinator that wrote the previous version.
        return dataclasses.replace(rec, version=rec.version + 1,
                                   updated_at=max(now, rec.updated_at), **changes)

    def register(self, req: RegisterIn, now: float) -> tuple[HttpNodeRecord, bool, Change | None]:
        """Register or re-register (the seed's ``register_node``).

        Returns:
            ``(record, created, change)``; ``change`` is set when a known node's status
            or suspect flag changed (e.g. offline → online).

        Raises:
            RegistryFull: a new node beyond ``max_nodes``.
        """
        old = self._records.get(req.node_id) if req.node_id else None
        if old is None and len(self._records) >= self.max_nodes:
            raise RegistryFull(f"registry full ({self.max_nodes} nodes)")
        node_id = req.node_id
        if node_id is None:
            node_id = self._new_id()
            while node_id in self._records:
                node_id = self._new_id()
        fields = dict(
            hostname=req.hostname.strip(), platform=req.platform, arch=req.arch,
            available_skills=tuple(dict.fromkeys(s.strip() for s in req.available_skills)),
            max_concurrent_tasks=req.max_concurrent_tasks, ip_address=req.ip_address,
            tailscale_ip=req.tailscale_ip, port=req.port,
            tags=tuple(dict.fromkeys(t.strip() for t in req.tags)), last_heartbeat=now,
            suspect=False,
        )
        if old is None:
            # A node registering again after a delete continues past its tombstone's
            # version, so the new record wins over the tombstone everywhere.
            buried = self._tombstones.pop(node_id, None)
            rec = HttpNodeRecord(
                node_id=node_id, status=_load_status(0, req.max_concurrent_tasks),
                cpu_usage=0.0, memory_usage=0.0, disk_usage=0.0, running_tasks=0,
                total_tasks_processed=0, successful_tasks=0, failed_tasks=0,
                average_execution_time=0.0, registered_at=now,
                version=1 if buried is None else buried.version + 1,
                updated_at=now if buried is None else max(now, buried.updated_at),
                **fields,  # type: ignore[arg-type]
            )
            return self._store(rec), True, None
        status = (old.status if old.status == NodeStatus.MAINTENANCE.value
                  else _load_status(old.running_tasks, req.max_concurrent_tasks))
        rec = self._store(self._bump(old, now, status=status, **fields))
        change = None
        if (old.status, old.suspect) != (rec.status, rec.suspect):
            change = Change(old, rec, "re-registered")
        return rec, False, change

    def heartbeat(self, node_id: str, beat: HeartbeatIn, now: float
                  ) -> tuple[HttpNodeRecord, Change | None] | None:
        """Apply a heartbeat; omitted fields keep their values.

        Returns:
            ``(record, change)``, or None if the id is unknown.
        """
        old = self._records.get(node_id)
        if old is None:
            return None
        updates = {k: v for k, v in beat.model_dump(exclude_none=True).items()}
        running = updates.get("running_tasks", old.running_tasks)
        status = (old.status if old.status == NodeStatus.MAINTENANCE.value
                  else _load_status(running, old.max_concurrent_tasks))
        rec = self._store(self._bump(old, now, status=status, suspect=False,
                                     last_heartbeat=now, **updates))
        change = None
        if (old.status, old.suspect) != (rec.status, rec.suspect):
            change = Change(old, rec, "heartbeat received")
        return rec, change

    def shutdown(self, node_id: str, now: float) -> tuple[HttpNodeRecord, Change | None] | None:
        """Shutdown notice: status offline, record kept. None if unknown."""
        old = self._records.get(node_id)
        if old is None:
            return None
        rec = self._store(self._bump(old, now, status=NodeStatus.OFFLINE.value, suspect=False))
        change = None if (old.status, old.suspect) == (rec.status, rec.suspect) else \
            Change(old, rec, "shutdown notice")
        return rec, change

    def set_maintenance(self, node_id: str, enabled: bool, now: float
                        ) -> tuple[HttpNodeRecord, Change | None] | None:
        """Enter/leave maintenance. Leaving: online/busy if the heartbeat is fresh, else
        offline. None if unknown."""
        old = self._records.get(node_id)
        if old is None:
            return None
        if enabled:
            status = NodeStatus.MAINTENANCE.value
        elif old.status != NodeStatus.MAINTENANCE.value:
            status = old.status
        elif now - old.last_heartbeat > self.heartbeat_timeout_s:
            status = NodeStatus.OFFLINE.value
        else:
            status = _load_status(old.running_tasks, old.max_concurrent_tasks)
        rec = self._store(self._bump(old, now, status=status))
        change = None if old.status == rec.status else Change(
            old, rec, "maintenance on" if enabled else "maintenance off")
        return rec, change

    def delete(self, node_id: str, now: float) -> HttpNodeRecord | None:
        """Forget a node everywhere: its record becomes a replicated tombstone.

        Returns:
            The record as it was before, or None if the id is unknown.
        """
        old = self._records.pop(node_id, None)
        if old is None:
            return None
        self._infos.pop(node_id, None)
        self._all_infos = None
        tomb = self._bump(old, now, removed=True)
        self._bury(tomb)
        if self._on_change is not None:
            self._on_change(tomb)
        return old

    def _bury(self, tomb: HttpNodeRecord) -> None:
        self._tombstones.pop(tomb.node_id, None)
        self._tombstones[tomb.node_id] = tomb
        while len(self._tombstones) > self.max_nodes:
            self._tombstones.pop(next(iter(self._tombstones)))

    def check(self, now: float) -> list[Change]:
        """The seed's heartbeat check: silent > timeout → offline; silent > 2/3 of the
        timeout → suspect. Offline nodes are left alone.

        Returns:
            The changes made (each record written once, version bumped).
        """
        for node_id in [n for n, t in self._tombstones.items()
                        if now - t.updated_at > TOMBSTONE_KEEP_S]:
            del self._tombstones[node_id]
        changes: list[Change] = []
        for old in list(self._records.values()):
            if old.status == NodeStatus.OFFLINE.value:
                continue
            silent = now - old.last_heartbeat
            if silent > self.heartbeat_timeout_s:
                rec = self._store(self._bump(old, now, status=NodeStatus.OFFLINE.value,
                                             suspect=False))
                changes.append(Change(old, rec, f"no heartbeat for {silent:.1f} s "
                                                f"(timeout {self.heartbeat_timeout_s:g} s)"))
            elif silent > self.suspect_after_s and not old.suspect:
                rec = self._store(self._bump(old, now, suspect=True))
                changes.append(Change(old, rec, f"no heartbeat for {silent:.1f} s "
                                                f"(suspect after {self.suspect_after_s:g} s)"))
        return changes

    def merge(self, record: HttpNodeRecord | Mapping[str, Any] | bytes) -> bool:
        """Apply a record from a peer or the store if it is newer than ours.

        Args:
            record: a record, its ``to_dict()`` or its ``to_bytes()`` (untrusted).

        Returns:
            True if it replaced (or added) our record or tombstone. Does not call
            ``on_change``.

        Raises:
            ValueError: the record is malformed (drop it and count it).
        """
        if isinstance(record, (bytes, bytearray)):
            rec = HttpNodeRecord.from_bytes(bytes(record))
        elif isinstance(record, HttpNodeRecord):
            rec = record
        else:
            rec = HttpNodeRecord.from_dict(record)
        old = self._records.get(rec.node_id) or self._tombstones.get(rec.node_id)
        if old is None:
            if len(self._records) >= self.max_nodes and not rec.removed:
                return False
        elif not rec.newer_than(old):
            return False
        self._all_infos = None
        if rec.removed:
            self._records.pop(rec.node_id, None)
            self._infos.pop(rec.node_id, None)
            self._bury(rec)
        else:
            self._tombstones.pop(rec.node_id, None)
            self._records[rec.node_id] = rec
        return True

    def remove(self, node_id: str) -> bool:
        """Forget a record locally (e.g. the id now belongs to a gossip member)."""
        self._infos.pop(node_id, None)
        self._all_infos = None
        return self._records.pop(node_id, None) is not None
