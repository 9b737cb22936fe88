"""A claw node's static facts, carried in its memberlist metadata as Serf tags.

Facts that rarely change live here (platform, skills, ports, start time, coordinator
claim, maintenance flag); changing them costs an incarnation bump and an alive broadcast.
Load (cpu, memory, tasks) changes all the time and travels in resource heartbeats instead
(``node.heartbeat``). Short keys keep the encoding under memberlist's 512-byte limit;
``serf members`` shows them as ordinary tags.

| tag | meaning |
|---|---|
| ``claw`` | claw protocol version (marks a claw node) |
| ``v`` | claw-node version |
| ``pf`` / ``ar`` | platform (macos/windows/linux), architecture (x64/arm64/x86/arm) |
| ``hn`` | host name |
| ``ip`` / ``ts`` | IP address, Tailscale IP |
| ``sk`` / ``tg`` | skills, tags (comma-separated) |
| ``p`` / ``mx`` | OpenClaw port, max concurrent tasks |
| ``st`` | agent start time, unix milliseconds (election seniority) |
| ``api`` | REST API ``host:port`` |
| ``nc`` | ``1``: never coordinator |
| ``mt`` | ``1``: maintenance |
| ``ct`` | coordinator term claimed (absent: not coordinator) |
| ``cm`` | ``1``: the claim was made or held on a minority side (``node.election``) |
| ``id`` | node UUID: the data dir's 16 random bytes, raw (``node.identity``) |
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass

from gossip.errors import MalformedPacket
from gossip.tags import (
    CLAW_PROTOCOL_VERSION,
    CLAW_TAG,
    META_MAX_SIZE,
    decode_tags,
    encode_tags,
)

__all__ = ["META_CACHE_ENTRIES", "NODE_UUID_BYTES", "MetaCache", "MetadataTooLarge", "NodeMeta",
           "decode_meta", "encode_meta"]


NODE_UUID_BYTES = 16
"""Length of a node UUID (``node.store.NodeStore.claim_node_uuid`` makes them)."""
META_CACHE_ENTRIES = 4096
"""Decoded metadata a ``MetaCache`` keeps by default (entries, keyed by the raw bytes)."""


class MetadataTooLarge(ValueError):
    """The facts do not fit in 512 bytes (too many or too long skills/tags)."""


@dataclass(frozen=True, slots=True)
class NodeMeta:
    """Static facts of one claw node."""

    version: str = ""
    platform: str = ""
    arch: str = ""
    hostname: str = ""
    ip_address: str = ""
    tailscale_ip: str = ""
    skills: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    port: int = 18789
    max_concurrent_tasks: int = 5
    started_at: float = 0.0
    """Unix seconds (millisecond resolution on the wire)."""
    api: str = ""
    """REST API ``host:port``; empty if it serves none."""
    no_coordinator: bool = False
    maintenance: bool = False
    term: int = 0
    """Coordinator term this node claims; 0: it is not coordinator."""
    minority_claim: bool = False
    """Its claim is held from a minority of the last stable view (``node.election``)."""
    is_claw: bool = True
    uuid: bytes = b""
    """The data dir's node UUID (``NODE_UUID_BYTES`` raw bytes); b"": none sent (an older
    claw-node, or a plain Serf agent)."""

    def replace(self, **changes: object) -> NodeMeta:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def encode_meta(meta: NodeMeta) -> bytes:
    """Serf tags for ``meta``.

    Raises:
        MetadataTooLarge: the encoding exceeds memberlist's 512-byte limit.
    """
    tags: dict[str, str] = {
        CLAW_TAG: CLAW_PROTOCOL_VERSION,
        "v": meta.version, "pf": meta.platform, "ar": meta.arch, "hn": meta.hostname,
        "ip": meta.ip_address, "p": str(meta.port), "mx": str(meta.max_concurrent_tasks),
        "st": str(round(meta.started_at * 1000)),
    }
    optional = {
        "ts": meta.tailscale_ip, "sk": ",".join(meta.skills), "tg": ",".join(meta.tags),
        "api": meta.api, "nc": "1" if meta.no_coordinator else "",
        "mt": "1" if meta.maintenance else "", "ct": str(meta.term) if meta.term > 0 else "",
        "cm": "1" if meta.term > 0 and meta.minority_claim else "",
        # Raw bytes: Serf tags are Go strings, and ``gossip.tags`` round-trips any bytes.
        "id": meta.uuid.decode("utf-8", "surrogateescape"),
    }
    tags.update((k, v) for k, v in optional.items() if v)
    try:
        return encode_tags(tags)
    except ValueError as exc:
        raise MetadataTooLarge(
            f"node facts take more than {META_MAX_SIZE} bytes of gossip metadata ({exc}); "
            f"use fewer or shorter skills/tags") from None


def _int(text: str, default: int, lo: int, hi: int) -> int:
    try:
        value = int(text)
    except ValueError:
        return default
    return value if lo <= value <= hi else default


def _labels(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.split(",") if part)


def decode_meta(raw: bytes) -> NodeMeta:
    """Facts from a member's metadata; never raises.

    A member without the ``claw`` tag (a plain Serf agent, or garbage) comes back with
    ``is_claw=False`` and whatever could be read; bad numbers fall back to defaults.
    """
    try:
        tags = decode_tags(raw)
    except MalformedPacket:
        return NodeMeta(is_claw=False)
    get = tags.get
    return NodeMeta(
        version=get("v", ""), platform=get("pf", ""), arch=get("ar", ""),
        hostname=get("hn", ""), ip_address=get("ip", ""), tailscale_ip=get("ts", ""),
        skills=_labels(get("sk", "")), tags=_labels(get("tg", "")),
        port=_int(get("p", ""), 18789, 0, 65535),
        max_concurrent_tasks=_int(get("mx", ""), 5, 1, 1_000_000),
        started_at=_int(get("st", ""), 0, 0, 2**53) / 1000.0,
        api=get("api", ""), no_coordinator=get("nc") == "1", maintenance=get("mt") == "1",
        term=_int(get("ct", ""), 0, 0, 2**53), minority_claim=get("cm") == "1",
        is_claw=CLAW_TAG in tags, uuid=_uuid(get("id", "")),
    )


def _uuid(text: str) -> bytes:
    raw = text.encode("utf-8", "surrogateescape")
    return raw if len(raw) == NODE_UUID_BYTES else b""


class MetaCache:
    """Decoded metadata keyed by its raw bytes, so elections and API answers over the
    whole member table don't decode every member's tags again. Bounded: past
    ``max_entries`` the oldest entry goes.
    """

    def __init__(self, max_entries: int = META_CACHE_ENTRIES) -> None:
        self._max_entries = max_entries
        self._decoded: OrderedDict[bytes, NodeMeta] = OrderedDict()

    def decode(self, raw: bytes) -> NodeMeta:
        """``decode_meta(raw)``, from the cache when it was seen before."""
        cached = self._decoded.get(raw)
        if cached is None:
            cached = decode_meta(raw)
            self._decoded[raw] = cached
            if len(self._decoded) > self._max_entries:
                self._decoded.popitem(last=False)
        return cached
