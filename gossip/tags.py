"""Serf tags in memberlist ``Meta``: ``0xFF`` + msgpack ``map[string]string`` (Serf
protocol >= 3, ``serf/serf/serf.go`` ``encodeTags``/``decodeTags``).

Strings are Go strings (raw bytes); they are decoded as UTF-8 with ``surrogateescape`` so
any bytes round-trip through ``encode_tags``.
"""

from __future__ import annotations

import msgpack

from gossip.errors import MalformedPacket

__all__ = ["CLAW_TAG", "CLAW_PROTOCOL_VERSION", "META_MAX_SIZE", "encode_tags", "decode_tags"]

CLAW_TAG = "claw"
"""Tag key a claw node sets; its value is the claw protocol version."""
CLAW_PROTOCOL_VERSION = "1"
META_MAX_SIZE = 512
"""memberlist ``MetaMaxSize`` (bytes): Serf refuses larger tags, memberlist panics."""
_TAG_MAGIC = 0xFF


def encode_tags(tags: dict[str, str]) -> bytes:
    """Encode tags (in the dict's order) as Serf does; ValueError if over 512 bytes."""
    body = {
        k.encode("utf-8", "surrogateescape"): v.encode("utf-8", "surrogateescape")
        for k, v in tags.items()
    }
    meta = bytes((_TAG_MAGIC,)) + msgpack.packb(body, use_bin_type=False)
    if len(meta) > META_MAX_SIZE:
        raise ValueError(f"encoded tags are {len(meta)} bytes, more than {META_MAX_SIZE}")
    return meta


def decode_tags(meta: bytes | None) -> dict[str, str]:
    """Decode ``Meta`` with Serf's semantics.

    Empty meta or meta not starting with 0xFF is the legacy form: ``{"role": meta}``.
    A 0xFF prefix followed by anything but a map of strings raises ``MalformedPacket``.
    """
    if not meta or meta[0] != _TAG_MAGIC:
        return {"role": bytes(meta or b"").decode("utf-8", "surrogateescape")}
    n = len(meta)
    try:
        unpacker = msgpack.Unpacker(
            raw=True, max_buffer_size=max(n, 16), max_str_len=n, max_bin_len=n,
            max_array_len=n, max_map_len=n, max_ext_len=0,
        )
        unpacker.feed(meta[1:])
        obj = unpacker.unpack()
    except Exception as exc:  # msgpack raises ValueError, OutOfData, TypeError...
        raise MalformedPacket(f"tags: undecodable msgpack ({type(exc).__name__})") from None
    if not isinstance(obj, dict):
        raise MalformedPacket("tags: not a map")
    tags: dict[str, str] = {}
    for k, v in obj.items():
        if v is None:  # Go decodes nil into a string as ""
            v = b""
        if not isinstance(k, bytes) or not isinstance(v, bytes):
            raise MalformedPacket("tags: keys and values must be strings")
        tags[k.decode("utf-8", "surrogateescape")] = v.decode("utf-8", "surrogateescape")
    return tags
