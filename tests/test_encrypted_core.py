"""Gossip encryption in the core, on the fake network of ``tests.core_harness``.

An encrypted cluster converges and sends nothing in clear; a node without the key or
with another key never enters any view and changes nothing; plaintext datagrams, Serf's
real datagrams under a key we do not hold, and forged ones change no state; a plaintext
cluster moves to encryption with the verify flags without a failure; a key rotation on
the shared keyrings takes effect on the live cores.
"""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

import pytest

from gossip.addresses import ip_to_bytes
from gossip.codec import add_crc, encode_compound, encode_message
from gossip.config import GossipConfig
from gossip.encryption import PACKET_OVERHEAD
from gossip.errors import LocalProtocolError, MalformedPacket
from gossip.events import JoinResult, MemberFailed, QueryReceived
from gossip.key_queries import INSTALL_KEY, LIST_KEYS, encode_key_request
from gossip.keyring import Keyring
from gossip.messages import Alive, Dead, SerfQuery, SerfQueryResponse, SerfRelay, Suspect, UserMsg
from gossip.protocol import SwimProtocol
from gossip.serf_codec import encode_serf
from gossip.serf_query import QueryParams
from gossip.types import MemberState
from gossip.wire_encryption import NOT_CONFIGURED, NOT_ENCRYPTED
from tests.core_harness import Cluster

pytestmark = pytest.mark.usefixtures("strict_core")  # a bug the core survives fails the test

DATA = Path(__file__).parent / "data"
KEY = base64.b64decode((DATA / "encrypt_key.b64").read_text().strip())
OTHER_KEY = bytes(range(32))
NEW_KEY = b"\x07" * 16
VECTORS = json.loads((DATA / "vectors.json").read_text())
SERF_ENCRYPTED_UDP = [bytes.fromhex(v["hex"]) for v in VECTORS
                      if v["encrypted"] and v["ok"] and v["transport"] == "udp"]
SERF_PLAIN_UDP = [bytes.fromhex(v["hex"]) for v in VECTORS
                  if not v["encrypted"] and v["transport"] == "udp"]
NAMES = ["n0", "n1", "n2", "n3"]
FORGER = ("10.9.9.9", 7946)


def keyring(rng: random.Random, *keys: bytes) -> Keyring:
    return Keyring(keys, random_bytes=rng.randbytes)


def encrypted_cluster(key: bytes = KEY, *, seed: int = 1,
                      config: GossipConfig | None = None) -> Cluster:
    c = Cluster(config or GossipConfig.local(), seed=seed)
    for name in NAMES:
        c.add_node(name, keyring=keyring(c.rng, key))
    c.join_all()
    c.run(30.0, until=c.converged)
    assert c.converged(), "an encrypted cluster must converge"
    return c


def views(c: Cluster) -> dict[str, list[tuple[str, MemberState, int]]]:
    """Every node's whole view: (name, state, incarnation) of each member."""
    return {n: sorted((m.name, m.state, m.incarnation) for m in c.core(n).members())
            for n in NAMES}


def test_encrypted_cluster_converges_and_sends_nothing_in_clear() -> None:
    c = Cluster(GossipConfig.local(), seed=3)
    seen: list[bytes] = []
    c.drop_hook = lambda src, dst, data: seen.append(data) and False
    for name in NAMES:
        c.add_node(name, keyring=keyring(c.rng, KEY))
    c.join_all()
    c.run(30.0, until=c.converged)
    assert c.converged()
    c.run(10.0)
    opener = Keyring([KEY])
    assert len(seen) > 50  # probes, acks and gossip of 10 s
    for data in seen:
        opener.decrypt_packet(data)  # raises for anything not sealed with KEY
    assert max(map(len, seen)) <= GossipConfig.local().udp_buffer_bytes
    for name in NAMES:
        stats = c.core(name).stats
        assert stats["decrypt_failures"] == 0 and stats["push_pulls_out"] + stats["push_pulls_in"] > 0
    assert not c.internal_errors()


