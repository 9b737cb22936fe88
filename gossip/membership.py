"""The member table and memberlist's incarnation rules as pure decisions.

``decide_alive`` / ``decide_suspect`` / ``decide_dead`` look at the current record
and an incoming claim and say what to do; they never mutate anything, so each rule
is a row in a table test. ``SwimProtocol`` carries out the verdict (state change,
re-broadcast, events, refutation).

Rules follow memberlist 0.2.2 ``state.go`` (``aliveNode``, ``suspectNode``,
``deadNode``) with two claw-node changes:

* a dead or left name that comes back at a new address with a higher incarnation is
  accepted (memberlist refuses a dead one unless ``DeadNodeReclaimTime`` passed);
* an alive that is not newer than a known *dead* record is answered by re-sending the
  accusation to that node so it can refute (``STALE``), instead of being dropped
  silently, which can leave a mass-restarted cluster stuck with nodes "dead";
* a newer alive refused as a ``CONFLICT`` is remembered on the record
  (``refused_claim``) and applied when the record's life is declared dead, so a node
  restarted at a new address before its old life was noticed dead becomes known then.
"""

from __future__ import annotations

import enum
import math
import sys
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

from .errors import GossipError
from .events import Member
from .interning import RECORD_FIELDS
from .messages import Alive, PushNodeState
from .probe_ring import ring_order
from .suspicion import Suspicion
from .tags import CLAW_TAG, decode_tags
from .types import MemberState

__all__ = [
    "TOMBSTONE_S",
    "AliveVerdict",
    "DeadVerdict",
    "MemberRecord",
    "Membership",
    "SharedTable",
    "SuspectVerdict",
    "decide_alive",
    "decide_dead",
    "decide_suspect",
    "meta_is_claw",
    "vsn_is_valid",
]

TOMBSTONE_S = 24 * 3600.0
"""Seconds a dead or left record stays in the table after it stopped being gossiped, so
late stale alives are still recognised and dead members can be reconnected (Serf's
``ReconnectTimeout`` and ``TombstoneTimeout`` are both 24 h). Memory stays bounded by
``GossipConfig.max_members``."""


def vsn_is_valid(vsn: bytes | None) -> bool:
    """memberlist ignores an alive whose protocol range is nonsense (``pmin``/``pmax``)."""
    if vsn is None or len(vsn) < 3:
        return True
    pmin, pmax = vsn[0], vsn[1]
    return not (pmin == 0 or pmax == 0 or pmin > pmax)


def meta_is_claw(meta: bytes) -> bool:
    """True when Serf tags in ``meta`` carry the claw tag."""
    try:
        return CLAW_TAG in decode_tags(meta)
    except (GossipError, ValueError):
        return False


@dataclass(slots=True, eq=False)
class MemberRecord:
    """Mutable record of one member (the table's row)."""

    name: str
    ip: str
    port: int
    meta: bytes
    incarnation: int
    state: MemberState
    state_since: float
    vsn: bytes
    is_claw: bool
    suspicion: Suspicion | None = None
    leaving: bool = False
    """A Serf leave intent newer than its join was seen: its death is a leave."""
    status_ltime: int = 0
    """Serf ``statusLTime``: the LTime of the last join/leave intent applied."""
    last_reaccused: float = float("-inf")
    ip_bytes: bytes = b""
    """``ip`` as raw wire bytes (4 or 16), kept so old news is recognised without parsing."""
    refused_claim: Alive | None = None
    """claw-node: the newest alive refused as a ``CONFLICT`` (the name restarted at another
    address while this life still looked alive), applied once this life is declared
    dead; without it the restarted node stays unknown until some push-pull."""
    refused_claim_at: float = float("-inf")
    refuted_at: float = float("-inf")
    """claw-node: when this member last refuted a suspicion we held (alive but slow);
    see ``GossipConfig.slow_member_memory_s``."""

    @property
    def address(self) -> tuple[str, int]:
        return (self.ip, self.port)

    @property
    def pmax(self) -> int:
        """Highest memberlist protocol the member speaks (0 when it sent no Vsn)."""
        return self.vsn[1] if len(self.vsn) >= 2 else 0

    def snapshot(self) -> Member:
        return Member(
            name=self.name, address=(self.ip, self.port), meta=self.meta,
            incarnation=self.incarnation, state=self.state, state_since=self.state_since,
            vsn=self.vsn, is_claw=self.is_claw,
        )


