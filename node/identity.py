"""Who keeps a node id that two processes claim: the rule, without I/O.

Each data dir holds a random node UUID made at its first start (``NodeStore
.claim_node_uuid``), carried in the node's metadata (tag ``id``). The gossip core keeps
the first live holder of a name and reports any other claim as a ``NameConflict``
(memberlist's rule: a live name never moves to another address). When the claim is
about *this* node's own name, the agent asks ``resolve`` what to do, knowing the other
holder's UUID and start time (from its metadata) and whether its address still answers
a probe for the name:

* same UUID, other address silent: the other is this node's own previous life (the same
  data dir restarted on another address, say after a DHCP change or a move to another
  machine). Keep running; once the cluster declares the old life dead, the core applies
  the claim it refused and the name moves to the new address (``RESTART``).
* otherwise it is a conflict: another UUID (another data dir), or the same UUID while the
  other address still answers (a machine image cloned after its first start copies the
  data dir). The node that joined later gives the name up: it exits with
  ``exit_codes.IDENTITY_CONFLICT`` without leaving (a leave would announce the *name*
  dead, that is, the live holder), so nothing it leaves behind marks the holder down.

"Joined later" is known to a node still joining: the conflict came in the answer to its
own join (the cluster already holds the name), so it yields at once (``YIELD``). A node
that was already a member keeps the name unless the other was a member too (a healed
partition, two nodes started together through different seeds); then the earlier
``started_at`` keeps it, then the smaller UUID (then the smaller address, so two nodes
never both win). The member that ranks second does not yield on the spot: the other may
be a joiner about to yield, so it probes the other address again after
``RECHECK_AFTER_S`` and yields only if it still answers (``RECHECK``). The keeper
announces itself above the other's incarnation, so no suspicion or death of the other's
life (gossiped at that incarnation) can apply to the keeper's record.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from gossip.types import Address

from .advertise import host_port
from .metadata import decode_meta

__all__ = ["RECHECK_AFTER_S", "Holder", "Resolution", "conflict_line", "holder_of", "resolve"]

RECHECK_AFTER_S = 15.0
"""Seconds a member that ranks second waits before probing the other holder again (and
yielding if it still answers): longer than a joiner needs to probe, yield and stop (its
probe is bounded by gossip's TCP timeout, 10 s in the LAN profile)."""


class Holder(NamedTuple):
    """One process holding a node id: its data dir's UUID, start time and address."""

    uuid: bytes
    """The data dir's node UUID; b"" for a node that sends none (older claw-node, Serf)."""
    started_at: float
    """Unix seconds, millisecond resolution (as the metadata carries it)."""
    address: Address


def holder_of(meta: bytes, address: Address) -> Holder:
    """The holder described by a member's raw metadata, at ``address``."""
    facts = decode_meta(meta)
    return Holder(uuid=facts.uuid, started_at=facts.started_at, address=address)


class Resolution(enum.Enum):
    KEEP = "keep"
    """Keep the name; announce above the other's incarnation."""
    RESTART = "restart"
    """The other is our own previous life: keep running, the cluster moves the name."""
    YIELD = "yield"
    """Give the name up: exit ``IDENTITY_CONFLICT`` without leaving."""
    RECHECK = "recheck"
    """Probe the other again after ``RECHECK_AFTER_S``, then resolve with ``rechecked``."""


def _rank(h: Holder) -> tuple[float, bytes, tuple[str, int]]:
    return (h.started_at, h.uuid, h.address)


def resolve(mine: Holder, other: Holder, *, other_answers: bool, joining: bool,
            rechecked: bool = False) -> Resolution:
    """What this node (``mine``) does about ``other`` holding its name.

    Args:
        other_answers: the other address answered a probe for the name.
        joining: this node had not finished joining when the claim arrived (it came in
            the answer to its own join).
        rechecked: this is the second look after ``RECHECK``.
    """
    if mine.uuid and mine.uuid == other.uuid and not other_answers:
        return Resolution.RESTART
    if joining:
        return Resolution.YIELD
    if not other_answers or _rank(mine) < _rank(other):
        return Resolution.KEEP
    return Resolution.YIELD if rechecked else Resolution.RECHECK


def conflict_line(node_id: str, other: Holder, *, same_uuid: bool) -> str:
    """The one line a yielding node logs: the conflict, the live holder, the fix."""
    where = host_port(*other.address)
    copied = (" (it has this data dir's UUID: the data dir was copied, e.g. a cloned "
              "machine image; also give this node a fresh --data-dir)") if same_uuid else ""
    return (f"identity conflict: node id {node_id!r} is already used by the live node at "
            f"{where}{copied}; start this node with a unique --node-id NAME "
            f"(the default id is the host name)")
