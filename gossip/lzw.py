"""Go ``compress/lzw`` (order LSB, litWidth 8), as memberlist's ``compressMsg`` uses it.

Byte-exact with Go 1.19's writer: a clear code first, codes widen from 9 to 12 bits as
soon as the just-assigned table index reaches 512/1024/2048, a clear code (at 12 bits)
and a table reset when the index reaches 4095, then EOF and the remaining bits
zero-padded to a byte. The reader, like Go's, requires the EOF code; bytes after it are
ignored. Output is capped by ``max_size`` before it is allocated (no zip bombs).
"""

from __future__ import annotations

from gossip.errors import MalformedPacket

__all__ = ["compress", "decompress"]

_LIT_WIDTH = 8
_CLEAR = 1 << _LIT_WIDTH  # 256
_EOF = _CLEAR + 1  # 257
_MAX_CODE = (1 << 12) - 1  # 4095


_LITERALS = [bytes((i,)) for i in range(256)]


def compress(data: bytes) -> bytes:
    """Compress ``data`` exactly as Go's ``lzw.NewWriter(w, lzw.LSB, 8)`` + Write + Close."""
    # One flat loop over local variables (this runs for every compressed packet): the
    # bit writer and Go's ``incHi`` are written out inline.
    out = bytearray()
    append = out.append
    width = _LIT_WIDTH + 1
    bits = _CLEAR  # Go's Writer always starts with a clear code
    n_bits = width
    hi = _EOF
    overflow = 1 << width
    table: dict[int, int] = {}
    lookup = table.get
    tail: list[tuple[int, int]] = []  # (code, width) pairs written by Close
    if data:
        code = data[0]
        for literal in memoryview(data)[1:]:
            key = (code << 8) | literal
            hit = lookup(key)
            if hit is not None:
                code = hit
                continue
            bits |= code << n_bits
            n_bits += width
            while n_bits >= 8:
                append(bits & 0xFF)
                bits >>= 8
                n_bits -= 8
            code = literal
            hi += 1
            if hi == overflow:
                width += 1
                overflow <<= 1
            if hi == _MAX_CODE:  # out of codes: a clear code at the current width, reset
                bits |= _CLEAR << n_bits
                n_bits += width
                while n_bits >= 8:
                    append(bits & 0xFF)
                    bits >>= 8
                    n_bits -= 8
                width = _LIT_WIDTH + 1
                hi = _EOF
                overflow = 1 << width
                table.clear()
                continue
            table[key] = hi
        # Close: the saved code, then incHi (which may widen, or clear and reset).
        tail.append((code, width))
        hi += 1
        if hi == overflow:
            width += 1
        if hi == _MAX_CODE:
            tail.append((_CLEAR, width))
            width = _LIT_WIDTH + 1
    tail.append((_EOF, width))
    for code, w in tail:
        bits |= code << n_bits
        n_bits += w
        while n_bits >= 8:
            append(bits & 0xFF)
            bits >>= 8
            n_bits -= 8
    if n_bits > 0:
        append(bits & 0xFF)
    return bytes(out)


def decompress(data: bytes, max_size: int) -> bytes:
    """Decompress a Go LZW (LSB, 8) stream; at most ``max_size`` output bytes.

    Raises ``MalformedPacket`` on an invalid code, a missing EOF code, or output that
    would exceed ``max_size``.
    """
    out = bytearray()
    # entries[code - 258] is the expansion of table code ``code``.
    entries: list[bytes] = []
    width = _LIT_WIDTH + 1
    hi = _EOF
    overflow = 1 << width
    last: bytes | None = None  # expansion of the previous code; None after clear
    bits = 0
    n_bits = 0
    pos = 0
    n = len(data)
    mask = (1 << width) - 1
    while True:
        while n_bits < width:
            if pos >= n:
                raise MalformedPacket("lzw: unexpected end of data (no EOF code)")
            bits |= data[pos] << n_bits
            pos += 1
            n_bits += 8
        code = bits & mask
        bits >>= width
        n_bits -= width
        if code < _CLEAR:
            cur = _LITERALS[code]
        elif code == _CLEAR:
            width = _LIT_WIDTH + 1
            mask = (1 << width) - 1
            hi = _EOF
            overflow = 1 << width
            entries.clear()
            last = None
            continue
        elif code == _EOF:
            return bytes(out)
        elif code < hi:
            cur = entries[code - _EOF - 1]
        elif code == hi and last is not None:
            # The KwKwK case: the code being defined right now.
            cur = last + _LITERALS[last[0]]
        else:
            raise MalformedPacket("lzw: invalid code")
        if len(out) + len(cur) > max_size:
            raise MalformedPacket(f"lzw: decompressed size exceeds {max_size} bytes")
        out += cur
        if last is not None:
            # The previous code's expansion plus our first byte becomes code ``hi``.
            entries.append(last + _LITERALS[cur[0]])
        last = cur
        hi += 1
        if hi >= overflow:
            if hi > _MAX_CODE:
                hi = _MAX_CODE
                last = None
            else:
                width += 1
                mask = (1 << width) - 1
                overflow = 1 << width
