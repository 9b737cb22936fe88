"""Start-up and idle cost of real ``claw-node`` processes (a script, not a test).

    python -m simulations.bench.agent_start [--agents 10] [--idle 30] [--profile lan]

Run from the repository root: the agents are ``python -m node.cli`` (the ``claw-node``
CLI, whose cluster event lines the side-by-side harness reads, as it runs them) on 127.0.0.1,
random free ports, a temporary data dir each.

1. **One agent.** Spawned; ``GET /health`` is polled every 10 ms until it answers. Printed:
   wall time from spawn until the API answers, CPU seconds (utime + stime of the process,
   from ``/proc/PID/stat``) and RSS (``VmRSS``; ``RssAnon`` is the private heap,
   ``RssFile`` mapped code/libraries) at that moment, the same after ``--idle`` seconds of
   idling, then after one GET of ``/openapi.json``, ``/docs`` and ``/api/v1/nodes`` (what is
   built lazily on first use shows up there), with the process's thread count.
2. **N agents.** Agent 0 starts and comes up (it is everyone's seed); agents 1…N−1 are
   spawned at once; time from the last spawn until every agent lists every other alive
   (from the agents' event lines, no API polling), per-agent CPU seconds and RSS at that moment,
   then CPU (% of a core) over ``--idle`` seconds and RSS after it.

Python compiles every module it finds no cached bytecode for, at every start. A
``pip install`` writes that bytecode for installed packages; in a source checkout with
``PYTHONDONTWRITEBYTECODE=1`` (as on the shared machine) nothing is cached, and each agent
compiles gossip/, api/ and node/ (~0.1 s of CPU and ~2.5 MB of RSS it never gives back).
The first line says which case is measured; ``--precompile`` writes the checkout's
bytecode into ``__pycache__`` first (git-ignored), as an install would.

Every wait is bounded; every process started is ended by PID (``Cluster.close``). The
machine is shared: prefer the CPU-second figures to wall times.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from simulations.realproc.agents import Agent, ClawKind, Cluster, proc_cpu_seconds
from simulations.realproc.monitor import ALIVE

API_TIMEOUT_S = 60.0
"""Longest wait for one agent's API to answer."""
POLL_S = 0.01
"""Interval of the /health polls while waiting for the first answer."""
JOIN_TIMEOUT_S = 120.0
"""Join wait; ``2 s`` per agent is added (start-up is CPU-bound on 2 cores)."""
MIB = 1024 * 1024
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = ("gossip", "api", "node", "simulations")
"""What the agents import from this checkout."""


def bytecode_state(root: str = ROOT) -> str:
    """Whether agents run from ``root`` will find its bytecode cached (probe: node/agent.py)."""
    source = os.path.join(root, "node", "agent.py")
    cached = importlib.util.cache_from_source(source)
    fresh = os.path.exists(cached) and os.path.getmtime(cached) >= os.path.getmtime(source)
    env = " (PYTHONDONTWRITEBYTECODE is set)" if os.environ.get("PYTHONDONTWRITEBYTECODE") else ""
    return ("project bytecode cached" if fresh else
            "project bytecode not cached: every agent compiles gossip/, api/, node/") + env


