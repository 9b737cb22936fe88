"""Small shared types."""

from __future__ import annotations

from typing import NewType

__all__ = ["Address", "NodeName", "MemberState"]

import enum

Address = tuple[str, int]
"""(host, port): host is a textual IP address ("127.0.0.1", "::1")."""

NodeName = NewType("NodeName", str)


class MemberState(enum.IntEnum):
    """memberlist's node states; the values are the wire values of ``pushNodeState.State``."""

    ALIVE = 0
    SUSPECT = 1
    DEAD = 2
    LEFT = 3
