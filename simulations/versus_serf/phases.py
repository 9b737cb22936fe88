"""The measured phases of one comparison run, for one agent kind.

Loopback run: join → newcomer → idle window → ``kill -9`` victims → graceful leave.
Lossy run (root, namespaces): join → random loss window → paused-node phase.
Every wait is bounded; a phase that times out records ``None`` for its figure and a
note, and the run goes on.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
import urllib.request
from dataclasses import dataclass

from ..realproc.agents import Agent, Cluster, Kind, proc_cpu_seconds, proc_rss_bytes
from ..realproc.monitor import ALIVE, FAILED, LEFT, REFUTE, SUSPECT, MembershipBook
from ..realproc.netns import FabricError, LoopbackFirewall, NetnsLab, fabric_unavailable

__all__ = ["Settings", "run_loopback", "run_lossy"]

READY_TIMEOUT_S = 30.0
JOIN_TIMEOUT_S = 120.0
"""Join wait at small N; ``_join_timeout`` adds 2 s per agent (Python start-up of many
agents on 2 cores is CPU-bound)."""
NEWCOMER_TIMEOUT_S = 60.0
KILL_TIMEOUT_S = 120.0
LEAVE_TIMEOUT_S = 60.0
SETTLE_S = 3.0
NEWCOMER_SETTLE_S = 10.0
"""Seconds between "all see all" and the newcomer's start, for both kinds: the newcomer
joins a running cluster, not one still busy starting (claw-node agents import their REST
stack in the first seconds after their join; a newcomer started at once competed with N
agents' imports for the 2 cores)."""
"""Quiet time after convergence before the idle window (join broadcasts die down)."""
BETWEEN_KILLS_S = 1.0
RESTART_TIMEOUT_S = 90.0
"""Wait for a restarted victim to be seen alive by every live agent."""
RESTART_SETTLE_S = 3.0
"""Quiet time after a restarted victim is seen by all, before the next kill (its join
broadcasts and the newcomer's first probes die down)."""
API_TIMEOUT_S = 10.0
VICTIM_ROLES = ("member", "coordinator")
START_RETRIES = 3
PAUSE_GAP_S = 5.0
"""Running time between two pauses of the paused-node phase."""


@dataclass
class Settings:
    nodes: int = 10
    profile: str = "lan"
    kills: int = 3
    idle_s: float = 60.0
    settle_s: float = SETTLE_S
    """Seconds between the newcomer's convergence and the idle window (both kinds)."""
    loss: float = 0.0
    loss_window_s: float = 60.0
    pauses: int = 5
    pause_s: float = 3.0
    seed: int = 1
    victims: tuple[str, ...] = ("member",)
    """Victim roles taken in turn, kill after kill (see ``VICTIM_ROLES``)."""
    restart_victims: bool = False
    """Restart each victim (same name, address and data) once all saw it failed, and wait
    until all see it alive again: the cluster keeps its size over many kills."""
    log_dir: str | None = None
    verbose: bool = True


def _say(s: Settings, msg: str) -> None:
    if s.verbose:
        print(f"  [{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _converge_time(book: MembershipBook, names: list[str]) -> float | None:
    """When every member last became alive in every other member's view (None if not)."""
    last: dict[tuple[str, str], float] = {}
    wanted = set(names)
    for o in book.since(0.0):
        if o.observer in wanted and o.subject in wanted and o.observer != o.subject:
            if o.kind == ALIVE:
                last[(o.observer, o.subject)] = o.t
            elif o.kind in (FAILED, LEFT):
                last.pop((o.observer, o.subject), None)
    need = len(names) * (len(names) - 1)
    return max(last.values()) if len(last) == need and need else None


UP = (ALIVE, SUSPECT)
"""A suspect member is still a member (``serf members`` lists it alive). Serf logs no
line when a suspicion is refuted, so its observers' views stay "suspect" until the
next state change."""


def _converged(names: list[str]):
    def check(book: MembershipBook) -> bool:
        return all(book.views.get(o, {}).get(x) in UP
                   for o in names for x in names if x != o)
    return check


def _start_cluster(cluster: Cluster, n: int, s: Settings, notes: list[str]) -> tuple[float, float | None]:
    """Start n agents (agent 0 is everyone's seed); return (last start, convergence time).

    An agent that exits during start-up (its random port was taken meanwhile by another
    program on this shared machine) is restarted on fresh ports, up to START_RETRIES
    times; the join figure of that run is then void (None) and a note says why.
    """
    seed = cluster.start(0, None)
    if not cluster.wait_ready(seed, READY_TIMEOUT_S):
        raise RuntimeError(f"seed {seed.name} did not come up:\n{cluster.tail(seed.name)}")
    for i in range(1, n):
        cluster.start(i, seed)
    t_last = time.monotonic()
    names = [a.name for a in cluster.live()]
    converged = _converged(names)
    void = False
    deadline = time.monotonic() + _join_timeout(n)
    for _attempt in range(START_RETRIES + 1):
        ok = cluster.book.wait_for(
            lambda b: converged(b) or any(a.proc.poll() is not None for a in cluster.live()),
            max(0.0, deadline - time.monotonic()))
        exited = [a for a in cluster.live() if a.proc.poll() is not None]
        if not exited:
            break
        void = True
        for a in exited:
            notes.append(f"{a.name} exited at start-up, restarted on fresh ports: "
                         f"{cluster.tail(a.name, 3)!r}")
            a.alive = False
            cluster.start(a.host.index, seed)
    if not ok or not converged(cluster.book):
        dead = [a.name for a in cluster.live() if a.proc.poll() is not None]
        notes.append(f"join did not converge in {_join_timeout(n):.0f}s (exited: {dead})")
        return t_last, None
    return t_last, None if void else _converge_time(cluster.book, names)


def _join_timeout(n: int) -> float:
    return JOIN_TIMEOUT_S + 2.0 * n


def _median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def run_loopback(kind: Kind, s: Settings, rng: random.Random) -> dict:
    """One loopback run of ``kind``; returns {figure: value} plus ``notes``."""
    m: dict = {"notes": [], "load_start": os.getloadavg()}
    notes: list[str] = m["notes"]
    fw: LoopbackFirewall | None = None
    with Cluster(kind, None, s.profile, s.log_dir) as cluster:
        try:
            _say(s, f"{kind.name}: starting {s.nodes} agents")
            t_last, t_conv = _start_cluster(cluster, s.nodes, s, notes)
            m["join_all_s"] = None if t_conv is None else max(0.0, t_conv - t_last)
            if not cluster.book.wait_for(_converged([a.name for a in cluster.live()]), 0):
                notes.append("cluster never converged: later phases skipped")
                return m
            outs = [cluster.book.first_output.get(a.name) for a in cluster.live()]
            if t_conv is not None and all(outs):
                # From the moment the last agent printed anything: leaves out process
                # start-up (Python imports take seconds on a busy 2-core machine).
                m["join_all_from_output_s"] = max(0.0, t_conv - max(o for o in outs if o))
            _say(s, f"{kind.name}: join all-see-all {m['join_all_s']}")

            # One newcomer, joined through a random member of the settled cluster.
            time.sleep(NEWCOMER_SETTLE_S)
            members = cluster.live()
            via = rng.choice(members)
            others = [a.name for a in members]
            for _attempt in range(START_RETRIES + 1):
                newcomer = cluster.start(s.nodes, via)
                t0 = newcomer.started_at
                ok = cluster.book.wait_for(  # the lambda is used before the loop moves on
                    lambda b: b.all_see(others, newcomer.name, (ALIVE,))  # noqa: B023
                    or newcomer.proc.poll() is not None, NEWCOMER_TIMEOUT_S)  # noqa: B023
                if newcomer.proc.poll() is None:
                    break
                notes.append(f"newcomer exited at start-up, restarted: "
                             f"{cluster.tail(newcomer.name, 3)!r}")
                newcomer.alive = False
            ok = ok and newcomer.proc.poll() is None
            if ok:
                seen = cluster.book.first_times(t0, newcomer.name, (ALIVE,), others)
                m["newcomer_all_s"] = max(seen.values()) - t0
                first_out = cluster.book.first_output.get(newcomer.name)
                if first_out is not None:
                    m["newcomer_from_output_s"] = max(seen.values()) - first_out
            else:
                m["newcomer_all_s"] = None
                notes.append("newcomer not seen by all")
            _say(s, f"{kind.name}: newcomer seen by all {m['newcomer_all_s']}")
            cluster.book.wait_for(_converged([a.name for a in cluster.live()]), JOIN_TIMEOUT_S)

            # Idle window: CPU, RSS and traffic of a converged, quiet cluster.
            time.sleep(s.settle_s)
            live = cluster.live()
            if fabric_unavailable() is None:
                try:
                    fw = LoopbackFirewall([a.port for a in live])
                except FabricError as exc:
                    notes.append(f"no traffic counters: {exc}")
            else:
                notes.append(f"no traffic counters: {fabric_unavailable()}")
            cpu0 = {a.name: proc_cpu_seconds(a.pid) for a in live}
            c0 = fw.sent_counters() if fw else None
            t_idle = time.monotonic()
            _say(s, f"{kind.name}: idle window {s.idle_s:.0f}s")
            time.sleep(s.idle_s)
            dt = time.monotonic() - t_idle
            cpu1 = {a.name: proc_cpu_seconds(a.pid) for a in live}
            c1 = fw.sent_counters() if fw else None
            cpu = [(after - before) / dt for n, before in cpu0.items()
                   if before is not None and (after := cpu1[n]) is not None]
            m["cpu_pct"] = 100 * statistics.mean(cpu) if cpu else None
            rss = [r for r in (proc_rss_bytes(a.pid) for a in live) if r]
            m["rss_mib"] = statistics.median(rss) / 2**20 if rss else None
            m["rss_mib_max"] = max(rss) / 2**20 if rss else None
            if c0 is not None and c1 is not None:
                pk = by = 0
                for port in c1:
                    for proto in ("udp", "tcp"):
                        pk += c1[port][proto][0] - c0.get(port, {}).get(proto, (0, 0))[0]
                        by += c1[port][proto][1] - c0.get(port, {}).get(proto, (0, 0))[1]
                m["pkts_s"] = pk / dt / len(live)
                m["bytes_s"] = by / dt / len(live)
                udp_p = [(c1[a.port]["udp"][0] - c0[a.port]["udp"][0]) / dt for a in live]
                udp_b = [(c1[a.port]["udp"][1] - c0[a.port]["udp"][1]) / dt for a in live]
                m["udp_pkts_s"] = statistics.mean(udp_p)
                m["udp_bytes_s"] = statistics.mean(udp_b)
                m["udp_bytes_s_max"] = max(udp_b)
            if fw:
                fw.close()
                fw = None

            # kill -9: when the first and when all others mark the victim failed.
            kills = _kill_phase(cluster, s, rng, newcomer, notes)
            alls = [k["all"] for k in kills if k["all"] is not None]
            m["kill_first_s"] = _median([k["first"] for k in kills if k["first"] is not None])
            m["kill_all_s"] = _median(alls)
            m["kill_all_max_s"] = max(alls) if alls else None
            m["kills"] = kills

            # Graceful leave of the newcomer.
            observers = [a.name for a in cluster.live() if a is not newcomer]
            t0 = cluster.leave(newcomer)
            ok = cluster.book.wait_for(
                lambda b: b.all_see(observers, newcomer.name, (LEFT, FAILED)), LEAVE_TIMEOUT_S)
            seen = cluster.book.first_times(t0, newcomer.name, (LEFT, FAILED), observers)
            m["leave_all_s"] = max(seen.values()) - t0 if ok else None
            as_failed = sum(1 for o in cluster.book.since(t0)
                            if o.subject == newcomer.name and o.kind == FAILED)
            if as_failed:
                notes.append(f"leave: {as_failed} observers saw it as failed, not left")
            _say(s, f"{kind.name}: leave seen by all {m['leave_all_s']}")

            # Any agent declared failed outside its own kill windows is a false failure.
            m["false_failures"] = sum(
                1 for o in cluster.book.observations
                if o.kind == FAILED and not _within_kill(kills, o.subject, o.t)
                and not (o.subject == newcomer.name and o.t >= t0))
            killed = {k["victim"] for k in kills}
            never_killed = {a.name for a in cluster.agents.values()} - killed
            m["false_suspicions"] = _suspicion_episodes(cluster.book.since(0.0), never_killed)
            m["load_end"] = os.getloadavg()
        finally:
            if fw:
                fw.close()
    return m


def _coordinator(cluster: Cluster, victims_excluded: set[str]) -> tuple[Agent, str]:
    """The agent in the coordinator role and how it was found.

    claw-node: the coordinator a live agent's ``GET /health`` names. Serf has no such
    role; its stand-in is the agent claw-node's succession rule would elect: the
    longest-running live agent (``node/election.py``, rule 2)."""
    live = [a for a in cluster.live() if a.name not in victims_excluded]
    oldest = min(live, key=lambda a: a.started_at)
    if cluster.kind.name != "claw":
        return oldest, "oldest"
    for asker in sorted(live, key=lambda a: a.started_at)[:3]:
        url = f"http://{asker.host.ip}:{asker.api_port}/health"
        try:
            with urllib.request.urlopen(url, timeout=API_TIMEOUT_S) as r:
                name = (json.load(r).get("coordinator") or {}).get("node_id")
        except (OSError, ValueError, AttributeError):
            continue
        if name in cluster.agents and cluster.agents[name].alive:
            return cluster.agents[name], "api" if name == oldest.name else "api-not-oldest"
    return oldest, "oldest (api unanswered)"


def _kill_phase(cluster: Cluster, s: Settings, rng: random.Random, newcomer: Agent,
                notes: list[str]) -> list[dict]:
    """``s.kills`` kills, one after another, roles in turn; one record per kill."""
    kills: list[dict] = []
    for i in range(s.kills):
        role = s.victims[i % len(s.victims)]
        if role == "coordinator":
            victim, how = _coordinator(cluster, {newcomer.name})
        else:
            coordinator, _ = _coordinator(cluster, {newcomer.name}) if len(s.victims) > 1 \
                else (None, "")
            candidates = [a for a in cluster.live()
                          if a is not newcomer and a is not coordinator
                          and a.name not in ("s0", "c0")]
            if not candidates:
                notes.append("no member left to kill")
                break
            victim, how = rng.choice(candidates), "random"
        observers = [a.name for a in cluster.live() if a is not victim]
        t0 = cluster.kill9(victim)
        ok = cluster.book.wait_for(
            lambda b: b.all_see(observers, victim.name, (FAILED, LEFT)), KILL_TIMEOUT_S)  # noqa: B023
        seen = cluster.book.first_times(t0, victim.name, (FAILED, LEFT), observers)
        record = {"role": role, "victim": victim.name, "found_by": how, "n": len(observers) + 1,
                  "t_kill": t0, "t_restart": None,
                  "first": min(seen.values()) - t0 if seen else None,
                  "all": max(seen.values()) - t0 if ok else None,
                  "load": os.getloadavg()[0]}
        kills.append(record)
        if not ok:
            notes.append(f"kill {victim.name}: {len(seen)}/{len(observers)} saw it "
                         f"within {KILL_TIMEOUT_S:.0f}s")
        _say(s, f"{cluster.kind.name}: kill -9 {victim.name} ({role}): first "
                f"{record['first']}, all {record['all']}")
        if s.restart_victims and ok:
            record["t_restart"] = time.monotonic()
            via = rng.choice([a for a in cluster.live() if a is not newcomer])
            back = cluster.start(int(victim.name[len(cluster.kind.prefix):]), via, like=victim)
            everyone = [a.name for a in cluster.live()]
            # Seen alive since the restart, by everyone: not the latest state, since
            # memberlist logs "Suspect X has failed" when a probe begun on the old life
            # times out after the new one joined (the suspicion itself is refuted).
            t_back = back.started_at
            def all_saw_it(b: MembershipBook) -> bool:
                return len(b.first_times(t_back, back.name, (ALIVE,), everyone)) == len(everyone)  # noqa: B023
            if not cluster.book.wait_for(all_saw_it, RESTART_TIMEOUT_S):
                notes.append(f"restarted {back.name} not seen alive by all within "
                             f"{RESTART_TIMEOUT_S:.0f}s; kills stop here")
                break
            time.sleep(RESTART_SETTLE_S)
        else:
            time.sleep(BETWEEN_KILLS_S)
    return kills


def _within_kill(kills: list[dict], subject: str, t: float) -> bool:
    """Whether ``t`` falls between a kill of ``subject`` and its restart."""
    return any(k["victim"] == subject and k["t_kill"] <= t
               and (k["t_restart"] is None or t <= k["t_restart"]) for k in kills)


def _count_faults(book: MembershipBook, t0: float, t1: float, subjects: set[str]) -> dict:
    """False failures, flaps, suspicions and refutations about ``subjects`` in [t0, t1]."""
    window = [o for o in book.since(t0) if o.t <= t1]
    false_failures = sum(1 for o in window if o.kind == FAILED and o.subject in subjects)
    flaps = 0
    down: set[tuple[str, str]] = set()
    for o in window:
        key = (o.observer, o.subject)
        if o.kind in (FAILED, LEFT) and o.subject in subjects:
            down.add(key)
        elif o.kind == ALIVE and key in down:
            down.discard(key)
            flaps += 1
    return {
        "false_failures": false_failures,
        "flaps": flaps,
        "suspicions": _suspicion_episodes(window, subjects),
        "refutes": sum(1 for o in window if o.kind == REFUTE and o.subject in subjects),
    }


EPISODE_GAP_S = 5.0
"""Suspect sightings of one subject further apart than this start a new episode."""


def _suspicion_episodes(window: list, subjects: set[str]) -> int:
    """Suspicion episodes: Serf logs a suspicion only at the prober (once per failed
    probe), claw-node at every node that hears of it; counting episodes of each subject
    (sightings closer than EPISODE_GAP_S merge) makes the two comparable."""
    last: dict[str, float] = {}
    episodes = 0
    for o in window:
        if o.kind == SUSPECT and o.subject in subjects:
            if o.subject not in last or o.t - last[o.subject] > EPISODE_GAP_S:
                episodes += 1
            last[o.subject] = o.t
    return episodes


def run_lossy(kind: Kind, s: Settings, rng: random.Random, lab: NetnsLab) -> dict:
    """One run in namespaces: random loss on every agent, then a paused agent."""
    m: dict = {"notes": []}
    notes: list[str] = m["notes"]
    lab.heal()
    with Cluster(kind, lab.hosts, s.profile, s.log_dir) as cluster:
        _say(s, f"{kind.name}: starting {s.nodes} agents in namespaces")
        t_last, t_conv = _start_cluster(cluster, s.nodes, s, notes)
        m["netns_join_all_s"] = None if t_conv is None else max(0.0, t_conv - t_last)
        time.sleep(SETTLE_S)
        names = {a.name for a in cluster.live()}

        # Random loss on every namespace for a bounded window.
        live = cluster.live()
        c0 = lab.sent_counters()
        cpu0 = {a.name: proc_cpu_seconds(a.pid) for a in live}
        t0 = time.monotonic()
        lab.set_loss(s.loss)
        _say(s, f"{kind.name}: {s.loss:.0%} loss for {s.loss_window_s:.0f}s")
        time.sleep(s.loss_window_s)
        lab.set_loss(0.0)
        t1 = time.monotonic()
        c1 = lab.sent_counters()
        cpu1 = {a.name: proc_cpu_seconds(a.pid) for a in live}
        dt = t1 - t0
        idx = [a.host.index for a in live]
        m["loss_pkts_s"] = sum(c1[i][0] - c0[i][0] for i in idx) / dt / len(idx)
        m["loss_bytes_s"] = sum(c1[i][1] - c0[i][1] for i in idx) / dt / len(idx)
        cpu = [(after - before) / dt for n, before in cpu0.items()
               if before is not None and (after := cpu1[n]) is not None]
        m["loss_cpu_pct"] = 100 * statistics.mean(cpu) if cpu else None
        for key, val in _count_faults(cluster.book, t0, t1, names).items():
            m[f"loss_{key}"] = val
        _say(s, f"{kind.name}: loss window: {m['loss_false_failures']} false failures, "
                f"{m['loss_suspicions']} suspicions")

        # Paused node: SIGSTOP for pause_s, several times, no loss.
        if not cluster.book.wait_for(_converged(sorted(names)), JOIN_TIMEOUT_S):
            notes.append("cluster did not re-converge after the loss window")
        victim = rng.choice([a for a in cluster.live() if a.host.index != 0])
        t2 = time.monotonic()
        _say(s, f"{kind.name}: pausing {victim.name} {s.pauses}x{s.pause_s:.0f}s")
        for _ in range(s.pauses):
            cluster.pause(victim)
            time.sleep(s.pause_s)
            cluster.resume(victim)
            time.sleep(PAUSE_GAP_S)
        t3 = time.monotonic()
        paused = _count_faults(cluster.book, t2, t3, {victim.name})
        others = _count_faults(cluster.book, t2, t3, names - {victim.name})
        m["pause_false_failures"] = paused["false_failures"] + others["false_failures"]
        m["pause_flaps"] = paused["flaps"] + others["flaps"]
        m["pause_suspicions"] = paused["suspicions"]
        m["pause_refutes"] = paused["refutes"]
    return m
