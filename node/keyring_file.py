"""The gossip keys a user gives and the keyring file that keeps them across restarts.

Keys are written as ``serf keygen`` prints them: standard base64 with padding (Go's
``base64.StdEncoding``) of 16, 24 or 32 random bytes.

The keyring file is Serf's format (``serf/serf.go`` ``writeKeyringFile``,
``cmd/serf/command/agent/agent.go`` ``loadKeyringFile``): a JSON array of base64 keys,
primary first, indented by two spaces, mode 0600. ``serf agent -keyring-file`` and
claw-node can therefore share one file. It lives in the data dir as ``keyring.json``;
every write is validated first, then atomic (temporary file, fsync, rename, fsync of the
directory), so a crash leaves the old keyring or the new one, never a torn file.

``--encrypt KEY`` and a persisted keyring are reconciled by ``settle_keyring``:

========================  ===========================  ====================================
``--encrypt``             keyring file                  result
========================  ===========================  ====================================
not given                 absent                        no encryption
given                     absent                        file created with KEY; KEY primary
not given                 present                       the file's keys
KEY                       present, holds KEY            the file's keys (primary: the file's)
KEY                       present, lacks KEY            ``KeyConflict`` naming both
========================  ===========================  ====================================

Deliberate differences: Serf refuses ``-encrypt`` together with ``-keyring-file``
whatever they hold ("Encryption key not allowed while using a keyring") and never
creates the file; Consul silently prefers an existing file over ``-encrypt``. Here the
flag may stay in a unit file across rotations as long as the keyring still holds it (a
node restarted mid-rotation with the old flag comes back with the rotated keyring rather
than failing), and a flag the keyring does not know is an error, never overridden.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gossip.encryption import KEY_SIZES, validate_key
from gossip.errors import KeyringError

__all__ = [
    "KEYRING_FILE", "KeyConflict", "KeyringFileError", "SettledKeyring", "decode_key",
    "encode_key", "fingerprint", "new_key", "parse_keyring", "read_keyring_file",
    "settle_keyring", "write_keyring_file",
]

KEYRING_FILE = "keyring.json"
"""The keyring file's name in the data dir."""
NEW_KEY_BYTES = 32
"""Length of a generated key (AES-256, as ``serf keygen``)."""
_MAX_FILE_BYTES = 64 * 1024
"""Largest keyring file read (a key takes ~50 bytes; thousands fit)."""


class KeyringFileError(ValueError):
    """The keyring file cannot be read, parsed or written; the message names the path."""


class KeyConflict(ValueError):
    """The ``--encrypt`` key is not in the persisted keyring; the message names both."""


def decode_key(text: str) -> bytes:
    """A base64 key (surrounding whitespace ignored) → its bytes.

    Raises:
        ValueError: not padded standard base64, or not 16, 24 or 32 bytes once decoded.
            The message never contains the key.
    """
    if not isinstance(text, str):
        raise ValueError("a key must be a base64 string")  # noqa: TRY004 (config checks catch ValueError)
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not a base64 key (standard alphabet with '=' padding, as "
                         "'claw-node keygen' prints)") from None
    if len(key) not in KEY_SIZES:
        raise ValueError(f"the key is {len(key)} bytes once decoded; it must be 16, 24 or "
                         f"32 (as 'claw-node keygen' prints)")
    return key


def encode_key(key: bytes) -> str:
    """A key's base64 text (the form of ``--encrypt`` and of the keyring file)."""
    return base64.b64encode(key).decode("ascii")


def new_key() -> str:
    """A fresh random 32-byte key as base64 (what ``claw-node keygen`` prints)."""
    return encode_key(os.urandom(NEW_KEY_BYTES))


def fingerprint(key: bytes) -> str:
    """A short public name for a key in messages and logs: ``sha256:`` and the first 8
    hex digits of its SHA-256 (never the key itself)."""
    import hashlib  # here: hashlib loads libcrypto (~3.4 MiB), which a member never needs

    return "sha256:" + hashlib.sha256(key).hexdigest()[:8]


def parse_keyring(text: str) -> list[bytes]:
    """A keyring file's text → its keys, primary first (duplicates dropped, as
    memberlist's ``NewKeyring`` does).

    Raises:
        ValueError: not a JSON array of strings, empty, or a key that is not valid.
    """
    try:
        items = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ValueError("expected a JSON array of base64 keys")
    if not items:
        raise ValueError("the keyring contains no keys")
    keys: list[bytes] = []
    for position, item in enumerate(items, 1):
        try:
            key = decode_key(item)
        except ValueError as exc:
            raise ValueError(f"key {position}: {exc}") from None
        if key not in keys:
            keys.append(key)
    return keys


