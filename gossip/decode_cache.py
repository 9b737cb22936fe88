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

Bounded for hostile input: each namespace is a ``BoundedMemo`` of at most
``max_entries`` entries and ``max_bytes`` charged bytes (``entry_cost`` of each key's length);
the oldest entry goes first. Flooding it with distinct bytes only evicts useful
entries, which costs speed, never correctness.
"""

from __future__ import annotations

from .bounded_memo import BoundedMemo
from .messages import PacketMessage, SerfMessage

__all__ = [
    "DEFAULT_MAX_BYTES", "DEFAULT_MAX_ENTRIES", "DEFAULT_MAX_ENTRY_BYTES", "ENTRY_OVERHEAD_BYTES",
    "DecodeCache", "entry_cost",
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


def entry_cost(key_bytes: int) -> int:
    """Bytes charged for one entry whose key is ``key_bytes`` long: the key, the decoded
    fields (at most as long as the key, since every field is decoded from it) and the
    fixed overhead."""
    return 2 * key_bytes + ENTRY_OVERHEAD_BYTES


class DecodeCache:
    """The two namespaces the codec memoises: memberlist leaf commands (type byte +
    body) and Serf payloads (Serf type byte + body). Separate because the same bytes
    mean different things in each. Callers store an entry with ``entry_cost(len(key))`` as
    its cost, so a key longer than ``max_entry_bytes`` is never stored.

    One per core by default (``SwimProtocol(decode_cache=...)`` to pass another); the
    simulator can share one across every core it runs (identical bytes are then decoded
    once for the whole world).
    """

    __slots__ = ("commands", "serf")

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES,
                 max_bytes: int = DEFAULT_MAX_BYTES,
                 max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES) -> None:
        max_entry_cost = entry_cost(max_entry_bytes)
        self.commands: BoundedMemo[bytes, PacketMessage] = BoundedMemo(
            max_entries, max_bytes, max_entry_cost)
        self.serf: BoundedMemo[bytes, SerfMessage] = BoundedMemo(
            max_entries, max_bytes, max_entry_cost)

    def stats(self) -> dict[str, int]:
        """Misses and sizes of both namespaces (for benchmarks and reports)."""
        out: dict[str, int] = {}
        for name, memo in (("commands", self.commands), ("serf", self.serf)):
            out[f"{name}_misses"] = memo.misses
            out[f"{name}_entries"] = len(memo)
            out[f"{name}_bytes"] = memo.total_cost
        return out

    def clear(self) -> None:
        self.commands.clear()
        self.serf.clear()
