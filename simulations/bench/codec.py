"""Codec micro-benchmark: microseconds per encode and decode of typical messages.

Run: ``python -m simulations.bench.codec`` (about 10 s of CPU). Prints a table of CPU
microseconds; not a test.
The "cached" column decodes packets with a warm ``DecodeCache`` (what a core does with
a broadcast it has seen before); "-" where nothing is cached (pings, acks, streams).

Last, the app-message memory (``gossip.app_relay``): CPU µs of ``SeenAppMessages.admit``
for a copy of a heartbeat already seen (what most arrivals are: every member relays each
message), beside ``node.app_messages.record_version`` alone, the decode such a copy
no longer needs; and of admitting this node's own new registered record (what every
REST write gossips), named by decoding it or with the version its sender hands along.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from gossip.addresses import ip_to_bytes
from gossip.app_relay import SeenAppMessages
from gossip.codec import (
    add_crc,
    compress_packet,
    decode_packet,
    decode_stream,
    encode_compound,
    encode_message,
    encode_stream,
)
from gossip.decode_cache import DecodeCache
from gossip.messages import (
    VSN_SERF,
    Ack,
    Alive,
    Ping,
    PushNodeState,
    PushPull,
    SerfJoin,
    SerfPushPull,
    UserMsg,
)
from gossip.serf_codec import decode_serf, encode_serf
from gossip.tags import encode_tags
from node.app_messages import (
    APP_REGISTRY,
    encode_app,
    heartbeat_message,
    record_version,
    registered_version,
)
from node.heartbeat import HeartbeatRecord

LO = ip_to_bytes("127.0.0.1")
META = encode_tags({"role": "claw", "dc": "lo", "claw": "1"})


def _decode_push_pull_state(wire: bytes) -> object:
    """A push-pull stream down to its decoded Serf state (what a receiver does)."""
    msg = decode_stream(wire, max_size=1 << 22)
    assert isinstance(msg, PushPull)
    return decode_serf(msg.user_state)


def per_call_us(fn: Callable[[], Any], budget_s: float = 0.4) -> float:
    """Median-of-3 CPU microseconds per call, each run lasting about budget_s/3 of CPU
    time (CPU, not wall time: the figure holds on a machine shared with other jobs)."""
    n = 1
    while True:  # calibrate
        t0 = time.process_time()
        for _ in range(n):
            fn()
        elapsed = time.process_time() - t0
        if elapsed > budget_s / 30 or n >= 1 << 20:
            break
        n *= 2
    reps = max(1, int(n * (budget_s / 3) / max(elapsed, 1e-9)))
    runs = []
    for _ in range(3):
        t0 = time.process_time()
        for _ in range(reps):
            fn()
        runs.append((time.process_time() - t0) / reps * 1e6)
    return sorted(runs)[1]


def gossip_compound() -> bytes:
    """A compound of 4 alives and a Serf join (what claw-node sends without LZW)."""
    parts = [encode_message(Alive(incarnation=i + 1, node=f"node-{i}", addr=LO, port=7946 + i,
                                  meta=META, vsn=VSN_SERF)) for i in range(4)]
    parts.append(encode_message(UserMsg(encode_serf(SerfJoin(ltime=3, node="node-1")))))
    return encode_compound(parts)


def gossip_packet() -> bytes:
    """What Serf gossips: CRC + compressed compound of alives and a Serf join (~330 B)."""
    return add_crc(compress_packet(gossip_compound()))


def push_pull(n: int) -> PushPull:
    nodes = tuple(PushNodeState(name=f"node-{i}", addr=LO, port=7946 + i, meta=META,
                                incarnation=i + 1, state=0) for i in range(n))
    serf = SerfPushPull(ltime=n, status_ltimes={f"node-{i}": i for i in range(n)}, left_members=(),
                        event_ltime=1, events=(None,) * 512, query_ltime=1)
    return PushPull(join=False, nodes=nodes, user_state=encode_serf(serf))


def main() -> int:
    ping = Ping(seq_no=12345, node="node-2", source_addr=LO, source_port=7946, source_node="node-1")
    ack = Ack(seq_no=12345, payload=None)
    alive = Alive(incarnation=7, node="node-1", addr=LO, port=7946, meta=META, vsn=VSN_SERF)
    gossip = gossip_packet()
    rows = [
        ("ping", lambda: encode_message(ping), encode_message(ping), False),
        ("ack", lambda: encode_message(ack), encode_message(ack), False),
        ("alive", lambda: encode_message(alive), encode_message(alive), True),
        ("gossip compound (plain, 4 alive + join)", gossip_compound, gossip_compound(), True),
        ("gossip compound (crc+lzw, 4 alive + join)", gossip_packet, gossip, True),
    ]
    print(f"{'message':48} {'bytes':>7} {'encode µs':>10} {'decode µs':>10} {'cached µs':>10}")
    for name, enc, wire, cacheable in rows:
        cached = "-"
        if cacheable:
            cache = DecodeCache()
            decode_packet(wire, cache=cache)  # warm: every broadcast in it seen once
            cached = f"{per_call_us(partial(decode_packet, wire, cache=cache)):.1f}"
        print(f"{name:48} {len(wire):7d} {per_call_us(enc):10.1f} "
              f"{per_call_us(partial(decode_packet, wire)):10.1f} {cached:>10}")
    for n in (10, 100):
        pp = push_pull(n)
        for compress in (True, False):
            wire = encode_stream(pp, compress=compress)
            label = f"push-pull {n} nodes ({'lzw' if compress else 'plain'})"
            enc_us = per_call_us(partial(encode_stream, pp, compress=compress))
            dec_us = per_call_us(partial(_decode_push_pull_state, wire))
            print(f"{label:48} {len(wire):7d} {enc_us:10.1f} {dec_us:10.1f} {'-':>10}")
    app_message_rows()
    return 0


def app_message_rows() -> None:
    """CPU µs to recognise a copy of an app message already seen, and of the decode
    that naming its record costs."""
    body = heartbeat_message(HeartbeatRecord(node="node-17", epoch=3, seq=42, sampled_at=100.0,
                                             cpu_usage=12.5, memory_usage=40.0, running_tasks=2))
    seen = SeenAppMessages(record_version, member_count=lambda: 100)
    assert seen.admit(body)[0]  # the first arrival: new
    print(f"\n{'app message (heartbeat)':48} {'bytes':>7} {'µs':>10}")
    print(f"{'admit a copy already seen':48} {len(body):7d} "
          f"{per_call_us(partial(seen.admit, body)):10.2f}")
    print(f"{'record_version alone':48} {len(body):7d} "
          f"{per_call_us(partial(record_version, body)):10.2f}")
    own = _own_registrations(4096)
    for label, handed in (("admit our own new record, decoded", False),
                          ("admit our own new record, version handed", True)):
        print(f"{label:48} {len(own[0][0]):7d} {_admit_each_us(own, handed):10.2f}")


def _own_registrations(n: int) -> list[tuple[bytes, tuple[str, tuple[int | float, ...]]]]:
    """``n`` successive versions of one registered record: (body, its version)."""
    from api.registry import HttpNodeRecord  # the REST stack, only for these rows
    out = []
    for version in range(1, n + 1):
        rec = HttpNodeRecord(
            node_id="worker-00017", hostname="worker-00017", platform="linux", arch="x64",
            status="online", suspect=False, cpu_usage=12.5, memory_usage=40.0, disk_usage=3.0,
            available_skills=("python", "go"), max_concurrent_tasks=4, running_tasks=1,
            ip_address="10.0.0.9", tailscale_ip="", port=18789, total_tasks_processed=0,
            successful_tasks=0, failed_tasks=0, average_execution_time=0.0,
            registered_at=1.8e9, last_heartbeat=1.8e9 + version, tags=("gpu",),
            version=version, updated_at=1.8e9 + version)
        out.append((encode_app(APP_REGISTRY, rec.to_bytes()),
                    registered_version(rec.node_id, rec.version, rec.updated_at)))
    return out


def _admit_each_us(own: list[tuple[bytes, tuple[str, tuple[int | float, ...]]]],
                   handed: bool, runs: int = 5) -> float:
    """Median CPU µs per ``admit`` of each body once (each is new: a fresh memory per run)."""
    per_run = []
    for _ in range(runs):
        seen = SeenAppMessages(record_version, member_count=lambda: 100)
        t0 = time.process_time()
        for body, version in own:
            seen.admit(body, version if handed else None)
        per_run.append((time.process_time() - t0) / len(own) * 1e6)
    return sorted(per_run)[len(per_run) // 2]


if __name__ == "__main__":
    sys.exit(main())
