"""Gossip and resource-heartbeat bandwidth per node, idle and busy (``python -m simulations.bench.heartbeat``).

Method (measured, not computed): N real ``SwimProtocol`` cores (LAN profile) run in
virtual time on the in-memory harness ``simulations/sim/cluster.py`` (1 ms latency, no
loss). Each node keeps a ``HeartbeatTable`` and serves it as push-pull app state
(``encode_state``), merges what it receives (app messages and push-pull state), and
publishes its own record with the agent's rule: a sample every 5 s (the default
``--resource-interval``, nodes out of phase), ``HeartbeatSchedule`` (send only on a
meaningful change, rate-limited by ``min_send_interval`` with the agent's defaults, a
change inside the interval sent when it ends), ``broadcast_app(key=node)``. The app
retransmit multiplier is ``--app-mult`` (the agent's default, 3). LZW compression is
off by default (``--compression`` turns it on): it roughly halves the wall time, and
makes little difference to these small datagrams.

One cluster per size, measured in consecutive windows of ``--window`` virtual seconds
after convergence and a quiet period:

* ``none``: no heartbeats at all, empty app state (the gossip baseline);
* ``idle``: after a warm-up in which every node publishes its first record: cpu noise
  of a few points around a per-node mean (σ 3), memory and disk nearly constant;
* ``busy``: the idle trace, plus 10 % of nodes whose running-task count changes every
  8–12 s (an API heartbeat, published at once like ``Agent.apply_tasks``) with a cpu
  jump of 15–30 points.

Printed per window: total bytes/s sent per node (UDP datagrams plus both directions of
each TCP push-pull, attributed to the sender; payload bytes, no IP/UDP/TCP headers),
UDP packets/s and push-pulls/s per node, the difference to ``none``, heartbeat sends
per node per minute, mean app-state size, and (busy) the propagation time of a load
change: from the change on its node until a receiver's table has it, median and 99th
percentile over all (change, receiver) pairs and the worst time until *every* node has
it, plus the share of pairs reached by piggyback (the rest by push-pull).

Seen with ``--compression`` (as the agent runs), seed 1, 60 s windows; B/s are payload
bytes (add ~28 B per UDP packet for IP/UDP headers); Serf's idle figures (issue 6) are
~300 B/s at 10 nodes, ~270 at 100:

=====  ======  ==================  ==================  ======================
n      window  before (--rule old)  after (default)     note
=====  ======  ==================  ==================  ======================
10     none    136 B/s, 2.00 pkt/s  136 B/s, 2.00 pkt/s  gossip alone
10     idle    282 B/s, 4.88 pkt/s  146 B/s, 2.00 pkt/s  0 heartbeats sent
10     busy    324 B/s, 5.46 pkt/s  177 B/s, 2.85 pkt/s
100    none    136 B/s, 2.00 pkt/s  136 B/s, 2.00 pkt/s
100    idle    1540 B/s, 15.0 pkt/s 165 B/s, 2.13 pkt/s  app state 2.1 kB/push-pull
100    busy    1739 B/s, 15.8 pkt/s 593 B/s, 9.54 pkt/s
=====  ======  ==================  ==================  ======================

Load change to a receiver (busy): before, median 7.8 s (10 nodes) / 5.7 s, p99 23 s
(100); after, median 0.16 / 0.29 s, p99 0.32 / 0.76 s; the slowest single receiver of
59 changes at 100 nodes 10.5 s (a missed relay, repaired by the node's next heartbeat).
Wall time: about 3 minutes with ``--compression``, 1.5 without (100 nodes dominate).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import msgpack

from gossip.config import Compression, GossipConfig
from gossip.events import AppMessage, AppState
from node.app_messages import (
    APP_HEARTBEAT,
    decode_app,
    decode_heartbeat_payload,
    decode_state,
    encode_state,
    heartbeat_message,
)
from node.heartbeat import (
    HeartbeatRecord,
    HeartbeatSchedule,
    HeartbeatTable,
    encode_record,
    min_send_interval,
)
from node.heartbeat_publisher import HEARTBEAT_MIN_INTERVAL_S
from simulations.sim.cluster import Cluster

RESOURCE_INTERVAL_S = 5.0
"""The agent's default ``--resource-interval``."""
BUDGET_BYTES_PER_S = 4096
"""The agent's default ``--heartbeat-budget``."""
MIN_INTERVAL_BASE_S = HEARTBEAT_MIN_INTERVAL_S
"""The agent's floor of ``min_send_interval``."""
STEP_S = 0.1
"""Virtual-time step of the driver loop (resolution of the propagation times)."""
EPOCH0 = 1_800_000_000
OLD_RULE = {"base_s": 5.0, "refresh_factor": 6.0, "cpu": 5.0, "mem": 2.0, "disk": 1.0}
"""The heartbeat rule before this change (commit 5e0e23a), for ``--rule old``: send on a
change of cpu 5 / memory 2 / disk 1 points or tasks, at most every ``max(5 s, n × L ×
size / budget)``, and unconditionally every 6 such intervals; app retransmit multiplier
4 (the membership one); 13-field records and version-1 state with absolute times."""


