"""Coordinates carried in probe acks, as Serf's ping delegate carries them.

memberlist asks a ``PingDelegate`` for bytes to append to every ack it sends for a
direct ping (``AckPayload``) and tells it, after a direct UDP probe that got its ack,
the peer, the RTT from sending the ping to receiving the ack, and the peer's payload
(``NotifyPingComplete``). Indirect probes and the TCP fallback do not report: their RTT
says nothing about the direct path. Serf (``serf/ping_delegate.go``) answers with its
coordinate and, on completion, updates its client with the peer's coordinate and caches
it; the cache entry and the client's samples go when the member is erased from the
member list (reaped), not when it merely fails.

``CoordinateExchange`` is that delegate without I/O: the probe code calls
``ack_payload()`` when it acks a ping and ``ping_complete(...)`` when a direct probe
completes, and the membership code calls ``forget(node)`` when it drops a member.
"""

from __future__ import annotations

from gossip.coordinate import Coordinate, CoordinateClient, InvalidCoordinate
from gossip.errors import MalformedPacket
from gossip.ping_payload import decode_ack_payload, encode_ack_payload

__all__ = ["CoordinateExchange"]


class CoordinateExchange:
    """Our coordinate out in acks, peers' coordinates in from acks, one cached per member.

    Counters for the caller's metrics: ``rejected`` (a decodable coordinate or an RTT the
    client refused: Serf's ``serf.coordinate.rejected``) and ``malformed`` (a payload that
    is not a coordinate at all, including another ping version).
    """

    def __init__(self, node_name: str, client: CoordinateClient) -> None:
        self.node_name = node_name
        self.client = client
        self._cache: dict[str, Coordinate] = {}  # peers only; ours is the client's
        self.rejected = 0
        self.malformed = 0

    def ack_payload(self) -> bytes:
        """Bytes for the ``Payload`` field of an ack we send for a direct ping."""
        return encode_ack_payload(self.client.coordinate)

    def ping_complete(self, node: str, rtt_s: float, payload: bytes | None) -> Coordinate | None:
        """A direct probe of ``node`` was acked after ``rtt_s`` seconds with ``payload``.

        Returns the peer's coordinate when it was accepted (and cached), else ``None``:
        an empty payload (the peer sends none), or a malformed or rejected one (counted).
        """
        try:
            coord = decode_ack_payload(payload)
        except MalformedPacket:
            self.malformed += 1
            return None
        if coord is None:
            return None
        try:
            self.client.update(node, coord, rtt_s)
        except InvalidCoordinate:
            self.rejected += 1
            return None
        self._cache[node] = coord
        return coord

    def coordinate_of(self, node: str) -> Coordinate | None:
        """The last accepted coordinate of ``node`` (ours for our own name), or ``None``."""
        if node == self.node_name:
            return self.client.coordinate
        return self._cache.get(node)

    def forget(self, node: str) -> None:
        """``node`` left the member list for good: drop its coordinate and samples."""
        if node == self.node_name:
            return
        self._cache.pop(node, None)
        self.client.forget_node(node)

    def __len__(self) -> int:
        """Peers with a cached coordinate."""
        return len(self._cache)
