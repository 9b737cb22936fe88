"""``WireEncryption``: the core's outermost layer, what it seals and what it accepts.

memberlist 0.2.2 (``net.go``) encrypts outside everything else, and so does the core:

* **Datagrams out**: after compression and CRC, the whole datagram is sealed with the
  primary key (``Keyring.encrypt_packet``) when keys are installed and
  ``gossip_verify_outgoing`` is on. The packing budget shrinks by ``PACKET_OVERHEAD``
  (29 bytes) whenever keys are installed (``packet_budget``), as memberlist's gossip
  does, so a sealed datagram still fits ``udp_buffer_bytes``.
* **Datagrams in**: with keys, every installed key is tried. A datagram none opens is
  counted against its source and dropped when ``gossip_verify_incoming`` is on, and read
  as plaintext when it is off (the middle steps of a migration to encryption).
* **Streams** (push-pull both ways, TCP ping and ack, error replies, the request
  channel): every message the core writes is sealed as one ``0x0a | u32 length`` frame
  under the same condition as datagrams; every message it reads goes through
  ``open_stream``, which refuses with memberlist's own ``readStream`` errors: "Remote
  state is encrypted and encryption is not configured" (no keys) and "Encryption is
  configured but remote state is not encrypted" (plaintext while verifying incoming).
  Frames larger than ``max_stream_bytes`` are refused before decrypting.

Failures go to ``failures`` (``DecryptFailures``), datagrams by source address and port
(a peer's gossip port), streams by source address with port 0 (a TCP client's port is a
new ephemeral one per connection, so it would make every stream a new source).

The keyring is shared, not copied: a key installed, used or removed on it (rotation)
takes effect on the next message.
Without keys every method returns its input unchanged, so an unencrypted core sends
exactly the bytes it sent before encryption existed.
"""

from __future__ import annotations

from .codec import MAX_PUSH_STATE_BYTES
from .decrypt_failures import DecryptFailures
from .encryption import PACKET_OVERHEAD
from .errors import DecryptionFailed, MalformedPacket
from .keyring import Keyring
from .types import Address

__all__ = ["ENCRYPTED_STREAM_TYPE", "NOT_CONFIGURED", "NOT_ENCRYPTED", "WireEncryption"]

ENCRYPTED_STREAM_TYPE = 10
"""memberlist ``encryptMsg``: the first byte of an encrypted stream frame."""
NOT_CONFIGURED = "Remote state is encrypted and encryption is not configured"
"""memberlist's ``readStream`` error for an encrypted stream reaching a node without keys."""
NOT_ENCRYPTED = "Encryption is configured but remote state is not encrypted"
"""memberlist's ``readStream`` error for a plaintext stream while verifying incoming."""
_FRAME_HEADER_BYTES = 5


