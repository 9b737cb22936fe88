"""memberlist's encryption and keyring: byte-compatible with real Serf 0.9.4 traffic.

The encrypted captures in ``tests/data/vectors.json`` (key in ``encrypt_key.b64``) are
opened with our code and compared with the plaintext the capture gives, then sealed
again with the captured nonce and compared with the wire bytes: same key, nonce,
plaintext and AAD must give Go's exact ciphertext and tag.
"""

from __future__ import annotations

import base64
import json
import random
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gossip.codec import decode_packet, decode_stream, stream_message_length
from gossip.encryption import (
    PACKET_OVERHEAD,
    decrypt_payload,
    encrypt_overhead,
    encrypt_payload,
    encrypted_length,
    new_cipher,
    validate_key,
)
from gossip.errors import (
    DecryptionFailed,
    KeyringError,
    LocalProtocolError,
    MalformedPacket,
)
from gossip.keyring import Keyring
from gossip.messages import Ack, ErrResp, Ping, PushPull

DATA = Path(__file__).parent / "data"
VECTORS = json.loads((DATA / "vectors.json").read_text())
KEY = base64.b64decode((DATA / "encrypt_key.b64").read_text().strip())
OTHER_KEY = bytes(range(32))
MAX = 1 << 20

ENCRYPTED = [v for v in VECTORS if v["encrypted"] and v["ok"]]
ENCRYPTED_UDP = [v for v in ENCRYPTED if v["transport"] == "udp"]
ENCRYPTED_TCP = [v for v in ENCRYPTED if v["transport"] == "tcp"]
PLAINTEXT_UDP = [v for v in VECTORS if not v["encrypted"] and v["transport"] == "udp"]


def _expected_udp_plaintext(entry: dict[str, Any]) -> bytes:
    """The datagram's plaintext as sent: the capture gives it after the CRC header."""
    plain = bytes.fromhex(entry["decoded"]["plaintext_hex"])
    crc = [x for x in entry["decoded"]["layers"] if x.startswith("hasCrc")]
    if crc:
        plain = b"\x0c" + bytes.fromhex(crc[0][len("hasCrc(crc32-ieee="):-1]) + plain
    return plain


def _replaying(nonce: bytes) -> Any:
    """A random source that returns the captured nonce."""
    return lambda n: nonce[:n]


def test_vectors_cover_both_transports() -> None:
    assert KEY == base64.b64decode(ENCRYPTED[0]["key_b64"]) and len(KEY) == 32
    assert len(ENCRYPTED_UDP) == 419 and len(ENCRYPTED_TCP) == 19


@pytest.mark.parametrize("entry", ENCRYPTED_UDP, ids=lambda e: str(e["id"]))
def test_serf_datagram_decrypts_and_reseals_byte_for_byte(entry: dict[str, Any]) -> None:
    raw = bytes.fromhex(entry["hex"])
    plain = Keyring([KEY]).decrypt_packet(raw)
    assert plain == _expected_udp_plaintext(entry)
    if plain[0] == 0x0C:
        assert zlib.crc32(plain[5:]) == struct.unpack(">I", plain[1:5])[0]
    msgs, skipped = decode_packet(plain)
    assert skipped == 0 and len(msgs) == len(entry["decoded"]["messages"])
    assert Keyring([KEY], random_bytes=_replaying(raw[1:13])).encrypt_packet(plain) == raw


@pytest.mark.parametrize("entry", ENCRYPTED_TCP, ids=lambda e: str(e["id"]))
def test_serf_stream_frame_decrypts_and_reseals_byte_for_byte(entry: dict[str, Any]) -> None:
    raw = bytes.fromhex(entry["hex"])
    assert stream_message_length(raw, max_size=MAX) == len(raw)  # one frame per direction
    keyring = Keyring([KEY], random_bytes=_replaying(raw[6:18]))
    plain = keyring.decrypt_stream(raw[5:], raw[:5])
    assert plain[0] == 9  # Serf compresses every stream (reference §2.5)
    msg = decode_stream(raw, max_size=MAX, decrypt=keyring.decrypt_stream)
    expected = {"pushPull": PushPull, "ping": Ping, "ack": Ack, "err": ErrResp}[entry["decoded"]["type"]]
    assert isinstance(msg, expected)
    assert keyring.encrypt_stream(plain) == raw


def test_stream_header_is_authenticated() -> None:
    raw = bytes.fromhex(ENCRYPTED_TCP[0]["hex"])
    keyring = Keyring([KEY])
    forged = raw[:4] + bytes([raw[4] ^ 1])  # same body, another declared length
    with pytest.raises(DecryptionFailed) as info:
        keyring.decrypt_stream(raw[5:], forged)
    assert info.value.reason == "no-key"
    # ... and the packet path (AAD empty) cannot open a stream body either.
    with pytest.raises(DecryptionFailed):
        keyring.decrypt_packet(raw[5:])


