"""Suspicion benchmark: memberlist's failure detector against claw-node's, same seeds.

    python -m simulations.bench.suspicion --nodes 30,100 --seeds 3

For every mode (``--modes``), cluster size and seed, on the deterministic simulator
(``simulations.sim``, LAN profile unless ``--profile``):

* **crash**: ``--crashes`` random nodes are killed one after another (each at a random
  phase of the probe cycle); time from the kill until *all* other nodes mark it dead.
* **loss P** (each of ``--losses``): random loss P on every datagram for ``--duration``
  seconds, no crash: false failures (a live node declared dead by someone), suspicions
  of live nodes, refutations.
* **pause**: one node is frozen ``--pause-s`` seconds ``--pauses`` times, evenly spread
  over ``--duration`` (SIGSTOP/SIGCONT): the same counts, the frozen node included.

TCP under loss: the simulator's TCP is lossless; here a lost SYN or SYN-ACK costs the
exchange Linux's 1 s initial RTO (doubling) and a lost data segment 200 ms (doubling),
with the same loss probability as datagrams, so the TCP fallback probe fails as it does
on a lossy real network. Everything else is the stock ``SimWorld``.

Prints one table (modes side by side) and, with ``--json FILE``, writes all figures.
Bounded: every phase has a fixed simulated length; ``--workers`` processes in parallel.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from gossip.config import Compression, GossipConfig
from gossip.events import Refuted
from gossip.push_pull import StreamRequest

from ..sim.metrics import Observatory, percentile
from ..sim.network import STREAM_REPLY, STREAM_REQUEST
from ..sim.runner import Run, RunOptions
from ..sim.world import SimNode, SimWorld, _Stream

SYN_RTO_S = 1.0
"""Linux initial retransmission timeout of a SYN / SYN-ACK (RFC 6298), doubling."""
DATA_RTO_S = 0.2
"""Linux minimum RTO of a data segment (``TCP_RTO_MIN``), doubling."""

MODES: dict[str, tuple[bool, dict[str, object]]] = {
    "memberlist": (True, {}),
    "claw": (False, {}),
    "claw-no-confirm-probes": (False, {"confirm_probes": False}),
    "claw-no-floor": (False, {"suspicion_floor_mult": 0.0}),
    "claw-floor3": (False, {"suspicion_floor_mult": 3.0}),
    "claw-floor5": (False, {"suspicion_floor_mult": 5.0}),
    "memberlist-mult3": (True, {"suspicion_mult": 3}),
}
"""Named configs: (start from ``GossipConfig.memberlist()``?, changes on top of the
profile). ``memberlist`` is memberlist 0.2.2 exactly (every claw-node departure off)."""


class LossyTcpWorld(SimWorld):
    """``SimWorld`` whose TCP exchanges pay retransmission timeouts under datagram loss."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tcp_rng = random.Random(self._rng.getrandbits(64))

    def _retransmits(self, rto: float) -> float:
        p, extra = self.network.loss_probability, 0.0
        while p > 0.0 and self._tcp_rng.random() < p and extra < 60.0:
            extra += rto
            rto *= 2.0
        return extra

    def _open_stream(self, node: SimNode, request: StreamRequest) -> None:
        now = self.clock.now
        stream = _Stream(client=node, generation=node.generation, request=request,
                         src=node.address)
        self.streams_opened += 1
        self.stream_bytes += len(request.data)
        node.bytes_sent += len(request.data)
        self.at(max(request.deadline, now), self._stream_timeout, stream)
        if not self.network.reachable(node.address, request.address):
            return
        delay = self.network.delay() + self.network.delay() + self.network.delay()
        delay += self._retransmits(SYN_RTO_S) + self._retransmits(SYN_RTO_S)
        delay += self._retransmits(DATA_RTO_S)
        self.network.schedule(now + delay, STREAM_REQUEST, node.address, request.address, stream)

    def _reply(self, stream: _Stream, reply: bytes | None, server: Any) -> None:
        if not self.network.reachable(server, stream.src):
            return
        extra = self._retransmits(DATA_RTO_S) if reply is not None else 0.0
        self.network.schedule(self.clock.now + self.network.delay() + extra, STREAM_REPLY,
                              server, stream.src, (stream, reply))


@dataclass(frozen=True)
class Job:
    mode: str
    nodes: int
    seed: int
    phase: str
    """"crash", "loss" or "pause"."""
    loss: float = 0.0
    profile: str = "lan"
    crashes: int = 10
    duration_s: float = 180.0
    pause_s: float = 3.0
    pauses: int = 5
    snapshot_dir: str | None = None


