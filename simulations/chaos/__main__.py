"""``python -m simulations.chaos``: real claw-node processes under real faults.

Examples::

    python -m simulations.chaos --nodes 4                 # loopback (loss needs root)
    python -m simulations.chaos --nodes 8 --netns         # root: namespaces, partitions too
    python -m simulations.chaos --nodes 10 --netns --loss 0.1 --loss-window 120

Exit status: 0 when every invariant holds, 1 when one breaks, 2 when the run could
not be set up.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

from ..realproc.netns import cleanup_stale, fabric_unavailable
from .invariants import INVARIANTS
from .run import ChaosSettings, run_chaos

MAX_NODES = 100


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m simulations.chaos",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, default=4, help="claw-node processes (default 4)")
    p.add_argument("--netns", action="store_true",
                   help="each agent in its own network namespace (root); enables partitions")
    p.add_argument("--profile", choices=("lan", "local"), default="lan")
    p.add_argument("--pauses", type=int, default=2, help="SIGSTOPs of one agent (default 2)")
    p.add_argument("--pause", type=float, default=3.0, help="seconds per SIGSTOP (default 3)")
    p.add_argument("--no-kill", action="store_true", help="skip the kill -9 + restart step")
    p.add_argument("--loss", type=float, default=0.1,
                   help="random loss probability during the loss phase, 0 skips it (default 0.1; root)")
    p.add_argument("--loss-window", type=float, default=30.0, help="seconds under loss (default 30)")
    p.add_argument("--partition", type=float, default=20.0,
                   help="seconds of partition, 0 skips it (default 20; --netns only)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", default=None, help="write the summary here")
    p.add_argument("--log-dir", default=None, help="keep every agent's output here")
    p.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args(argv)
    if not 2 <= args.nodes <= MAX_NODES:
        p.error(f"--nodes must be in 2..{MAX_NODES}")
    if not 0 <= args.loss < 1:
        p.error("--loss must be in [0, 1)")
    if args.pauses < 0 or args.pause <= 0 or args.loss_window <= 0 or args.partition < 0:
        p.error("--pauses >= 0, --pause > 0, --loss-window > 0, --partition >= 0")
    return args


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM: end the agents and remove the lab, like Ctrl-C


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if args.log_dir:
        os.makedirs(args.log_dir, exist_ok=True)
    if args.netns and fabric_unavailable() is None:
        cleanup_stale()
    settings = ChaosSettings(
        nodes=args.nodes, netns=args.netns, profile=args.profile, pauses=args.pauses,
        pause_s=args.pause, kill=not args.no_kill, loss=args.loss,
        loss_window_s=args.loss_window, partition_s=args.partition, seed=args.seed,
        log_dir=args.log_dir, verbose=not args.quiet)
    try:
        result = run_chaos(settings)
    except RuntimeError as exc:
        print(f"chaos: setup failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("chaos: interrupted; agents ended, lab removed", file=sys.stderr)
        return 2
    rec = result.record
    checked = [name for name in INVARIANTS
               if name != "no_false_offline_under_loss" or (rec and 0 < rec.loss_probability <= 0.1 + 1e-9)]
    if rec and not (rec.coordinator_killed and rec.registered):
        checked = [c for c in checked if c != "registered_survive"]
    broken = {v.invariant for v in result.violations}
    print("chaos summary")
    for line in result.steps:
        print("  " + line)
    for name in checked:
        print(f"  {'FAIL' if name in broken else 'ok  '} {name}: {INVARIANTS[name]}")
    for v in result.violations:
        print(f"  violation: {v}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"settings": vars(args), "steps": result.steps, "figures": result.figures,
                       "checked": checked, "violations": [str(v) for v in result.violations]},
                      f, indent=2)
    return 1 if result.violations else 0


if __name__ == "__main__":
    sys.exit(main())
