"""memberlist's encrypted payload: ``version | nonce | AES-GCM ciphertext || tag``.

The format of memberlist 0.2.2 (``security.go``; reference §5), byte for byte:

* ``version`` (1 byte): 0 = the plaintext is PKCS#7-padded to a 16-byte multiple before
  sealing (1 to 16 pad bytes, a whole block when already aligned), 1 = no padding.
  memberlist writes 0 only at protocol version 1; Serf always speaks protocol 2, so
  Serf always writes 1, and so do we. Both are read.
* ``nonce`` (12 bytes): fresh random bytes per message, from the caller's source.
* AES-GCM over the (padded) plaintext with a 16-byte tag appended. The key length picks
  AES-128, AES-192 or AES-256 (16, 24 or 32 bytes; ``serf keygen`` makes 32).

The additional authenticated data is the caller's: packets use the packet label (empty
in memberlist 0.2.2, which has no labels), stream frames use their 5-byte header
``0x0a | u32 BE length`` followed by the stream label (empty in 0.2.2). Later memberlist
releases (with ``label.go``) authenticate the label exactly that way, so a label given
here interoperates with them; a 0.2.2 peer only ever sees the empty label.

Pure functions over ``cryptography``'s ``AESGCM`` (imported on first use: it costs an
agent ~6 MiB that an unencrypted cluster never needs). Nothing here reads a clock or a
global random source: the nonce is a parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .errors import DecryptionFailed, KeyringError, LocalProtocolError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "KEY_SIZES",
    "NONCE_BYTES",
    "PACKET_OVERHEAD",
    "TAG_BYTES",
    "VERSION_PADDED",
    "VERSION_UNPADDED",
    "WRITE_VERSION",
    "decrypt_payload",
    "encrypt_overhead",
    "encrypt_payload",
    "encrypted_length",
    "new_cipher",
    "validate_key",
]

KEY_SIZES = (16, 24, 32)
"""Valid key lengths in bytes (AES-128, AES-192, AES-256); memberlist ``ValidateKey``."""
NONCE_BYTES = 12
"""GCM nonce length (bytes), written after the version byte."""
TAG_BYTES = 16
"""GCM authentication tag length (bytes), appended to the ciphertext."""
VERSION_PADDED = 0
"""Encryption version 0: PKCS#7 padding to 16-byte blocks (read only)."""
VERSION_UNPADDED = 1
"""Encryption version 1: no padding (what Serf and claw-node write)."""
WRITE_VERSION = VERSION_UNPADDED
"""The version claw-node writes."""
_BLOCK_BYTES = 16

PACKET_OVERHEAD = 1 + NONCE_BYTES + TAG_BYTES
"""Bytes an encrypted datagram adds to its plaintext at ``WRITE_VERSION`` (29): the
packet budget for gossip shrinks by this much when encryption is on."""


def validate_key(key: bytes) -> None:
    """Check a key's length.

    Raises:
        KeyringError: the key is not 16, 24 or 32 bytes (memberlist's message).
    """
    if not isinstance(key, (bytes, bytearray)) or len(key) not in KEY_SIZES:
        raise KeyringError("key size must be 16, 24 or 32 bytes")


def new_cipher(key: bytes) -> AESGCM:
    """An AES-GCM cipher for ``key`` (validated first).

    Raises:
        KeyringError: the key is not 16, 24 or 32 bytes.
    """
    validate_key(key)
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(bytes(key))


def encrypted_length(version: int, plaintext_len: int) -> int:
    """Size of the sealed payload for a plaintext of ``plaintext_len`` bytes
    (memberlist ``encryptedLength``): ``1 + 12 + n + 16``, plus ``16 - n % 16`` pad
    bytes at version 0."""
    padding = _BLOCK_BYTES - plaintext_len % _BLOCK_BYTES if version == VERSION_PADDED else 0
    return 1 + NONCE_BYTES + plaintext_len + padding + TAG_BYTES


