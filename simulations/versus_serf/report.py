"""Figures over runs: min/median/max per kind, and the claw/Serf ratio per paired run."""

from __future__ import annotations

import argparse
import statistics

__all__ = ["FIGURES", "summarize", "render_table"]

FIGURES: list[tuple[str, str]] = [
    ("join_all_s", "join: all see all, from last start (s)"),
    ("join_all_from_output_s", "join: all see all, from last agent's first output (s)"),
    ("newcomer_all_s", "newcomer seen by all, from its start (s)"),
    ("newcomer_from_output_s", "newcomer seen by all, from its first output (s)"),
    ("kill_first_s", "kill -9 -> first marks failed, median (s)"),
    ("kill_all_s", "kill -9 -> all mark failed, median (s)"),
    ("kill_all_max_s", "kill -9 -> all mark failed, worst (s)"),
    ("leave_all_s", "graceful leave seen by all (s)"),
    ("cpu_pct", "idle CPU per agent (% of a core)"),
    ("rss_mib", "RSS per agent, median (MiB)"),
    ("rss_mib_max", "RSS per agent, max (MiB)"),
    ("pkts_s", "idle packets/s sent per agent"),
    ("bytes_s", "idle bytes/s sent per agent"),
    ("udp_pkts_s", "  of which UDP packets/s"),
    ("udp_bytes_s", "  of which UDP bytes/s"),
    ("udp_bytes_s_max", "  UDP bytes/s of the busiest agent"),
    ("false_failures", "false failures (loopback run)"),
    ("false_suspicions", "suspicion episodes of live agents (loopback run)"),
    ("netns_join_all_s", "join in namespaces, all see all (s)"),
    ("loss_false_failures", "under loss: false failures"),
    ("loss_flaps", "under loss: flaps (failed then alive again)"),
    ("loss_suspicions", "under loss: suspicion episodes"),
    ("loss_refutes", "under loss: refutations"),
    ("loss_pkts_s", "under loss: packets/s sent per agent"),
    ("loss_bytes_s", "under loss: bytes/s sent per agent"),
    ("loss_cpu_pct", "under loss: CPU per agent (%)"),
    ("pause_false_failures", "paused node: false failures"),
    ("pause_flaps", "paused node: flaps"),
    ("pause_suspicions", "paused node: suspicion episodes of it"),
    ("pause_refutes", "paused node: its refutations"),
]


def _mmm(xs: list[float]) -> dict | None:
    if not xs:
        return None
    return {"min": min(xs), "median": statistics.median(xs), "max": max(xs), "n": len(xs)}


def summarize(results: list[dict], kinds: list[str]) -> dict:
    """{figure: {kind: min/median/max, "ratio": min/median/max of claw/serf per run}}."""
    out: dict = {}
    for key, _label in FIGURES:
        entry: dict = {}
        per_kind: dict[str, dict[int, float]] = {}
        for k in kinds:
            vals = {r["run"]: r["figures"].get(key) for r in results if r["kind"] == k}
            per_kind[k] = {run: v for run, v in vals.items() if isinstance(v, (int, float))}
            entry[k] = _mmm(list(per_kind[k].values()))
        if "serf" in per_kind and "claw" in per_kind:
            ratios = [per_kind["claw"][run] / per_kind["serf"][run]
                      for run in per_kind["claw"] if run in per_kind["serf"]
                      and per_kind["serf"][run] != 0]
            entry["ratio"] = _mmm(ratios)
        if any(v for v in entry.values()):
            out[key] = entry
    return out


def _fmt(v: float) -> str:
    if float(v).is_integer() and abs(v) < 1e6:
        return str(int(v))
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def _cell(s: dict | None) -> str:
    if not s:
        return "-"
    if s["n"] == 1 or s["min"] == s["max"]:
        return _fmt(s["median"])
    return f"{_fmt(s['median'])} [{_fmt(s['min'])}–{_fmt(s['max'])}]"


def render_table(summary: dict, args: argparse.Namespace, command: str) -> str:
    """A plain-text (Markdown) table: median [min–max] over runs."""
    kinds = [k for k in ("serf", "claw") if any(k in e and e[k] for e in summary.values())]
    head = ["figure", *("Serf" if k == "serf" else "claw-node" for k in kinds)]
    ratio = "serf" in kinds and "claw" in kinds
    if ratio:
        head.append("claw/Serf")
    rows = [head, ["---"] * len(head)]
    for key, label in FIGURES:
        if key not in summary:
            continue
        e = summary[key]
        row = [label, *(_cell(e.get(k)) for k in kinds)]
        if ratio:
            row.append(_cell(e.get("ratio")))
        rows.append(row)
    window = (f"loss {args.loss:g} for {args.loss_window:g}s in namespaces" if args.loss
              else f"loopback, idle window {args.idle:g}s")
    if getattr(args, "encrypt", False):
        window += ", gossip encrypted (one key for both kinds)"
    title = (f"N={args.nodes}, profile {args.profile}, {args.runs} run(s), {window}; "
             "cells: median [min–max] over runs")
    lines = [f"`{command}`", "", title, ""]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)