class _OldSchedule:
    """The previous ``HeartbeatSchedule`` (refresh, small deadbands, no deferred send)."""

    def __init__(self) -> None:
        self.last_sent: HeartbeatRecord | None = None
        self.last_sent_at = -math.inf

    def next_send(self, rec: HeartbeatRecord, now: float, interval: float) -> float | None:
        elapsed = now - self.last_sent_at
        if elapsed >= OLD_RULE["refresh_factor"] * interval:
            return now
        old = self.last_sent
        changed = old is None or (
            abs(rec.cpu_usage - old.cpu_usage) >= OLD_RULE["cpu"]
            or abs(rec.memory_usage - old.memory_usage) >= OLD_RULE["mem"]
            or abs(rec.disk_usage - old.disk_usage) >= OLD_RULE["disk"]
            or rec.running_tasks != old.running_tasks)
        return now if changed and elapsed >= interval else None

    def sent(self, rec: HeartbeatRecord, now: float) -> None:
        self.last_sent, self.last_sent_at = rec, now


def _old_fields(rec: HeartbeatRecord) -> list[Any]:
    f = encode_record(rec)
    return f + [0, 0, 0, 0, 0, 0, 0, 0, ""][len(f) - 4:]


def _old_message(rec: HeartbeatRecord) -> bytes:
    return bytes((APP_HEARTBEAT,)) + msgpack.packb(_old_fields(rec), use_bin_type=True)


def _old_state(table: HeartbeatTable) -> bytes:
    return b"\x01" + msgpack.packb([[_old_fields(r) for r in table], []], use_bin_type=True)
SERF_BPS = {10: 300, 30: 310, 100: 270}
"""Serf's bytes/s sent per agent, idle, LAN profile (issue 6, measured on loopback)."""


@dataclass
class _Sim:
    """One node's application side: its table, load and schedule."""

    name: str
    table: HeartbeatTable = field(default_factory=HeartbeatTable)
    schedule: Any = field(default_factory=HeartbeatSchedule)
    seq: int = 0
    cpu_mean: float = 0.0
    cpu: float = 0.0
    mem: float = 0.0
    disk: float = 0.0
    running: int = 0
    next_sample: float = 0.0
    next_task: float = math.inf
    pending_at: float | None = None
    sends: int = 0


