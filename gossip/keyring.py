"""``Keyring``: the installed gossip keys, one primary, and sealing with them.

memberlist's keyring (``keyring.go``): an ordered list of distinct AES keys. The first
is the *primary*, the only key that encrypts; every key, primary first, is tried to
decrypt. That is what lets a cluster rotate keys without a partition: install the new
key everywhere (all can read it), make it primary everywhere (all write it), then remove
the old one. The operations keep memberlist's semantics and error messages:

* ``install(key)``: adds a key at the end; a no-op if present; the first key of an
  empty keyring becomes primary.
* ``use(key)``: makes an installed key primary; refused for a key not installed.
* ``remove(key)``: drops a secondary key; a no-op if absent; refused for the primary.

Sealing uses the wire layouts of reference §5 with ``gossip.encryption``:

* packets: the whole datagram is ``version | nonce | ciphertext || tag``, AAD = the
  packet label (empty: memberlist 0.2.2 and Serf 0.9.4 have no labels);
* streams: one frame ``0x0a | u32 BE length | version | nonce | ciphertext || tag``,
  AAD = the 5 header bytes, then the stream label.

Nonces come from ``random_bytes`` (default ``os.urandom``); the simulator passes its
seeded ``Random.randbytes`` so encrypted runs stay reproducible.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from .codec import encrypted_stream_header
from .encryption import (
    NONCE_BYTES,
    WRITE_VERSION,
    decrypt_payload,
    encrypt_payload,
    encrypted_length,
    new_cipher,
    validate_key,
)
from .errors import KeyringError, LocalProtocolError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["LABEL_MAX_BYTES", "Keyring", "RandomBytes"]

RandomBytes = Callable[[int], bytes]
"""A source of n random bytes (``os.urandom``, or ``random.Random(seed).randbytes``)."""

LABEL_MAX_BYTES = 255
"""Longest packet or stream label (later memberlist's ``LabelMaxSize``)."""


class Keyring:
    """The installed keys, primary first, with a cipher cached per key.

    Args:
        keys: the keys to install, primary first (the order of a keyring file);
            duplicates are dropped. Empty: no encryption (``enabled`` is False).
        random_bytes: nonce source.
    Raises:
        KeyringError: a key is not 16, 24 or 32 bytes.
    """

    __slots__ = ("_ciphers", "_keys", "_random_bytes")

    def __init__(self, keys: Iterable[bytes] = (), *, random_bytes: RandomBytes = os.urandom) -> None:
        self._keys: list[bytes] = []
        self._ciphers: dict[bytes, AESGCM] = {}
        self._random_bytes = random_bytes
        for key in keys:
            self.install(key)

    # --- the key list ----------------------------------------------------------------

    @property
    def keys(self) -> tuple[bytes, ...]:
        """Every installed key, primary first (the order decryption tries them in)."""
        return tuple(self._keys)

    @property
    def primary(self) -> bytes | None:
        """The key that encrypts, or None when the keyring is empty."""
        return self._keys[0] if self._keys else None

    @property
    def enabled(self) -> bool:
        """Whether encryption is on: at least one key (memberlist ``EncryptionEnabled``)."""
        return bool(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def copy(self) -> Keyring:
        """An independent keyring with the same keys and nonce source (to try an
        operation, persist its result, and only then apply it here)."""
        return Keyring(self._keys, random_bytes=self._random_bytes)

    def install(self, key: bytes) -> None:
        """Add ``key`` for decryption (and as primary if the keyring was empty).

        Raises:
            KeyringError: the key is not 16, 24 or 32 bytes.
        """
        validate_key(key)
        key = bytes(key)
        if key in self._ciphers:
            return
        self._ciphers[key] = new_cipher(key)
        self._keys.append(key)

    def use(self, key: bytes) -> None:
        """Make the installed ``key`` primary; the others keep their order.

        Raises:
            KeyringError: ``key`` is not installed.
        """
        key = bytes(key)
        if key not in self._ciphers:
            raise KeyringError("Requested key is not in the keyring")
        self._keys.remove(key)
        self._keys.insert(0, key)

    def remove(self, key: bytes) -> None:
        """Uninstall a secondary ``key``; nothing happens if it is not installed.

        Raises:
            KeyringError: ``key`` is the primary key.
        """
        key = bytes(key)
        if key == self.primary:
            raise KeyringError("Removing the primary key is not allowed")
        if key in self._ciphers:
            del self._ciphers[key]
            self._keys.remove(key)

    # --- sealing ---------------------------------------------------------------------

    def encrypt_packet(self, plaintext: bytes, label: bytes = b"") -> bytes:
        """Seal a whole datagram with the primary key: ``version | nonce | ct || tag``.

        Args:
            plaintext: the datagram that would otherwise be sent (after CRC and
                compression).
            label: authenticated packet label (empty for memberlist 0.2.2 / Serf 0.9.4).
        Raises:
            LocalProtocolError: the keyring is empty, or the label is too long.
        """
        return encrypt_payload(self._primary_cipher(), plaintext, self._nonce(),
                               additional_data=_label(label))

    def decrypt_packet(self, datagram: bytes, label: bytes = b"") -> bytes:
        """Open a datagram sealed by ``encrypt_packet`` (here or by memberlist).

        Raises:
            DecryptionFailed: garbage, plaintext, an unknown key or label (never any
                other exception for any bytes).
            LocalProtocolError: the label is too long.
        """
        return decrypt_payload(self._ordered_ciphers(), datagram, _label(label))

    def encrypt_stream(self, plaintext: bytes, label: bytes = b"") -> bytes:
        """Seal one stream message as a whole frame ``0x0a | u32 BE length | payload``.

        Args:
            plaintext: the stream message that would otherwise be written.
            label: authenticated stream label (empty for memberlist 0.2.2 / Serf 0.9.4).
        Raises:
            LocalProtocolError: the keyring is empty, the label is too long, or the frame
                would exceed memberlist's 20 MiB stream cap.
        """
        cipher = self._primary_cipher()
        header = encrypted_stream_header(encrypted_length(WRITE_VERSION, len(plaintext)))
        return header + encrypt_payload(cipher, plaintext, self._nonce(),
                                        additional_data=header + _label(label))

    def decrypt_stream(self, body: bytes, header: bytes, label: bytes = b"") -> bytes:
        """Open a stream frame's body; the signature of ``gossip.codec.decode_stream``'s
        ``decrypt`` seam (``decrypt(body, aad)``, ``aad`` = the 5 header bytes).

        Raises:
            DecryptionFailed: as ``decrypt_packet`` (a header that is not the one the
                sender sealed with fails authentication too).
            LocalProtocolError: the label is too long.
        """
        return decrypt_payload(self._ordered_ciphers(), body, bytes(header) + _label(label))

    # --- internals -------------------------------------------------------------------

    def _primary_cipher(self) -> AESGCM:
        if not self._keys:
            raise LocalProtocolError("cannot encrypt: the keyring has no keys")
        return self._ciphers[self._keys[0]]

    def _ordered_ciphers(self) -> list[AESGCM]:
        return [self._ciphers[key] for key in self._keys]

    def _nonce(self) -> bytes:
        return self._random_bytes(NONCE_BYTES)  # encrypt_payload checks its length

    def __repr__(self) -> str:
        # Never the keys themselves: a repr ends up in logs.
        return f"Keyring({len(self._keys)} keys)"


def _label(label: bytes) -> bytes:
    if len(label) > LABEL_MAX_BYTES:
        raise LocalProtocolError(f"label of {len(label)} bytes exceeds {LABEL_MAX_BYTES}")
    return bytes(label)