def test_another_key_opens_nothing_and_a_secondary_key_opens_everything() -> None:
    stranger, rotated = Keyring([OTHER_KEY]), Keyring([OTHER_KEY, KEY])
    for entry in ENCRYPTED_UDP:
        raw = bytes.fromhex(entry["hex"])
        with pytest.raises(DecryptionFailed) as info:
            stranger.decrypt_packet(raw)
        assert info.value.reason == "no-key"
        assert rotated.decrypt_packet(raw) == _expected_udp_plaintext(entry)


def test_plaintext_datagrams_never_decrypt() -> None:
    keyring = Keyring([KEY])
    for entry in PLAINTEXT_UDP:
        with pytest.raises(DecryptionFailed):
            keyring.decrypt_packet(bytes.fromhex(entry["hex"]))


def test_encrypted_stream_under_an_unknown_key_is_refused() -> None:
    # The probe's encrypted push/pull sent to an unencrypted agent, under a key not kept.
    entry = next(v for v in VECTORS if v["id"] == 969)
    raw = bytes.fromhex(entry["hex"])
    with pytest.raises(MalformedPacket):
        decode_stream(raw, max_size=MAX, decrypt=Keyring([OTHER_KEY]).decrypt_stream)


# --- the payload format ----------------------------------------------------------------


@pytest.mark.parametrize("size", [16, 24, 32])
@pytest.mark.parametrize("version", [0, 1])
@pytest.mark.parametrize("length", [0, 1, 15, 16, 17, 200])
def test_round_trip_every_key_size_and_version(size: int, version: int, length: int) -> None:
    rng = random.Random(size * 1000 + version * 100 + length)
    key, plain, nonce = rng.randbytes(size), rng.randbytes(length), rng.randbytes(12)
    sealed = encrypt_payload(new_cipher(key), plain, nonce, additional_data=b"aad", version=version)
    assert sealed[0] == version and sealed[1:13] == nonce
    assert len(sealed) == encrypted_length(version, length) <= length + encrypt_overhead(version)
    assert decrypt_payload([new_cipher(key)], sealed, b"aad") == plain
    with pytest.raises(DecryptionFailed):
        decrypt_payload([new_cipher(key)], sealed, b"other aad")


def test_lengths_match_memberlist() -> None:
    assert PACKET_OVERHEAD == encrypt_overhead(1) == 29
    assert encrypt_overhead(0) == 45
    assert encrypted_length(0, 16) == 1 + 12 + 32 + 16  # aligned: a whole pad block
    assert encrypted_length(0, 5) == 1 + 12 + 16 + 16
    with pytest.raises(LocalProtocolError):
        encrypt_overhead(2)


def test_version_0_padding_is_pkcs7() -> None:
    # Pad bytes visible by decrypting the GCM body without unpadding.
    cipher = new_cipher(KEY)
    sealed = encrypt_payload(cipher, b"abc", bytes(12), version=0)
    padded = cipher.decrypt(sealed[1:13], sealed[13:], b"")
    assert padded == b"abc" + bytes([13]) * 13


@pytest.mark.parametrize("pad", [0, 17, 2])
def test_version_0_with_bad_padding_is_refused(pad: int) -> None:
    # Authentic (sealed with the key) but badly padded: Go would panic or mis-strip.
    cipher = new_cipher(KEY)
    body = bytes(15) + bytes([pad]) if pad != 2 else bytes(14) + b"\x01\x02"
    sealed = bytes([0]) + bytes(12) + cipher.encrypt(bytes(12), body, b"")
    with pytest.raises(DecryptionFailed) as info:
        decrypt_payload([cipher], sealed)
    assert info.value.reason == "padding"


@pytest.mark.parametrize("payload, reason", [
    (b"", "empty"),
    (b"\x02" + bytes(40), "version"),
    (b"\xff" + bytes(40), "version"),
    (b"\x01" + bytes(27), "short"),
    (b"\x00" + bytes(43), "short"),
    (b"\x01" + bytes(28), "no-key"),
])
def test_garbage_is_a_counted_failure(payload: bytes, reason: str) -> None:
    with pytest.raises(DecryptionFailed) as info:
        Keyring([KEY]).decrypt_packet(payload)
    assert info.value.reason == reason
    assert isinstance(info.value, MalformedPacket)  # existing drop-and-count paths catch it


def test_truncated_and_bit_flipped_vectors_fail_cleanly() -> None:
    keyring = Keyring([KEY])
    raw = bytes.fromhex(ENCRYPTED_UDP[0]["hex"])
    for cut in range(len(raw)):
        with pytest.raises(DecryptionFailed):
            keyring.decrypt_packet(raw[:cut])
    for i in range(len(raw)):
        flipped = raw[:i] + bytes([raw[i] ^ 0x80]) + raw[i + 1:]
        with pytest.raises(DecryptionFailed):
            keyring.decrypt_packet(flipped)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.binary(max_size=8))
def test_any_bytes_decrypt_or_fail_with_decryption_failed(data: bytes, header: bytes) -> None:
    keyring = Keyring([KEY, OTHER_KEY])
    for call in (lambda: keyring.decrypt_packet(data), lambda: keyring.decrypt_stream(data, header)):
        try:
            call()
        except DecryptionFailed:
            pass


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 1), st.binary(max_size=255))
def test_round_trip_property(plain: bytes, version: int, label: bytes) -> None:
    cipher = new_cipher(OTHER_KEY)
    sealed = encrypt_payload(cipher, plain, bytes(12), additional_data=label, version=version)
    assert decrypt_payload([new_cipher(KEY), cipher], sealed, label) == plain


