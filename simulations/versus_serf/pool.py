"""Kill -9 detection pooled over runs and seeds, with a bootstrap interval for the ratio.

    python -m simulations.versus_serf.pool n30_seed1.json n30_seed2.json ...
    python -m simulations.versus_serf.pool a.json#claw b.json#serf   # one kind of a file

Each JSON is one ``python -m simulations.versus_serf`` run (``--json``). Every kill's
"all mark failed" time is one sample, grouped by agent kind and victim role. The figure
compared is the median; its claw/Serf ratio gets a 95 % percentile-bootstrap interval:
each kind's samples are resampled with replacement (independently: the two kinds run
different clusters), the ratio of medians is taken, 10,000 times.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys

__all__ = ["pool_kills", "bootstrap_ratio", "detection_table"]

RESAMPLES = 10_000


def pool_kills(results: list[dict]) -> dict:
    """{(kind, role): {"all": [...], "first": [...], "loads": [...], "false_failures": n,
    "runs": n}} over every run's kill records."""
    out: dict = {}
    for r in results:
        fig = r["figures"]
        per_kind_seen = set()
        for k in fig.get("kills", []):
            for role in (k["role"], "all roles"):
                e = out.setdefault((r["kind"], role), {"all": [], "first": [], "loads": [],
                                                         "false_failures": 0, "runs": 0,
                                                         "missed": 0})
                if k["all"] is None:
                    e["missed"] += 1
                else:
                    e["all"].append(k["all"])
                if k["first"] is not None:
                    e["first"].append(k["first"])
                e["loads"].append(k["load"])
                if role not in per_kind_seen:
                    per_kind_seen.add(role)
                    e["runs"] += 1
                    e["false_failures"] += fig.get("false_failures") or 0
    return out


def bootstrap_ratio(claw: list[float], serf: list[float], seed: int = 1,
                    resamples: int = RESAMPLES) -> tuple[float, float, float]:
    """(ratio of medians, 2.5th and 97.5th percentile of its bootstrap distribution)."""
    rng = random.Random(seed)
    point = statistics.median(claw) / statistics.median(serf)
    ratios = sorted(
        statistics.median(rng.choices(claw, k=len(claw)))
        / statistics.median(rng.choices(serf, k=len(serf)))
        for _ in range(resamples))
    return point, ratios[int(0.025 * resamples)], ratios[int(0.975 * resamples) - 1]


def _fmt(xs: list[float]) -> str:
    if not xs:
        return "-"
    return (f"{statistics.median(xs):.2f} (p90 {sorted(xs)[int(0.9 * (len(xs) - 1))]:.2f}, "
            f"max {max(xs):.2f})")


def detection_table(pooled: dict, seed: int = 1) -> str:
    """Markdown: per victim role, kills, median [p90, max] per kind, ratio and its CI."""
    roles = sorted({role for _, role in pooled}, key=lambda r: (r == "all roles", r))
    rows = ["| victim role | kills Serf / claw | Serf: all mark failed, median (s) "
            "| claw: all mark failed, median (s) | claw/Serf median | bootstrap 95 % "
            "| false failures Serf / claw | load avg (1 min) during kills |",
            "|---|---|---|---|---|---|---|---|"]
    for role in roles:
        serf, claw = pooled.get(("serf", role)), pooled.get(("claw", role))
        if not serf or not claw or not serf["all"] or not claw["all"]:
            continue
        point, lo, hi = bootstrap_ratio(claw["all"], serf["all"], seed)
        loads = serf["loads"] + claw["loads"]
        missed = f" (+{serf['missed']}/{claw['missed']} unseen)" \
            if serf["missed"] or claw["missed"] else ""
        rows.append(f"| {role} | {len(serf['all'])} / {len(claw['all'])}{missed} "
                    f"| {_fmt(serf['all'])} | {_fmt(claw['all'])} | {point:.3f} "
                    f"| {lo:.3f}–{hi:.3f} | {serf['false_failures']} / "
                    f"{claw['false_failures']} | {min(loads):.1f}–{max(loads):.1f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulations.versus_serf.pool",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="+",
                   help="JSON files written by versus_serf --json; FILE#KIND takes only "
                        "that kind's runs from FILE")
    p.add_argument("--seed", type=int, default=1, help="bootstrap seed (default 1)")
    args = p.parse_args(argv)
    results: list[dict] = []
    for arg in args.files:
        name, _, only = arg.partition("#")
        with open(name) as f:
            doc = json.load(f)
        commit = doc.get("code", {}).get("commit", "?")[:10]
        print(f"{arg}: {doc.get('command')} (code {commit})")
        for r in doc["results"]:
            if not only or r["kind"] == only:
                results.append({**r, "run": f"{name}:{r['run']}"})
    print()
    print(detection_table(pool_kills(results), seed=args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
