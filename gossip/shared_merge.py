"""Which entries of a push-pull a copy-on-write member table must look at.

A table built from a ``SharedTable`` (``Membership.from_shared``: the simulator's
converged start) holds the shared record itself for every name it has not changed. A
push-pull entry that is old news against that shared record (``alive_is_old_news``) is
old news for every such table, so merging it changes nothing; and in a converged cluster
every node sends nearly the same push-pull, decoded once into one shared object
(``stream_memo``). So which entries are news against the shared table is worked out once
per (push-pull, shared table), and each merge looks only at those plus the entries
naming one of its own changed names: O(news + changes) per merge instead of O(members).

Every entry of a name touched by news is kept, in the push-pull's order, so applying one
entry can never turn a skipped one of the same name into news. A table not built from a
shared one merges every entry, as before.

Serf's half (``join_statuses_to_merge``) works the same way on the status LTimes of the
user state (``SerfPushPull``, shared through ``stream_memo.decode_user_state``): a status
not newer than the shared record's changes nothing but the Lamport clock, which only
keeps the greatest LTime witnessed, so the skipped ones are witnessed as their maximum.
"""

from __future__ import annotations

from collections.abc import Sequence

from .membership import Membership, SharedTable, alive_is_old_news
from .messages import PushNodeState, SerfPushPull
from .types import MemberState

__all__ = ["MEMO_ENTRIES", "entries_to_merge", "join_statuses_to_merge"]

MEMO_ENTRIES = 16
"""Push-pulls remembered per shared table (oldest forgotten first): a converged cluster
has a few distinct ones in flight at a time."""


class _News:
    """One push-pull's entries, read against a shared table."""

    __slots__ = ("nodes", "news", "positions")

    def __init__(self, nodes: Sequence[PushNodeState], shared: SharedTable, bind_port: int) -> None:
        self.nodes = nodes  # held, so the memo's id() key stays this object's
        self.positions: dict[str, list[int]] = {}
        """Name → indices of its entries."""
        news: dict[str, None] = {}
        records = shared.records
        alive = MemberState.ALIVE
        for i, ns in enumerate(nodes):
            self.positions.setdefault(ns.name, []).append(i)
            if not (ns.state == alive and alive_is_old_news(
                    records.get(ns.name), None, ns.incarnation, ns.addr, ns.port or bind_port)):
                news[ns.name] = None
        self.news = news.keys()
        """Names with an entry that is news against the shared records."""


def entries_to_merge(members: Membership, nodes: Sequence[PushNodeState],
                     bind_port: int) -> Sequence[PushNodeState]:
    """The entries of ``nodes`` (a push-pull's, in order) that ``members`` must merge:
    all of them, unless ``members`` shares records with a ``SharedTable``; then the
    entries of every name that is news against the shared table or that ``members``
    changed (the others name a shared record the entry does not change).

    ``bind_port`` is the port an entry without one means (``GossipConfig.bind_port``).
    """
    view = members.shared_view()
    if view is None:
        return nodes
    shared, changed = view
    news = _news(shared, nodes, bind_port)
    picked: list[int] = []
    for name in news.news:
        picked.extend(news.positions[name])
    for name in changed:
        if name not in news.news:
            picked.extend(news.positions.get(name, ()))
    picked.sort()
    return [nodes[i] for i in picked]


def _news(shared: SharedTable, nodes: Sequence[PushNodeState], bind_port: int) -> _News:
    memo = shared.merge_memo
    key = (id(nodes), bind_port)
    found = memo.get(key)
    if isinstance(found, _News) and found.nodes is nodes:
        return found
    news = _News(nodes, shared, bind_port)
    memo.pop(key, None)
    if len(memo) >= MEMO_ENTRIES:
        del memo[next(iter(memo))]
    memo[key] = news
    return news


class _StatusNews:
    """One Serf push-pull's join statuses (its members not left), read against a shared
    table."""

    __slots__ = ("state", "order", "news", "old_max")

    def __init__(self, state: SerfPushPull, shared: SharedTable) -> None:
        self.state = state  # held, so the memo's id() key stays this object's
        left = set(state.left_members)
        records = shared.records
        self.order: dict[str, int] = {}
        """Name → position among the statuses merged (those not left)."""
        self.news: list[str] = []
        """Names whose status is news against the shared records, in order."""
        self.old_max = -1
        """Greatest LTime of the other statuses (-1: none)."""
        for name, ltime in state.status_ltimes.items():
            if name in left:
                continue
            self.order[name] = len(self.order)
            rec = records.get(name)
            if rec is None or ltime > rec.status_ltime:
                self.news.append(name)
            elif ltime > self.old_max:
                self.old_max = ltime


def join_statuses_to_merge(members: Membership,
                           state: SerfPushPull) -> tuple[list[tuple[str, int]], int]:
    """The join statuses of ``state`` (those of members not left, in order) that
    ``members`` must merge, and the greatest LTime among the others (-1: none), which
    the caller witnesses instead: all statuses unless ``members`` shares records with a
    ``SharedTable``; then those of names that are news against it or that ``members``
    changed."""
    view = members.shared_view()
    left = state.left_members
    if view is None:
        gone = set(left)
        return [(n, t) for n, t in state.status_ltimes.items() if n not in gone], -1
    shared, changed = view
    memo = shared.merge_memo
    key = (id(state), -1)
    found = memo.get(key)
    if not isinstance(found, _StatusNews) or found.state is not state:
        found = _StatusNews(state, shared)
        memo.pop(key, None)
        if len(memo) >= MEMO_ENTRIES:
            del memo[next(iter(memo))]
        memo[key] = found
    order, names = found.order, list(found.news)
    news = set(names)
    names.extend(n for n in changed if n in order and n not in news)
    names.sort(key=order.__getitem__)
    ltimes = state.status_ltimes
    return [(n, ltimes[n]) for n in names], found.old_max
