"""Errors of the gossip layer.

``LocalProtocolError``: the caller misused the API (raise it).
``RemoteProtocolError``: a peer sent garbage (count it, drop it, never crash).
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DecryptionFailed",
    "GossipError",
    "KeyringError",
    "LocalProtocolError",
    "MalformedPacket",
    "RemoteProtocolError",
]


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


class DecryptionFailed(MalformedPacket):
    """An encrypted datagram or stream frame could not be opened: empty, an encryption
    version above 1, too short, bad padding, or no installed key authenticates it
    (memberlist logs "Decrypt packet failed" and drops it). ``reason`` is a short fixed
    code (``empty``, ``version``, ``short``, ``padding``, ``no-key``) for counters."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class KeyringError(GossipError, ValueError):
    """A key or keyring operation was refused: a key that is not 16, 24 or 32 bytes,
    using a key that is not installed, removing the primary key. The messages are
    memberlist's, so they read the same in ``serf keys`` answers."""