class Bench:
    def __init__(self, n: int, *, seed: int, app_mult: int, compression: bool,
                 rule: str = "new", app_gossip_rounds: bool = True) -> None:
        self.rng = random.Random(seed)
        self.old = rule == "old"
        if self.old:
            app_mult = 0
        config = GossipConfig.lan().replace(
            compression=Compression.STREAMS if compression else Compression.OFF,
                                            app_retransmit_mult=app_mult,
                                            app_gossip_rounds=self.old or app_gossip_rounds)
        self.cluster = c = Cluster(config, seed=seed, latency_s=0.001, keep_events=False)
        c.world.observers.append(lambda now, node, ev: self._on_event(node.name, ev))
        self.n = n
        self.enabled = False
        self.sims: dict[str, _Sim] = {}
        self.stream_reply_bytes: dict[str, int] = {}
        self.state_sizes: list[int] = []
        # (origin, seq) of load changes -> [t_change, {receiver: t_seen}, via_piggyback]
        self.changes: list[tuple[str, int, float, dict[str, float], dict[str, bool]]] = []
        self._open: dict[str, list[int]] = {}
        for i in range(n):
            name = f"node-{i:03d}"
            sim = _Sim(name)
            if self.old:
                sim.schedule = _OldSchedule()
            else:
                sim.schedule = HeartbeatSchedule(cpu_confirm_s=0.8 * RESOURCE_INTERVAL_S)
            self.sims[name] = sim
            c.add_node(name, app_state=self._state_of(sim))
            self._instrument(name)
        c.join_all()
        c.run(60.0, until=c.converged)
        if not c.converged():
            c.run(60.0, until=c.converged)
        if not c.converged():
            raise SystemExit(f"{n} nodes did not converge")
        c.run(60.0, until=lambda: all(node.core.pending_broadcasts == 0
                                      for node in c.nodes.values()))
        c.run(5.0)

    # --- wiring ---------------------------------------------------------------------------

    def _state_of(self, sim: _Sim) -> Any:
        def state() -> bytes:
            if not self.enabled:
                return b""
            if self.old:
                data = _old_state(sim.table)
            else:
                data = encode_state(sim.table, [], now_s=EPOCH0 + self.cluster.now)
            self.state_sizes.append(len(data))
            return data
        return state

    def _instrument(self, name: str) -> None:
        node = self.cluster.nodes[name]
        bench = self
        self.stream_reply_bytes[name] = 0
        core = node.core
        serve = core.handle_stream

        def handle_stream(data: bytes, addr: Any, now: float) -> bytes | None:
            reply = serve(data, addr, now)
            bench.stream_reply_bytes[name] += len(reply or b"")
            return reply

        core.handle_stream = handle_stream  # type: ignore[method-assign]

    def _on_event(self, name: str, ev: Any) -> None:
        sim = self.sims[name]
        if isinstance(ev, AppMessage):
            kind, payload = decode_app(ev.body)
            if kind == APP_HEARTBEAT:
                self._apply(sim, decode_heartbeat_payload(payload), piggyback=True)
        elif isinstance(ev, AppState) and ev.body:
            records, _, _ = decode_state(ev.body)
            for rec in records:
                self._apply(sim, rec, piggyback=False)

    def _apply(self, sim: _Sim, rec: HeartbeatRecord, *, piggyback: bool) -> None:
        if rec.node == sim.name or not sim.table.apply(rec):
            return
        for i in self._open.get(rec.node, ()):
            _, seq, _, seen, via = self.changes[i]
            if seq <= rec.seq and sim.name not in seen:
                seen[sim.name] = self.cluster.now
                via[sim.name] = piggyback

    # --- the agent's heartbeat rule -------------------------------------------------------

    def _record(self, sim: _Sim) -> HeartbeatRecord:
        sim.seq += 1
        return HeartbeatRecord(node=sim.name, epoch=1, seq=sim.seq,
                               sampled_at=EPOCH0 + self.cluster.now, cpu_usage=sim.cpu,
                               memory_usage=sim.mem, disk_usage=sim.disk,
                               running_tasks=sim.running)

    def _publish(self, sim: _Sim) -> None:
        now = self.cluster.now
        rec = self._record(sim)
        sim.table.apply(rec)
        body = _old_message(rec) if self.old else heartbeat_message(rec)
        cfg = self.cluster.config
        interval = min_send_interval(
            base_s=OLD_RULE["base_s"] if self.old else MIN_INTERVAL_BASE_S, n_members=self.n,
            retransmit_mult=cfg.app_retransmit_mult or cfg.retransmit_mult,
            record_bytes=len(body) + 4, budget_bytes_per_s=BUDGET_BYTES_PER_S)
        at = sim.schedule.next_send(rec, now, interval)
        if at is None:
            sim.pending_at = None
        elif at <= now + 1e-9:
            sim.schedule.sent(rec, now)
            sim.pending_at = None
            sim.sends += 1
            self.cluster.core(sim.name).broadcast_app(body, now, key=f"hb:{sim.name}")
        else:
            sim.pending_at = at

    def _change(self, sim: _Sim) -> None:
        """A real load change on ``sim``'s node: track its propagation."""
        i = len(self.changes)
        self.changes.append((sim.name, sim.seq + 1, self.cluster.now, {}, {}))
        self._open.setdefault(sim.name, []).append(i)

    def start_heartbeats(self, busy_share: float = 0.0) -> None:
        self.enabled = True
        now = self.cluster.now
        for sim in self.sims.values():
            if sim.next_sample <= now:
                sim.cpu_mean = self.rng.uniform(5, 40)
                sim.cpu = sim.cpu_mean
                sim.mem = self.rng.uniform(30, 70)
                sim.disk = self.rng.uniform(20, 80)
                sim.next_sample = now + self.rng.uniform(0, RESOURCE_INTERVAL_S)
        busy = self.rng.sample(sorted(self.sims), round(busy_share * self.n))
        for name in busy:
            self.sims[name].next_task = now + self.rng.uniform(0, 10)

    def step(self, duration: float, *, track: bool) -> None:
        """Run ``duration`` virtual seconds, sampling and publishing as the agents would."""
        c = self.cluster
        end = c.now + duration
        while c.now < end - 1e-9:
            now = c.now
            for sim in self.sims.values():
                if not self.enabled:
                    break
                if sim.next_task <= now:
                    sim.next_task = now + self.rng.uniform(8, 12)
                    sim.running = max(0, sim.running + self.rng.choice((-1, 1)) if sim.running else 1)
                    sim.cpu = min(100.0, sim.cpu_mean + self.rng.uniform(15, 30) * sim.running)
                    if track:
                        self._change(sim)
                    self._publish(sim)
                elif sim.next_sample <= now:
                    sim.next_sample += RESOURCE_INTERVAL_S
                    base = sim.cpu_mean + (15 * sim.running if sim.next_task < math.inf else 0)
                    sim.cpu = min(100.0, max(0.0, self.rng.gauss(base, 3.0)))
                    sim.mem = min(100.0, max(0.0, sim.mem + self.rng.gauss(0, 0.05)))
                    sim.disk = min(100.0, sim.disk + abs(self.rng.gauss(0, 0.005)))
                    self._publish(sim)
                elif sim.pending_at is not None and sim.pending_at <= now:
                    self._publish(sim)
            c.run(min(STEP_S, end - c.now))

    # --- measuring ------------------------------------------------------------------------

    def counters(self) -> tuple[int, int, int]:
        """(bytes, UDP packets, push-pulls started) sent by all nodes so far."""
        nodes = self.cluster.nodes.values()
        b = sum(nd.core.stats["bytes_out"] + self.stream_reply_bytes[nd.name] for nd in nodes)
        p = sum(nd.core.stats["packets_out"] for nd in nodes)
        s = sum(nd.core.stats["push_pulls_out"] for nd in nodes)
        return b, p, s

    def window(self, duration: float, *, track: bool = False) -> dict[str, float]:
        b0, p0, s0 = self.counters()
        sends0 = sum(s.sends for s in self.sims.values())
        self.state_sizes.clear()
        self.step(duration, track=track)
        b1, p1, s1 = self.counters()
        sends = sum(s.sends for s in self.sims.values()) - sends0
        per = self.n * duration
        return {"Bps": (b1 - b0) / per, "pps": (p1 - p0) / per, "pp_per_s": (s1 - s0) / per,
                "sends_per_min": sends / self.n / (duration / 60),
                "state_bytes": statistics.fmean(self.state_sizes) if self.state_sizes else 0.0}

    def propagation(self) -> dict[str, float]:
        lat: list[float] = []
        all_seen: list[float] = []
        piggy = 0
        missing = 0
        for origin, _, t0, seen, via in self.changes:
            lat.extend(t - t0 for t in seen.values())
            piggy += sum(via.values())
            if len(seen) == self.n - 1:
                all_seen.append(max(seen.values()) - t0)
            else:
                missing += 1
        if not lat:
            return {}
        q = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) > 1 else [lat[0]] * 99
        return {"changes": len(self.changes), "p50": statistics.median(lat), "p99": q[98],
                "all_max": max(all_seen) if all_seen else math.nan,
                "all_med": statistics.median(all_seen) if all_seen else math.nan,
                "incomplete": missing, "piggyback": piggy / len(lat)}


