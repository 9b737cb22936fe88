"""Bounds and enums of the API's data contract, without pydantic.

``api/models.py`` (pydantic) re-exports these; ``api/registry.py`` and the agent's gossip
path use them from here, so an agent that serves no API request never imports pydantic.
"""

from __future__ import annotations

import enum

__all__ = [
    "ARCHES",
    "MAX_ADDRESS_CHARS",
    "MAX_HOSTNAME_CHARS",
    "MAX_LABEL_CHARS",
    "MAX_NODE_ID_CHARS",
    "MAX_SKILLS",
    "MAX_TAGS",
    "MAX_TASKS",
    "NODE_ID_PATTERN",
    "PLATFORMS",
    "RESERVED_NODE_IDS",
    "NodeStatus",
]


# --- bounds (units in the names) -------------------------------------------------------

MAX_HOSTNAME_CHARS = 253
"""DNS name limit; the seed only asks for non-empty."""
MAX_NODE_ID_CHARS = 128
"""A node id is a path segment and a gossip key: short and URL-safe."""
NODE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
"""Characters allowed in a client-chosen node id (URL-safe, no slashes)."""
RESERVED_NODE_IDS = frozenset({"online", "skills", "register"})
"""Ids a client may not choose: ``/api/v1/nodes/<id>`` would be shadowed by a fixed route."""
MAX_SKILLS = 64
"""At most this many ``available_skills`` per node (the record travels through gossip)."""
MAX_TAGS = 32
"""At most this many ``tags`` per node."""
MAX_LABEL_CHARS = 64
"""Longest skill or tag, in characters."""
MAX_ADDRESS_CHARS = 64
"""Longest ``ip_address`` / ``tailscale_ip`` text (an IPv6 address with zone fits)."""
MAX_TASKS = 1_000_000
"""Upper bound for task counters and ``max_concurrent_tasks`` (sanity, not policy)."""


# --- enums -----------------------------------------------------------------------------


class NodeStatus(str, enum.Enum):  # noqa: UP042 - StrEnum would change str(member)
    """The seed's node status."""

    ONLINE = "online"
    OFFLINE = "offline"
    BUSY = "busy"
    MAINTENANCE = "maintenance"
    ERROR = "error"


PLATFORMS: tuple[str, ...] = ("macos", "windows", "linux")
ARCHES: tuple[str, ...] = ("x64", "arm64", "x86", "arm")
