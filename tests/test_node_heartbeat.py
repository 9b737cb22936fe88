"""Resource heartbeats: versioning, compact bounded encoding, send rule, node metadata."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.app_messages import (
    APP_DIRECTIVE,
    APP_HEARTBEAT,
    Directive,
    decode_app,
    decode_directive,
    decode_heartbeat_payload,
    decode_state,
    encode_directive,
    encode_state,
    heartbeat_message,
)
from node.heartbeat import (
    HeartbeatRecord,
    HeartbeatSchedule,
    HeartbeatTable,
    decode_record,
    encode_record,
    min_send_interval,
)
from node.metadata import MetadataTooLarge, NodeMeta, decode_meta, encode_meta


def rec(node: str = "n1", epoch: int = 10, seq: int = 1, **kw: object) -> HeartbeatRecord:
    return HeartbeatRecord(node=node, epoch=epoch, seq=seq, sampled_at=1_700_000_000.0, **kw)  # type: ignore[arg-type]


def test_record_round_trip_and_size() -> None:
    r = rec(cpu_usage=12.3, memory_usage=45.6, disk_usage=78.9, running_tasks=2,
            total_tasks_processed=1000, successful_tasks=990, failed_tasks=10,
            average_execution_time=1.5, fault="")
    body = heartbeat_message(r)
    kind, payload = decode_app(body)
    assert kind == APP_HEARTBEAT
    assert decode_heartbeat_payload(payload) == r
    assert len(body) < 60


def test_trailing_defaults_are_left_out_and_still_decode() -> None:
    idle = rec(cpu_usage=12.3, memory_usage=45.6, disk_usage=78.9)
    assert len(encode_record(idle)) == 7           # no tasks, counters or fault
    assert len(encode_record(rec())) == 4          # node, epoch, seq, time
    faulty = rec(fault="disk gone")
    assert len(encode_record(faulty)) == 13
    for r in (idle, rec(), faulty):
        assert decode_record(encode_record(r)) == r
    # the 13-element form of earlier versions still decodes
    assert decode_record(["n1", 10, 1, 1_700_000_000, 0, 0, 0, 0, 0, 0, 0, 0, ""]) == rec()


def test_older_never_overwrites_newer() -> None:
    table = HeartbeatTable()
    assert table.apply(rec(seq=5, cpu_usage=50.0))
    assert not table.apply(rec(seq=4, cpu_usage=10.0))
    assert not table.apply(rec(seq=5, cpu_usage=10.0))
    assert table.get("n1").cpu_usage == 50.0
    # a restarted node (higher epoch) starts its seq again and still wins
    assert table.apply(rec(epoch=11, seq=1, cpu_usage=1.0))
    assert not table.apply(rec(epoch=10, seq=99))
    assert table.get("n1").version == (11, 1)


def test_table_is_bounded_and_prunable() -> None:
    table = HeartbeatTable(max_entries=2)
    assert table.apply(rec("a")) and table.apply(rec("b"))
    assert not table.apply(rec("c"))
    assert table.refused == 1
    assert table.prune({"a"}) == 1
    assert table.apply(rec("c"))


@pytest.mark.parametrize("payload", [
    b"", b"\xc1", msgpack.packb([1, 2]), msgpack.packb(["n", -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ""]),
    msgpack.packb(["n", 1, 1, 0, 1001, 0, 0, 0, 0, 0, 0, 0, ""]),
    msgpack.packb(["", 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, ""]),
    msgpack.packb(["n", True, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, ""]),
    msgpack.packb(["x" * 600, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, ""]),
    msgpack.packb(["n", 1, 1]),  # fewer than node, epoch, seq, time
    msgpack.packb(["n", 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, "", 0]),  # too many fields
    b"\xdd\xff\xff\xff\xff",  # array claiming 4 billion items
])
def test_hostile_heartbeats_raise_value_error(payload: bytes) -> None:
    with pytest.raises(ValueError):
        decode_heartbeat_payload(payload)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash_the_decoders(data: bytes) -> None:
    for decode in (decode_heartbeat_payload, decode_directive, decode_state):
        try:
            decode(data)
        except ValueError:
            pass


def test_state_round_trip_skips_bad_entries() -> None:
    good = [rec("a"), rec("b", seq=3, cpu_usage=50.0, running_tasks=2)]
    data = encode_state(good, [b"reg1"], now_s=1_700_000_030.0)
    records, registered, bad = decode_state(data)
    assert records == good and registered == [b"reg1"] and bad == 0
    # times travel as ages from the sender's now: a 30 s old record packs in one byte
    base, rows, _ = msgpack.unpackb(data[1:])
    assert base == 1_700_000_030 and [row[3] for row in rows] == [30, 30]
    raw = b"\x01" + msgpack.packb([[["a"], ["b", 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, ""]], ["x", b"r"]],
                                  use_bin_type=True)
    records, registered, bad = decode_state(raw)
    assert [r.node for r in records] == ["b"] and registered == [b"r"] and bad == 2
    with pytest.raises(ValueError):
        decode_state(b"\x02" + raw[1:])  # version 2 needs [now, [records], [registered]]
    with pytest.raises(ValueError):
        decode_state(b"\x03" + raw[1:])


def test_directive_round_trip() -> None:
    d = Directive("n2", "maintenance", True, "coord:1")
    kind, payload = decode_app(encode_directive(d))
    assert kind == APP_DIRECTIVE and decode_directive(payload) == d
    with pytest.raises(ValueError):
        decode_directive(msgpack.packb(["n2", "format-disk", 1, "x"]))


def test_min_send_interval_grows_with_cluster_size() -> None:
    kw = {"base_s": 1.0, "retransmit_mult": 2, "record_bytes": 40, "budget_bytes_per_s": 4096}
    small = min_send_interval(n_members=10, **kw)
    large = min_send_interval(n_members=1000, **kw)
    assert small == 1.0
    # n × L × size / interval stays within the budget
    assert 1000 * 8 * 40 / large == pytest.approx(4096)


def test_schedule_sends_only_meaningful_changes() -> None:
    s = HeartbeatSchedule(cpu_confirm_s=4.0)
    r0 = rec(seq=1, cpu_usage=10.0, memory_usage=50.0, disk_usage=40.0)
    assert s.next_send(r0, 0.0, 1.0) == 0.0          # the first record goes at once
    s.sent(r0, 0.0)
    same = {"memory_usage": 50.0, "disk_usage": 40.0}
    # idle noise: never sent, however long it lasts (no periodic refresh)
    for t in range(5, 3600, 5):
        assert s.next_send(rec(seq=2, cpu_usage=10.0 + (t % 3) * 3, **same), float(t), 1.0) is None
    assert s.next_send(rec(seq=2, cpu_usage=10.0, memory_usage=54.0, disk_usage=41.5), 9.0, 1.0) is None
    assert s.next_send(rec(seq=2, cpu_usage=10.0, memory_usage=55.0, disk_usage=40.0), 9.0, 1.0) == 9.0
    assert s.next_send(rec(seq=2, cpu_usage=10.0, memory_usage=50.0, disk_usage=42.0), 9.0, 1.0) == 9.0
    assert s.next_send(rec(seq=2, cpu_usage=10.0, running_tasks=1, **same), 9.0, 1.0) == 9.0
    assert s.next_send(rec(seq=2, cpu_usage=10.0, failed_tasks=1, **same), 9.0, 1.0) == 9.0
    assert s.next_send(rec(seq=2, cpu_usage=10.0, fault="x", **same), 9.0, 1.0) == 9.0
    # a big cpu jump goes at once
    assert s.next_send(rec(seq=2, cpu_usage=40.0, **same), 9.0, 1.0) == 9.0


def test_schedule_confirms_moderate_cpu_moves_and_rate_limits() -> None:
    s = HeartbeatSchedule(cpu_confirm_s=4.0)
    s.sent(rec(seq=1, cpu_usage=10.0), 0.0)
    assert s.next_send(rec(seq=2, cpu_usage=22.0), 5.0, 1.0) is None     # one noisy sample
    assert s.next_send(rec(seq=3, cpu_usage=12.0), 10.0, 1.0) is None    # back: forgotten
    assert s.next_send(rec(seq=4, cpu_usage=22.0), 15.0, 1.0) is None
    assert s.next_send(rec(seq=5, cpu_usage=23.0), 20.0, 1.0) == 20.0    # sustained
    s.sent(rec(seq=5, cpu_usage=23.0), 20.0)
    # a burst of changes goes at once (bucket of 3), then one per minimum interval
    s = HeartbeatSchedule(burst=3.0)
    for i in range(3):
        r = rec(seq=i + 1, running_tasks=i)
        assert s.next_send(r, 100.0, 5.0) == 100.0
        s.sent(r, 100.0)
    busy = rec(seq=4, running_tasks=9)
    assert s.next_send(busy, 101.0, 5.0) == pytest.approx(105.0)   # waits for a token
    assert not s.due(busy, 101.0, 5.0)
    assert s.due(rec(seq=5, running_tasks=9), 105.0, 5.0)
    s.sent(rec(seq=5, running_tasks=9), 105.0)
    assert s.next_send(rec(seq=6, running_tasks=1), 106.0, 5.0) == pytest.approx(110.0)
    # a restart (new epoch) always counts as a change
    assert s.next_send(rec(epoch=11, seq=1, running_tasks=9), 110.0, 5.0) == pytest.approx(110.0)


def test_metadata_round_trip_and_claw_tag() -> None:
    meta = NodeMeta(version="0.1.0", platform="linux", arch="x64", hostname="h",
                    ip_address="10.0.0.1", tailscale_ip="100.64.0.1", skills=("py", "gpu"),
                    tags=("x",), port=18789, max_concurrent_tasks=5,
                    started_at=1_700_000_000.123, api="127.0.0.1:8888", no_coordinator=True,
                    maintenance=True, term=7)
    raw = encode_meta(meta)
    assert len(raw) <= 512
    assert decode_meta(raw) == meta


def test_metadata_of_a_plain_serf_agent_or_garbage() -> None:
    assert not decode_meta(b"").is_claw
    assert not decode_meta(b"\xff\x81\xa4role\xa1z").is_claw
    assert not decode_meta(b"\xff\xc1").is_claw
    odd = decode_meta(b"\xff\x83\xa4claw\xa11\xa2mx\xa3abc\xa2st\xa2-5")
    assert odd.is_claw and odd.max_concurrent_tasks == 5 and odd.started_at == 0.0


def test_metadata_too_large_is_a_clear_error() -> None:
    with pytest.raises(MetadataTooLarge, match="skills/tags"):
        encode_meta(NodeMeta(skills=tuple(f"skill-{i:03d}-long-name" for i in range(40))))