def config_for(mode: str, profile: str) -> GossipConfig:
    memberlist, changes = MODES[mode]
    config = GossipConfig.profile(profile)
    if memberlist:
        config = config.memberlist()
    return config.replace(compression=Compression.OFF, **changes)


def _run(job: Job) -> Run:
    opts = RunOptions(scenario=f"bench-{job.phase}", nodes=job.nodes, seed=job.seed,
                      profile=job.profile, compression=False, trace_packets=False,
                      progress=False, snapshot_dir=job.snapshot_dir)
    config = config_for(job.mode, job.profile)
    run = Run(opts, config=config, label=f"{job.mode}/{job.phase}")
    run.world = LossyTcpWorld(config, job.seed, opts.network_options(), run.world.options)
    run.obs = Observatory(run.world)
    return run


def _refutations(run: Run) -> list[int]:
    box = [0]

    def count(now: float, node: SimNode, event: object) -> None:
        if isinstance(event, Refuted):
            box[0] += 1

    run.world.observers.append(count)
    return box


def run_job(job: Job) -> dict[str, Any]:
    """One (mode, size, seed, phase); returns its raw figures."""
    wall0 = time.perf_counter()
    run = _run(job)
    if run.bootstrap_cached(job.nodes, max(1.0, job.nodes / 200.0), job.snapshot_dir) is None:
        return {"job": job.__dict__, "error": "bootstrap did not converge"}
    world = run.world
    run.advance(world.now + 5.0)
    refutes = _refutations(run)
    out: dict[str, Any] = {"job": job.__dict__}
    since = world.now
    mark = run.traffic_mark()
    rng = random.Random(job.seed * 7919 + len(job.phase))  # same victims in every mode
    if job.phase == "crash":
        all_dead, first_suspect, first_dead = [], [], []
        for _ in range(job.crashes):
            candidates = [n for n in world.live_nodes() if n.index != 0]
            victim = candidates[rng.randrange(len(candidates))]
            run.advance(world.now + rng.uniform(0.0, run.config.probe_interval_s))
            world.crash(victim.name)
            trial = run.obs.trials[victim.name]
            run.advance(world.now + 120.0,
                        stop=lambda t=trial: t.all_detection() is not None)
            all_dead.append(trial.all_detection())
            first_suspect.append(trial.first_suspect)
            first_dead.append(trial.first_detection())
            run.advance(world.now + 3.0)
        out.update(all_dead=all_dead, first_suspect=first_suspect, first_dead=first_dead)
    elif job.phase == "loss":
        world.network.set_loss(job.loss)
        run.advance(since + job.duration_s)
        world.network.set_loss(0.0)
        run.advance(world.now + 10.0)  # let the last suspicions resolve either way
    elif job.phase == "pause":
        candidates = [n for n in world.live_nodes() if n.index != 0]
        slow = candidates[rng.randrange(len(candidates))]
        run.obs.slow = {slow.name}
        gap = job.duration_s / job.pauses
        for i in range(job.pauses):
            world.at(since + i * gap + rng.uniform(0.0, 1.0), world.pause, slow.name, job.pause_s)
        run.advance(since + job.duration_s + 10.0)
    fa = run.obs.false_alarms(since)
    stats = [n.core.stats for n in world.live_nodes() if n.core is not None]
    out.update(
        false_dead=fa["dead_healthy"] + fa["dead_slow"],
        false_dead_subjects=fa["dead_subjects"],
        false_suspect=fa["suspect_healthy"] + fa["suspect_slow"],
        refutes=refutes[0],
        confirm_probes=sum(s.get("confirm_probes", 0) for s in stats),
        msgs_per_node_s=round(run.traffic_since(mark)["msgs_per_node_s"], 2),
        sim_s=round(world.now - since, 1),
        wall_s=round(time.perf_counter() - wall0, 1),
    )
    return out


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


HEAD = ["N", "mode", "phase", "runs", "crashes", "1st suspect p50", "all dead p50",
        "all dead p99", "all dead max", "undetected", "false dead", "false suspect",
        "refutes", "confirm probes", "msgs/node/s"]