# --- the keyring -------------------------------------------------------------------------

K1, K2, K3 = b"1" * 16, b"2" * 24, b"3" * 32


def test_key_sizes() -> None:
    for size in (16, 24, 32):
        validate_key(bytes(size))
    for size in (0, 15, 17, 31, 33, 64):
        with pytest.raises(KeyringError, match="key size must be 16, 24 or 32 bytes"):
            validate_key(bytes(size))
    with pytest.raises(KeyringError):
        Keyring([K1, b"short"])


def test_first_key_is_primary_and_duplicates_are_dropped() -> None:
    keyring = Keyring([K1, K2, K1, K3])
    assert keyring.keys == (K1, K2, K3) and keyring.primary == K1 and len(keyring) == 3
    assert K2 in keyring and b"x" * 16 not in keyring


def test_empty_keyring_is_disabled_and_cannot_encrypt() -> None:
    keyring = Keyring()
    assert not keyring.enabled and keyring.primary is None
    with pytest.raises(LocalProtocolError):
        keyring.encrypt_packet(b"x")
    with pytest.raises(LocalProtocolError):
        keyring.encrypt_stream(b"x")
    with pytest.raises(DecryptionFailed):
        keyring.decrypt_packet(Keyring([K1]).encrypt_packet(b"x"))


def test_install_use_remove_follow_memberlist() -> None:
    keyring = Keyring()
    keyring.install(K1)  # the first key installed becomes primary
    keyring.install(K2)
    keyring.install(K2)  # no-op
    assert keyring.keys == (K1, K2)
    keyring.install(K3)
    keyring.use(K3)
    assert keyring.keys == (K3, K1, K2)  # the others keep their order
    with pytest.raises(KeyringError, match="Requested key is not in the keyring"):
        keyring.use(b"9" * 16)
    with pytest.raises(KeyringError, match="Removing the primary key is not allowed"):
        keyring.remove(K3)
    keyring.remove(K1)
    keyring.remove(b"9" * 16)  # not installed: no-op, as memberlist
    assert keyring.keys == (K3, K2)


def test_rotation_keeps_every_stage_readable() -> None:
    old, new = Keyring([K1]), Keyring([K1])
    new.install(K2)
    assert old.decrypt_packet(new.encrypt_packet(b"a")) == b"a"  # installed, not used yet
    new.use(K2)
    assert new.decrypt_packet(old.encrypt_packet(b"b")) == b"b"  # old writers still read
    with pytest.raises(DecryptionFailed):
        old.decrypt_packet(new.encrypt_packet(b"c"))  # ... until everyone has K2
    new.remove(K1)
    with pytest.raises(DecryptionFailed):
        new.decrypt_packet(old.encrypt_packet(b"d"))


def test_copy_is_independent() -> None:
    keyring = Keyring([K1])
    trial = keyring.copy()
    trial.install(K2)
    trial.use(K2)
    assert keyring.keys == (K1,) and trial.keys == (K2, K1)


def test_labels_are_authenticated() -> None:
    keyring = Keyring([K1])
    sealed = keyring.encrypt_packet(b"x", label=b"prod")
    assert keyring.decrypt_packet(sealed, label=b"prod") == b"x"
    with pytest.raises(DecryptionFailed):
        keyring.decrypt_packet(sealed)
    frame = keyring.encrypt_stream(b"y", label=b"prod")
    assert keyring.decrypt_stream(frame[5:], frame[:5], label=b"prod") == b"y"
    with pytest.raises(DecryptionFailed):
        keyring.decrypt_stream(frame[5:], frame[:5])
    with pytest.raises(LocalProtocolError):
        keyring.encrypt_packet(b"x", label=bytes(256))


def test_nonces_come_from_the_injected_source() -> None:
    a = Keyring([K1], random_bytes=random.Random(7).randbytes)
    b = Keyring([K1], random_bytes=random.Random(7).randbytes)
    assert [a.encrypt_packet(b"m") for _ in range(3)] == [b.encrypt_packet(b"m") for _ in range(3)]
    assert len({a.encrypt_packet(b"m") for _ in range(3)}) == 3  # fresh nonce each time
    with pytest.raises(LocalProtocolError):
        Keyring([K1], random_bytes=lambda n: b"").encrypt_packet(b"m")


def test_repr_hides_the_keys() -> None:
    assert repr(Keyring([K1, K2])) == "Keyring(2 keys)"


@pytest.mark.slow
def test_cryptography_is_imported_only_once_a_key_is_installed() -> None:
    import subprocess
    import sys
    code = ("import sys; from gossip.keyring import Keyring; from gossip import DecryptionFailed\n"
            "try: Keyring().decrypt_packet(bytes([1]) + bytes(40))\n"
            "except DecryptionFailed: pass\n"
            "before = 'cryptography' in sys.modules\n"
            "Keyring([b'k' * 16]); print(before, 'cryptography' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent.parent,
                         capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["False", "True"]
