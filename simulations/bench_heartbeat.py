"""Resource-heartbeat bandwidth per node at 10 and 100 nodes (``python -m simulations.bench_heartbeat``).

Method (measured, not computed): N real ``SwimProtocol`` cores (LAN profile, the default)
run in virtual time on the in-memory harness ``tests/core_harness.py`` (1 ms latency, no
loss). After convergence, every node runs the agent's heartbeat rule every 5 s (the
default ``--resource-interval``): ``node.heartbeat.min_send_interval`` with the default
4096 B/s budget, ``HeartbeatSchedule`` (send on meaningful change, refresh otherwise),
``broadcast_app(key=node)``; the core relays each record epidemically. Two load models:

* ``steady``: cpu random walk (σ 4 points per sample), memory drift, a task change in 10 %
  of samples: most samples are not "meaningful";
* ``churn``: every sample differs meaningfully (worst case: sends at the minimum interval).

The same cluster runs the same virtual time once without heartbeats (baseline); the
difference in UDP bytes sent per node per second is the heartbeat cost (it includes
piggyback framing, and any extra packets the heartbeats cause). Push-pull app state
(the whole table, every push-pull) is reported separately, from its encoded size and the
push-pull rate (``push_pull_scale``). ``coverage`` is the share of (receiver, sender)
pairs where the receiver got the sender's latest record by piggyback alone.

Seen with seed 1 (``--sizes 10 --duration 120``, ``--sizes 100 --duration 60``): heartbeat
cost per node 177 B/s (steady) / 355 B/s (churn) at 10 nodes, 986 / 1058 B/s at 100 nodes
(minimum interval 12 s there), push-pull state 24 / 79 B/s, coverage 100 %. The 100-node
run takes several minutes of CPU.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

from gossip.config import GossipConfig
from gossip.events import AppMessage
from gossip.protocol import push_pull_scale

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from node.heartbeat import (
    APP_HEARTBEAT,
    HeartbeatRecord,
    HeartbeatSchedule,
    decode_app,
    decode_heartbeat_payload,
    encode_state,
    heartbeat_message,
    min_send_interval,
)
from tests.core_harness import Cluster

RESOURCE_INTERVAL_S = 5.0
BUDGET_BYTES_PER_S = 4096


def _build(n: int, seed: int) -> Cluster:
    cluster = Cluster(GossipConfig.lan(), seed=seed, latency_s=0.001)
    for i in range(n):
        cluster.add_node(f"node-{i:03d}")
    cluster.join_all()
    cluster.run(60.0, until=cluster.converged)
    if not cluster.converged():
        cluster.run(60.0, until=cluster.converged)
    if not cluster.converged():
        raise SystemExit(f"{n} nodes did not converge")
    return cluster


def _udp_bytes(cluster: Cluster) -> int:
    return sum(node.core.stats["bytes_out"] for node in cluster.nodes.values())


def baseline_bytes_per_s(n: int, duration_s: float, seed: int) -> float:
    """UDP bytes/s per node of the converged cluster without heartbeats."""
    base = _build(n, seed)
    b0 = _udp_bytes(base)
    base.run(duration_s)
    return (_udp_bytes(base) - b0) / n / duration_s


def run(n: int, load: str, duration_s: float, seed: int, baseline: float) -> dict[str, float]:
    rng = random.Random(seed)
    cluster = _build(n, seed)
    names = list(cluster.nodes)
    schedules = {name: HeartbeatSchedule() for name in names}
    loads = {name: [rng.uniform(5, 60), rng.uniform(20, 70), 40.0, 0] for name in names}
    seqs = {name: 0 for name in names}
    latest: dict[str, int] = {}
    sent = 0
    record_bytes = 0
    u0 = _udp_bytes(cluster)
    for name in names:
        cluster.events(name).clear()
    ticks = int(duration_s / RESOURCE_INTERVAL_S)
    for tick in range(ticks):
        for name in names:
            cpu, mem, disk, running = loads[name]
            if load == "churn":
                cpu = (cpu + 10.0) % 100.0
            else:
                cpu = min(100.0, max(0.0, cpu + rng.gauss(0, 4)))
                mem = min(100.0, max(0.0, mem + rng.gauss(0, 0.3)))
                if rng.random() < 0.1:
                    running = max(0, running + rng.choice((-1, 1)))
            loads[name] = [cpu, mem, disk, running]
            seqs[name] += 1
            rec = HeartbeatRecord(node=name, epoch=1_800_000_000, seq=seqs[name],
                                  sampled_at=1_800_000_000.0 + cluster.now, cpu_usage=cpu,
                                  memory_usage=mem, disk_usage=disk, running_tasks=running)
            body = heartbeat_message(rec)
            record_bytes = max(record_bytes, len(body))
            interval = min_send_interval(
                base_s=RESOURCE_INTERVAL_S, n_members=n,
                retransmit_mult=cluster.config.retransmit_mult, record_bytes=len(body) + 4,
                budget_bytes_per_s=BUDGET_BYTES_PER_S)
            if schedules[name].due(rec, cluster.now, interval):
                schedules[name].sent(rec, cluster.now)
                cluster.core(name).broadcast_app(body, cluster.now, key=f"hb:{name}")
                latest[name] = rec.seq
                sent += 1
        cluster.run(RESOURCE_INTERVAL_S)
    cluster.run(10.0)  # let the last round of broadcasts drain
    elapsed = ticks * RESOURCE_INTERVAL_S + 10.0
    with_hb = (_udp_bytes(cluster) - u0) / n / elapsed
    baseline_per_s = baseline

    # Coverage: did every receiver get every sender's latest record by piggyback?
    have: dict[str, dict[str, int]] = {name: {} for name in names}
    for name in names:
        for ev in cluster.events(name):
            if isinstance(ev, AppMessage):
                kind, payload = decode_app(ev.body)
                if kind == APP_HEARTBEAT:
                    r = decode_heartbeat_payload(payload)
                    have[name][r.node] = max(have[name].get(r.node, 0), r.seq)
    pairs = [(rx, tx) for rx in names for tx in latest if rx != tx]
    covered = sum(1 for rx, tx in pairs if have[rx].get(tx, 0) >= latest[tx])

    table = [HeartbeatRecord(node=name, epoch=1_800_000_000, seq=seqs[name],
                             sampled_at=1_800_000_000.0, cpu_usage=loads[name][0],
                             memory_usage=loads[name][1], disk_usage=40.0) for name in names]
    state_bytes = len(encode_state(table, []))
    pp_interval = push_pull_scale(cluster.config.push_pull_interval_s, n)
    # Each node starts one push-pull per interval and serves about one: its state goes
    # out about twice per interval.
    state_per_s = 2 * state_bytes / pp_interval
    return {
        "n": n, "sends_per_node_per_min": sent / n / (ticks * RESOURCE_INTERVAL_S / 60),
        "min_interval_s": min_send_interval(
            base_s=RESOURCE_INTERVAL_S, n_members=n, retransmit_mult=cluster.config.retransmit_mult,
            record_bytes=record_bytes + 4, budget_bytes_per_s=BUDGET_BYTES_PER_S),
        "record_bytes": record_bytes, "baseline_Bps": baseline_per_s, "with_hb_Bps": with_hb,
        "heartbeat_Bps": with_hb - baseline_per_s, "state_bytes": state_bytes,
        "push_pull_interval_s": pp_interval, "state_Bps": state_per_s,
        "coverage": covered / len(pairs) if pairs else 1.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100", help="cluster sizes (default 10,100)")
    parser.add_argument("--duration", type=float, default=120.0,
                        help="virtual seconds of heartbeats per run (default 120)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--loads", default="steady,churn")
    args = parser.parse_args(argv)
    print(f"seed={args.seed} duration={args.duration:g}s (virtual) profile=lan "
          f"resource_interval={RESOURCE_INTERVAL_S:g}s budget={BUDGET_BYTES_PER_S} B/s")
    print(f"{'n':>4} {'load':>6} {'record B':>8} {'min int s':>9} {'sends/min':>9} "
          f"{'base B/s':>9} {'+hb B/s':>9} {'hb B/s':>8} {'state B':>8} {'pp s':>5} "
          f"{'state B/s':>9} {'coverage':>8} {'wall s':>6}")
    for n in (int(x) for x in args.sizes.split(",")):
        t = time.monotonic()
        baseline = baseline_bytes_per_s(n, args.duration + 10.0, args.seed)
        for load in args.loads.split(","):
            r = run(n, load, args.duration, args.seed, baseline)
            print(f"{n:>4} {load:>6} {r['record_bytes']:>8} {r['min_interval_s']:>9.1f} "
                  f"{r['sends_per_node_per_min']:>9.1f} {r['baseline_Bps']:>9.0f} "
                  f"{r['with_hb_Bps']:>9.0f} {r['heartbeat_Bps']:>8.0f} {r['state_bytes']:>8} "
                  f"{r['push_pull_interval_s']:>5.0f} {r['state_Bps']:>9.1f} "
                  f"{r['coverage']:>8.1%} {time.monotonic() - t:>6.1f}", flush=True)
            t = time.monotonic()
    return 0


if __name__ == "__main__":
    sys.exit(main())