class _SharedRecord(MemberRecord):
    """A record several tables hold at once (``SharedTable``): read-only.

    Any attribute assignment raises, so a mutation site that forgot
    ``Membership.writable`` fails loudly (``internal_errors``) instead of changing every
    table that shares the record.
    """

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"shared member record {self.name!r} is read-only "
                             f"(call Membership.writable first)")


_RECORD_FIELDS = tuple(MemberRecord.__slots__)


def _private_copy(record: MemberRecord) -> MemberRecord:
    copy = object.__new__(MemberRecord)
    for f in _RECORD_FIELDS:
        object.__setattr__(copy, f, getattr(record, f))
    return copy


class SharedTable:
    """An immutable member list many ``Membership`` tables start from (copy-on-write).

    Built once for a cluster whose members all know each other (the simulator's
    converged start); each table then holds the shared records and copies one only
    when it changes it (``Membership.writable``). The records given are frozen: they
    must not be used elsewhere afterwards.
    """

    def __init__(self, records: list[MemberRecord]) -> None:
        self.records: dict[str, MemberRecord] = {}
        for r in records:
            if r.state != MemberState.ALIVE or r.suspicion is not None:
                raise ValueError("a shared table holds alive members only")
            r.name = sys.intern(r.name)
            r.ip = sys.intern(r.ip)
            r.__class__ = _SharedRecord  # same slots: frozen in place
            self.records[r.name] = r
        self.order: list[MemberRecord] = list(self.records.values())
        """Records in table order (also each member's gossip targets, minus itself)."""
        self.position = {name: i for i, name in enumerate(self.records)}
        self.names: list[str] = list(self.records)
        self._ring: list[str] | None = None
        self.merge_memo: dict[tuple[int, int], object] = {}
        """Push-pulls already read against these records (``shared_merge``)."""
        self.push_states: dict[str, PushNodeState] = {}
        """Name → the record's push-pull entry, built once (``push_pull.build_push_pull``)."""
        self.push_pull_state: tuple[tuple[PushNodeState, ...], dict[str, int]] | None = None
        """Every record's push-pull entry and Serf status LTime, in order, built once
        (``shared_push_pull``)."""

    def ring(self) -> list[str]:
        """The names in probe-ring order (``probe_ring.ring_order``), built once and
        shared by every core's ``ProbeRing``."""
        if self._ring is None:
            self._ring = ring_order(self.names)
        return self._ring

    def __len__(self) -> int:
        return len(self.order)


class _Without(Sequence[MemberRecord]):
    """A list minus a few of its positions, without copying it (for ``random.sample``
    and ``random.choice``, which only index and measure it)."""

    __slots__ = ("_items", "_skip")

    def __init__(self, items: list[MemberRecord], skip: list[int]) -> None:
        self._items = items
        self._skip = skip  # ascending positions of ``items`` left out

    def __len__(self) -> int:
        return len(self._items) - len(self._skip)

    def __getitem__(self, j: int) -> MemberRecord:  # type: ignore[override]
        if not 0 <= j < len(self):
            raise IndexError(j)
        for s in self._skip:
            if j >= s:
                j += 1
        return self._items[j]


_LIVE = (MemberState.ALIVE, MemberState.SUSPECT)


