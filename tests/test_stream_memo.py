"""The process-wide memo of big stream messages returns what the uncached codec does."""

from __future__ import annotations

import pytest

from gossip import codec, lzw, stream_memo
from gossip.errors import MalformedPacket
from gossip.messages import PushNodeState, PushPull
from gossip.stream_memo import StreamMemo

MAX = 10 * 1024 * 1024


def _push_pull(n: int, incarnation: int = 1) -> PushPull:
    nodes = tuple(PushNodeState(name=f"node-{i:05d}", addr=bytes((10, 0, i >> 8 & 255, i & 255)),
                                port=7946, meta=b"role=worker", incarnation=incarnation, state=0)
                  for i in range(n))
    return PushPull(join=False, nodes=nodes, user_state=b"\x80")


def test_big_push_pull_round_trips_through_the_memo_as_without_it() -> None:
    msg = _push_pull(400)
    first = codec.encode_stream(msg)
    again = codec.encode_stream(msg)
    assert first == again
    plain = codec.encode_stream(msg, compress=False)
    assert len(plain) >= stream_memo.MIN_BYTES
    # The memoised bytes are the plain LZW writer's bytes (the wire stays memberlist's).
    assert lzw.compress(plain) in first
    decoded = codec.decode_stream(first, max_size=MAX)
    assert decoded == msg
    assert codec.decode_stream(first, max_size=MAX) is decoded  # shared, immutable


def test_failures_are_never_stored() -> None:
    bad = codec.encode_stream(_push_pull(400), compress=False)[:-200]
    for _ in range(2):
        with pytest.raises(MalformedPacket):
            codec.decode_stream(bad, max_size=MAX)
    good = codec.encode_stream(_push_pull(400, incarnation=2))
    codec.decode_stream(good, max_size=MAX)
    with pytest.raises(MalformedPacket, match="exceeds"):
        codec.decode_stream(good, max_size=len(good))  # the limit is part of the key


def test_memo_is_bounded_by_entries_and_bytes() -> None:
    memo = StreamMemo(max_entries=3, max_bytes=100)
    for i in range(5):
        memo.put(i, str(i), cost=10)
    assert len(memo) == 3 and memo.get(0) is None and memo.get(4) == "4"
    memo.put("big", "x", cost=90)
    assert memo.charged_bytes <= 100 and memo.get("big") == "x"
    memo.put("too big", "y", cost=101)
    assert memo.get("too big") is None
    assert memo.hits == 2 and memo.misses == 2