def run_size(n: int, args: argparse.Namespace) -> None:
    t0 = time.monotonic()
    bench = Bench(n, seed=args.seed, app_mult=args.app_mult, compression=args.compression,
                  rule=args.rule, app_gossip_rounds=not args.piggyback_only)
    t_build = time.monotonic() - t0
    rows: list[tuple[str, dict[str, float], float]] = []
    t = time.monotonic()
    rows.append(("none", bench.window(args.window), time.monotonic() - t))
    bench.start_heartbeats()
    bench.step(30.0, track=False)  # warm-up: every node's first record spreads
    t = time.monotonic()
    rows.append(("idle", bench.window(args.window), time.monotonic() - t))
    bench.start_heartbeats(busy_share=0.1)
    t = time.monotonic()
    rows.append(("busy", bench.window(args.window, track=True), time.monotonic() - t))
    t = time.monotonic()
    bench.step(15.0, track=False)  # let the last changes arrive (counted in propagation only)
    prop = bench.propagation()
    base = rows[0][1]
    serf = SERF_BPS.get(n)
    for phase, r, wall in rows:
        ratio = f"{r['Bps'] / serf:>5.2f}" if serf else "    -"
        print(f"{n:>4} {phase:>5} {r['Bps']:>8.0f} {ratio} {r['pps']:>6.2f} "
              f"{r['pp_per_s'] * 60:>6.2f} {r['Bps'] - base['Bps']:>+8.0f} "
              f"{r['pps'] - base['pps']:>+7.3f} {r['sends_per_min']:>7.2f} "
              f"{r['state_bytes']:>7.0f} {wall:>6.1f}", flush=True)
    if prop:
        print(f"     busy: {prop['changes']:.0f} load changes; to a receiver: median "
              f"{prop['p50']:.2f} s, p99 {prop['p99']:.2f} s; to every node: median "
              f"{prop['all_med']:.2f} s, max {prop['all_max']:.2f} s "
              f"({prop['incomplete']:.0f} not everywhere after 15 s); by piggyback "
              f"{prop['piggyback']:.1%}")
    print(f"     wall: build {t_build:.1f} s, total {time.monotonic() - t0:.1f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="10,100", help="cluster sizes (default 10,100)")
    parser.add_argument("--window", type=float, default=60.0,
                        help="virtual seconds per measured window (default 60)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--app-mult", type=int, default=3,
                        help="retransmit multiplier of app messages (agent default 3; "
                             "0 = the membership one, 4)")
    parser.add_argument("--rule", choices=("new", "old"), default="new",
                        help="heartbeat rule: this one, or the previous one (refresh, small "
                             "deadbands, app mult 4, v1 state) for before/after figures")
    parser.add_argument("--piggyback-only", action="store_true",
                        help="heartbeats start no gossip rounds of their own, they ride on "
                             "probes, acks and membership gossip (GossipConfig."
                             "app_gossip_rounds=False, as the agent runs; directives go urgent)")
    parser.add_argument("--compression", action="store_true",
                        help="LZW-compress datagrams as the agent does (slower)")
    args = parser.parse_args(argv)
    print(f"seed={args.seed} window={args.window:g}s (virtual) profile=lan rule={args.rule} "
          f"app_mult={4 if args.rule == 'old' else args.app_mult} compression={'on' if args.compression else 'off'} "
          f"resource_interval={RESOURCE_INTERVAL_S:g}s")
    print("B/s: bytes sent per node per second (UDP + TCP push-pull payload); xSerf: B/s over "
          "Serf's idle figure; pkt/s: UDP datagrams; pp/min: push-pulls started per node")
    print(f"{'n':>4} {'phase':>5} {'B/s':>8} {'xSerf':>5} {'pkt/s':>6} {'pp/min':>6} "
          f"{'dB/s':>8} {'dpkt/s':>7} {'hb/min':>7} {'state B':>7} {'wall s':>6}")
    for n in (int(x) for x in args.sizes.split(",")):
        run_size(n, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
