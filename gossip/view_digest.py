"""``view_digest``: one 32-bit number that two nodes share when they see the same cluster.

The CRC-32 of the sorted ``(name, incarnation, state)`` of every member. Exposed as the
``claw_view_digest`` gauge (``node.metrics``): nodes of a converged cluster report the
same value, so an alert on "more than one distinct value for a while" finds a split or
a node that stopped hearing gossip. Dead and left members count too (until reaped, which
happens at slightly different times on different nodes: a short disagreement then is
normal).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from .events import Member

__all__ = ["view_digest"]


def view_digest(members: Iterable[Member]) -> int:
    """CRC-32 (0 … 2**32-1) of ``name NUL incarnation NUL state LF`` (state: ``alive``,
    ``suspect``, ``dead``, ``left``) per member, sorted."""
    lines = sorted(f"{m.name}\0{m.incarnation}\0{m.state.name.lower()}\n" for m in members)
    return zlib.crc32("".join(lines).encode("utf-8", "surrogateescape"))
