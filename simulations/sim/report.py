"""Turning a scenario ``Result`` into a text table, a JSON file and SVG plots.

The plots are hand-written SVG (a polyline per series, axes with a few ticks) so the
simulator needs no plotting library.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from html import escape
from typing import Any

__all__ = ["format_table", "write_report", "line_chart_svg"]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def format_table(result: Any) -> str:
    """The result's rows as an aligned text table, then checks and run facts."""
    columns = list(result.columns)
    if len(result.rows) == 1:  # one run: a vertical table reads better than a wide one
        row = result.rows[0]
        keys = columns + [k for k in row if k not in columns]
        width = max(len(k) for k in keys)
        lines = [f"{k.ljust(width)}  {_cell(row.get(k))}" for k in keys]
        return "\n".join(lines + _footer(result))
    cells = [[_cell(row.get(c)) for c in columns] for row in result.rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines + _footer(result))


def _footer(result: Any) -> list[str]:
    lines = []
    if result.theory:
        lines.append("theory: " + ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in result.theory.items()))
    for name, ok, detail in result.checks:
        lines.append(f"check {'ok  ' if ok else 'FAIL'} {name}" + ("" if ok else f" ({detail})"))
    lines.append(f"simulated {result.sim_s} s in {result.wall_s} s wall ({result.cpu_s} s CPU), peak RSS "
                 f"{result.peak_rss_mb} MiB, trace sha256 {result.trace_hash[:16]}")
    return lines


def line_chart_svg(series: dict[str, Sequence[tuple[float, float]]], title: str,
                   xlabel: str, ylabel: str, width: int = 640, height: int = 360) -> str:
    """A minimal SVG line chart of one or more (x, y) series."""
    pad_l, pad_r, pad_t, pad_b = 70, 20, 36, 48
    points = [p for s in series.values() for p in s]
    if not points:
        points = [(0.0, 0.0), (1.0, 1.0)]
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(0.0, min(p[1] for p in points)), max(p[1] for p in points)
    x1 = x1 if x1 > x0 else x0 + 1.0
    y1 = y1 if y1 > y0 else y0 + 1.0
    pw, ph = width - pad_l - pad_r, height - pad_t - pad_b

    def sx(x: float) -> float:
        return pad_l + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return pad_t + ph - (y - y0) / (y1 - y0) * ph

    colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">{escape(title)}</text>',
           f'<line x1="{pad_l}" y1="{pad_t + ph}" x2="{pad_l + pw}" y2="{pad_t + ph}" stroke="black"/>',
           f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{pad_t + ph}" stroke="black"/>']
    for i in range(5):
        xv = x0 + (x1 - x0) * i / 4
        yv = y0 + (y1 - y0) * i / 4
        out.append(f'<text x="{sx(xv):.1f}" y="{pad_t + ph + 16}" text-anchor="middle">{xv:.3g}</text>')
        out.append(f'<text x="{pad_l - 6}" y="{sy(yv) + 4:.1f}" text-anchor="end">{yv:.3g}</text>')
        out.append(f'<line x1="{pad_l}" y1="{sy(yv):.1f}" x2="{pad_l + pw}" y2="{sy(yv):.1f}" '
                   f'stroke="#ddd"/>')
    out.append(f'<text x="{pad_l + pw / 2}" y="{height - 8}" text-anchor="middle">{escape(xlabel)}</text>')
    out.append(f'<text x="14" y="{pad_t + ph / 2}" text-anchor="middle" '
               f'transform="rotate(-90 14 {pad_t + ph / 2})">{escape(ylabel)}</text>')
    for k, (name, pts) in enumerate(series.items()):
        color = colors[k % len(colors)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{path}"/>')
        out.append(f'<text x="{pad_l + 8}" y="{pad_t + 14 + 14 * k}" fill="{color}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _cdf(values: Sequence[float]) -> list[tuple[float, float]]:
    ordered = sorted(values)
    n = len(ordered)
    return [(v, (i + 1) / n) for i, v in enumerate(ordered)]


def write_report(result: Any, directory: str) -> list[str]:
    """Write ``<scenario>.json`` and the scenario's SVG plots into ``directory``."""
    os.makedirs(directory, exist_ok=True)
    base = os.path.join(directory, f"{result.scenario}-n{result.options['nodes']}")
    paths = [base + ".json"]
    with open(paths[0], "w") as f:
        json.dump(result.as_json(), f, indent=2)
    charts: list[tuple[str, str]] = []
    s = result.series
    if "disagreeing_pairs" in s:
        charts.append(("-convergence.svg", line_chart_svg(
            {"disagreeing (observer, subject) pairs": s["disagreeing_pairs"]},
            f"{result.scenario}: views disagreeing with the truth", "simulated s", "pairs")))
    if s.get("observer_detection_s"):
        charts.append(("-detection-cdf.svg", line_chart_svg(
            {"per-observer time to declare dead": _cdf(s["observer_detection_s"])},
            "crash: detection latency CDF", "seconds after the crash", "fraction of observers")))
    if "false_dead_by_loss" in s:
        charts.append(("-false-dead.svg", line_chart_svg(
            {"healthy nodes declared dead": s["false_dead_by_loss"]},
            "loss: false deaths vs loss rate", "loss probability", "false deaths")))
        charts.append(("-msgs.svg", line_chart_svg(
            {"datagrams per node per s": s["msgs_by_loss"]},
            "loss: message load vs loss rate", "loss probability", "msgs/node/s")))
        loss_curves = {k.replace("disagreeing_pairs_", ""): v for k, v in s.items()
                       if k.startswith("disagreeing_pairs_loss_")}
        if loss_curves:
            charts.append(("-convergence.svg", line_chart_svg(
                loss_curves, "loss: views disagreeing with the truth", "simulated s", "pairs")))
    for suffix, svg in charts:
        path = base + suffix
        with open(path, "w") as f:
            f.write(svg)
        paths.append(path)
    return paths
