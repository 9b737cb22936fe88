"""Bounded memo of decoded wire messages, keyed by their exact bytes.

Every broadcast (alive, suspect, dead, Serf intents, claw heartbeats) reaches a node
several times (``retransmit_mult × log10(n+1)`` senders pass it on) as the identical
bytes inside different compound datagrams. Decoding those bytes once and handing out
the same message object afterwards makes the receive path cheap.

Why it changes nothing the core does:

* Only pure functions of the bytes are memoised: one leaf message (an alive, suspect,
  dead or user command, or one Serf payload), never a datagram's CRC, compression or
  compound layer, whose result depends on limits and nesting.
* Only successes are stored. Bytes that fail to decode are decoded (and rejected, and
  counted by the core) again every time they arrive.
* The stored messages are immutable named tuples whose fields are ints, strs, bytes and
  tuples of them (``gossip.messages``), so one object may be shared by every reader,
  even by many cores (the simulator's shared cache). Serf's push-pull state holds a
  dict and is never stored.

Bounded for hostile input: each namespace holds at most ``max_entries`` entries and
``max_bytes`` charged bytes (``entry_cost``); the oldest entry goes first. Flooding it
with distinct bytes only evicts useful entries, which costs speed, never correctness.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DEFAULT_MAX_BYTES", "DEFAULT_MAX_ENTRIES", "DEFAULT_MAX_ENTRY_BYTES", "ENTRY_OVERHEAD_BYTES",
    "BoundedMemo", "DecodeCache", "entry_cost",
]

DEFAULT_MAX_ENTRIES = 256
"""Entries per namespace of a node's own cache. A rumour is retransmitted for about a
second (``retransmit_limit`` gossip rounds), so the cache needs only the rumours of the
last second or so: few in steady state, a few hundred during a mass join (misses then
cost a decode each, as without the cache). Small because the simulator runs thousands
of cores in one process."""
DEFAULT_MAX_BYTES = 128 * 1024
"""Charged bytes (``entry_cost``) per namespace of a node's own cache: 128 KiB."""
DEFAULT_MAX_ENTRY_BYTES = 2048
"""Longest key stored (bytes). Broadcasts fit in one datagram of ``udp_buffer_bytes``
(1200 by default); anything longer is decoded each time instead."""
ENTRY_OVERHEAD_BYTES = 256
"""Estimated fixed memory of one entry beyond its bytes (dict slot, key and message
object headers, field objects), in bytes."""


def entry_cost(key: bytes) -> int:
    """Bytes charged for one entry: the key, the decoded fields (at most as long as the
    key, since every field is decoded from it) and the fixed overhead."""
    return 2 * len(key) + ENTRY_OVERHEAD_BYTES


class BoundedMemo:
    """bytes → decoded object, oldest inserted evicted first.

    Args:
        max_entries: most entries kept.
        max_bytes: most charged bytes kept (sum of ``entry_cost`` of the keys).
        max_entry_bytes: longer keys are never stored.
    """

    __slots__ = ("_bytes", "_map", "lookup", "max_bytes", "max_entries", "max_entry_bytes",
                 "misses")

    def __init__(self, max_entries: int, max_bytes: int, max_entry_bytes: int) -> None:
        if max_entries < 0 or max_bytes < 0 or max_entry_bytes < 0:
            raise ValueError("cache bounds must be >= 0")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_entry_bytes
        self._map: dict[bytes, Any] = {}
        self._bytes = 0
        self.lookup = self._map.get
        """``lookup(key)``: the stored object or None, uncounted (the hot path)."""
        self.misses = 0
        """Lookups that found nothing, as counted by the caller (the codec)."""

    def __len__(self) -> int:
        return len(self._map)

    @property
    def charged_bytes(self) -> int:
        """Sum of ``entry_cost`` over the entries kept."""
        return self._bytes

    def put(self, key: bytes, value: Any) -> None:
        """Store ``value`` (not None) for ``key`` unless the key is too long."""
        if len(key) > self.max_entry_bytes or key in self._map:
            return
        cost = entry_cost(key)
        if cost > self.max_bytes or self.max_entries == 0:
            return
        m = self._map
        while m and (len(m) >= self.max_entries or self._bytes + cost > self.max_bytes):
            old = next(iter(m))
            del m[old]
            self._bytes -= entry_cost(old)
        m[key] = value
        self._bytes += cost

    def clear(self) -> None:
        self._map.clear()
        self._bytes = 0

    def __getstate__(self) -> tuple[int, int, int]:
        # A pickled core (simulator snapshots) carries the bounds, not the entries: they
        # are only a speed-up and would make every snapshot bigger.
        return (self.max_entries, self.max_bytes, self.max_entry_bytes)

    def __setstate__(self, state: tuple[int, int, int]) -> None:
        self.__init__(*state)  # type: ignore[misc]


class DecodeCache:
    """The two namespaces the codec memoises: memberlist leaf commands (type byte +
    body) and Serf payloads (Serf type byte + body). Separate because the same bytes
    mean different things in each.

    One per core by default (``SwimProtocol(decode_cache=...)`` to pass another); the
    simulator can share one across every core it runs (identical bytes are then decoded
    once for the whole world).
    """

    __slots__ = ("commands", "serf")

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES,
                 max_bytes: int = DEFAULT_MAX_BYTES,
                 max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES) -> None:
        self.commands = BoundedMemo(max_entries, max_bytes, max_entry_bytes)
        self.serf = BoundedMemo(max_entries, max_bytes, max_entry_bytes)

    def stats(self) -> dict[str, int]:
        """Misses and sizes of both namespaces (for benchmarks and reports)."""
        out: dict[str, int] = {}
        for name, memo in (("commands", self.commands), ("serf", self.serf)):
            out[f"{name}_misses"] = memo.misses
            out[f"{name}_entries"] = len(memo)
            out[f"{name}_bytes"] = memo.charged_bytes
        return out

    def clear(self) -> None:
        self.commands.clear()
        self.serf.clear()
