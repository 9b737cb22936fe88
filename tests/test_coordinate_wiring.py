"""Coordinates in the core, as Serf's ping delegate on memberlist: on a fake clock.

Every ack for a UDP ping carries our coordinate (direct, or for a ping a relay sent on
someone's behalf); acks relayed back for an indirect ping and TCP acks carry none; only
a direct ack within ``probe_timeout_s`` updates the prober's coordinate (with RTT =
receive time - send time); malformed and rejected payloads are dropped and counted; a
member's cached coordinate stays while it is dead and goes when it is reaped; the knob
turns it all off.
"""

from __future__ import annotations

import math

import pytest

import gossip.core_timers
from gossip import codec
from gossip.config import GossipConfig
from gossip.coordinate import Coordinate
from gossip.messages import Ack, IndirectPing, Ping
from gossip.nearest import estimated_rtt
from gossip.ping_payload import decode_ack_payload, encode_ack_payload
from gossip.types import MemberState
from tests.core_harness import Cluster

pytestmark = [pytest.mark.usefixtures("strict_core"), pytest.mark.timeout(120)]


class Wire:
    """Every datagram the cluster sends, decoded: (src, dst, message)."""

    def __init__(self, cluster: Cluster) -> None:
        self.seen: list[tuple[str, str, object]] = []
        self.drop: set[tuple[str, str]] = set()
        cluster.drop_hook = self._hook

    def _hook(self, src: str, dst: str, data: bytes) -> bool:
        messages, _ = codec.decode_packet(data)
        self.seen.extend((src, dst, m) for m in messages)
        return (src, dst) in self.drop

    def of(self, kind: type, src: str, dst: str) -> list:
        return [m for s, d, m in self.seen if isinstance(m, kind) and (s, d) == (src, dst)]


def cluster(n: int, *, latency_s: float = 0.005, config: GossipConfig | None = None) -> Cluster:
    c = Cluster(config or GossipConfig.local(), seed=7, latency_s=latency_s)
    for i in range(n):
        c.add_node(f"n{i}")
    c.join_all()
    c.run(5.0, until=c.converged)
    assert c.converged()
    return c


def test_direct_acks_carry_our_coordinate_and_teach_the_rtt() -> None:
    c = cluster(2, latency_s=0.005)
    wire = Wire(c)
    c.run(30.0)
    acks = wire.of(Ack, "n1", "n0")
    assert len(acks) >= 20
    coords = [decode_ack_payload(a.payload) for a in acks]
    assert all(coord is not None and coord.is_valid() and len(coord.vec) == 8 for coord in coords)
    n0, n1 = c.core("n0"), c.core("n1")
    # n0 caches what n1 sent last, and its own estimate is near the true 10 ms RTT.
    assert n0.coordinate_of("n1") == coords[-1] or n0.coordinate_of("n1") in coords
    estimate = estimated_rtt(n0.coordinate_of("n0"), n0.coordinate_of("n1"))
    assert estimate is not None and 0.008 < estimate < 0.012
    assert n0.stats["coordinates_malformed"] == n0.stats["coordinates_rejected"] == 0
    # Our own coordinate is what we send: n1's last ack payload is n1's coordinate then.
    assert acks[-1].payload == encode_ack_payload(n1.coordinate_of("n1"))


def test_relayed_acks_and_tcp_acks_carry_nothing_and_update_nothing() -> None:
    # n0's datagrams to n1 are lost: n0 reaches n1 only through n2 (indirect) and TCP.
    c = cluster(3)
    wire = Wire(c)
    wire.drop.add(("n0", "n1"))
    c.run(30.0)
    relayed_seqs = {m.seq_no for m in wire.of(IndirectPing, "n0", "n2")}
    relayed = [a for a in wire.of(Ack, "n2", "n0") if a.seq_no in relayed_seqs]
    assert relayed and all(a.payload is None for a in relayed)
    # ... while n1's acks to n2's pings on n0's behalf carry n1's coordinate.
    relay_pings = {m.seq_no for m in wire.of(Ping, "n2", "n1")}
    assert all(decode_ack_payload(a.payload) is not None
               for a in wire.of(Ack, "n1", "n2") if a.seq_no in relay_pings)
    n0 = c.core("n0")
    assert n0.stats["tcp_pings"] > 0 and n0.member_state("n1") == MemberState.ALIVE
    assert n0.coordinate_of("n1") is None  # never a direct ack: never a coordinate
    assert n0.coordinate_of("n2") is not None
    assert c.core("n2").coordinate_of("n1") is not None


def test_a_late_direct_ack_ends_the_round_but_updates_nothing() -> None:
    # RTT 0.6 s: after probe_timeout_s (0.2 s), within the round (1 s).
    c = cluster(2, latency_s=0.3)
    c.run(20.0)
    n0 = c.core("n0")
    assert n0.stats["probe_failures"] == 0 and n0.stats["acks_in"] >= 10
    assert n0.coordinate_of("n1") is None
    assert n0.coordinate_of("n0") == Coordinate.origin(n0.coordinates.client.config)


@pytest.mark.parametrize("payload, counter", [
    (b"\x02anything", "coordinates_malformed"),
    (b"\x01\xc1", "coordinates_malformed"),
    (encode_ack_payload(Coordinate((math.nan,) * 8, 1.5, 0.0, 1e-5)), "coordinates_rejected"),
    (encode_ack_payload(Coordinate((0.0,) * 3, 1.5, 0.0, 1e-5)), "coordinates_rejected"),
])
def test_invalid_coordinates_are_dropped_and_counted(payload: bytes, counter: str) -> None:
    c = cluster(2)
    c.core("n1").coordinates.ack_payload = lambda: payload  # a hostile peer
    c.run(10.0)
    n0 = c.core("n0")
    assert n0.stats[counter] >= 5
    assert n0.coordinate_of("n1") is None
    assert n0.coordinate_of("n0").is_valid()
    assert n0.member_state("n1") == MemberState.ALIVE  # the probe itself succeeded


def test_a_member_s_coordinate_outlives_its_failure_and_goes_when_it_is_reaped(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gossip.core_timers, "TOMBSTONE_S", 60.0)  # 24 h in production
    c = cluster(3)
    c.run(10.0)
    n0 = c.core("n0")
    assert n0.coordinate_of("n2") is not None
    c.crash("n2")
    c.run(20.0, until=lambda: n0.member_state("n2") == MemberState.DEAD)
    assert n0.member_state("n2") == MemberState.DEAD
    assert n0.coordinate_of("n2") is not None  # Serf keeps it while the member is failed
    c.run(120.0, until=lambda: n0.member_state("n2") is None)
    assert n0.member_state("n2") is None and n0.stats["reaped"] >= 1
    assert n0.coordinate_of("n2") is None
    assert "n2" not in n0.coordinates.client._latency_samples
    assert n0.coordinate_of("n1") is not None


def test_coordinates_off_means_no_payload_and_no_coordinates() -> None:
    c = cluster(2, config=GossipConfig.local().replace(coordinates=False))
    wire = Wire(c)
    c.run(10.0)
    acks = wire.of(Ack, "n1", "n0")
    assert acks and all(a.payload is None for a in acks)
    n0 = c.core("n0")
    assert n0.coordinates is None
    assert n0.coordinate_of("n0") is None and n0.coordinate_of("n1") is None


def test_memberlist_mode_keeps_the_knob() -> None:
    assert GossipConfig.lan().coordinates is True
    assert GossipConfig.lan().memberlist().coordinates is True
    assert GossipConfig.lan().replace(coordinates=False).memberlist().coordinates is False