@pytest.mark.parametrize("intruder_keys, error", [
    ((), NOT_CONFIGURED),                  # our reply is sealed: it cannot read it
    ((OTHER_KEY,), "could decrypt"),       # sealed under a key it does not hold
])
def test_a_node_without_the_key_never_enters_a_view(intruder_keys: tuple[bytes, ...],
                                                    error: str) -> None:
    c = encrypted_cluster()
    before = views(c)
    intruder = c.add_node("x", keyring=keyring(c.rng, *intruder_keys))
    c.join("x", ["n0", "n1"])
    c.run(60.0)  # two push-pull periods of the local profile, many probe rounds
    assert views(c) == before
    assert all(c.core(n).member("x") is None for n in NAMES)
    assert [m.name for m in intruder.members()] == ["x"]
    results = c.events_of("x", JoinResult)
    assert results and not any(r.ok for r in results)
    assert error in results[0].error
    failures = sum(c.core(n).stats["decrypt_failures"] for n in ("n0", "n1"))
    assert failures >= 2  # at least the two join push-pulls
    assert not any(c.events_of(n, MemberFailed) for n in NAMES)


def test_plaintext_and_foreign_key_datagrams_change_no_state() -> None:
    c = encrypted_cluster(OTHER_KEY)
    before = views(c)
    forged = [
        encode_message(Dead(99, "n1", "n2")),
        encode_message(Suspect(99, "n2", "n3")),
        encode_message(Alive(50, "evil", ip_to_bytes("10.9.9.9"), 7946, b"", None)),
        encode_compound([encode_message(Dead(99, "n3", "n0")),
                         encode_message(Alive(99, "n2", ip_to_bytes("10.9.9.9"), 7946))]),
    ]
    forged += [add_crc(f) for f in forged]
    for data in forged + SERF_PLAIN_UDP + SERF_ENCRYPTED_UDP:  # Serf's: under KEY
        c.inject("n0", data, FORGER)
    c.run(5.0)
    assert views(c) == before
    assert c.core("n0").stats["decrypt_failures"] == len(forged) + len(SERF_PLAIN_UDP) + len(
        SERF_ENCRYPTED_UDP)
    stats = c.core("n0").stats  # the same failures, split by reason (for /metrics)
    by_reason = {k: v for k, v in stats.items() if k.startswith("decrypt_failed_")}
    assert sum(by_reason.values()) == stats["decrypt_failures"] and len(by_reason) >= 2
    [report] = c.core("n0").decrypt_failure_reports()  # one line, not one per packet
    assert report.source == FORGER and report.failures == 1


def test_forged_datagrams_sealed_with_the_key_do_change_state() -> None:
    # The control for the test above: the same forgery under the cluster's key is read.
    c = encrypted_cluster()
    sealer = Keyring([KEY])
    c.inject("n0", sealer.encrypt_packet(encode_message(Dead(99, "n1", "n2"))), FORGER)
    assert c.core("n0").member_state("n1") == MemberState.DEAD
    assert c.core("n0").stats["decrypt_failures"] == 0


def test_not_verifying_incoming_reads_plaintext() -> None:
    cfg = GossipConfig.local().replace(gossip_verify_incoming=False)
    c = encrypted_cluster(config=cfg)
    c.inject("n0", encode_message(Dead(99, "n1", "n2")), FORGER)
    assert c.core("n0").member_state("n1") == MemberState.DEAD


def _key_query(name: str, qid: int) -> bytes:
    query = SerfQuery(ltime=50 + qid, id=qid, addr=ip_to_bytes(FORGER[0]), port=FORGER[1],
                      source_node="x", filters=(), flags=0, relay_factor=0,
                      timeout_ns=2_000_000_000, name=name, payload=encode_key_request(NEW_KEY))
    return encode_message(UserMsg(encode_serf(query)))


def _received(c: Cluster, qid: int) -> dict[str, bool]:
    """Node -> whether the query ``qid`` reached its handler encrypted."""
    return {n: e.query.encrypted for n in NAMES for e in c.events_of(n, QueryReceived)
            if e.query.id == qid}