def precompile() -> None:
    """Write the checkout's bytecode into __pycache__ (what pip install does)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-m", "compileall", "-q", *PACKAGES], cwd=ROOT, env=env,
                   check=True, timeout=300, stdout=subprocess.DEVNULL)


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / RssAnon / RssFile (bytes) and Threads of ``pid`` ({} if it is gone)."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "RssAnon", "RssFile"):
                    out[key] = int(value.split()[0]) * 1024
                elif key == "Threads":
                    out[key] = int(value)
    except OSError:
        return {}
    return out


def snapshot(agent: Agent) -> dict[str, Any]:
    st = proc_status(agent.pid)
    return {"cpu_s": proc_cpu_seconds(agent.pid), "rss_mib": st.get("VmRSS", 0) / MIB,
            "anon_mib": st.get("RssAnon", 0) / MIB, "file_mib": st.get("RssFile", 0) / MIB,
            "threads": st.get("Threads", 0)}


def _get(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return 0


def _row(label: str, s: dict[str, Any], extra: str = "") -> str:
    cpu = "   -  " if s["cpu_s"] is None else f"{s['cpu_s']:6.2f}"
    return (f"  {label:34s} cpu {cpu} s  rss {s['rss_mib']:5.1f} MiB "
            f"(anon {s['anon_mib']:4.1f}, file {s['file_mib']:4.1f})  threads {s['threads']}"
            f"{extra}")


def one_agent(profile: str, idle_s: float) -> dict[str, Any]:
    print(f"one agent (profile {profile}):")
    with Cluster(ClawKind(), None, profile) as cluster:
        agent = cluster.start(0, None)
        health = f"http://127.0.0.1:{agent.api_port}/health"
        deadline = agent.started_at + API_TIMEOUT_S
        while _get(health, timeout=1.0) != 200:
            if agent.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"agent did not answer:\n{cluster.tail(agent.name)}")
            time.sleep(POLL_S)
        t_api = time.monotonic() - agent.started_at
        up = snapshot(agent)
        print(_row("API answers", up, f"  wall {t_api:.2f} s"))
        time.sleep(idle_s)
        idle = snapshot(agent)
        idle_pct = 100 * (idle["cpu_s"] - up["cpu_s"]) / idle_s
        print(_row(f"after {idle_s:.0f} s idle", idle, f"  idle cpu {idle_pct:.2f} % of a core"))
        base = f"http://127.0.0.1:{agent.api_port}"
        codes = [_get(base + p, timeout=10.0) for p in ("/openapi.json", "/docs", "/api/v1/nodes")]
        used = snapshot(agent)
        print(_row("after /openapi.json, /docs, /nodes", used, f"  HTTP {codes}"))
        return {"api_wall_s": t_api, "at_api": up, "after_idle": idle, "idle_cpu_pct": idle_pct,
                "after_requests": used}


def _converged(names: list[str]):
    def check(book) -> bool:
        return all(book.views.get(o, {}).get(x) == ALIVE for o in names for x in names)
    return check


def _summary(label: str, snaps: list[dict[str, Any]], extra: str = "") -> str:
    cpu = [s["cpu_s"] for s in snaps if s["cpu_s"] is not None]
    rss = [s["rss_mib"] for s in snaps]
    return (f"  {label:34s} cpu/agent median {statistics.median(cpu):5.2f} s max {max(cpu):5.2f}"
            f"  rss median {statistics.median(rss):5.1f} MiB max {max(rss):5.1f}{extra}")


def n_agents(n: int, profile: str, idle_s: float) -> dict[str, Any]:
    print(f"{n} agents (profile {profile}): agent 0 up, then 1..{n - 1} spawned at once")
    with Cluster(ClawKind(), None, profile) as cluster:
        seed = cluster.start(0, None)
        if not cluster.wait_ready(seed, API_TIMEOUT_S):
            raise RuntimeError(f"seed did not come up:\n{cluster.tail(seed.name)}")
        t_first = time.monotonic()
        for i in range(1, n):
            cluster.start(i, seed)
        t_last = time.monotonic()
        names = [a.name for a in cluster.agents.values()]
        timeout = JOIN_TIMEOUT_S + 2.0 * n
        ok = cluster.book.wait_for(
            lambda b: _converged(names)(b)
            or any(a.proc.poll() is not None for a in cluster.agents.values()), timeout)
        t_conv = time.monotonic()
        exited = [a.name for a in cluster.agents.values() if a.proc.poll() is not None]
        if not ok or exited:
            print(f"  did not converge in {timeout:.0f} s (exited: {exited})")
            return {"converged": False, "exited": exited}
        joiners = [a for a in cluster.agents.values() if a.name != seed.name]
        at_conv = [snapshot(a) for a in joiners]
        join_s = t_conv - t_last
        print(_summary("all see all", at_conv,
                       f"  wall {join_s:.2f} s from last spawn ({t_conv - t_first:.2f} s from first)"))
        time.sleep(idle_s)
        after = [snapshot(a) for a in joiners]
        pct = [100 * (b["cpu_s"] - a["cpu_s"]) / idle_s for a, b in zip(at_conv, after, strict=True)
               if a["cpu_s"] is not None and b["cpu_s"] is not None]
        print(_summary(f"after {idle_s:.0f} s idle", after,
                       f"  idle cpu median {statistics.median(pct):.2f} % of a core"))
        return {"converged": True, "join_from_last_spawn_s": join_s,
                "join_from_first_spawn_s": t_conv - t_first, "at_converged": at_conv,
                "after_idle": after, "idle_cpu_pct": pct}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--agents", type=int, default=10, help="cluster size of part 2 (0: skip)")
    p.add_argument("--idle", type=float, default=30.0, help="idle window, seconds")
    p.add_argument("--profile", choices=("lan", "wan", "local"), default="lan")
    p.add_argument("--skip-single", action="store_true", help="skip part 1")
    p.add_argument("--precompile", action="store_true",
                   help="write this checkout's bytecode into __pycache__ first (as an install would)")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = p.parse_args(argv)
    if not 0 <= args.agents <= 100 or not 0 <= args.idle <= 600:
        p.error("--agents must be 0..100 and --idle 0..600")
    if args.precompile:
        precompile()
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs, "
          f"{time.strftime('%Y-%m-%d %H:%M:%S')}; {bytecode_state()}")
    out: dict[str, Any] = {"bytecode": bytecode_state()}
    if not args.skip_single:
        out["single"] = one_agent(args.profile, args.idle)
    if args.agents >= 2:
        out["cluster"] = n_agents(args.agents, args.profile, args.idle)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