def read_keyring_file(path: Path) -> list[bytes]:
    """The keys of the keyring file at ``path``, primary first.

    Raises:
        KeyringFileError: unreadable, too large, or invalid (the message names the path).
    """
    try:
        with path.open("rb") as f:
            data = f.read(_MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise KeyringFileError(f"cannot read the keyring file {path}: {exc.strerror or exc}") from None
    if len(data) > _MAX_FILE_BYTES:
        raise KeyringFileError(f"keyring file {path}: larger than {_MAX_FILE_BYTES} bytes")
    try:
        return parse_keyring(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise KeyringFileError(f"keyring file {path}: {exc}") from None


def write_keyring_file(path: Path, keys: Sequence[bytes]) -> None:
    """Validate ``keys`` (primary first), then replace the file at ``path`` atomically
    with Serf's layout, mode 0600. The parent directory is created (0700) if missing.

    Raises:
        KeyringFileError: the keys are invalid (empty, duplicated, a bad size; nothing is
            written), or the file cannot be written.
    """
    keys = [bytes(key) for key in keys]
    try:
        for key in keys:
            validate_key(key)
    except KeyringError as exc:
        raise KeyringFileError(f"refusing to write the keyring file {path}: {exc}") from None
    if not keys or len(set(keys)) != len(keys):
        raise KeyringFileError(f"refusing to write the keyring file {path}: "
                               f"{'no keys' if not keys else 'a key is listed twice'}")
    import tempfile  # here: it brings shutil, bz2 and lzma to every member that never writes keys

    text = json.dumps([encode_key(key) for key in keys], indent=2)  # = Go MarshalIndent
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:  # mkstemp created it 0600
                f.write(text.encode("ascii"))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)
    except OSError as exc:
        raise KeyringFileError(f"cannot write the keyring file {path}: {exc.strerror or exc}") from None


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class SettledKeyring:
    """The keys the agent starts with, and what to tell the operator about them."""

    keys: tuple[bytes, ...]
    """Primary first; empty means gossip is not encrypted."""
    notice: str | None
    """One line for the log when the choice is not simply "what was given", else None."""


def settle_keyring(path: Path, encrypt_key: bytes | None, *,
                   encrypt_name: str = "--encrypt") -> SettledKeyring:
    """Reconcile ``--encrypt`` with the keyring file at ``path`` (table in the module
    docstring); creates the file when a key is given and there is none.

    Args:
        path: the keyring file (``data_dir / KEYRING_FILE``).
        encrypt_key: the decoded ``--encrypt`` key, or None when not given.
        encrypt_name: how the user gave the key (``--encrypt``, ``CLAW_ENCRYPT``,
            ``encrypt in claw.toml``), for messages.
    Raises:
        KeyConflict: the file exists and does not hold ``encrypt_key``.
        KeyringFileError: the file is unreadable or invalid, or cannot be created.
    """
    if not path.exists():
        if encrypt_key is None:
            return SettledKeyring((), None)
        write_keyring_file(path, [encrypt_key])
        return SettledKeyring((encrypt_key,), f"gossip encryption on; keyring file {path} "
                                              f"created with the {encrypt_name} key")
    keys = tuple(read_keyring_file(path))
    primary = fingerprint(keys[0])
    if encrypt_key is None:
        return SettledKeyring(keys, f"gossip encryption on with the {len(keys)} key(s) of "
                                    f"{path} (primary {primary})")
    if encrypt_key not in keys:
        raise KeyConflict(
            f"the {encrypt_name} key ({fingerprint(encrypt_key)}) is not in the keyring file "
            f"{path} (primary {primary}, {len(keys)} key(s)): the keys were changed since. "
            f"Drop {encrypt_name} to use the file, or give one of its keys")
    if encrypt_key != keys[0]:
        return SettledKeyring(keys, f"the {encrypt_name} key ({fingerprint(encrypt_key)}) is a "
                                    f"secondary key of {path}; encrypting with its primary "
                                    f"({primary}), as the cluster rotated to it")
    return SettledKeyring(keys, None)