def summarize(results: list[dict[str, Any]]) -> list[list[str]]:
    """One row per (size, mode, phase): crash latencies (s) or false-alarm counts (sums)."""
    keys: list[tuple[int, str, str]] = []
    for r in results:
        if "error" in r:
            continue
        j = r["job"]
        phase = j["phase"] if j["phase"] != "loss" else f"loss {j['loss']:.0%}"
        if j["phase"] == "pause":
            phase = f"pause {j['pause_s']:g}s x{j['pauses']}"
        key = (j["nodes"], j["mode"], phase)
        if key not in keys:
            keys.append(key)
    rows = []
    for n, mode, phase in keys:
        rs = []
        for r in results:
            if "error" in r:
                continue
            j = r["job"]
            ph = j["phase"] if j["phase"] != "loss" else f"loss {j['loss']:.0%}"
            if j["phase"] == "pause":
                ph = f"pause {j['pause_s']:g}s x{j['pauses']}"
            if (j["nodes"], j["mode"], ph) == (n, mode, phase):
                rs.append(r)
        alls = [x for r in rs for x in r.get("all_dead", []) if x is not None]
        sus = [x for r in rs for x in r.get("first_suspect", []) if x is not None]
        crashed = sum(len(r.get("all_dead", [])) for r in rs)
        msgs = [r["msgs_per_node_s"] for r in rs]
        rows.append([
            str(n), mode, phase, str(len(rs)), str(crashed) if crashed else "-",
            _fmt(percentile(sus, 50)), _fmt(percentile(alls, 50)), _fmt(percentile(alls, 99)),
            _fmt(max(alls) if alls else None), str(crashed - len(alls)),
            str(sum(r["false_dead"] for r in rs)), str(sum(r["false_suspect"] for r in rs)),
            str(sum(r["refutes"] for r in rs)), str(sum(r["confirm_probes"] for r in rs)),
            _fmt(sum(msgs) / len(msgs) if msgs else None),
        ])
    return rows


def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEAD)]
    print(" | ".join(h.ljust(w) for h, w in zip(HEAD, widths)))
    print("-|-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulations.bench.suspicion", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", default="30,100", help="comma-separated cluster sizes")
    p.add_argument("--seeds", type=int, default=3, help="seeds 1..S (default 3)")
    p.add_argument("--modes", default="memberlist,claw", help=f"of: {', '.join(MODES)}")
    p.add_argument("--profile", default="lan", choices=["lan", "wan", "local"])
    p.add_argument("--crashes", type=int, default=10, help="crashes per seed (default 10)")
    p.add_argument("--losses", default="0.1,0.3", help="loss rates for the false-alarm phase")
    p.add_argument("--duration", type=float, default=180.0, help="loss/pause phase length (s)")
    p.add_argument("--pause-s", type=float, default=3.0, help="length of each pause (s)")
    p.add_argument("--pauses", type=int, default=5, help="pauses per pause phase")
    p.add_argument("--phases", default="crash,loss,pause")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--snapshot-dir", default=None, help="cache converged bootstraps here")
    p.add_argument("--json", metavar="FILE", help="write every figure here")
    p.add_argument("--from-json", metavar="FILE", help="only print the table of a saved run")
    args = p.parse_args(argv)
    if args.from_json:
        with open(args.from_json) as f:
            print_table(summarize(json.load(f)["results"]))
        return 0
    sizes = [int(x) for x in args.nodes.split(",")]
    modes = [m.strip() for m in args.modes.split(",")]
    losses = [float(x) for x in args.losses.split(",") if x.strip()]
    phases = args.phases.split(",")
    for m in modes:
        if m not in MODES:
            p.error(f"unknown mode {m!r}")
    jobs: list[Job] = []
    for n in sizes:
        for seed in range(1, args.seeds + 1):
            for mode in modes:
                common: dict[str, Any] = {
                    "mode": mode, "nodes": n, "seed": seed, "profile": args.profile,
                    "crashes": args.crashes, "duration_s": args.duration,
                    "pause_s": args.pause_s, "pauses": args.pauses,
                    "snapshot_dir": args.snapshot_dir}
                if "crash" in phases:
                    jobs.append(Job(phase="crash", **common))  # type: ignore[arg-type]
                if "loss" in phases:
                    jobs += [Job(phase="loss", loss=x, **common) for x in losses]  # type: ignore[arg-type]
                if "pause" in phases:
                    jobs.append(Job(phase="pause", **common))  # type: ignore[arg-type]
    print(f"command: python -m simulations.bench.suspicion {' '.join(sys.argv[1:] if argv is None else argv)}")
    print(f"{len(jobs)} runs on {args.workers} workers", flush=True)
    t0 = time.perf_counter()
    results: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for res in pool.map(run_job, jobs):
            results.append(res)
            j = res["job"]
            print(f"  done {j['mode']:>24} n={j['nodes']} seed={j['seed']} {j['phase']}"
                  f"{' ' + str(j['loss']) if j['phase'] == 'loss' else ''} "
                  f"wall {res.get('wall_s')} s", file=sys.stderr, flush=True)
    print_table(summarize(results))
    print("latencies in s from kill -9 to the last live node marking the victim dead; false "
          "dead = (observer, live subject) death events, false suspect likewise; refutes = "
          f"refutations; counts summed over {args.seeds} seed(s); loss/pause phases "
          f"{args.duration:g} s each. wall {time.perf_counter() - t0:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