class Membership:
    """Name → record, capped at ``max_members``.

    A table built by ``from_shared`` starts with the records of a ``SharedTable`` and
    copies a record before changing it: callers get a record with ``get`` (read-only
    use) and pass it through ``writable`` before any assignment to it. Such a table
    does not copy the shared name → record map either: it reads through to it and keeps
    only its own entries (an overlay), so N tables of N members are not N² slots.
    """

    def __init__(self, max_members: int) -> None:
        self.max_members = max_members
        self._records: dict[str, MemberRecord] = {}
        """Name → record: every record; with ``_base``, only this table's own entries
        (shared names it replaced, at their shared position, and the ``_tail``)."""
        self._base: dict[str, MemberRecord] | None = None
        """The shared records this table reads through to (``from_shared``), else None."""
        self._gone: set[str] = set()
        """With ``_base``: shared names no longer at their shared position (removed; a
        name added again goes to the ``_tail``, as a dict would put it at the end)."""
        self._tail: dict[str, None] = {}
        """With ``_base``: names after the shared block, in the order they were added."""
        self._down: dict[str, None] = {}
        """Names of dead/left records, in the order they went down (oldest first)."""
        self._candidates: list[MemberRecord] | None = None
        """Cached gossip targets in table order (see ``gossip_candidates``); None = stale."""
        self._candidates_exclude: MemberRecord | None = None
        self._candidates_dead_since = math.inf
        """Earliest ``state_since`` of a dead record in ``_candidates``: the cache is
        stale once that one ages past ``gossip_to_the_dead_s``."""
        self._alive: list[MemberRecord] | None = None
        """Cached alive records in table order (see ``alive_except``); None = stale."""
        self.live_count = 0
        """Records alive or suspect (the members probed), ourselves included."""
        self.live_version = 0
        """Incremented whenever a name enters or leaves the alive-or-suspect set, so a
        view of that set (``probe_ring.ProbeRing``) knows when to look again."""
        self._shared: SharedTable | None = None
        """The table ``from_shared`` started from (None: built empty)."""
        self._changed: dict[str, None] = {}
        """With ``_shared``: every shared name whose entry may differ from the shared
        record (copied, replaced, removed, ourselves); the other shared names hold the
        shared record itself. At most one entry per shared name."""

    @classmethod
    def from_shared(cls, max_members: int, shared: SharedTable,
                    self_record: MemberRecord) -> Membership:
        """A table holding every member of ``shared`` (copy-on-write), with our own
        (private) ``self_record`` in place of the shared record of the same name."""
        if len(shared) > max_members:
            raise ValueError(f"{len(shared)} members exceed max_members={max_members}")
        table = cls(max_members)
        i = shared.position[self_record.name]
        table._base = shared.records
        table._records[self_record.name] = self_record  # same position, private record
        table._candidates = candidates = list(shared.order)  # one copy, not two slices
        del candidates[i]
        table._candidates_exclude = self_record
        table._alive = list(shared.order)
        table._alive[i] = self_record  # our private record, not the shared one
        table.live_count = len(shared)
        table._shared = shared
        table._changed[self_record.name] = None
        return table

    def writable(self, record: MemberRecord) -> MemberRecord:
        """The record to change: ``record`` itself, or a private copy of a shared one
        that replaces it in this table (and in the cached gossip targets)."""
        if record.__class__ is not _SharedRecord:
            return record
        copy = _private_copy(record)
        self._records[record.name] = copy  # same position in the table order
        self._changed[record.name] = None
        for cached in (self._candidates, self._alive):
            if cached is None:
                continue
            try:
                cached[cached.index(record)] = copy  # records compare by identity
            except ValueError:
                pass  # not in that list (ourselves, a record aged out, not alive)
        return copy

    def alive_except(self, *records: MemberRecord) -> Sequence[MemberRecord]:
        """Alive members in table order, without ``records``: what
        ``[r for r in table if r.state is ALIVE and r not in records]`` would give,
        kept up to date on changes instead of scanned (do not hold on to it)."""
        alive = self._alive
        if alive is None:
            alive = self._alive = [r for r in self._in_order()
                                   if r.state == MemberState.ALIVE]
        skip = []
        position = None if self._shared is None else self._shared.position
        for r in records:
            if r.state == MemberState.ALIVE:
                # Over a shared table a record usually still sits at its shared
                # position: look there before scanning the list.
                i = -1 if position is None else position.get(r.name, -1)
                if not (0 <= i < len(alive) and alive[i] is r):
                    try:
                        i = alive.index(r)
                    except ValueError:
                        continue
                if i not in skip:
                    skip.append(i)
        skip.sort()
        return _Without(alive, skip)

    def shared_view(self) -> tuple[SharedTable, Collection[str]] | None:
        """The shared table this one started from and its names whose entry here may
        differ (every other shared name maps to the shared record itself); None if it
        was not built by ``from_shared``. For skipping work already done on the shared
        records (``shared_merge``); do not hold on to the names."""
        if self._shared is None:
            return None
        return self._shared, self._changed.keys()

    def any_dead(self) -> bool:
        """Whether some record is dead (not left); O(down records)."""
        records = self._records
        return any(records[name].state == MemberState.DEAD for name in self._down)

    def dead_count(self) -> int:
        """How many records are dead (not left); O(down records)."""
        records = self._records
        return sum(1 for name in self._down if records[name].state == MemberState.DEAD)

    def __len__(self) -> int:
        if self._base is None:
            return len(self._records)
        return len(self._base) - len(self._gone) + len(self._tail)

    def __iter__(self) -> Iterator[MemberRecord]:
        return iter(self._in_order())

    def __contains__(self, name: object) -> bool:
        if name in self._records:
            return True
        base = self._base
        return base is not None and name in base and name not in self._gone

    def get(self, name: str) -> MemberRecord | None:
        record = self._records.get(name)
        if record is None and self._base is not None and name not in self._gone:
            return self._base.get(name)
        return record

    def _in_order(self) -> list[MemberRecord]:
        """Every record in table order (a new list): with ``_base``, the shared block
        (this table's own entry where it has one) then the ``_tail``."""
        records, base = self._records, self._base
        if base is None:
            return list(records.values())
        tail = self._tail
        if self._gone:
            gone = self._gone
            out = [records.get(name, r) for name, r in base.items() if name not in gone]
        else:  # the usual case: the shared list with our few own entries put in place
            out = list(base.values())
            assert self._shared is not None
            position = self._shared.position
            for name, r in records.items():
                if name not in tail:
                    out[position[name]] = r
        out.extend(records[name] for name in tail)
        return out

    def _put(self, record: MemberRecord) -> None:
        """Store ``record`` under its name: in place if the name is in the table, else
        at the end."""
        name = record.name
        self._records[name] = record
        base = self._base
        if base is not None and (name in self._gone or name not in base):
            self._tail[name] = None

    def _drop(self, name: str) -> None:
        """Take ``name`` (in the table) out of it."""
        self._records.pop(name, None)
        if self._base is not None:
            if name in self._tail:
                del self._tail[name]
            elif name in self._base:
                self._gone.add(name)

    @property
    def full(self) -> bool:
        return len(self) >= self.max_members

    def add(self, record: MemberRecord) -> bool:
        """Insert a record. When the table is full the longest-dead (or longest-left)
        record makes room; with no such record the insert is refused (False)."""
        if record.name not in self and self.full:
            if not self._down:
                return False  # every slot holds a live member: refuse the newcomer
            self.remove(next(iter(self._down)))
        # Names and addresses repeat in every table of a cluster: share one object.
        record.name = sys.intern(record.name)
        record.ip = sys.intern(record.ip)
        record.meta = RECORD_FIELDS.share(record.meta)
        record.vsn = RECORD_FIELDS.share(record.vsn)
        record.ip_bytes = RECORD_FIELDS.share(record.ip_bytes)
        old = self.get(record.name)
        replaced = old is not None
        if self._shared is not None and record.name in self._shared.records:
            self._changed[record.name] = None
        self._count_live(old, -1)
        self._count_live(record, +1)
        self._put(record)
        self._track(record)
        if replaced:
            self._alive = None
        elif self._alive is not None and record.state == MemberState.ALIVE:
            self._alive.append(record)  # new names go to the end of the table
        if replaced:
            self._candidates = None  # a new object at an old position: rebuild
        elif self._candidates is not None and record.state != MemberState.LEFT:
            # A new name goes to the end of the table, so it goes to the end of the
            # cached targets too (same order as a rebuild: same random draws).
            self._candidates.append(record)
            if record.state == MemberState.DEAD:
                self._candidates_dead_since = min(self._candidates_dead_since,
                                                  record.state_since)
        return True

    def _count_live(self, record: MemberRecord | None, sign: int) -> None:
        if record is not None and record.state in _LIVE:
            self.live_count += sign
            self.live_version += 1

    def down_names(self) -> Iterator[str]:
        """Names of the dead and left records, oldest first."""
        return iter(self._down)

    def remove(self, name: str) -> None:
        record = self.get(name)
        if self._shared is not None and name in self._shared.records:
            self._changed[name] = None
        if record is not None:
            self._drop(name)
            self._count_live(record, -1)
            self._candidates = None
            if self._alive is not None and record.state == MemberState.ALIVE:
                self._alive.remove(record)
        self._down.pop(name, None)

    def set_state(self, record: MemberRecord, state: MemberState, now: float) -> None:
        """Change a record's state (the only way states change, so evictions stay O(1)).
        ``record`` must be private (``writable``)."""
        old = record.state
        if (old in _LIVE) != (state in _LIVE):
            self.live_count += 1 if state in _LIVE else -1
            self.live_version += 1
        record.state = state
        record.state_since = now
        self._track(record)
        if self._alive is not None and (old == MemberState.ALIVE) != (state == MemberState.ALIVE):
            if state == MemberState.ALIVE:
                self._alive = None  # back alive: its position is the table's, rebuild
            else:
                self._alive.remove(record)
        if self._candidates is None:
            return
        live = (MemberState.ALIVE, MemberState.SUSPECT)
        if old in live and state in live:
            return  # still a target, same position
        if old in live and state == MemberState.DEAD:
            # Still a target until it ages out; remember when that happens.
            self._candidates_dead_since = min(self._candidates_dead_since, now)
            return
        self._candidates = None  # left, came back, or re-died: rare, rebuild

    def gossip_candidates(self, now: float, gossip_to_the_dead_s: float,
                          exclude: MemberRecord) -> list[MemberRecord]:
        """Members gossip may be sent to: alive, suspect, or dead for at most
        ``gossip_to_the_dead_s``, except ``exclude`` (ourselves), in table order.

        Kept up to date on changes instead of scanned every gossip round; the caller
        must not mutate the list.
        """
        cached = self._candidates
        if (cached is not None and self._candidates_exclude is exclude
                and now - self._candidates_dead_since <= gossip_to_the_dead_s):
            return cached
        dead_since = math.inf
        cached = []
        for r in self._in_order():
            if r is exclude:
                continue
            if r.state == MemberState.DEAD:
                if now - r.state_since > gossip_to_the_dead_s:
                    continue
                dead_since = min(dead_since, r.state_since)
            elif r.state == MemberState.LEFT:
                continue
            cached.append(r)
        self._candidates = cached
        self._candidates_dead_since = dead_since
        self._candidates_exclude = exclude
        return cached

    def _track(self, record: MemberRecord) -> None:
        self._down.pop(record.name, None)
        if record.state in (MemberState.DEAD, MemberState.LEFT):
            self._down[record.name] = None

    def gossiped(self, record: MemberRecord, now: float, gossip_to_the_dead_s: float) -> bool:
        """Whether a record still counts as a member memberlist keeps in its node list.

        Dead members leave memberlist's list ``gossip_to_the_dead_s`` after their death;
        left members stay (memberlist 0.2.2 quirk) until we drop them from the table.
        """
        return not (record.state == MemberState.DEAD
                    and now - record.state_since > gossip_to_the_dead_s)

    def all_gossiped(self, now: float, gossip_to_the_dead_s: float) -> bool:
        """Whether every record is still ``gossiped``; O(down records)."""
        records = self._records
        return all(self.gossiped(records[name], now, gossip_to_the_dead_s) for name in self._down)

    def estimated_size(self, now: float, gossip_to_the_dead_s: float) -> int:
        """memberlist's ``estNumNodes``: members in its node list, self included.

        Walks only the down records, oldest first, up to the first recent one.
        """
        expired = 0
        for name in self._down:
            r = self._records[name]
            if now - r.state_since <= gossip_to_the_dead_s:
                break
            if r.state == MemberState.DEAD:
                expired += 1
        return len(self) - expired

    def reap(self, now: float, keep_s: float, self_name: str) -> list[str]:
        """Drop dead/left records older than ``keep_s``; return their names.

        Visits only the down records (``_down``), not the whole table.
        """
        records = self._records
        gone = [
            name for name in self._down
            if name != self_name and now - records[name].state_since > keep_s
        ]
        for name in gone:
            self.remove(name)
        return gone


