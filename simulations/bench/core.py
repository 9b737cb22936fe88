"""Baseline figure for the core: real probe rounds (ping -> ack) through two cores.

    python -m simulations.bench.core [--rounds 20000]

Two ``SwimProtocol`` cores know each other; the prober's timer starts a probe, its ping
datagram is fed to the target, the target's ack is fed back. Every byte goes through the
real codec. Prints probe rounds per second of wall time (each round = 2 datagrams
encoded and decoded, 2 core inputs, 1 timer) and CPU microseconds per round (the figure
to compare on a shared machine), with compression on and off. Not a test: a figure to
compare later work against.
"""

from __future__ import annotations

import argparse
import random
import time

from gossip.config import Compression, GossipConfig
from gossip.protocol import SwimProtocol
from gossip.tags import CLAW_TAG, encode_tags


def _pair(cfg: GossipConfig) -> tuple[SwimProtocol, SwimProtocol]:
    meta = encode_tags({CLAW_TAG: "1"})
    a = SwimProtocol(cfg, name="a", address=("127.0.0.1", 7001), meta=meta,
                     rng=random.Random(1), now=0.0, strict=True)
    b = SwimProtocol(cfg, name="b", address=("127.0.0.1", 7002), meta=meta,
                     rng=random.Random(2), now=0.0, strict=True)
    # Join b to a through a push-pull exchange, as a real join does.
    a.join([b_addr := ("127.0.0.1", 7002)], 0.0)
    for req in a.streams_to_open():
        reply = b.handle_stream(req.data, ("127.0.0.1", 7001), 0.0)
        a.stream_done(req.stream_id, reply, 0.0)
    assert b_addr and a.member("b") is not None and b.member("a") is not None
    return a, b


def _drain(core: SwimProtocol) -> None:
    core.streams_to_open()
    while core.next_event() is not None:
        pass


def run(rounds: int, compression: bool) -> tuple[float, float, int, int]:
    """Returns (probe rounds per second, CPU µs per round, acks seen, bytes per round)."""
    cfg = GossipConfig.lan().replace(  # with compression: memberlist's cost
        compression=Compression.ALL if compression else Compression.OFF)
    a, b = _pair(cfg)
    now = 1.0
    # Let the join's broadcasts drain so rounds measure steady-state probing.
    for _ in range(200):
        now += 0.2
        for core, peer, src in ((a, b, ("127.0.0.1", 7001)), (b, a, ("127.0.0.1", 7002))):
            core.handle_timer(now)
            for _addr, data in core.datagrams_to_send():
                peer.receive_datagram(data, src, now)
        _drain(a), _drain(b)
    probes_before = a.stats["probes"]
    acks_before = a.stats["acks_in"]
    nbytes = 0
    t0, c0 = time.perf_counter(), time.process_time()
    # Advance to each next deadline (probe rounds, gossip ticks, ...) until ``rounds``
    # probes were started; every datagram is delivered at once.
    while a.stats["probes"] - probes_before < rounds:
        now = max(now, a.next_deadline() or now) + 1e-6
        a.handle_timer(now)
        for _addr, ping in a.datagrams_to_send():
            nbytes += len(ping)
            b.receive_datagram(ping, ("127.0.0.1", 7001), now)
        for _addr, ack in b.datagrams_to_send():
            nbytes += len(ack)
            a.receive_datagram(ack, ("127.0.0.1", 7002), now + 0.001)
        _drain(a), _drain(b)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    acks = a.stats["acks_in"] - acks_before
    return rounds / elapsed, cpu / rounds * 1e6, acks, nbytes // max(1, rounds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20000, help="probe rounds per mode (default 20000)")
    args = ap.parse_args()
    print(f"{'mode':<16}{'rounds/s':>10}{'µs/round':>10}{'CPU µs/round':>14}{'acks':>8}"
          f"{'bytes/round':>13}")
    for compression in (False, True):
        rate, cpu_us, acks, per = run(args.rounds, compression)
        mode = "lzw on" if compression else "lzw off"
        print(f"{mode:<16}{rate:>10.0f}{1e6 / rate:>10.1f}{cpu_us:>14.1f}{acks:>8}{per:>13}")


if __name__ == "__main__":
    main()
