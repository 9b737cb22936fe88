"""Go compress/lzw (LSB, litWidth 8): known streams, round trips, limits, garbage."""

from __future__ import annotations

import random

import pytest

from gossip import lzw
from gossip.errors import MalformedPacket

# The 18-byte ack a probe sent over TCP; Go accepted this LZW stream (vector 691).
ACK_PLAIN = bytes.fromhex("0282a75061796c6f6164c0a55365714e6f07")
ACK_LZW = bytes.fromhex("0005083a05254c1e366fc29001566a4a99384ede1c0808")


def test_known_stream_from_capture() -> None:
    assert lzw.compress(ACK_PLAIN) == ACK_LZW
    assert lzw.decompress(ACK_LZW, 1000) == ACK_PLAIN


def test_empty_input_is_clear_then_eof() -> None:
    # Go's Close without Write: clear (256) then EOF (257), 9 bits each, LSB first.
    assert lzw.compress(b"") == bytes([0x00, 0x03, 0x02])
    assert lzw.decompress(lzw.compress(b""), 10) == b""


def test_first_code_is_clear() -> None:
    out = lzw.compress(b"a")
    assert out[0] == 0x00 and out[1] & 1 == 1  # 256 in the first 9 bits


@pytest.mark.parametrize("size", [1, 2, 3, 255, 256, 511, 512, 1023, 4096, 5000, 70000])
def test_round_trip_sizes_and_code_widths(size: int) -> None:
    rng = random.Random(size)
    for data in (rng.randbytes(size), bytes(rng.choice(b"ab") for _ in range(size)), b"\x00" * size):
        assert lzw.decompress(lzw.compress(data), len(data)) == data


def test_table_reset_after_4095_codes() -> None:
    # Random bytes exhaust the 12-bit table quickly; a second clear code must appear.
    data = random.Random(7).randbytes(20000)
    assert lzw.decompress(lzw.compress(data), 20000) == data


def test_kwkwk_case() -> None:
    data = b"abababababababababab" + b"a" * 300
    assert lzw.decompress(lzw.compress(data), 1000) == data


def test_output_cap() -> None:
    bomb = lzw.compress(b"\x00" * 100_000)
    assert len(bomb) < 2000
    with pytest.raises(MalformedPacket, match="exceeds"):
        lzw.decompress(bomb, 65536)
    assert len(lzw.decompress(bomb, 100_000)) == 100_000


def test_missing_eof_is_rejected() -> None:
    # Go's reader returns io.ErrUnexpectedEOF without the EOF code.
    stream = lzw.compress(b"hello world hello world")
    with pytest.raises(MalformedPacket, match="EOF"):
        lzw.decompress(stream[:-2], 1000)
    with pytest.raises(MalformedPacket):
        lzw.decompress(b"", 1000)


def test_invalid_code_is_rejected() -> None:
    # clear (256) then code 300, which is not yet defined.
    bits = 256 | (300 << 9)
    with pytest.raises(MalformedPacket, match="invalid code"):
        lzw.decompress(bits.to_bytes(3, "little"), 1000)


def test_bytes_after_eof_are_ignored() -> None:
    assert lzw.decompress(lzw.compress(b"abc") + b"garbage", 100) == b"abc"


def test_random_garbage_only_raises_malformed() -> None:
    rng = random.Random(3)
    for _ in range(2000):
        try:
            lzw.decompress(rng.randbytes(rng.randrange(0, 64)), 4096)
        except MalformedPacket:
            pass
