"""What a core sends by UDP: its broadcast queues, the packing of datagrams, and the
datagrams waiting for the driver.

memberlist piggybacks gossip on every datagram (``sendMsg``): the room left after the
message itself is filled with queued broadcasts, as one compound message. Three queues
take turns in this order: memberlist's (alive, suspect, dead), Serf's (intents), and
claw's application messages, which only go to claw members (a Serf agent would log and
drop them). Whether a message fits in a datagram is decided in one place, ``fits``.

With gossip encryption (``gossip.wire_encryption``) every datagram is sealed last, after
compression and CRC, and the packing budget is ``udp_buffer_bytes`` minus the 29 bytes
sealing adds, so the sealed datagram still fits.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from . import codec
from .config import Compression, GossipConfig
from .dissemination import BroadcastQueue
from .stats import CoreStats
from .types import Address
from .wire_encryption import WireEncryption

__all__ = [
    "COMPOUND_HEADER_OVERHEAD", "COMPOUND_PART_OVERHEAD", "MAX_OUTBOX", "MAX_PARTS",
    "MAX_URGENT_APP", "Outbox",
]

COMPOUND_HEADER_OVERHEAD = 2
"""memberlist ``compoundHeaderOverhead``: type byte + part count."""
COMPOUND_PART_OVERHEAD = 2
"""memberlist ``compoundOverhead``: one big-endian u16 length per part."""
MAX_PARTS = 127
"""A compound holds at most 127 parts (the count is one byte, Go rejects ≥ 128)."""
MAX_OUTBOX = 8192
"""Unflushed datagrams kept; newer ones are dropped beyond it (``datagrams_dropped``)."""
MAX_URGENT_APP = 64
"""Queued urgent app messages tracked (``push_app(urgent=True)``); beyond it the oldest
loses its own gossip rounds and only rides on packets sent anyway."""


class Outbox:
    """The broadcast queues and the datagrams packed from them.

    ``memberlist``, ``serf`` and ``app`` are the queues (``dissemination.BroadcastQueue``);
    ``send`` and ``send_gossip`` pack datagrams, ``emit`` queues one as it is,
    ``drain`` hands them to the driver. Counts ``packets_out``, ``bytes_out`` and
    ``datagrams_dropped`` in ``stats``.
    """

    def __init__(self, config: GossipConfig, stats: CoreStats,
                 cluster_size: Callable[[], int],
                 encryption: WireEncryption | None = None) -> None:
        self._cfg = config
        self._encryption = encryption if encryption is not None else WireEncryption(None)
        self._stats = stats
        self._cluster_size = cluster_size
        """memberlist's estimate of the cluster size (retransmit limits), asked only
        when something is queued."""
        self.memberlist = BroadcastQueue(config.retransmit_mult)
        self.serf = BroadcastQueue(config.retransmit_mult)
        # Claw app messages may use a smaller retransmit count (config.app_retransmit_mult).
        self.app = BroadcastQueue(config.app_retransmit_mult or config.retransmit_mult)
        self._urgent_app: OrderedDict[int, None] = OrderedDict()  # app queue handles
        self._datagrams: list[tuple[Address, bytes]] = []

    def fits(self, payload: bytes) -> bool:
        """Whether ``payload`` fits in one datagram as a part of a compound message (so
        it can be piggybacked, and sent alone in any case)."""
        return (len(payload) + COMPOUND_PART_OVERHEAD
                <= self.packet_budget() - COMPOUND_HEADER_OVERHEAD)

    def packet_budget(self) -> int:
        """Bytes a datagram may hold before sealing: ``udp_buffer_bytes``, less the
        encryption overhead when keys are installed (memberlist ``sendMsg``/``gossip``)."""
        return self._cfg.udp_buffer_bytes - self._encryption.packet_overhead()

    # --- queues -------------------------------------------------------------------

    def push_app(self, payload: bytes, key: str | None = None, *, urgent: bool = False) -> None:
        """Queue a claw app message; ``urgent``: it starts gossip rounds of its own even
        when ``app_gossip_rounds`` is off."""
        handle = self.app.push(payload, key)
        if urgent:
            self._urgent_app[handle] = None
            if len(self._urgent_app) > MAX_URGENT_APP:
                self._urgent_app.popitem(last=False)

    def forget_memberlist(self) -> None:
        """Drop memberlist's queued broadcasts (a converged start: everyone knows them)."""
        self.memberlist = BroadcastQueue(self._cfg.retransmit_mult)

    @property
    def pending(self) -> int:
        """Broadcasts waiting in the three queues together."""
        return len(self.memberlist) + len(self.serf) + len(self.app)

    @property
    def dropped(self) -> int:
        """Broadcasts the queues dropped for lack of room."""
        return self.memberlist.dropped + self.serf.dropped + self.app.dropped

    def gossip_due(self) -> bool:
        """Is there anything a gossip round should send? App messages count only with
        ``app_gossip_rounds`` or while one of them is urgent; otherwise they wait for
        packets sent anyway."""
        app_due = len(self.app) and (self._cfg.app_gossip_rounds or self._urgent_app_due())
        return bool(len(self.memberlist) or len(self.serf) or app_due)

    def _urgent_app_due(self) -> bool:
        """An urgent app message is still queued (forgets those sent or replaced)."""
        for handle in [h for h in self._urgent_app if not self.app.is_pending(h)]:
            del self._urgent_app[handle]
        return bool(self._urgent_app)

    def take(self, limit: int, to_claw: bool, max_parts: int, to: Address) -> list[bytes]:
        """Broadcasts for one datagram to ``to``: at most ``max_parts`` whose parts fit in
        ``limit`` bytes; app ones only ``to_claw``."""
        ml, serf, app = self.memberlist, self.serf, self.app
        if not (len(ml) or len(serf) or (to_claw and len(app))):
            return []  # the common case once a cluster is quiet: nothing to piggyback
        n = self._cluster_size()
        queues = (ml, serf, app) if to_claw else (ml, serf)
        out: list[bytes] = []
        for q in queues:
            if len(out) >= max_parts:
                break
            if not len(q):
                continue  # (take would return nothing and change nothing)
            got = q.take(COMPOUND_PART_OVERHEAD, limit, n, max_count=max_parts - len(out), to=to)
            if got:
                limit -= sum(map(len, got)) + COMPOUND_PART_OVERHEAD * len(got)
                out.extend(got)
        return out

    # --- datagrams ----------------------------------------------------------------

    def send(self, address: Address, primary: bytes, *, to_claw: bool) -> None:
        """memberlist ``sendMsg``: ``primary`` plus piggybacked broadcasts that fit."""
        avail = self.packet_budget() - len(primary) - COMPOUND_HEADER_OVERHEAD
        extra = self.take(avail, to_claw, MAX_PARTS - 1, address)
        buf = primary if not extra else codec.encode_compound([primary, *extra])
        self.emit(address, buf, crc=False)

    def gossip_packet(self, to: Address, to_claw: bool) -> bytes | None:
        """One gossip datagram's worth of broadcasts for ``to`` (None: nothing for it)."""
        parts = self.take(self.packet_budget() - COMPOUND_HEADER_OVERHEAD, to_claw,
                          MAX_PARTS, to)
        return compound(parts) if parts else None

    def emit(self, address: Address, buf: bytes, *, crc: bool) -> None:
        """Queue one datagram: LZW-compressed if configured and smaller, CRC if asked,
        then sealed if encryption is on."""
        if self._cfg.compression is Compression.ALL:
            compressed = codec.compress_packet(buf)
            if len(compressed) < len(buf):
                buf = compressed
        if crc:
            buf = codec.add_crc(buf)
        buf = self._encryption.seal_packet(buf)
        if len(self._datagrams) >= MAX_OUTBOX:
            self._stats.datagrams_dropped += 1
            return
        self._datagrams.append((address, buf))
        self._stats.packets_out += 1
        self._stats.bytes_out += len(buf)

    def drain(self) -> list[tuple[Address, bytes]]:
        """The datagrams queued since the last call, oldest first."""
        out, self._datagrams = self._datagrams, []
        return out


def compound(parts: list[bytes]) -> bytes:
    """One datagram of ``parts``: the part itself if alone, else a compound message."""
    return parts[0] if len(parts) == 1 else codec.encode_compound(parts)