def encrypt_overhead(version: int) -> int:
    """Most bytes sealing adds at ``version`` (memberlist ``encryptOverhead``): 45 at
    version 0 (a full pad block), 29 at version 1.

    Raises:
        LocalProtocolError: an unknown version.
    """
    if version not in (VERSION_PADDED, VERSION_UNPADDED):
        raise LocalProtocolError(f"unsupported encryption version {version}")
    return encrypted_length(version, 0)


def encrypt_payload(cipher: AESGCM, plaintext: bytes, nonce: bytes, *,
                    additional_data: bytes = b"", version: int = WRITE_VERSION) -> bytes:
    """Seal ``plaintext``: ``version | nonce | AES-GCM(padded plaintext) || tag``.

    Args:
        cipher: from ``new_cipher(key)`` (the primary key).
        plaintext: the bytes that would otherwise be sent.
        nonce: 12 fresh random bytes; never reuse one with the same key.
        additional_data: authenticated but not sent (packet or stream AAD).
        version: 1 (default) or 0 (PKCS#7-padded, for peers at protocol version 1).
    Raises:
        LocalProtocolError: a nonce that is not 12 bytes, or an unknown version.
    """
    if len(nonce) != NONCE_BYTES:
        raise LocalProtocolError(f"nonce must be {NONCE_BYTES} bytes, got {len(nonce)}")
    if version == VERSION_PADDED:
        pad = _BLOCK_BYTES - len(plaintext) % _BLOCK_BYTES
        plaintext = bytes(plaintext) + bytes([pad]) * pad
    elif version != VERSION_UNPADDED:
        raise LocalProtocolError(f"unsupported encryption version {version}")
    sealed = cipher.encrypt(bytes(nonce), bytes(plaintext), bytes(additional_data))
    return bytes([version]) + bytes(nonce) + sealed


def decrypt_payload(ciphers: Sequence[AESGCM], payload: bytes, additional_data: bytes = b"") -> bytes:
    """Open a sealed payload with the first of ``ciphers`` that authenticates it
    (memberlist ``decryptPayload``: the primary first, then the others in order).

    Args:
        ciphers: one per installed key, primary first.
        payload: ``version | nonce | ciphertext || tag`` as received.
        additional_data: the AAD the sender authenticated.
    Returns:
        The plaintext, padding removed.
    Raises:
        DecryptionFailed: empty payload, version above 1, shorter than the minimum for
            its version, no cipher authenticates it, or (version 0) bad padding. Never
            any other exception, whatever the bytes.
    """
    payload = bytes(payload)
    if not payload:
        raise DecryptionFailed("empty", "cannot decrypt an empty payload")
    version = payload[0]
    if version > VERSION_UNPADDED:
        raise DecryptionFailed("version", f"unsupported encryption version {version}")
    if len(payload) < encrypted_length(version, 0):
        raise DecryptionFailed("short", f"payload of {len(payload)} bytes is too small to "
                                        f"decrypt")
    if not ciphers:
        raise DecryptionFailed("no-key", "no installed key could decrypt the message")
    from cryptography.exceptions import InvalidTag

    nonce, sealed, aad = payload[1:1 + NONCE_BYTES], payload[1 + NONCE_BYTES:], bytes(additional_data)
    for cipher in ciphers:
        try:
            plain = cipher.decrypt(nonce, sealed, aad)
        except InvalidTag:
            continue
        return _unpad(plain) if version == VERSION_PADDED else plain
    raise DecryptionFailed("no-key", "no installed key could decrypt the message")


def _unpad(plain: bytes) -> bytes:
    """Strip PKCS#7 padding. Go reads only the last byte (and would panic past the start);
    an authenticated sender always writes 1..16 equal bytes, so anything else is refused."""
    pad = plain[-1] if plain else 0
    if not 1 <= pad <= min(_BLOCK_BYTES, len(plain)) or plain[-pad:] != bytes([pad]) * pad:
        raise DecryptionFailed("padding", "bad PKCS#7 padding in a version 0 payload")
    return plain[:-pad]
