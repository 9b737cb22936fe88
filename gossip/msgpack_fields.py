"""msgpack as go-msgpack 0.5 writes it, and hostile-input-safe field readers.

Shared by the memberlist codec (``gossip.codec``) and the Serf/claw codec
(``gossip.serf_codec``). Encoding: a Go struct is a map keyed by field name; strings and
``[]byte`` are msgpack raw; integers are range-checked (``LocalProtocolError`` names the
field). Decoding: every reader raises ``MalformedPacket`` naming the field, and missing or
nil fields take Go's zero value.
"""

from __future__ import annotations

from typing import Any, Literal, overload

import msgpack

from gossip.errors import LocalProtocolError, MalformedPacket

__all__ = [
    "I64_MAX", "I64_MIN", "U8", "U16MAX", "U32", "U64", "as_map", "get_bool", "get_bytes",
    "get_int", "get_ip", "get_str", "get_uint", "go_bytes", "go_str", "go_uint", "pack",
    "to_bytes", "to_str", "new_unpacker", "unpack_one",
]

U8, U16MAX, U32, U64 = 0xFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF
I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1

_packer = msgpack.Packer(use_bin_type=False, autoreset=True)


def pack(obj: Any) -> bytes:
    return _packer.pack(obj)


def go_str(text: str) -> bytes:
    """A Go string: the exact bytes (surrogateescape undoes our decoding)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except (UnicodeEncodeError, AttributeError) as exc:
        raise LocalProtocolError(f"not encodable as a Go string: {text!r}") from exc


def go_uint(value: int, limit: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise LocalProtocolError(f"{name} must be an integer in [0, {limit}], got {value!r}")
    return value


@overload
def go_bytes(value: bytes, name: str) -> bytes: ...
@overload
def go_bytes(value: bytes | None, name: str) -> bytes | None: ...
def go_bytes(value: bytes | None, name: str) -> bytes | None:
    if value is not None and not isinstance(value, (bytes, bytearray)):
        raise LocalProtocolError(f"{name} must be bytes or None, got {type(value).__name__}")
    return None if value is None else bytes(value)


# --- decoding helpers ----------------------------------------------------------------


def new_unpacker(limit: int) -> msgpack.Unpacker:
    limit = max(limit, 64)
    return msgpack.Unpacker(
        raw=True, max_buffer_size=limit, max_str_len=limit, max_bin_len=limit,
        max_array_len=limit, max_map_len=limit, max_ext_len=0,
    )


def unpack_one(buf: bytes, what: str) -> tuple[Any, int]:
    """Decode the first msgpack object of ``buf``: (object, bytes consumed)."""
    # Fast path: one ``unpackb`` call (no Unpacker object), same limits. Any failure
    # takes the Unpacker path below, which raises exactly what it always raised.
    limit = max(len(buf), 64)
    try:
        return msgpack.unpackb(
            buf, raw=True, max_str_len=limit, max_bin_len=limit, max_array_len=limit,
            max_map_len=limit, max_ext_len=0,
        ), len(buf)
    except msgpack.ExtraData as extra:  # trailing bytes: the object and where it ended
        # msgpack-types 0.8 leaves out ExtraData's two attributes (set in its __init__).
        return extra.unpacked, len(buf) - len(extra.extra)  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001, S110 - re-decoded below for the exact error
        pass
    unpacker = new_unpacker(len(buf))
    try:
        unpacker.feed(buf)
        obj = unpacker.unpack()
    except msgpack.OutOfData:
        raise MalformedPacket(f"{what}: truncated msgpack") from None
    except Exception as exc:  # ValueError/FormatError/StackError/TypeError/...
        raise MalformedPacket(f"{what}: bad msgpack ({type(exc).__name__})") from None
    return obj, unpacker.tell()


def as_map(obj: Any, what: str) -> dict[bytes, Any]:
    if not isinstance(obj, dict):
        raise MalformedPacket(f"{what}: expected a map, got {type(obj).__name__}")
    return obj


def get_uint(d: dict[bytes, Any], key: bytes, limit: int, what: str) -> int:
    v = d.get(key)
    if v is None:
        return 0
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= limit:
        raise MalformedPacket(f"{what}.{key.decode()}: not an integer in [0, {limit}]")
    return v


def get_int(d: dict[bytes, Any], key: bytes, what: str) -> int:
    v = d.get(key)
    if v is None:
        return 0
    if isinstance(v, bool) or not isinstance(v, int) or not I64_MIN <= v <= I64_MAX:
        raise MalformedPacket(f"{what}.{key.decode()}: not an int64")
    return v


def get_bool(d: dict[bytes, Any], key: bytes, what: str) -> bool:
    v = d.get(key)
    if v is None:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and v in (0, 1):  # go-msgpack's decodeBool accepts 0/1
        return bool(v)
    raise MalformedPacket(f"{what}.{key.decode()}: not a bool")


def to_bytes(v: Any, what: str) -> bytes | None:
    if v is None or isinstance(v, bytes):
        return v
    if isinstance(v, list) and all(
        isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 255 for x in v
    ):
        return bytes(v)  # Go's []byte also decodes from an array of small ints
    raise MalformedPacket(f"{what}: not a byte string")


def get_bytes(d: dict[bytes, Any], key: bytes, what: str) -> bytes | None:
    v = d.get(key)
    if v is None or v.__class__ is bytes:  # the usual case, without building a field name
        return v
    return to_bytes(v, f"{what}.{key.decode()}")


def to_str(v: Any, what: str) -> str:
    if v is None:
        return ""
    if not isinstance(v, bytes):
        raise MalformedPacket(f"{what}: not a string")
    return v.decode("utf-8", "surrogateescape")


def get_str(d: dict[bytes, Any], key: bytes, what: str) -> str:
    v = d.get(key)
    if v.__class__ is bytes:  # the usual case, without building a field name
        return v.decode("utf-8", "surrogateescape")
    return to_str(v, f"{what}.{key.decode()}")


@overload
def get_ip(d: dict[bytes, Any], key: bytes, what: str, *, required: Literal[True]) -> bytes: ...
@overload
def get_ip(d: dict[bytes, Any], key: bytes, what: str, *, required: bool) -> bytes | None: ...
def get_ip(d: dict[bytes, Any], key: bytes, what: str, *, required: bool) -> bytes | None:
    raw = get_bytes(d, key, what)
    if not raw:
        if required:
            raise MalformedPacket(f"{what}.{key.decode()}: missing IP address")
        return raw
    if len(raw) not in (4, 16):
        raise MalformedPacket(f"{what}.{key.decode()}: IP address of {len(raw)} bytes")
    return raw