class WireEncryption:
    """Seal outgoing datagrams and streams, open incoming ones, count what fails.

    Args:
        keyring: the installed keys (shared with whoever rotates them); None or empty:
            no encryption.
        verify_incoming: refuse what does not decrypt (memberlist
            ``GossipVerifyIncoming``); off: accept plaintext too.
        verify_outgoing: seal what we send (memberlist ``GossipVerifyOutgoing``).
        max_stream_bytes: largest encrypted stream frame accepted.
    """

    __slots__ = ("failures", "keyring", "max_stream_bytes", "verify_incoming",
                 "verify_outgoing")

    def __init__(self, keyring: Keyring | None, *, verify_incoming: bool = True,
                 verify_outgoing: bool = True,
                 max_stream_bytes: int = MAX_PUSH_STATE_BYTES) -> None:
        self.keyring = keyring
        self.verify_incoming = verify_incoming
        self.verify_outgoing = verify_outgoing
        self.max_stream_bytes = max_stream_bytes
        self.failures = DecryptFailures()

    @property
    def enabled(self) -> bool:
        """Keys are installed (memberlist ``EncryptionEnabled``)."""
        return self.keyring is not None and self.keyring.enabled

    @property
    def sealing(self) -> bool:
        """What we send is encrypted: keys installed and ``verify_outgoing``."""
        return self.verify_outgoing and self.enabled

    def packet_overhead(self) -> int:
        """Bytes to keep free in every datagram for sealing: 29 with keys, else 0."""
        return PACKET_OVERHEAD if self.enabled else 0

    # --- datagrams -------------------------------------------------------------------

    def seal_packet(self, datagram: bytes) -> bytes:
        """The datagram as sent: sealed with the primary key, or unchanged."""
        if not self.sealing:
            return datagram
        return self.keyring.encrypt_packet(datagram)  # type: ignore[union-attr]

    def open_packet(self, datagram: bytes, source: Address, now: float) -> bytes | None:
        """The plaintext of a received datagram, or None to drop it (counted)."""
        opened = self.open_datagram(datagram, source, now)
        return None if opened is None else opened[0]

    def open_datagram(self, datagram: bytes, source: Address,
                      now: float) -> tuple[bytes, bool] | None:
        """As ``open_packet``, with whether the datagram was sealed under one of our
        keys: (plaintext, encrypted), or None to drop it (counted)."""
        if not self.enabled:
            return datagram, False
        try:
            return self.keyring.decrypt_packet(datagram), True  # type: ignore[union-attr]
        except DecryptionFailed as exc:
            if not self.verify_incoming:
                return datagram, False  # migration: plaintext peers are still accepted
            self.failures.record(source, exc.reason, now)
            return None

    # --- streams ---------------------------------------------------------------------

    def seal_stream(self, message: bytes) -> bytes:
        """One stream message as written: a sealed frame, or unchanged.

        Raises:
            LocalProtocolError: the message is too large to seal (20 MiB).
        """
        if not self.sealing:
            return message
        return self.keyring.encrypt_stream(message)  # type: ignore[union-attr]

    def stream_was_sealed(self, data: bytes) -> bool:
        """Whether a stream message ``open_stream`` accepted was sealed under one of our
        keys (rather than plaintext accepted while ``verify_incoming`` is off)."""
        return self.enabled and bool(data) and data[0] == ENCRYPTED_STREAM_TYPE

    def open_stream(self, data: bytes, source: Address, now: float) -> bytes:
        """The plaintext stream message inside ``data`` (one complete message).

        Raises:
            MalformedPacket: memberlist's refusals (``NOT_CONFIGURED``,
                ``NOT_ENCRYPTED``), a frame over ``max_stream_bytes`` or truncated, or
                ``DecryptionFailed``; each is counted against ``source``.
        """
        source = (source[0], 0)  # a TCP source port is ephemeral: count per host
        encrypted = bool(data) and data[0] == ENCRYPTED_STREAM_TYPE
        if not encrypted:
            if self.enabled and self.verify_incoming:
                self.failures.record(source, "plaintext", now, stream=True)
                raise MalformedPacket(NOT_ENCRYPTED)
            return data
        if not self.enabled:
            self.failures.record(source, "not-configured", now, stream=True)
            raise MalformedPacket(NOT_CONFIGURED)
        header = bytes(data[:_FRAME_HEADER_BYTES])
        length = int.from_bytes(header[1:], "big") if len(header) == _FRAME_HEADER_BYTES else -1
        if not 0 <= length <= self.max_stream_bytes or len(data) < _FRAME_HEADER_BYTES + length:
            self.failures.record(source, "short", now, stream=True)
            raise MalformedPacket("encrypted stream: bad or truncated frame length")
        body = data[_FRAME_HEADER_BYTES:_FRAME_HEADER_BYTES + length]
        try:
            return self.keyring.decrypt_stream(body, header)  # type: ignore[union-attr]
        except DecryptionFailed as exc:
            self.failures.record(source, exc.reason, now, stream=True)
            raise
