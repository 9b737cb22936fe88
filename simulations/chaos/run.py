"""One chaos run: real claw-node processes, real faults, then the invariants.

Timeline (each step bounded; faults are skipped when the fabric cannot do them):

1. start N agents (agent 0 is the seed) and wait until every one lists all online;
2. register HTTP nodes through a random agent;
3. SIGSTOP a non-coordinator agent ``pause_s`` seconds, ``pauses`` times;
4. ``kill -9`` a non-coordinator agent, wait until the others mark it offline,
   restart it (same id, address, data dir);
5. random loss on every agent for ``loss_window_s`` while sampling every node list
   (root: namespaces, or iptables on the loopback ports);
6. partition the cluster in two for ``partition_s`` (namespaces only), then heal;
7. ``kill -9`` the coordinator;
8. heal everything and wait (bounded) until the cluster settles, then take one
   report per live node and ``check`` the invariants.
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass, field

from ..realproc.netns import FabricError, LoopbackFirewall, NetnsLab, fabric_unavailable
from ..realproc.agents import Agent, ClawKind, Cluster
from .api_client import ApiClient
from .invariants import UP_STATUSES, ChaosRecord, NodeReport, Violation, check

__all__ = ["ChaosSettings", "ChaosResult", "run_chaos"]

START_TIMEOUT_S = 90.0
DETECT_TIMEOUT_S = 90.0
SETTLE_TIMEOUT_S = 120.0
"""Longest wait for the cluster to settle after healing before the final check."""
POLL_S = 1.0
"""Sampling period of the node lists (seconds)."""
REGISTERED_HOSTS = 2


@dataclass
class ChaosSettings:
    nodes: int = 4
    netns: bool = False
    profile: str = "lan"
    pauses: int = 2
    pause_s: float = 3.0
    kill: bool = True
    loss: float = 0.1
    loss_window_s: float = 30.0
    partition_s: float = 20.0
    seed: int = 1
    log_dir: str | None = None
    verbose: bool = True


@dataclass
class ChaosResult:
    record: ChaosRecord | None
    violations: list[Violation]
    steps: list[str] = field(default_factory=list)
    figures: dict = field(default_factory=dict)


class _Run:
    def __init__(self, s: ChaosSettings, cluster: Cluster, api: ApiClient,
                 fabric: object | None) -> None:
        self.s, self.cluster, self.api, self.fabric = s, cluster, api, fabric
        self.steps: list[str] = []
        self.figures: dict = {}
        self.t0 = time.monotonic()

    def say(self, msg: str) -> None:
        line = f"[{time.monotonic() - self.t0:6.1f}s] {msg}"
        self.steps.append(line)
        if self.s.verbose:
            print(line, file=sys.stderr, flush=True)

    def base(self, a: Agent) -> str:
        return f"http://{a.host.ip}:{a.api_port}"

    def reports(self, agents: list[Agent]) -> dict[str, NodeReport | None]:
        return self.api.reports({a.name: self.base(a) for a in agents}, time.monotonic)

    def wait_until(self, agents: list[Agent], pred, timeout_s: float) -> dict[str, NodeReport | None]:
        """Poll every agent until ``pred(reports)`` holds or timeout; the last reports."""
        deadline = time.monotonic() + timeout_s
        while True:
            reps = self.reports(agents)
            if pred(reps) or time.monotonic() >= deadline:
                return reps
            time.sleep(POLL_S)

    def all_see(self, subjects: set[str], statuses: frozenset[str] | set[str]):
        def pred(reps: dict[str, NodeReport | None]) -> bool:
            return all(r is not None and all(r.statuses.get(x) in statuses for x in subjects)
                       for r in reps.values())
        return pred

    def coordinator(self, agents: list[Agent]) -> str | None:
        named = {r.coordinator for r in self.reports(agents).values() if r is not None}
        named.discard(None)
        return next(iter(named)) if len(named) == 1 else None


def run_chaos(s: ChaosSettings) -> ChaosResult:
    kind = ClawKind()
    reason = kind.available()
    if reason:
        raise RuntimeError(reason)
    rng = random.Random(s.seed)
    lab: NetnsLab | None = None
    if s.netns:
        reason = fabric_unavailable()
        if reason:
            raise RuntimeError(f"--netns {reason}")
        lab = NetnsLab(s.nodes)
    api = ApiClient(lab.hub if lab else None)
    try:
        with Cluster(kind, lab.hosts if lab else None, s.profile, s.log_dir) as cluster:
            run = _Run(s, cluster, api, lab)
            record = _scenario(run, rng, lab)
            return ChaosResult(record, check(record), run.steps, run.figures)
    finally:
        api.close()
        if lab is not None:
            lab.close()


def _scenario(run: _Run, rng: random.Random, lab: NetnsLab | None) -> ChaosRecord:
    s, cluster = run.s, run.cluster
    all_up = UP_STATUSES

    # 1. start and converge
    seed = cluster.start(0, None)
    deadline = time.monotonic() + START_TIMEOUT_S
    while run.reports([seed])[seed.name] is None:
        if time.monotonic() > deadline or seed.proc.poll() is not None:
            raise RuntimeError(f"seed did not serve its API:\n{cluster.tail(seed.name)}")
        time.sleep(0.2)
    for i in range(1, s.nodes):
        cluster.start(i, seed)
    names = {a.name for a in cluster.live()}
    t = time.monotonic()
    reps = run.wait_until(cluster.live(), run.all_see(names, all_up), START_TIMEOUT_S)
    if not run.all_see(names, all_up)(reps):
        raise RuntimeError("cluster did not converge at start: " + _describe(reps, names))
    run.figures["start_converge_s"] = time.monotonic() - t
    run.say(f"{s.nodes} agents up, all online everywhere ({run.figures['start_converge_s']:.1f}s)")

    # 2. HTTP registrations
    registered: set[str] = set()
    via = rng.choice(cluster.live())
    for k in range(REGISTERED_HOSTS):
        body = {"hostname": f"chaos-worker-{k}", "platform": "linux", "arch": "x64",
                "available_skills": ["chaos"], "ip_address": "127.0.0.1"}
        status, resp = run.api.post(f"{run.base(via)}/api/v1/nodes/register", body)
        if status in (200, 201) and isinstance(resp, dict) and resp.get("node_id"):
            registered.add(resp["node_id"])
        else:
            run.say(f"register via {via.name} failed: {status} {resp}")
    run.say(f"registered over HTTP: {sorted(registered)}")
    coord = run.coordinator(cluster.live())
    run.say(f"coordinator: {coord}")

    def non_coordinators() -> list[Agent]:
        c = run.coordinator(cluster.live())
        return [a for a in cluster.live() if a.name not in (c, seed.name)] or \
            [a for a in cluster.live() if a.name != c]

    # 3. SIGSTOP / SIGCONT
    if s.pauses > 0:
        victim = rng.choice(non_coordinators())
        for _ in range(s.pauses):
            cluster.pause(victim)
            time.sleep(s.pause_s)
            cluster.resume(victim)
            time.sleep(s.pause_s)
        run.say(f"paused {victim.name} {s.pauses}x{s.pause_s:g}s")

    # 4. kill -9 and restart
    if s.kill and s.nodes >= 3:
        victim = rng.choice(non_coordinators())
        others = [a for a in cluster.live() if a is not victim]
        t = cluster.kill9(victim)
        reps = run.wait_until(others, run.all_see({victim.name}, {"offline"}), DETECT_TIMEOUT_S)
        ok = run.all_see({victim.name}, {"offline"})(reps)
        run.figures["kill_detect_s"] = time.monotonic() - t if ok else None
        run.say(f"kill -9 {victim.name}: all others show it offline: "
                f"{'%.1fs' % run.figures['kill_detect_s'] if ok else 'NO within timeout'}")
        restarted = cluster.start(victim.host.index, seed if seed.alive else others[0],
                                  like=victim)
        run.say(f"restarted {restarted.name}")

    # 5. random loss
    loss_reports: list[NodeReport] = []
    loss_live: frozenset[str] = frozenset()
    loss_applied = 0.0
    if s.loss > 0:
        fabric = lab
        reason = fabric_unavailable()
        if fabric is None and reason is None:
            try:
                fabric = LoopbackFirewall([a.port for a in cluster.live()])
            except FabricError as exc:
                reason = str(exc)
        if fabric is None:
            run.say(f"loss phase skipped: {reason}")
        else:
            names = {a.name for a in cluster.live()}
            reps = run.wait_until(cluster.live(), run.all_see(names, all_up), SETTLE_TIMEOUT_S)
            fabric.set_loss(s.loss)
            loss_applied = s.loss
            end = time.monotonic() + s.loss_window_s
            while time.monotonic() < end:
                loss_reports.extend(r for r in run.reports(cluster.live()).values() if r)
                time.sleep(POLL_S)
            fabric.set_loss(0.0)
            loss_live = frozenset(a.name for a in cluster.live())
            bad = sum(1 for r in loss_reports for x in loss_live if r.statuses.get(x) == "offline")
            run.say(f"{s.loss:.0%} loss for {s.loss_window_s:g}s: {len(loss_reports)} reports, "
                    f"{bad} offline sightings of live nodes")
            if isinstance(fabric, LoopbackFirewall):
                fabric.close()

    # 6. partition (namespaces only)
    if lab is not None and s.partition_s > 0 and s.nodes >= 3:
        live = cluster.live()
        idx = [a.host.index for a in live]
        rng.shuffle(idx)
        cut = len(idx) // 2
        lab.partition([idx[:cut], idx[cut:]])
        run.say(f"partition {sorted(idx[:cut])} | {sorted(idx[cut:])} for {s.partition_s:g}s")
        time.sleep(s.partition_s)
        # Evidence the cut was real: cross-group pairs shown offline at its end.
        side = {a.name: (a.host.index in idx[:cut]) for a in live}
        reps = run.reports(live)
        cross = sum(1 for n, r in reps.items() if r for x in side
                    if side[x] != side[n] and r.statuses.get(x) == "offline")
        pairs = 2 * cut * (len(idx) - cut)
        run.figures["partition_cross_offline"] = f"{cross}/{pairs}"
        run.say(f"end of partition: {cross} of {pairs} cross-group views offline")
        lab.heal()
        run.say("partition healed")

    # 7. kill the coordinator
    coordinator_killed = False
    names = {a.name for a in cluster.live()}
    run.wait_until(cluster.live(), run.all_see(names, all_up), SETTLE_TIMEOUT_S)
    coord = run.coordinator(cluster.live())
    victim = next((a for a in cluster.live() if a.name == coord), None)
    if victim is not None and len(cluster.live()) >= 2:
        cluster.kill9(victim)
        coordinator_killed = True
        run.say(f"kill -9 coordinator {victim.name}")
    else:
        run.say(f"no agreed coordinator to kill (got {coord!r})")

    # 8. heal and settle
    if lab is not None:
        lab.heal()
    live = cluster.live()
    live_names = {a.name for a in live}
    dead = {a.name for a in cluster.agents.values() if not a.alive}

    def settled(reps: dict[str, NodeReport | None]) -> bool:
        if not run.all_see(live_names, all_up)(reps):
            return False
        if any(r.statuses.get(d) in all_up for r in reps.values() if r for d in dead):
            return False
        if not all(registered <= set(r.statuses) for r in reps.values() if r):
            return False
        coords = {r.coordinator for r in reps.values() if r}
        return len(coords) == 1 and None not in coords and coords <= live_names

    t = time.monotonic()
    final = run.wait_until(live, settled, SETTLE_TIMEOUT_S)
    run.figures["settle_s"] = time.monotonic() - t
    run.say(f"settled: {settled(final)} after {run.figures['settle_s']:.1f}s; coordinator "
            f"{ {r.coordinator for r in final.values() if r} }")
    return ChaosRecord(
        live=frozenset(live_names), final=final, dead=frozenset(dead),
        loss_probability=loss_applied, loss_reports=tuple(loss_reports), loss_live=loss_live,
        registered=frozenset(registered), coordinator_killed=coordinator_killed)


def _describe(reps: dict[str, NodeReport | None], names: set[str]) -> str:
    parts = []
    for n, r in sorted(reps.items()):
        if r is None:
            parts.append(f"{n}: no answer")
        else:
            parts.append(f"{n}: " + ",".join(f"{x}={r.statuses.get(x)}" for x in sorted(names)))
    return "; ".join(parts)
