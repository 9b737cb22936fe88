"""``gossip.wire_encryption`` and ``gossip.decrypt_failures``: what the core seals and
accepts, and how failures are counted and reported (no core, no clock but ``now``)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from gossip.config import GossipConfig
from gossip.decrypt_failures import DecryptFailures
from gossip.encryption import PACKET_OVERHEAD
from gossip.errors import DecryptionFailed, MalformedPacket
from gossip.keyring import Keyring
from gossip.outbox import COMPOUND_HEADER_OVERHEAD, COMPOUND_PART_OVERHEAD, Outbox
from gossip.stats import CoreStats
from gossip.wire_encryption import NOT_CONFIGURED, NOT_ENCRYPTED, WireEncryption

DATA = Path(__file__).parent / "data"
KEY = base64.b64decode((DATA / "encrypt_key.b64").read_text().strip())
OTHER_KEY = bytes(range(32))
VECTORS = json.loads((DATA / "vectors.json").read_text())
SERF_UDP = [bytes.fromhex(v["hex"]) for v in VECTORS
            if v["encrypted"] and v["ok"] and v["transport"] == "udp"]
SERF_TCP = [bytes.fromhex(v["hex"]) for v in VECTORS
            if v["encrypted"] and v["ok"] and v["transport"] == "tcp"]
SRC = ("10.0.0.9", 7946)


def layer(keys: tuple[bytes, ...] = (KEY,), **flags: bool) -> WireEncryption:
    return WireEncryption(Keyring(keys), **flags)


# --- datagrams -------------------------------------------------------------------------


def test_without_keys_everything_passes_unchanged() -> None:
    plain = layer(())
    assert not plain.enabled and plain.packet_overhead() == 0
    assert plain.seal_packet(b"\x00abc") == b"\x00abc"
    assert plain.open_packet(SERF_UDP[0], SRC, 0.0) == SERF_UDP[0]
    assert plain.seal_stream(b"\x06xyz") == b"\x06xyz"
    assert WireEncryption(None).open_packet(b"x", SRC, 0.0) == b"x"


def test_serf_datagrams_open_and_ours_round_trip() -> None:
    enc = layer()
    for raw in SERF_UDP[:50]:
        assert enc.open_packet(raw, SRC, 0.0) is not None
    sealed = enc.seal_packet(b"\x00hello")
    assert len(sealed) == 6 + PACKET_OVERHEAD and sealed[0] == 1
    assert enc.open_packet(sealed, SRC, 0.0) == b"\x00hello"
    assert enc.failures.total == 0


@pytest.mark.parametrize("datagram", [
    b"", b"\x00", b"\x02\x81\xa5SeqNo\x01",  # plaintext (an ack)
    bytes(60), b"\x01" + bytes(40), SERF_UDP[0][:-1], SERF_UDP[0][:1] + SERF_UDP[0][2:],
])
def test_verifying_drops_and_counts_what_does_not_open(datagram: bytes) -> None:
    enc = layer()
    assert enc.open_packet(datagram, SRC, 5.0) is None
    assert enc.failures.total == 1 and enc.failures.by_source() == {SRC: 1}


def test_another_key_is_dropped_and_a_secondary_key_opens() -> None:
    ours = layer((OTHER_KEY,))
    assert ours.open_packet(SERF_UDP[0], SRC, 0.0) is None
    ours.keyring.install(KEY)  # rotation on the shared keyring: effective at once
    assert ours.open_packet(SERF_UDP[0], SRC, 0.0) is not None


def test_not_verifying_incoming_reads_plaintext_but_still_opens_sealed() -> None:
    enc = layer(verify_incoming=False)
    assert enc.open_packet(b"\x02\x81\xa5SeqNo\x01", SRC, 0.0) == b"\x02\x81\xa5SeqNo\x01"
    assert enc.open_packet(enc.seal_packet(b"\x00hi"), SRC, 0.0) == b"\x00hi"
    assert enc.failures.total == 0


def test_not_verifying_outgoing_sends_plaintext_keeping_the_budget() -> None:
    enc = layer(verify_outgoing=False)
    assert enc.seal_packet(b"\x00hi") == b"\x00hi" and enc.seal_stream(b"\x06") == b"\x06"
    assert enc.packet_overhead() == PACKET_OVERHEAD


# --- streams ---------------------------------------------------------------------------


def test_serf_stream_frames_open() -> None:
    enc = layer()
    for raw in SERF_TCP:
        assert enc.open_stream(raw, SRC, 0.0)[0] in (2, 6, 8, 9, 13)


def test_streams_round_trip_and_refuse_as_memberlist() -> None:
    enc = layer()
    frame = enc.seal_stream(b"\x06payload")
    assert frame[0] == 10 and int.from_bytes(frame[1:5], "big") == len(frame) - 5
    assert enc.open_stream(frame, SRC, 0.0) == b"\x06payload"
    with pytest.raises(MalformedPacket, match=NOT_ENCRYPTED):
        enc.open_stream(b"\x06payload", SRC, 0.0)
    with pytest.raises(MalformedPacket, match=NOT_CONFIGURED):
        layer(()).open_stream(frame, SRC, 0.0)
    with pytest.raises(DecryptionFailed):
        layer((OTHER_KEY,)).open_stream(frame, SRC, 0.0)
    assert layer(verify_incoming=False).open_stream(b"\x06p", SRC, 0.0) == b"\x06p"


def test_what_was_sealed_is_told_apart_from_plaintext_accepted() -> None:
    # Serf queries carry this on: key changes are obeyed only when it is True.
    migrating = layer(verify_incoming=False)
    assert migrating.open_datagram(migrating.seal_packet(b"\x00hi"), SRC, 0.0) == (b"\x00hi", True)
    assert migrating.open_datagram(b"\x00hi", SRC, 0.0) == (b"\x00hi", False)
    assert WireEncryption(None).open_datagram(b"\x00hi", SRC, 0.0) == (b"\x00hi", False)
    assert layer().open_datagram(b"\x00hi", SRC, 0.0) is None
    assert migrating.stream_was_sealed(migrating.seal_stream(b"\x06p"))
    assert not migrating.stream_was_sealed(b"\x06p")
    assert not WireEncryption(None).stream_was_sealed(b"\x0a\x00")


@pytest.mark.parametrize("frame", [
    b"\x0a", b"\x0a\x00\x00", b"\x0a\x00\x00\x00\x40" + bytes(10),  # truncated
    b"\x0a\xff\xff\xff\xff" + bytes(64),  # larger than the cap
])
def test_bad_frames_are_refused_before_decrypting(frame: bytes) -> None:
    enc = layer(max_stream_bytes=1 << 20)
    with pytest.raises(MalformedPacket):
        enc.open_stream(frame, SRC, 0.0)
    assert enc.failures.by_source() == {(SRC[0], 0): 1}  # streams count per host


# --- the packing budget ----------------------------------------------------------------


def test_outbox_budget_shrinks_by_the_overhead_and_sealed_datagrams_fit() -> None:
    cfg = GossipConfig.lan()
    enc = layer()
    box = Outbox(cfg, CoreStats(), lambda: 10, enc)
    plain_box = Outbox(cfg, CoreStats(), lambda: 10)
    assert plain_box.packet_budget() - box.packet_budget() == PACKET_OVERHEAD
    biggest = box.packet_budget() - COMPOUND_HEADER_OVERHEAD - COMPOUND_PART_OVERHEAD
    assert box.fits(bytes(biggest)) and not box.fits(bytes(biggest + 1))
    assert plain_box.fits(bytes(biggest + 1))
    for i in range(200):  # fill the queue well past one datagram
        box.memberlist.push(b"\x04" + bytes([i]) * 90, key=str(i))
    box.send(("10.0.0.2", 7946), b"\x00ping", to_claw=True)
    [(_, sealed)] = box.drain()
    assert len(sealed) <= cfg.udp_buffer_bytes
    assert enc.open_packet(sealed, SRC, 0.0)[0] == 7  # a compound inside


# --- failure counting ------------------------------------------------------------------


def test_one_report_per_source_per_minute_with_exact_counts() -> None:
    table = DecryptFailures(report_interval_s=60.0)
    a, b = ("10.0.0.1", 7946), ("10.0.0.2", 7946)
    for i in range(100):  # 100 packets a second for a second from a
        table.record(a, "no-key", i / 100)
    table.record(b, "plaintext", 0.5, stream=True)
    first = table.reports()
    assert [(r.source, r.failures, r.total) for r in first] == [(a, 1, 1), (b, 1, 1)]
    assert first[1].stream and first[1].reason == "plaintext"
    table.record(a, "no-key", 59.0)
    assert table.reports() == []
    table.record(a, "short", 60.5)
    [again] = table.reports()
    assert (again.failures, again.total, again.reason) == (101, 102, "short")
    assert table.total == 103 and table.by_source() == {b: 1, a: 102}
    assert table.by_reason == {"no-key": 101, "plaintext": 1, "short": 1}


def test_the_table_is_bounded_under_a_spoofed_source_flood() -> None:
    table = DecryptFailures(max_sources=16)
    for i in range(10_000):
        table.record((f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", 7946), "no-key", 0.0)
    assert len(table) == 16 and table.total == 10_000
    assert len(table.reports()) <= 1024
    assert ("10.0.39.15", 7946) in table.by_source()  # the most recent survive
