"""The scenarios of ``python -m simulations``: crash, join, partition, loss, slow, churn.

Each takes ``RunOptions`` and returns a ``Result``: table rows (the same figures go to
JSON), curves for the report, liveness checks, the trace hash, wall time and memory.
Every run starts from a converged cluster built by nodes joining through one seed, or
(``--start converged``) from cores that already know every member (no join simulated).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .metrics import CrashTrial, summarize
from .runner import Run, RunOptions, peak_rss_mb
from .world import SimWorld

__all__ = ["Result", "SCENARIOS", "run_scenario", "swim_expectations"]

E_FACTOR = math.e / (math.e - 1.0)


@dataclass(slots=True)
class Result:
    """What a scenario run produced."""

    scenario: str
    options: dict[str, Any]
    columns: list[str]
    rows: list[dict[str, Any]]
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    series: dict[str, Any] = field(default_factory=dict)
    theory: dict[str, Any] = field(default_factory=dict)
    trace_hash: str = ""
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0
    sim_s: float = 0.0

    @property
    def ok(self) -> bool:
        return all(ok for _, ok, _ in self.checks)

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario, "options": self.options, "columns": self.columns,
            "rows": self.rows, "checks": [
                {"name": n, "ok": ok, "detail": d} for n, ok, d in self.checks],
            "theory": self.theory, "trace_hash": self.trace_hash, "wall_s": self.wall_s,
            "cpu_s": self.cpu_s, "peak_rss_mb": self.peak_rss_mb, "sim_s": self.sim_s, "series": self.series,
        }


def swim_expectations(run: Run, n: int) -> dict[str, float]:
    """The textbook figures for this configuration and size."""
    c = run.config
    scale = max(1.0, math.log10(max(n, 1)))
    susp_min = c.suspicion_mult * scale * c.probe_interval_s
    return {
        # SWIM paper: all members probe in lock-step rounds; a crash is first probed after
        # e/(e-1) rounds on average. memberlist's probers run at independent phases, so the
        # probes of one member form ~ a Poisson stream of rate 1/T: first probe after T.
        "swim_first_probe_s": E_FACTOR * c.probe_interval_s,
        "unsync_first_probe_s": c.probe_interval_s,
        # The probe round ends (and suspicion starts) one probe interval after the ping.
        "expected_first_suspect_s": 2 * c.probe_interval_s,
        "suspicion_min_s": susp_min,
        "suspicion_max_s": c.suspicion_max_mult * susp_min,
        "log2_n": math.log2(max(n, 2)),
        "retransmit_limit": c.retransmit_mult * math.ceil(math.log10(n + 1)),
        "gossip_interval_s": c.gossip_interval_s,
    }


# --- helpers -------------------------------------------------------------------------------


def _r(x: float | None, digits: int = 2) -> float | None:
    return None if x is None else round(x, digits)


def _detection_row(run: Run, trials: list[CrashTrial]) -> dict[str, Any]:
    firsts = [t.first_detection() for t in trials]
    alls = [t.all_detection() for t in trials]
    suspects = [t.first_suspect for t in trials if t.first_suspect is not None]
    per_observer = [d - t.crashed_at for t in trials for d in t.dead_at.values()]
    spread = [a - f for a, f in zip(alls, firsts, strict=True) if a is not None and f is not None]
    f = summarize([x for x in firsts if x is not None])
    a = summarize([x for x in alls if x is not None])
    s = summarize(suspects)
    o = summarize(per_observer)
    rounds = [x / run.config.gossip_interval_s for x in spread]
    return {
        "crashes": len(trials),
        "undetected": sum(1 for t in trials if t.outcome() == "undetected"),
        "restarted_undetected": sum(1 for t in trials if t.outcome() == "restarted"),
        "unaware_observers": sum(t.unaware for t in trials),
        "lost_observers": sum(t.lost for t in trials),
        "first_suspect_p50_s": _r(s["p50"]), "first_suspect_mean_s": _r(s["mean"]),
        "first_suspect_max_s": _r(s["max"]), "first_dead_mean_s": _r(f["mean"]),
        "first_dead_p50_s": _r(f["p50"]), "first_dead_p99_s": _r(f["p99"]),
        "first_dead_max_s": _r(f["max"]),
        "all_dead_p50_s": _r(a["p50"]), "all_dead_p99_s": _r(a["p99"]),
        "all_dead_max_s": _r(a["max"]),
        "observer_dead_p50_s": _r(o["p50"]), "observer_dead_p99_s": _r(o["p99"]),
        "spread_rounds_max": _r(max(rounds) if rounds else None, 1),
    }


def _traffic_cols(run: Run, mark: tuple[float, dict[str, int]]) -> dict[str, Any]:
    t = run.traffic_since(mark)
    return {
        "msgs_per_node_s": _r(t["msgs_per_node_s"], 1),
        "bytes_per_node_s": _r(t["bytes_per_node_s"], 0),
        "streams_per_node_s": _r(t["streams_per_node_s"], 3),
    }


def _false_cols(run: Run, since: float) -> dict[str, Any]:
    fa = run.obs.false_alarms(since)
    return {
        "false_dead": fa["dead_healthy"], "false_dead_slow": fa["dead_slow"],
        "false_suspect": fa["suspect_healthy"], "flaps": fa["flaps"],
    }


def _crash_trials(run: Run, count: int, timeout_s: float, loss_during: float | None = None,
                  gap_s: float = 2.0) -> list[CrashTrial]:
    """Crash ``count`` random nodes (never the seed) one after another, each at a random
    phase of the probe cycle, waiting until everybody declared it dead (or a timeout)."""
    world = run.world
    rng = world.rng
    trials: list[CrashTrial] = []
    for _ in range(count):
        candidates = [n for n in world.live_nodes() if n.index != 0]
        if not candidates:
            break
        victim = rng.choice(candidates)
        t_crash = world.now + rng.uniform(0.0, run.config.probe_interval_s)
        run.advance(t_crash)
        world.note(f"scenario crash {victim.name}")
        world.crash(victim.name)
        trial = run.obs.trials[victim.name]
        run.advance(world.now + timeout_s, stop=lambda: trial.all_detection() is not None)  # noqa: B023 - used at once
        trials.append(trial)
        run.advance(world.now + gap_s)
    return trials


def _finish(run: Run, result: Result) -> Result:
    if run.options.start == "converged":
        # Shared (copy-on-write) records raise if a core changes one in place; the
        # simulator's cores are strict, so this stays 0 unless a core is built lenient.
        errors = sum(n.core.stats["internal_errors"] for n in run.world.nodes if n.core)
        result.checks.append(("no core raised (copy-on-write tables intact)", errors == 0,
                              f"{errors} internal errors in running cores"))
    result.trace_hash = run.world.trace_hash()
    result.wall_s = round(run.wall_s(), 2)
    result.cpu_s = round(time.process_time(), 2)
    result.peak_rss_mb = round(peak_rss_mb(), 1)
    result.sim_s = round(run.world.now, 2)
    result.series.setdefault("disagreeing_pairs", _thin(run.samples))
    return result


def _end_lag(world: SimWorld, names: list[str]) -> None:
    """Timer action: ``names`` answer at full speed again."""
    for name in names:
        world.lag(name, 0.0)


def _thin(samples: list[tuple[float, int]], limit: int = 400) -> list[tuple[float, int]]:
    if len(samples) <= limit:
        return samples
    step = len(samples) / limit
    return [samples[int(i * step)] for i in range(limit)] + [samples[-1]]


def _base_result(opts: RunOptions, columns: list[str]) -> Result:
    return Result(scenario=opts.scenario, options=_options_dict(opts), columns=columns, rows=[])


def _options_dict(opts: RunOptions) -> dict[str, Any]:
    d = {k: getattr(opts, k) for k in opts.__dataclass_fields__ if k not in ("extra",)}
    d["losses"] = list(opts.losses)
    d["slow_variants"] = list(opts.slow_variants)
    return d


def _bootstrap(run: Run, result: Result, n: int) -> float | None:
    ramp = max(1.0, n / 200.0)
    t = run.bootstrap_cached(n, ramp, run.options.snapshot_dir)
    result.checks.append(("bootstrap converged", t is not None,
                          f"{n} nodes joining through one seed over {ramp:.0f} s"))
    result.series["bootstrap_unsettled_pairs"] = run.obs.wrong
    return t


# --- scenarios --------------------------------------------------------------------------


DETECTION_COLUMNS = [
    "crashes", "undetected", "first_suspect_p50_s", "first_dead_p50_s", "first_dead_p99_s",
    "first_dead_max_s", "all_dead_p50_s", "all_dead_p99_s", "all_dead_max_s",
    "spread_rounds_max", "false_dead", "false_suspect", "flaps", "converge_s",
    "msgs_per_node_s", "bytes_per_node_s",
]


def scenario_crash(opts: RunOptions) -> Result:
    """Crash nodes one at a time in a healthy cluster; time the detection."""
    n = opts.nodes
    result = _base_result(opts, ["nodes"] + DETECTION_COLUMNS)
    run = Run(opts)
    boot = _bootstrap(run, result, n)
    result.theory = swim_expectations(run, n)
    if boot is None:
        return _finish(run, result)
    run.advance(run.world.now + opts.warmup_s)
    since = run.world.now
    mark = run.traffic_mark()
    count = opts.crashes if opts.crashes is not None else max(1, min(5, n // 10))
    trials = _crash_trials(run, count, timeout_s=120.0)
    last = trials[-1].crashed_at if trials else since
    if opts.duration_s is not None:  # keep the cluster running to the requested length
        run.advance(since + opts.duration_s)
    row = {"nodes": n, **_detection_row(run, trials), **_false_cols(run, since)}
    conv = run.obs.converged_after(last)
    row["converge_s"] = _r(None if conv is None else conv - last)
    row.update(_traffic_cols(run, mark))
    row["bootstrap_s"] = _r(boot)
    result.rows.append(row)
    result.series["observer_detection_s"] = sorted(
        round(d - t.crashed_at, 3) for t in trials for d in t.dead_at.values())
    result.checks.append(("every crash detected by every live node", row["undetected"] == 0,
                          f"{row['undetected']} of {len(trials)} crashes not seen by all"))
    result.checks.append(("no healthy node declared dead", row["false_dead"] == 0,
                          f"{row['false_dead']} false deaths"))
    return _finish(run, result)


def scenario_join(opts: RunOptions) -> Result:
    """N nodes join through one seed at once; time until every view is the same."""
    n = opts.nodes
    cols = ["nodes", "join_window_s", "converge_s", "after_last_start_s", "converge_rounds",
            "false_dead", "msgs_per_node_s", "bytes_per_node_s", "streams_per_node_s",
            "seed_cpu_ms_per_s", "seed_kb_per_s", "catch_ups"]
    result = _base_result(opts, cols)
    run = Run(opts)
    world = run.world
    result.theory = swim_expectations(run, n)
    mark = run.traffic_mark()
    seed = world.add_node()
    seed.metered = True
    window = opts.join_window_s
    for _ in range(n - 1):
        world.at(world.rng.uniform(0.0, window), lambda: world.add_node(seeds=[seed.address]))
    run.advance(window + 0.01)
    timeout = opts.duration_s or 600.0
    run.advance(timeout, stop=lambda: run.obs.converged)
    conv = run.obs.converged_since if run.obs.converged else None
    row = {"nodes": n, "join_window_s": window, "converge_s": _r(conv, 2),
           "converge_rounds": _r(None if conv is None else conv / run.config.gossip_interval_s, 1),
           **_false_cols(run, 0.0), **_traffic_cols(run, mark)}
    row["after_last_start_s"] = _r(None if conv is None else conv - window, 2)
    # The seed serves every joiner's push-pull: its load per simulated second (to the
    # end of the run), CPU as this process measured it around the seed's core calls.
    row["seed_cpu_ms_per_s"] = _r(1000.0 * seed.cpu_s / world.now, 1)
    row["seed_kb_per_s"] = _r((seed.bytes_sent + seed.bytes_received) / 1000.0 / world.now, 1)
    row["catch_ups"] = sum(n.core.stats["catch_ups"] for n in world.nodes if n.core)
    result.rows.append(row)
    result.checks.append(("all views equal", conv is not None,
                          f"still {run.obs.wrong} disagreeing pairs at {world.now:.1f} s"))
    return _finish(run, result)


def scenario_partition(opts: RunOptions) -> Result:
    """Cut the cluster (split / isolate / asymmetric), then heal; time the healing."""
    n = opts.nodes
    cols = ["nodes", "mode", "partition_s", "cut_dead_all_s", "converge_after_heal_s",
            "false_dead_after_heal", "flaps", "msgs_per_node_s", "bytes_per_node_s"]
    result = _base_result(opts, cols)
    run = Run(opts)
    world = run.world
    result.theory = swim_expectations(run, n)
    if _bootstrap(run, result, n) is None:
        return _finish(run, result)
    world = run.world  # (a cached bootstrap replaces the world)
    run.advance(world.now + opts.warmup_s)
    mark = run.traffic_mark()
    live = world.live_nodes()
    order = list(live)
    world.rng.shuffle(order)
    mode = opts.partition_mode
    if mode == "split":
        side_a = order[: len(order) // 2]
        world.network.split([[x.address for x in side_a]])
        cut = len(side_a) * (len(order) - len(side_a)) * 2
    elif mode == "isolate":
        side_a = [order[0]]
        world.network.isolate(order[0].address)
        cut = 2 * (len(order) - 1)
    elif mode == "asymmetric":
        side_a = [order[0]]
        for other in order[1:]:
            world.network.block(order[0].address, other.address)
        cut = 2 * (len(order) - 1)
    else:
        raise ValueError(f"unknown partition mode {mode!r}")
    start = world.now
    world.note(f"scenario partition {mode} {len(side_a)}")
    names_a = {x.name for x in side_a}
    cross_dead: dict[tuple[str, str], float] = {}

    def watch(now: float, node: Any, event: Any) -> None:
        member = getattr(event, "member", None)
        if member is None or type(event).__name__ != "MemberFailed":
            return
        if (node.name in names_a) != (member.name in names_a):
            cross_dead.setdefault((node.name, member.name), now - start)

    world.observers.append(watch)
    run.advance(start + opts.partition_s)
    world.network.heal()
    heal = world.now
    world.note("scenario heal")
    run.advance(heal + 300.0, stop=lambda: run.obs.converged)
    conv = run.obs.converged_after(heal)
    full = len(cross_dead) >= cut
    row = {"nodes": n, "mode": mode, "partition_s": opts.partition_s,
           "cut_dead_all_s": _r(max(cross_dead.values()) if full and cross_dead else None),
           "cut_pairs_dead": f"{len(cross_dead)}/{cut}",
           "converge_after_heal_s": _r(None if conv is None else conv - heal),
           "false_dead_after_heal": run.obs.false_alarms(heal + 1.0)["dead_healthy"],
           "flaps": run.obs.flaps, **_traffic_cols(run, mark)}
    result.rows.append(row)
    result.checks.append(("views agree again after heal", conv is not None,
                          f"{run.obs.wrong} disagreeing pairs {world.now - heal:.0f} s after heal"))
    return _finish(run, result)


def scenario_loss(opts: RunOptions) -> Result:
    """Sweep random loss: false alarms among healthy nodes and crash detection under loss."""
    n = opts.nodes
    cols = ["loss", "false_dead", "false_suspect", "flaps", "first_dead_p50_s",
            "all_dead_max_s", "undetected", "msgs_per_node_s", "bytes_per_node_s"]
    result = _base_result(opts, cols)
    duration = opts.duration_s or 60.0
    hashes = []
    for p in opts.losses:
        run = Run(opts, label=f"loss {p:.0%}")
        world = run.world
        if run.bootstrap_cached(n, max(1.0, n / 200.0), opts.snapshot_dir) is None:
            result.checks.append((f"bootstrap at loss {p:.0%}", False, "did not converge"))
            continue
        world = run.world
        result.theory = swim_expectations(run, n)
        run.advance(world.now + opts.warmup_s)
        world.network.set_loss(p)
        world.note(f"scenario loss {p!r}")
        since = world.now
        mark = run.traffic_mark()
        run.advance(since + duration / 2)
        trials = _crash_trials(run, 1, timeout_s=max(60.0, duration / 2), gap_s=0.0)
        run.advance(max(world.now, since + duration))
        det = _detection_row(run, trials)
        row = {"loss": p, **_false_cols(run, since),
               "first_dead_p50_s": det["first_dead_p50_s"], "all_dead_max_s": det["all_dead_max_s"],
               "undetected": det["undetected"], **_traffic_cols(run, mark)}
        result.rows.append(row)
        result.series[f"disagreeing_pairs_loss_{p}"] = _thin(run.samples, 200)
        hashes.append(run.world.trace_hash())
        if p <= 0.10:
            result.checks.append((f"no healthy node declared dead at {p:.0%} loss",
                                  row["false_dead"] == 0, f"{row['false_dead']} false deaths"))
    result.series["false_dead_by_loss"] = [(r["loss"], r["false_dead"]) for r in result.rows]
    result.series["msgs_by_loss"] = [(r["loss"], r["msgs_per_node_s"]) for r in result.rows]
    _finish(run, result)
    result.series.pop("disagreeing_pairs", None)
    import hashlib
    result.trace_hash = hashlib.sha256("".join(hashes).encode()).hexdigest()
    return result


def scenario_slow(opts: RunOptions) -> Result:
    """Slow nodes (Lifeguard): repeatedly paused, or lagging on every input; each with
    Lifeguard's timers and with fixed SWIM timers."""
    n = opts.nodes
    cols = ["mode", "variant", "slow_nodes", "false_dead", "false_dead_slow", "false_suspect",
            "suspect_slow", "suspect_by_slow", "flaps", "msgs_per_node_s"]
    result = _base_result(opts, cols)
    duration = opts.duration_s or 60.0
    variants: list[tuple[str, dict[str, Any]]] = [
        ("claw", {"memberlist": False}),
        ("memberlist", {"memberlist": True}),
        ("swim-timers", {"memberlist": True, "awareness_max_multiplier": 1,
                         "suspicion_max_mult": 1}),
    ]
    variants = [v for v in variants if v[0] in opts.slow_variants]
    hashes = []
    for mode in ("pause", "lag"):
        for label, changes in variants:
            run = Run(opts, config=opts.gossip_config(**changes), label=f"{mode}/{label}")
            world = run.world
            if run.bootstrap_cached(n, max(1.0, n / 200.0), opts.snapshot_dir) is None:
                result.checks.append((f"bootstrap ({label})", False, "did not converge"))
                continue
            world = run.world
            result.theory = swim_expectations(run, n)
            run.advance(world.now + opts.warmup_s)
            slow = world.rng.sample([x for x in world.live_nodes() if x.index != 0],
                                    min(opts.slow_nodes, n - 1))
            run.obs.slow = {x.name for x in slow}
            since = world.now
            mark = run.traffic_mark()
            if mode == "pause":
                t = since
                while t < since + duration:
                    for node in slow:
                        world.at(t + world.rng.uniform(0.0, 0.5), world.pause, node.name, opts.pause_s)
                    t += opts.pause_every_s
            else:
                for node in slow:
                    world.lag(node.name, opts.lag_s)
                world.at(since + duration, _end_lag, world, [x.name for x in slow])
            run.advance(since + duration + 10.0)
            fa = run.obs.false_alarms(since)
            row = {"mode": mode if mode == "lag" else f"pause {opts.pause_s:g}/{opts.pause_every_s:g}s",
                   "variant": label, "slow_nodes": len(slow),
                   "false_dead": fa["dead_healthy"], "false_dead_slow": fa["dead_slow"],
                   "false_suspect": fa["suspect_healthy"], "suspect_slow": fa["suspect_slow"],
                   "suspect_by_slow": fa["suspect_by_slow_accuser"], "flaps": fa["flaps"],
                   **_traffic_cols(run, mark)}
            if mode == "lag":
                row["mode"] = f"lag {opts.lag_s:g}s"
            result.rows.append(row)
            hashes.append(world.trace_hash())
            if label != "swim-timers":
                result.checks.append((f"no healthy node declared dead ({row['mode']})",
                                      row["false_dead"] == 0, f"{row['false_dead']} false deaths"))
    _finish(run, result)
    import hashlib
    result.trace_hash = hashlib.sha256("".join(hashes).encode()).hexdigest()
    return result