def test_key_changes_count_only_when_they_arrive_encrypted() -> None:
    # Mid-migration (verify_incoming off) plaintext is read, so a forger's key change
    # reaches n1's handler, marked unencrypted (ClusterKeys refuses it), and goes no
    # further: passed on under n1's key it would reach the others encrypted. (LAN
    # profile: the local one's 2 retransmits can leave a member unreached by a broadcast.)
    c = encrypted_cluster(config=GossipConfig.lan().replace(gossip_verify_incoming=False))
    c.inject("n1", _key_query(INSTALL_KEY, 1), FORGER)
    c.run(3.0)
    assert _received(c, 1) == {"n1": False}
    # The same change sealed under the cluster's key is passed on and obeyed everywhere.
    c.inject("n1", Keyring([KEY]).encrypt_packet(_key_query(INSTALL_KEY, 2)), FORGER)
    c.run(3.0)
    assert _received(c, 2) == dict.fromkeys(NAMES, True)
    # A plaintext list changes nothing: it spreads as Serf's does, and reaches the
    # others sealed under n1's key (what a passed-on key change would have done).
    c.inject("n1", _key_query(LIST_KEYS, 3), FORGER)
    c.run(3.0)
    assert _received(c, 3) == {**dict.fromkeys(NAMES, True), "n1": False}


def test_a_plaintext_key_change_is_passed_on_while_nobody_seals() -> None:
    # Migration step 1 (keys installed, both verify flags off): what n1 passes on leaves
    # in plaintext, so every node gets it as it came (unencrypted) and refuses it, as
    # the claw nodes behind a Serf agent that sent it only to n1 must.
    off = GossipConfig.local().replace(gossip_verify_incoming=False, gossip_verify_outgoing=False)
    c = encrypted_cluster(config=off)
    c.inject("n1", _key_query(INSTALL_KEY, 1), FORGER)
    c.run(3.0)
    assert _received(c, 1) == dict.fromkeys(NAMES, False)


def _answer(ltime: int, qid: int, sender: str) -> bytes:
    """A Serf query response from ``sender``, encoded as a memberlist user message."""
    response = SerfQueryResponse(ltime=ltime, id=qid, from_=sender, flags=0,
                                 payload=b"\x08forged")
    return encode_message(UserMsg(encode_serf(response)))


def _relay_to_n0(c: Cluster, answer: bytes) -> bytes:
    """``answer`` (from ``_answer``) wrapped in a Serf relay message addressed to n0."""
    relay = SerfRelay(dest_ip=ip_to_bytes(c.nodes["n0"].address[0]), dest_port=7946,
                      dest_name="n0", inner=answer[1:])  # the Serf bytes, without type 8
    return encode_message(UserMsg(encode_serf(relay)))


def test_answers_to_key_queries_count_only_when_sealed() -> None:
    # verify_incoming off: plaintext is read, but a plaintext answer to our key query
    # could come from anyone (Serf would count it): dropped and counted; sealed, it counts.
    c = encrypted_cluster(config=GossipConfig.local().replace(gossip_verify_incoming=False))
    n0 = c.core("n0")
    query = n0.start_query(LIST_KEYS, encode_key_request(b""), QueryParams(), c.now)
    c.inject("n0", _answer(query.ltime, query.id, "forger"), FORGER)
    assert "forger" not in query.responses and n0.stats["query_plaintext_answers"] == 1
    c.inject("n0", Keyring([KEY]).encrypt_packet(_answer(query.ltime, query.id, "holder")), FORGER)
    assert query.responses["holder"] == b"\x08forged"
    # A plaintext relay would leave sealed under n1's key: not forwarded.
    c.inject("n1", _relay_to_n0(c, _answer(query.ltime, query.id, "relayed")), FORGER)
    c.run(1.0)
    assert "relayed" not in query.responses
    assert c.core("n1").stats["query_plaintext_relays"] == 1
    assert c.core("n1").stats["query_relayed"] == 0


def test_our_own_answer_counts_while_we_send_in_plaintext() -> None:
    # Migration step 1: nothing is sealed, so the others' answers are dropped, but our
    # own answer to our own query never crosses the network and counts.
    off = GossipConfig.local().replace(gossip_verify_incoming=False, gossip_verify_outgoing=False)
    c = encrypted_cluster(config=off)
    query = c.core("n0").start_query(LIST_KEYS, encode_key_request(b""), QueryParams(), c.now)
    c.run(1.0)
    for name in NAMES:
        (got,) = [e.query for e in c.events_of(name, QueryReceived) if e.query.id == query.id]
        c.core(name).respond_query(got, name.encode(), c.now)
    # A relayed copy addressed to us is not ours: it counts only if it came sealed.
    c.inject("n0", _relay_to_n0(c, _answer(query.ltime, query.id, "relayed")), FORGER)
    c.run(1.0)
    assert query.responses == {"n0": b"n0"}
    assert c.core("n0").stats["query_plaintext_answers"] == 4


