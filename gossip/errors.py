"""Errors of the gossip layer.

``LocalProtocolError``: the caller misused the API (raise it).
``RemoteProtocolError``: a peer sent garbage (count it, drop it, never crash).
"""

from __future__ import annotations

__all__ = ["GossipError", "ConfigError", "LocalProtocolError", "RemoteProtocolError", "MalformedPacket"]


class GossipError(Exception):
    """Base class of every error raised by ``gossip``."""


class ConfigError(GossipError, ValueError):
    """A configuration value is out of range; the message names the field."""


class LocalProtocolError(GossipError):
    """The API was misused by the local caller (a bug in the caller)."""


class RemoteProtocolError(GossipError):
    """Bytes from the network could not be accepted."""


class MalformedPacket(RemoteProtocolError):
    """A datagram or stream could not be decoded (truncated, oversized, mistyped, ...)."""
