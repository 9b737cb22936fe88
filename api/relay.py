"""A write on its way to the coordinator, as plain data (``api.forwarding`` moves it).

Kept free of aiohttp so the agent can pack and unpack relayed writes (``node.peer_requests``)
before its REST stack is loaded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = [
    "FORWARDED_HEADER", "FORWARDED_REQUEST_HEADERS", "MAX_RELAY_BYTES", "ForwardedAnswer",
    "ForwardedWrite", "WriteForwarder",
]

FORWARDED_HEADER = "X-Claw-Forwarded-By"
"""Set on a replayed write (the relaying node's id); a node never relays twice."""
FORWARDED_REQUEST_HEADERS = ("Content-Type", "Authorization", "Accept")
"""The request headers that travel with a relayed write (the token among them)."""
MAX_RELAY_BYTES = 1024 * 1024
"""Largest coordinator answer relayed back (bytes); the channel's reply limit."""


@dataclass(frozen=True, slots=True)
class ForwardedWrite:
    """One HTTP write as it travels to the coordinator."""

    method: str
    path: str
    """The raw path with its query string."""
    headers: tuple[tuple[str, str], ...]
    body: bytes
    relayed_by: str
    """The node id of the node that received it from the client."""


@dataclass(frozen=True, slots=True)
class ForwardedAnswer:
    """The coordinator's answer to a ``ForwardedWrite``, relayed unchanged."""

    status: int
    content_type: str
    body: bytes


WriteForwarder = Callable[[ForwardedWrite, float], Awaitable[ForwardedAnswer]]
"""Carries a write to the coordinator within the given seconds and returns its answer.

Raises ``Unavailable`` (naming the coordinator and the reason) when it cannot."""