def scenario_churn(opts: RunOptions) -> Result:
    """Joins, graceful leaves, crashes and restarts at random, then quiet: does it settle?"""
    n = opts.nodes
    cols = ["nodes", "actions", "joins", "leaves", "crashes", "restarts", "undetected",
            "restarted_undetected", "unaware_observers", "lost_observers", "all_dead_p99_s",
            "false_dead", "flaps", "converge_s", "msgs_per_node_s", "bytes_per_node_s"]
    result = _base_result(opts, cols)
    run = Run(opts)
    world = run.world
    result.theory = swim_expectations(run, n)
    if _bootstrap(run, result, n) is None:
        return _finish(run, result)
    world = run.world  # (a cached bootstrap replaces the world)
    run.advance(world.now + opts.warmup_s)
    since = world.now
    mark = run.traffic_mark()
    duration = opts.duration_s or 60.0
    counts = {"join": 0, "leave": 0, "crash": 0, "restart": 0}
    crashed: list[str] = []
    rng = world.rng
    while world.now < since + duration:
        run.advance(world.now + rng.expovariate(1.0 / opts.churn_interval_s))
        live = [x for x in world.live_nodes() if x.index != 0]
        action = rng.choice(["join", "leave", "crash", "restart"])
        if action in ("leave", "crash") and len(live) <= max(1, n // 2):
            action = "join"
        if action == "restart" and not crashed:
            action = "join"
        if action == "join":
            world.add_node(seeds=[rng.choice(world.live_nodes()).address])
        elif action == "leave":
            world.leave(rng.choice(live).name)
        elif action == "crash":
            victim = rng.choice(live)
            world.crash(victim.name)
            crashed.append(victim.name)
        else:
            name = crashed.pop(rng.randrange(len(crashed)))
            others = [x for x in world.live_nodes() if x.name != name]
            world.restart(name, seeds=[rng.choice(others).address],
                          new_address=rng.random() < 0.5)
        counts[action] += 1
    last = world.now
    run.advance(last + 300.0, stop=lambda: run.obs.converged and world.now > last + 1.0)
    conv = run.obs.converged_after(last)
    trials = run.obs.close_trials()
    det = _detection_row(run, trials)
    row = {"nodes": n, "actions": sum(counts.values()), "joins": counts["join"],
           "leaves": counts["leave"], "crashes": counts["crash"], "restarts": counts["restart"],
           **{k: det[k] for k in ("undetected", "restarted_undetected", "unaware_observers",
                                  "lost_observers", "all_dead_p99_s")},
           **_false_cols(run, since),
           "converge_s": _r(None if conv is None else conv - last), **_traffic_cols(run, mark)}
    result.rows.append(row)
    result.checks.append(("views agree after churn stops", conv is not None,
                          f"{run.obs.wrong} disagreeing pairs at {world.now:.1f} s"))
    return _finish(run, result)


def scenario_heal(opts: RunOptions) -> Result:
    """The partition scenario with the claw layer (election, registry, skewed clocks):
    splits 50/50 and 70/30, the incumbent on each side, writes on both, a heal
    (``simulations.sim.heal``)."""
    from .heal import CASES, run_case

    cols = ["split", "incumbent", "incumbent_before", "split_coordinators", "after_heal",
            "acked_writes", "records", "coordinator_s", "registry_s", "trace"]
    result = _base_result(opts, cols)
    started = time.monotonic()
    config = opts.gossip_config()
    traces = []
    for case in CASES:
        row, checks = run_case(config, opts.seed, opts.nodes, opts.partition_s, case)
        result.sim_s = round(result.sim_s + row.pop("sim_s"), 1)
        result.rows.append(row)
        traces.append(row["trace"])
        label = f"{row['split']} incumbent on the {row['incumbent']} side"
        result.checks.extend((f"{label}: {what}", ok, detail) for what, ok, detail in checks)
    result.trace_hash = "-".join(traces)
    result.wall_s = round(time.monotonic() - started, 2)
    result.cpu_s = round(time.process_time(), 2)
    result.peak_rss_mb = round(peak_rss_mb(), 1)
    return result


SCENARIOS: dict[str, Callable[[RunOptions], Result]] = {
    "crash": scenario_crash,
    "join": scenario_join,
    "partition": scenario_partition,
    "loss": scenario_loss,
    "slow": scenario_slow,
    "churn": scenario_churn,
    "heal": scenario_heal,
}


def run_scenario(opts: RunOptions) -> Result:
    return SCENARIOS[opts.scenario](opts)
