"""Resource heartbeats: versioning, compact bounded encoding, send rule, node metadata."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.heartbeat import (
    APP_DIRECTIVE,
    APP_HEARTBEAT,
    Directive,
    HeartbeatRecord,
    HeartbeatSchedule,
    HeartbeatTable,
    decode_app,
    decode_directive,
    decode_heartbeat_payload,
    decode_state,
    encode_directive,
    encode_state,
    heartbeat_message,
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
    good = [rec("a"), rec("b", seq=3)]
    data = encode_state(good, [b"reg1"])
    records, registered, bad = decode_state(data)
    assert records == good and registered == [b"reg1"] and bad == 0
    raw = b"\x01" + msgpack.packb([[["a"], ["b", 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, ""]], ["x", b"r"]],
                                  use_bin_type=True)
    records, registered, bad = decode_state(raw)
    assert [r.node for r in records] == ["b"] and registered == [b"r"] and bad == 2
    with pytest.raises(ValueError):
        decode_state(b"\x02" + raw[1:])


def test_directive_round_trip() -> None:
    d = Directive("n2", "maintenance", True, "coord:1")
    kind, payload = decode_app(encode_directive(d))
    assert kind == APP_DIRECTIVE and decode_directive(payload) == d
    with pytest.raises(ValueError):
        decode_directive(msgpack.packb(["n2", "format-disk", 1, "x"]))


def test_min_send_interval_grows_with_cluster_size() -> None:
    kw = {"base_s": 5.0, "retransmit_mult": 4, "record_bytes": 40, "budget_bytes_per_s": 4096}
    small = min_send_interval(n_members=10, **kw)
    large = min_send_interval(n_members=1000, **kw)
    assert small == 5.0
    # n × L × size / interval stays within the budget
    assert 1000 * 16 * 40 / large == pytest.approx(4096)


def test_schedule_sends_on_change_or_refresh() -> None:
    s = HeartbeatSchedule()
    r0 = rec(seq=1, cpu_usage=10.0)
    assert s.due(r0, now=0.0, min_interval=5.0)
    s.sent(r0, 0.0)
    assert not s.due(rec(seq=2, cpu_usage=40.0), now=4.0, min_interval=5.0)   # too soon
    assert s.due(rec(seq=2, cpu_usage=40.0), now=5.0, min_interval=5.0)       # changed
    assert not s.due(rec(seq=2, cpu_usage=11.0), now=5.0, min_interval=5.0)   # noise
    assert s.due(rec(seq=2, running_tasks=1, cpu_usage=10.0), now=5.0, min_interval=5.0)
    assert s.due(rec(seq=2, cpu_usage=10.0), now=30.0, min_interval=5.0)      # refresh


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
