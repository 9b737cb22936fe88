"""Process-wide memo of the expensive pure steps of big stream messages (push-pulls).

A push-pull carries one entry per member, so at 10,000 members each one is ~0.5 MB that
is LZW-compressed by the sender, decompressed and decoded by the receiver: pure Python,
tens of milliseconds per step. The same bytes come back again and again: a node whose
membership has not changed sends the identical push-pull each time, and in a converged
cluster every node sends the same one (at N = 500, 92 push-pulls held 3 distinct
plaintexts). So the three steps are memoised by their exact input bytes:

* ``compress(plain)``: ``lzw.compress``;
* ``decompress(buf, max_size)``: ``lzw.decompress``;
* ``decode(plain, max_size, fn)``: ``fn(plain, max_size)``, the codec's push-pull decoder;
* ``decode_user_state(data, fn)``: ``fn(data)``, Serf's decoder of the push-pull's user
  state (its ``SerfPushPull`` holds a dict of status LTimes: readers never change it).

Why it changes nothing: each step is a deterministic function of its arguments (the
limit ``max_size`` is part of the key); only successes are stored, so garbage is
decoded, rejected and counted every time; the stored values are immutable (bytes, and
frozen ``PushPull`` messages of ints, strs, bytes and tuples), so one value can be shared
by every reader, even by the thousands of cores the simulator runs in one process. The
bytes on the wire are those ``lzw.compress`` writes.

Only inputs of at least ``MIN_BYTES`` are memoised (small clusters never use it), and
each namespace is a ``BoundedMemo`` of at most ``MAX_ENTRIES`` entries and ``MAX_BYTES``
charged bytes (input plus output), oldest evicted first: distinct hostile inputs only
evict, costing speed, never memory or correctness.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from gossip import lzw
from gossip.bounded_memo import BoundedMemo

__all__ = ["MAX_BYTES", "MAX_ENTRIES", "MIN_BYTES", "compress", "decode", "decode_user_state", "decompress",
           "forget", "stats"]

MIN_BYTES = 8 * 1024
"""Shortest input memoised, in bytes: a push-pull of ~130 members. Below it the step is
cheap and the bytes rarely repeat."""
MAX_ENTRIES = 16
"""Entries per namespace (process-wide). A converged cluster has a few distinct
push-pulls in flight at a time; churn makes each new one a miss, as without the memo."""
MAX_BYTES = 16 * 1024 * 1024
"""Charged bytes per namespace (process-wide): 16 MiB, ~6 decoded push-pulls of 10,000
members."""
DECODED_BYTES_PER_INPUT_BYTE = 4
"""Estimated memory of a decoded push-pull per byte of its plaintext (one frozen object,
a str and bytes per member): what a ``decode`` entry is charged beyond its key."""

_T = TypeVar("_T")

# Costs are charged bytes: the key's and the value's (estimated for a decoded message).
_COMPRESSED: BoundedMemo[bytes, bytes] = BoundedMemo(MAX_ENTRIES, MAX_BYTES)
_DECOMPRESSED: BoundedMemo[tuple[int, bytes], bytes] = BoundedMemo(MAX_ENTRIES, MAX_BYTES)
_DECODED: BoundedMemo[tuple[int, bytes], Any] = BoundedMemo(MAX_ENTRIES, MAX_BYTES)
_USER_STATES: BoundedMemo[bytes, Any] = BoundedMemo(MAX_ENTRIES, MAX_BYTES)


def compress(plain: bytes) -> bytes:
    """``lzw.compress(plain)``, memoised for inputs of ``MIN_BYTES`` or more."""
    if len(plain) < MIN_BYTES:
        return lzw.compress(plain)
    out: bytes | None = _COMPRESSED.get(plain)
    if out is None:
        out = lzw.compress(plain)
        _COMPRESSED.put(plain, out, len(plain) + len(out))
    return out


def decompress(buf: bytes, max_size: int) -> bytes:
    """``lzw.decompress(buf, max_size)``, memoised for inputs of ``MIN_BYTES`` or more.

    Raises:
        MalformedPacket: as ``lzw.decompress`` (failures are never stored).
    """
    if len(buf) < MIN_BYTES:
        return lzw.decompress(buf, max_size)
    key = (max_size, buf)
    out: bytes | None = _DECOMPRESSED.get(key)
    if out is None:
        out = lzw.decompress(buf, max_size)
        _DECOMPRESSED.put(key, out, len(buf) + len(out))
    return out


def decode(plain: bytes, max_size: int, fn: Callable[[bytes, int], _T]) -> _T:
    """``fn(plain, max_size)`` (a pure decoder returning an immutable message), memoised
    for inputs of ``MIN_BYTES`` or more. ``fn`` must be the same decoder for every call:
    the key is the input alone.

    Raises:
        MalformedPacket: as ``fn`` (failures are never stored).
    """
    if len(plain) < MIN_BYTES:
        return fn(plain, max_size)
    key = (max_size, plain)
    out: _T | None = _DECODED.get(key)
    if out is None:
        out = fn(plain, max_size)
        _DECODED.put(key, out, len(plain) * (1 + DECODED_BYTES_PER_INPUT_BYTE))
    return out


def decode_user_state(data: bytes, fn: Callable[[bytes], _T]) -> _T:
    """``fn(data)`` (Serf's decoder of a push-pull's user state), memoised for inputs of
    ``MIN_BYTES`` or more; as ``decode``, ``fn`` must be the same for every call.

    Raises:
        MalformedPacket: as ``fn`` (failures are never stored).
    """
    if len(data) < MIN_BYTES:
        return fn(data)
    out: _T | None = _USER_STATES.get(data)
    if out is None:
        out = fn(data)
        _USER_STATES.put(data, out, len(data) * (1 + DECODED_BYTES_PER_INPUT_BYTE))
    return out


def stats() -> dict[str, int]:
    """Hits, misses, entries and charged bytes of each namespace (for benchmarks)."""
    out: dict[str, int] = {}
    for name, memo in (("compress", _COMPRESSED), ("decompress", _DECOMPRESSED),
                       ("decode", _DECODED), ("user_state", _USER_STATES)):
        out[f"{name}_hits"] = memo.hits
        out[f"{name}_misses"] = memo.misses
        out[f"{name}_entries"] = len(memo)
        out[f"{name}_bytes"] = memo.total_cost
    return out


def forget() -> None:
    """Empty every namespace (tests and benchmarks that fill them)."""
    for memo in (_COMPRESSED, _DECOMPRESSED, _DECODED, _USER_STATES):
        memo.clear()
