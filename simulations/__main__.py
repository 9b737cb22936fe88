"""``python -m simulations <scenario> --nodes N --seed S [...]``: run one simulated scenario.

Prints the seed and every option first, then a table (or JSON with ``--json``), and on a
failed check the exact command that reproduces the run; exits 1 then.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shlex
import sys
import time

from simulations.sim.allocator import keep_freed_memory
from simulations.sim.report import format_table, write_report
from simulations.sim.runner import RunOptions
from simulations.sim.scenarios import SCENARIOS, run_scenario


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m simulations", description=__doc__)
    p.add_argument("scenario", choices=sorted(SCENARIOS), help="what to simulate")
    p.add_argument("--nodes", type=int, default=10, help="cluster size (default 10)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: a fresh one, printed)")
    p.add_argument("--profile", default="lan", choices=["lan", "wan", "local"],
                   help="gossip timing preset (default lan)")
    p.add_argument("--no-compression", action="store_true",
                   help="do not LZW-compress (faster to simulate; bytes then differ from memberlist)")
    p.add_argument("--delay-min-ms", type=float, default=0.5, help="minimum one-way latency (ms)")
    p.add_argument("--delay-mean-ms", type=float, default=1.5,
                   help="mean of the exponential part of the latency (ms)")
    p.add_argument("--duration", type=float, default=None,
                   help="seconds of the measured phase (scenario default)")
    p.add_argument("--warmup-s", type=float, default=5.0,
                   help="quiet seconds between bootstrap and measurement (default 5)")
    p.add_argument("--crashes", type=int, default=None, help="crash: how many nodes to crash")
    p.add_argument("--losses", default="0,0.05,0.1,0.15,0.2,0.25,0.3",
                   help="loss: comma-separated loss rates to sweep")
    p.add_argument("--slow-nodes", type=int, default=1, help="slow: how many paused nodes")
    p.add_argument("--lag-s", type=float, default=1.0,
                   help="slow: extra delay on every input of a lagging node (s)")
    p.add_argument("--slow-variants", default="claw,memberlist,swim-timers",
                   help="slow: comma-separated variants (claw, memberlist, swim-timers)")
    p.add_argument("--memberlist", action="store_true",
                   help="memberlist 0.2.2 exactly (GossipConfig.memberlist(): its failure "
                        "detector, packing and compression) instead of claw-node's departures")
    p.add_argument("--pause-s", type=float, default=2.0, help="slow: length of each pause (s)")
    p.add_argument("--pause-every-s", type=float, default=4.0, help="slow: time between pauses (s)")
    p.add_argument("--partition-s", type=float, default=20.0, help="partition: its length (s)")
    p.add_argument("--partition-mode", default="split", choices=["split", "isolate", "asymmetric"])
    p.add_argument("--join-window-s", type=float, default=1.0,
                   help="join: nodes start uniformly within this window (s)")
    p.add_argument("--churn-interval-s", type=float, default=2.0,
                   help="churn: mean time between actions (s)")
    p.add_argument("--no-packet-trace", action="store_true",
                   help="hash only events and faults, not every datagram (a bit faster)")
    p.add_argument("--share-decoder", action="store_true",
                   help="decode identical bytes once for the whole world (one decode cache "
                        "shared by every core instead of one each): faster, same trace hash")
    p.add_argument("--settle-pairs", type=int, default=0,
                   help="bootstrap is done when at most this many view pairs disagree (default 0)")
    p.add_argument("--push-pull-interval-s", type=float, default=None,
                   help="periodic push-pull interval before scaling with N (s; 0 = off; "
                        "default: the profile's, 30 s on LAN)")
    p.add_argument("--catch-up-burst", type=int, default=None,
                   help="claw mode: catch-up push-pulls after this many members first heard "
                        "of through gossip within 2 s (0 = off; default: the config's, 8)")
    p.add_argument("--start", default="join", choices=["join", "converged"],
                   help="join: nodes join through one seed (simulated); converged: every "
                        "node starts knowing every member, no join simulated (default join)")
    p.add_argument("--snapshot-dir", metavar="DIR",
                   help="cache converged bootstraps here and reuse them (big clusters)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--report", metavar="DIR", help="write figures (JSON) and plots (SVG) here")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p


SIM_GC_THRESHOLDS = (500_000, 10, 10)
"""``gc.set_threshold`` for a simulation run: container allocations (net of frees) before a
young collection, then young and middle collections before an older one (Python's
defaults: 700, 10, 10). Cyclic garbage waits for at most ~500k objects before it is
collected (tens of MiB, against 2.2 GiB of cores at 10,000 nodes)."""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    opts = RunOptions(
        scenario=args.scenario, nodes=args.nodes, seed=seed, profile=args.profile,
        compression=not args.no_compression, memberlist=args.memberlist, delay_min_ms=args.delay_min_ms,
        delay_mean_ms=args.delay_mean_ms, duration_s=args.duration, warmup_s=args.warmup_s, crashes=args.crashes,
        losses=tuple(float(x) for x in args.losses.split(",") if x.strip()),
        slow_nodes=args.slow_nodes, lag_s=args.lag_s,
        slow_variants=tuple(x.strip() for x in args.slow_variants.split(",") if x.strip()),
        pause_s=args.pause_s, pause_every_s=args.pause_every_s,
        partition_s=args.partition_s, partition_mode=args.partition_mode,
        join_window_s=args.join_window_s, churn_interval_s=args.churn_interval_s,
        trace_packets=not args.no_packet_trace, share_decoder=args.share_decoder,
        progress=not args.quiet,
        snapshot_dir=args.snapshot_dir, settle_pairs=args.settle_pairs, start=args.start,
        push_pull_interval_s=args.push_pull_interval_s, catch_up_burst=args.catch_up_burst,
    )
    argv_list = list(sys.argv[1:] if argv is None else argv)
    if args.seed is None:
        argv_list += ["--seed", str(seed)]
    command = "python -m simulations " + " ".join(shlex.quote(a) for a in argv_list)
    head = f"seed={seed} "
    options_line = " ".join(f"{k}={getattr(opts, k)!r}" for k in opts.__dataclass_fields__
                            if k not in ("extra", "scenario", "seed"))
    out = sys.stderr if args.json else sys.stdout
    print(f"{head}scenario={opts.scenario}", file=out)
    print(f"options: {options_line}", file=out, flush=True)
    started = time.perf_counter()
    # A simulation allocates millions of short-lived messages and events; with the
    # collector's default young-generation threshold (700 allocations) its passes cost
    # ~5 % of a large run, and at 10,000 nodes each young pass walks N-sized containers.
    # Fewer, larger passes; and freed buffers stay in the process for the next one.
    # Simulated behaviour is unchanged.
    gc.set_threshold(*SIM_GC_THRESHOLDS)
    keep_freed_memory()
    result = run_scenario(opts)
    result.wall_s = round(time.perf_counter() - started, 2)  # all runs of a sweep
    if args.json:
        print(json.dumps(result.as_json(), indent=2))
    else:
        print(format_table(result))
    if args.report:
        paths = write_report(result, args.report)
        print(f"report: {', '.join(paths)}", file=out)
    if not result.ok:
        for name, ok, detail in result.checks:
            if not ok:
                print(f"FAILED: {name}: {detail}", file=out)
        print(f"reproduce with: {command}", file=out)
        return 1
    return 0


if __name__ == "__main__":
    code = main()
    # Leave without the interpreter's teardown: freeing a big world object by object
    # costs seconds of CPU (~0.3 s at 2,000 nodes) and changes nothing printed or written.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
