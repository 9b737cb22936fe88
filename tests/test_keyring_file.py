"""The keyring file (Serf's format) and how ``--encrypt`` is reconciled with it."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from node.keyring_file import (
    KEYRING_FILE,
    KeyConflict,
    KeyringFileError,
    decode_key,
    encode_key,
    fingerprint,
    new_key,
    parse_keyring,
    read_keyring_file,
    settle_keyring,
    write_keyring_file,
)

DATA = Path(__file__).parent / "data"
SERF_KEY_TEXT = (DATA / "encrypt_key.b64").read_text().strip()  # printed by `serf keygen`
K1, K2, K3 = b"1" * 32, b"2" * 16, b"3" * 24


def test_decode_key_accepts_what_serf_keygen_prints() -> None:
    assert len(decode_key(SERF_KEY_TEXT)) == 32
    assert decode_key(f"  {SERF_KEY_TEXT}\n") == decode_key(SERF_KEY_TEXT)
    for size in (16, 24, 32):
        assert decode_key(encode_key(bytes(size))) == bytes(size)


@pytest.mark.parametrize("text, words", [
    ("", "16, 24 or 32"),
    ("not base64!", "not a base64 key"),
    (SERF_KEY_TEXT.rstrip("="), "not a base64 key"),  # Go's StdEncoding needs the padding
    (SERF_KEY_TEXT.replace("+", "-"), "not a base64 key"),  # URL alphabet
    (encode_key(bytes(20)), "20 bytes"),
    (encode_key(bytes(64)), "64 bytes"),
])
def test_decode_key_refuses_without_echoing(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words) as info:
        decode_key(text)
    assert text.strip() == "" or text not in str(info.value)


def test_new_key_is_32_random_bytes() -> None:
    a, b = new_key(), new_key()
    assert len(decode_key(a)) == 32 and a != b


def test_fingerprint_does_not_reveal_the_key() -> None:
    fp = fingerprint(K1)
    assert fp.startswith("sha256:") and len(fp) == 15 and encode_key(K1) not in fp


def test_file_layout_is_serfs(tmp_path: Path) -> None:
    path = tmp_path / KEYRING_FILE
    write_keyring_file(path, [K1, K2])
    # Go json.MarshalIndent(keys, "", "  "): no trailing newline.
    assert path.read_text() == f'[\n  "{encode_key(K1)}",\n  "{encode_key(K2)}"\n]'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_keyring_file(path) == [K1, K2]
    assert [p.name for p in tmp_path.iterdir()] == [KEYRING_FILE]  # no temporary left


def test_reads_a_file_written_by_serf_layout(tmp_path: Path) -> None:
    path = tmp_path / "serf.keyring"
    path.write_text(json.dumps([SERF_KEY_TEXT, encode_key(K2), SERF_KEY_TEXT]))
    assert read_keyring_file(path) == [base64.b64decode(SERF_KEY_TEXT), K2]  # dupes dropped


def test_rewrite_replaces_and_keeps_mode(tmp_path: Path) -> None:
    path = tmp_path / "d" / KEYRING_FILE  # the directory is created
    write_keyring_file(path, [K1])
    os.chmod(path, 0o644)
    write_keyring_file(path, [K3, K1])
    assert read_keyring_file(path) == [K3, K1]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("keys, words", [
    ([], "no keys"),
    ([K1, K1], "listed twice"),
    ([K1, b"short"], "16, 24 or 32"),
])
def test_invalid_keys_are_never_written(tmp_path: Path, keys: list[bytes], words: str) -> None:
    path = tmp_path / KEYRING_FILE
    write_keyring_file(path, [K2])
    with pytest.raises(KeyringFileError, match=words):
        write_keyring_file(path, keys)
    assert read_keyring_file(path) == [K2]  # the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == [KEYRING_FILE]


@pytest.mark.parametrize("text, words", [
    ("", "not JSON"),
    ("{}", "JSON array"),
    ('["a", 1]', "JSON array"),
    ("[]", "no keys"),
    ('["%%%"]', "key 1: not a base64 key"),
    (json.dumps([encode_key(K1), encode_key(bytes(7))]), "key 2: the key is 7 bytes"),
])
def test_parse_refuses_bad_files(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_keyring(text)


def test_read_errors_name_the_path(tmp_path: Path) -> None:
    path = tmp_path / KEYRING_FILE
    with pytest.raises(KeyringFileError, match=str(path)):
        read_keyring_file(path)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(KeyringFileError, match=str(path)):
        read_keyring_file(path)
    path.write_bytes(b"[" + b" " * 70000 + b"]")
    with pytest.raises(KeyringFileError, match="larger than"):
        read_keyring_file(path)


# --- --encrypt against the persisted keyring --------------------------------------------


def test_no_key_no_file_no_encryption(tmp_path: Path) -> None:
    settled = settle_keyring(tmp_path / KEYRING_FILE, None)
    assert settled.keys == () and settled.notice is None
    assert not (tmp_path / KEYRING_FILE).exists()


def test_first_start_with_a_key_creates_the_file(tmp_path: Path) -> None:
    path = tmp_path / KEYRING_FILE
    settled = settle_keyring(path, K1, encrypt_name="CLAW_ENCRYPT")
    assert settled.keys == (K1,) and "CLAW_ENCRYPT" in (settled.notice or "")
    assert read_keyring_file(path) == [K1]


def test_the_file_alone_turns_encryption_on(tmp_path: Path) -> None:
    path = tmp_path / KEYRING_FILE
    write_keyring_file(path, [K1, K2])
    settled = settle_keyring(path, None)
    assert settled.keys == (K1, K2) and fingerprint(K1) in (settled.notice or "")


def test_the_files_primary_wins_over_a_secondary_flag_key(tmp_path: Path) -> None:
    # Restarted mid-rotation with the old key still in the unit file: not a lock-out.
    path = tmp_path / KEYRING_FILE
    write_keyring_file(path, [K2, K1])
    assert settle_keyring(path, K2).keys == (K2, K1)
    assert settle_keyring(path, K2).notice is None
    settled = settle_keyring(path, K1)
    assert settled.keys == (K2, K1) and "secondary" in (settled.notice or "")
    assert read_keyring_file(path) == [K2, K1]  # never rewritten by a restart


def test_a_key_the_file_lacks_is_an_error_naming_both(tmp_path: Path) -> None:
    path = tmp_path / KEYRING_FILE
    write_keyring_file(path, [K1, K2])
    with pytest.raises(KeyConflict) as info:
        settle_keyring(path, K3, encrypt_name="encrypt in claw.toml")
    message = str(info.value)
    assert "encrypt in claw.toml" in message and str(path) in message
    assert fingerprint(K3) in message and fingerprint(K1) in message
    assert encode_key(K3) not in message and "\n" not in message
    assert read_keyring_file(path) == [K1, K2]


def test_a_corrupt_file_is_an_error_not_a_new_keyring(tmp_path: Path) -> None:
    path = tmp_path / KEYRING_FILE
    path.write_text("[]")
    with pytest.raises(KeyringFileError, match="no keys"):
        settle_keyring(path, K1)
    assert path.read_text() == "[]"
