"""Our push-pull from a copy-on-write member table, without a pass per member.

A table built from a ``SharedTable`` (``Membership.from_shared``: the simulator's
converged start) usually lists exactly the shared records, in the shared order, except
for the few names it changed (``Membership.shared_view``). Its push-pull entries and
Serf status LTimes are then the shared table's own, built once for every table, with
the changed names' entries put in place: Python work O(changes) per push-pull instead
of O(members) (the shared list and map are still copied, at C speed).
Which is checked, not assumed: when the records are not laid out that way (a name
removed or added, a dead one no longer gossiped), ``over_shared`` says so and the
caller builds entry by entry, as a table without a shared one always does. The result
is the same either way, to the byte.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from .membership import MemberRecord, SharedTable
from .messages import PushNodeState
from .types import MemberState

__all__ = ["over_shared"]


def over_shared(records: list[MemberRecord], shared: SharedTable, changed: Collection[str],
                entry: Callable[[MemberRecord], PushNodeState],
                ) -> tuple[tuple[PushNodeState, ...], dict[str, int], tuple[str, ...]] | None:
    """The push-pull entries, Serf status LTimes and left names of ``records`` (what
    ``build_push_pull`` and ``SerfLayer.local_state`` would make of them), or None when
    ``records`` are not the shared order with only ``changed`` names differing.

    ``changed``: the names whose record may differ from the shared one (the second half
    of ``Membership.shared_view``); ``entry``: a record's push-pull entry (for a shared
    record, the one memoised on ``shared``).
    """
    order = shared.order
    if len(records) != len(order):
        return None
    position = shared.position
    places = []
    for name in changed:
        i = position.get(name)
        # Only a name missing from its place (removed, or no longer gossiped) shifts
        # the ones after it, and every missing name is a changed one: so if each
        # changed name is in its place, so is every other, and nothing was added.
        if i is None or records[i].name != name:
            return None
        places.append(i)
    places.sort()
    entries, statuses = _shared_state(shared, entry)
    nodes = list(entries)
    status = dict(statuses)
    left = []
    for i in places:
        r = records[i]
        nodes[i] = entry(r)
        status[r.name] = r.status_ltime
        if r.state == MemberState.LEFT:
            left.append(r.name)
    return tuple(nodes), status, tuple(left)


def _shared_state(shared: SharedTable, entry: Callable[[MemberRecord], PushNodeState],
                  ) -> tuple[tuple[PushNodeState, ...], dict[str, int]]:
    """Every shared record's entry and status LTime, in order (built once per table)."""
    memo = shared.push_pull_state
    if memo is None:
        memo = shared.push_pull_state = (
            tuple(map(entry, shared.order)),
            {r.name: r.status_ltime for r in shared.order},
        )
    return memo