# --- decisions -------------------------------------------------------------------


def alive_is_old_news(record: MemberRecord | None, me: MemberRecord | None,
                      incarnation: int, addr: bytes, port: int) -> bool:
    """Whether an alive claim changes nothing (``decide_alive`` would say IGNORE): about
    a live member other than us (``me``; None: a shared record, never ours), not newer
    than what we hold, from the address we hold.
    Checked before anything is built, since most alives (rumours retransmitted, push-pull
    entries of a converged cluster) are old news."""
    return (record is not None and record is not me and incarnation <= record.incarnation
            and record.state != MemberState.DEAD and port == record.port
            and addr == record.ip_bytes)


class AliveVerdict(enum.Enum):
    IGNORE = "ignore"
    """Old news, or about ourselves and nothing new."""
    BAD_VSN = "bad_vsn"
    """Nonsense protocol range."""
    UNKNOWN_ZERO = "unknown_zero"
    """Incarnation 0 for a name we never saw: memberlist drops it, so do we."""
    NEW = "new"
    """A name we never saw: add it alive."""
    UPDATE = "update"
    """A known name with a newer incarnation (or a dead/left name moving): apply it."""
    REFUTE = "refute"
    """About ourselves but newer or different than what we announce: out-announce it."""
    CONFLICT = "conflict"
    """A live name claimed from another address: refuse, keep the record."""
    STALE = "stale"
    """Not newer than a known death: tell that node it is considered dead."""