def test_a_plaintext_cluster_moves_to_encryption_without_a_failure() -> None:
    """Consul's documented migration: keys with both verify flags off everywhere, then
    verify_outgoing on everywhere, then verify_incoming on everywhere, one node
    restarted at a time (a new core, incarnation + 1, rejoining the others)."""
    base = GossipConfig.local()
    c = Cluster(base, seed=5)
    for name in NAMES:
        c.add_node(name)
    c.join_all()
    c.run(30.0, until=c.converged)
    incarnation = dict.fromkeys(NAMES, 1)

    def restart_all(config: GossipConfig, key: bytes | None) -> None:
        for name in NAMES:
            incarnation[name] += 1
            c.add_node(name, address=c.nodes[name].address, incarnation=incarnation[name],
                       config=config, keyring=keyring(c.rng, key) if key else None)
            c.join(name, [n for n in NAMES if n != name])
            c.run(20.0, until=c.converged)
            assert c.converged(), f"{name} rejoined in step {config}"
            c.run(5.0)

    restart_all(base.replace(gossip_verify_incoming=False, gossip_verify_outgoing=False), KEY)
    restart_all(base.replace(gossip_verify_incoming=False), KEY)
    restart_all(base, KEY)
    for name in NAMES:
        assert not c.events_of(name, MemberFailed), name
    # Now fully encrypted: a plaintext forgery is dropped.
    c.inject("n0", encode_message(Dead(99, "n1", "n2")), FORGER)
    assert c.core("n0").member_state("n1") == MemberState.ALIVE


def test_rotation_on_the_live_keyrings_keeps_the_cluster() -> None:
    c = encrypted_cluster()
    rings = [c.core(n).keyring for n in NAMES]
    for ring in rings:
        ring.install(NEW_KEY)
    c.run(5.0)
    for ring in rings:
        ring.use(NEW_KEY)
    c.run(5.0)
    for ring in rings:
        ring.remove(KEY)
    c.run(20.0)
    assert c.converged()
    assert not any(c.events_of(n, MemberFailed) for n in NAMES)
    assert all(c.core(n).stats["decrypt_failures"] == 0 for n in NAMES)
    # The old key no longer opens anything: a datagram sealed with it is dropped.
    c.inject("n0", Keyring([KEY]).encrypt_packet(encode_message(Dead(99, "n1", "n2"))), FORGER)
    assert c.core("n0").member_state("n1") == MemberState.ALIVE


def largest_app_message(core: SwimProtocol) -> int:
    """The longest claw app message body ``broadcast_app`` accepts (binary search)."""
    low, high = 0, 2000
    while low < high:
        mid = (low + high + 1) // 2
        try:
            core.broadcast_app(bytes(mid), 0.0)
            low = mid
        except LocalProtocolError:
            high = mid - 1
    return low


def test_app_messages_leave_room_for_the_seal() -> None:
    c = Cluster(GossipConfig.local(), seed=2)
    plain = c.add_node("p")
    sealed = c.add_node("s", keyring=keyring(c.rng, KEY))
    assert largest_app_message(plain) - largest_app_message(sealed) == PACKET_OVERHEAD


def test_the_request_channel_is_sealed_like_every_stream() -> None:
    c = encrypted_cluster()
    a, b = c.core("n0"), c.core("n1")
    payload = bytes([0xC9]) + b"\x80"  # a channel frame type byte and an empty map
    frame = a.channel_frame(payload)
    assert frame[0] == 10  # an encrypted stream frame
    assert b.channel_payload(frame, FORGER, c.now) == payload
    with pytest.raises(MalformedPacket, match="could decrypt"):
        Cluster(GossipConfig.local()).add_node(
            "x", keyring=keyring(random.Random(1), OTHER_KEY)).channel_payload(frame, FORGER, 0.0)
    plain = Cluster(GossipConfig.local()).add_node("p").channel_frame(payload)
    with pytest.raises(MalformedPacket, match=NOT_ENCRYPTED):
        b.channel_payload(plain, FORGER, c.now)
