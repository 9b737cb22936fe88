"""``python -m simulations.versus_serf``: claw-node against real Serf, same machine, same run.

Examples::

    python -m simulations.versus_serf --nodes 10 --runs 3
    python -m simulations.versus_serf --nodes 30 --idle 60 --json out/versus_n30.json
    sudo python -m simulations.versus_serf --nodes 20 --loss 0.1      # namespaces

Without ``--loss`` every agent runs on 127.0.0.1 with its own ports; traffic is
counted with iptables rules on those ports (root; skipped otherwise). With
``--loss P`` agents run in network namespaces on a bridge (root) instead, with
random loss P on every namespace, then a paused-node phase.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time

from node.keyring_file import new_key

from ..realproc.agents import KINDS
from ..realproc.netns import NetnsLab, cleanup_stale, fabric_unavailable
from .phases import VICTIM_ROLES, Settings, run_loopback, run_lossy
from .pool import detection_table, pool_kills
from .report import render_table, summarize

MAX_NODES = 200
"""Loopback agents on a 2-core machine; more mostly measures CPU contention."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m simulations.versus_serf",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, default=10, help="cluster size N (default 10)")
    p.add_argument("--profile", choices=("lan", "local"), default="lan",
                   help="timing profile of both agents (default lan)")
    p.add_argument("--runs", type=int, default=1, help="fresh clusters per kind (default 1)")
    p.add_argument("--kills", type=int, default=3,
                   help="kill -9 victims per run, one after another (default 3)")
    p.add_argument("--idle", type=float, default=60.0,
                   help="idle measurement window, seconds (default 60)")
    p.add_argument("--settle", type=float, default=3.0,
                   help="seconds of quiet before the idle window (default 3; after a start "
                        "storm of many agents on few cores, 60 separates idle cost from "
                        "its aftermath)")
    p.add_argument("--loss", type=float, default=0.0,
                   help="random loss probability per namespace, e.g. 0.1 (root; default off)")
    p.add_argument("--loss-window", type=float, default=60.0,
                   help="seconds under loss (default 60)")
    p.add_argument("--pauses", type=int, default=5, help="SIGSTOPs of the paused node (default 5)")
    p.add_argument("--pause", type=float, default=3.0, help="seconds per pause (default 3)")
    p.add_argument("--kinds", default="serf,claw",
                   help="comma-separated agent kinds to run, in order (default serf,claw)")
    p.add_argument("--victims", default="member",
                   help="victim roles taken in turn, kill after kill: member, coordinator "
                        "(claw-node: the elected one, asked over REST; Serf: the agent "
                        "claw-node's rule would elect, the longest-running) (default member)")
    p.add_argument("--restart-victims", action="store_true",
                   help="restart each victim once all saw it failed (same name, address "
                        "and data) so the cluster keeps its size over many kills "
                        "(default off)")
    p.add_argument("--seed", type=int, default=1, help="random seed for victims (default 1)")
    p.add_argument("--encrypt", action="store_true",
                   help="encrypt gossip: both kinds get the same fresh key (serf -encrypt, "
                        "claw-node --encrypt; default off)")
    p.add_argument("--json", default=None, help="write figures here (default versus_serf_nN[_lossP].json)")
    p.add_argument("--log-dir", default=None, help="keep every agent's output here")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    args = p.parse_args(argv)
    if not 2 <= args.nodes <= MAX_NODES:
        p.error(f"--nodes must be in 2..{MAX_NODES}")
    if not 0.0 <= args.loss < 1.0:
        p.error("--loss must be in [0, 1)")
    if args.runs < 1 or args.kills < 0 or args.idle < 0 or args.settle < 0 or args.loss_window <= 0:
        p.error("--runs >= 1, --kills >= 0, --idle >= 0, --loss-window > 0")
    for role in args.victims.split(","):
        if role not in VICTIM_ROLES:
            p.error(f"unknown victim role {role!r}; expected {', '.join(VICTIM_ROLES)}")
    for k in args.kinds.split(","):
        if k not in KINDS:
            p.error(f"unknown kind {k!r}; expected {', '.join(KINDS)}")
    return args


def _code_version() -> dict:
    """The claw-node code measured: commit and locally modified files (work in progress
    changes the figures, so they are recorded with them)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    def git(*a: str) -> str:
        try:
            return subprocess.run(["git", "-C", root, *a], capture_output=True, text=True,
                                  timeout=10).stdout.rstrip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"commit": git("rev-parse", "HEAD"),
            "modified": [line[3:] for line in git("status", "--porcelain").splitlines()
                         if line[:2].strip() and not line.startswith("??")][:200]}


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM: end the agents and report, like Ctrl-C


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    # Started with "&" from a script, SIGINT arrives ignored; take it back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    settings = Settings(nodes=args.nodes, profile=args.profile, kills=args.kills,
                        idle_s=args.idle, settle_s=args.settle, loss=args.loss, loss_window_s=args.loss_window,
                        pauses=args.pauses, pause_s=args.pause, seed=args.seed,
                        victims=tuple(args.victims.split(",")),
                        restart_victims=args.restart_victims,
                        log_dir=args.log_dir, verbose=not args.quiet)
    if args.log_dir:
        os.makedirs(args.log_dir, exist_ok=True)
    kinds = []
    key = new_key() if args.encrypt else None
    for name in args.kinds.split(","):
        kind = KINDS[name]()
        kind.encrypt = key
        reason = kind.available()
        if reason:
            print(f"skipping {name}: {reason}", file=sys.stderr)
        else:
            kinds.append(kind)
    if not kinds:
        print("nothing to run", file=sys.stderr)
        return 2
    lab = None
    if args.loss > 0:
        reason = fabric_unavailable()
        if reason:
            print(f"--loss {reason}", file=sys.stderr)
            return 2
        cleanup_stale()
    results: list[dict] = []
    started = time.time()
    rng = random.Random(args.seed)
    try:
        if args.loss > 0:
            lab = NetnsLab(args.nodes)
        for run in range(args.runs):
            for kind in kinds:  # interleaved, so both kinds see the same machine state
                print(f"run {run + 1}/{args.runs}: {kind.name}", file=sys.stderr, flush=True)
                run_rng = random.Random(rng.random())
                t = time.monotonic()
                if lab is not None:
                    figures = run_lossy(kind, settings, run_rng, lab)
                else:
                    figures = run_loopback(kind, settings, run_rng)
                figures["wall_s"] = time.monotonic() - t
                results.append({"kind": kind.name, "run": run, "figures": figures})
    except KeyboardInterrupt:
        print("interrupted; reporting what was measured", file=sys.stderr)
    finally:
        if lab is not None:
            lab.close()
    summary = summarize(results, [k.name for k in kinds])
    command = "python -m simulations.versus_serf " + " ".join(
        sys.argv[1:] if argv is None else argv)
    print(render_table(summary, args, command))
    if any(r["figures"].get("kills") for r in results):
        print()
        print(detection_table(pool_kills(results), seed=args.seed))
    for r in results:
        for note in r["figures"].get("notes", []):
            print(f"note ({r['kind']} run {r['run'] + 1}): {note}")
    out = args.json or (f"versus_serf_n{args.nodes}"
                        + (f"_loss{args.loss:g}" if args.loss else "")
                        + ("_encrypt" if args.encrypt else "") + ".json")
    with open(out, "w") as f:
        json.dump({"command": command, "settings": vars(args), "started_unix": started,
                   "code": _code_version(),
                   "results": results, "summary": summary}, f, indent=2)
    print(f"figures written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