def decide_alive(
    record: MemberRecord | None,
    *,
    incarnation: int,
    address: tuple[str, int],
    meta: bytes,
    vsn: bytes,
    is_self: bool,
    self_left: bool,
    now: float,
    dead_node_reclaim_s: float,
    accept_restart_elsewhere: bool = True,
    reaccuse_stale: bool = True,
) -> AliveVerdict:
    """What an alive message does. ``accept_restart_elsewhere`` and ``reaccuse_stale``
    are claw-node's departures (``GossipConfig.accept_restart_elsewhere``,
    ``reaccuse_stale_alives``); both false: memberlist's ``aliveNode``."""
    if is_self and self_left:
        return AliveVerdict.IGNORE  # we are leaving: nothing about us is worth refuting
    if not vsn_is_valid(vsn):
        return AliveVerdict.BAD_VSN  # a peer with no usable protocol range cannot talk
    if record is None:
        if incarnation == 0:
            return AliveVerdict.UNKNOWN_ZERO  # memberlist's "known incarnation 0" check
        return AliveVerdict.NEW
    if record.address != address:
        if record.state in (MemberState.ALIVE, MemberState.SUSPECT) or is_self:
            return AliveVerdict.CONFLICT  # two live holders of one name: keep the first
        if record.state == MemberState.LEFT:
            return AliveVerdict.UPDATE  # memberlist lets a left name move freely
        reclaimable = (dead_node_reclaim_s > 0
                       and now - record.state_since > dead_node_reclaim_s)
        if reclaimable:
            return AliveVerdict.UPDATE
        if not accept_restart_elsewhere:
            return AliveVerdict.CONFLICT  # memberlist: a dead name stays where it died
        if incarnation > record.incarnation:
            return AliveVerdict.UPDATE  # a restart elsewhere (DHCP, Tailscale): accept
        return AliveVerdict.STALE  # its old life is dead; make it refute with a higher one
    if is_self:
        if incarnation < record.incarnation:
            return AliveVerdict.IGNORE  # an old announcement of ours still circulating
        if (incarnation == record.incarnation and meta == record.meta
                and vsn == record.vsn):
            return AliveVerdict.IGNORE  # our own current announcement echoed back
        return AliveVerdict.REFUTE  # someone announces a different "us": out-announce it
    if incarnation <= record.incarnation:
        if record.state == MemberState.DEAD and reaccuse_stale:
            return AliveVerdict.STALE  # it may have restarted unaware of its death
        return AliveVerdict.IGNORE  # old incarnation numbers carry no news
    return AliveVerdict.UPDATE


