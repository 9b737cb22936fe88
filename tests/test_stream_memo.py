"""The process-wide memo of big stream messages returns what the uncached codec does."""

from __future__ import annotations

import pytest

from gossip import codec, lzw, stream_memo
from gossip.errors import MalformedPacket
from gossip.messages import PushNodeState, PushPull

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


def test_many_distinct_push_pulls_keep_every_namespace_bounded() -> None:
    try:
        for incarnation in range(stream_memo.MAX_ENTRIES + 4):
            wire = codec.encode_stream(_push_pull(1200, incarnation=incarnation + 10))
            assert len(wire) > stream_memo.MIN_BYTES  # compressed too: every step memoised
            codec.decode_stream(wire, max_size=MAX)
        stats = stream_memo.stats()
    finally:
        stream_memo.forget()  # the memo is process-wide: free it for the other tests
    for name in ("compress", "decompress", "decode"):
        assert 0 < stats[f"{name}_entries"] <= stream_memo.MAX_ENTRIES
        assert stats[f"{name}_bytes"] <= stream_memo.MAX_BYTES