class SuspectVerdict(enum.Enum):
    IGNORE = "ignore"
    CONFIRM = "confirm"
    """A suspicion is already running: count ``from`` as a confirmation."""
    RESTART = "restart"
    """claw-node: a suspicion is running but this one is about a newer incarnation (the
    suspect refuted, we missed its alive, often because this newer suspect replaced it
    in every broadcast queue, and it is accused anew): start a fresh suspicion."""
    REFUTE = "refute"
    SUSPECT = "suspect"


def decide_suspect(record: MemberRecord | None, *, incarnation: int, is_self: bool,
                   restart_newer: bool = True) -> SuspectVerdict:
    """What a suspect message does. ``restart_newer``: a newer incarnation restarts a
    running suspicion (claw-node, ``GossipConfig.restart_newer_suspicions``) instead of
    confirming it (memberlist)."""
    if record is None:
        return SuspectVerdict.IGNORE  # cannot suspect a node we do not know
    if incarnation < record.incarnation:
        return SuspectVerdict.IGNORE  # old incarnation numbers carry no news
    if record.suspicion is not None:
        if restart_newer and incarnation > record.incarnation:
            return SuspectVerdict.RESTART
        return SuspectVerdict.CONFIRM  # independent accusers shorten the timeout
    if record.state != MemberState.ALIVE:
        return SuspectVerdict.IGNORE  # already suspect, dead or left
    if is_self:
        return SuspectVerdict.REFUTE  # we are alive: say so louder
    return SuspectVerdict.SUSPECT


class DeadVerdict(enum.Enum):
    IGNORE = "ignore"
    REFUTE = "refute"
    DEAD = "dead"
    LEFT = "left"


def decide_dead(
    record: MemberRecord | None, *, incarnation: int, from_: str, is_self: bool,
    self_leaving: bool,
) -> DeadVerdict:
    if record is None:
        return DeadVerdict.IGNORE  # cannot kill a node we do not know
    if incarnation < record.incarnation:
        return DeadVerdict.IGNORE  # old incarnation numbers carry no news
    if record.state in (MemberState.DEAD, MemberState.LEFT):
        return DeadVerdict.IGNORE  # already down: nothing to re-gossip
    if is_self:
        if self_leaving:
            return DeadVerdict.IGNORE  # our own leave is applied locally, not via gossip
        return DeadVerdict.REFUTE  # we are alive: say so louder
    if from_ == record.name:
        return DeadVerdict.LEFT  # a node declaring itself dead is leaving gracefully
    return DeadVerdict.DEAD
