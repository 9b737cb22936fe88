"""Soak benchmark: real agents on loopback under sustained REST load, RSS over time.

Starts N claw-node agents (default 3, the ``local`` gossip profile, fresh data dirs),
registers W HTTP workers (default 200, each with the skill ``shell``) and runs C clients
(default 8) at a total request rate R (default 340/s): half heartbeats, half
``GET /api/v1/nodes?skill=shell&sort=load``, spread over every agent in turn. Every
``--sample-s`` (30 s) it prints each agent's RSS, the requests, errors and p50/p99 of the
interval; at the end, each agent's RSS spread after the warm-up (flat: within
``--flat-mib``, 5 MiB) and the error count.

``--tracemalloc FRAMES`` starts the agents with ``CLAW_TRACEMALLOC=FRAMES``
(``node.memory_trace``: the product's opt-in heap report), signals them (SIGUSR2) at the
end of the warm-up and at the end, and prints the top growth each logged between the two.
Tracing costs memory and CPU: its RSS figures are not the untraced agent's.

    python -m simulations.bench.soak [--duration-s 900] [--warmup-s 300] [--tracemalloc 1]

Exits 1 when an agent's RSS was not flat or a request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import aiohttp

from simulations.realproc.agents import Agent, ClawKind, Cluster, proc_rss_bytes

READY_S = 120.0
"""Longest wait for the agents to see each other, and then for every worker to be listed
by every agent (seconds)."""
REQUEST_TIMEOUT_S = 10.0
"""A request slower than this counts as an error (seconds)."""
REPORT_WAIT_S = 120.0
"""Longest wait for the agents' tracemalloc reports after the signal (seconds; a snapshot
of a traced heap takes seconds on a loaded host)."""
MIB = 2**20


@dataclass
class Window:
    """What the clients saw since the last sample."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""

    def take(self) -> Window:
        done = Window(self.latencies_ms, self.errors, self.first_error)
        self.latencies_ms, self.errors, self.first_error = [], 0, ""
        return done


def _pct(sorted_ms: list[float], p: float) -> float:
    if not sorted_ms:
        return float("nan")
    return sorted_ms[min(len(sorted_ms) - 1, max(0, round(p / 100 * len(sorted_ms)) - 1))]


@contextlib.contextmanager
def _cluster(n: int, log_dir: str) -> Iterator[tuple[Cluster, list[Agent]]]:
    with Cluster(ClawKind(), None, "local", log_dir=log_dir) as cluster:
        seed = cluster.start(0, None)
        agents = [seed] + [cluster.start(i, seed) for i in range(1, n)]
        yield cluster, agents


async def _wait_until(what: str, check, timeout_s: float = READY_S) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError):
            if await check():
                return
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out ({timeout_s:g} s) waiting for {what}")
        await asyncio.sleep(0.5)


async def _nodes(http: aiohttp.ClientSession, url: str, query: str = "") -> list[dict]:
    async with http.get(f"{url}/api/v1/nodes{query}") as r:
        return (await r.json()).get("nodes") or [] if r.status == 200 else []


def _worker_id(i: int) -> str:
    return f"soak-worker-{i:04d}"


async def _prepare(http: aiohttp.ClientSession, urls: list[str], workers: int) -> None:
    n = len(urls)

    async def all_alive() -> bool:
        for url in urls:
            nodes = await _nodes(http, url)
            if sum(1 for x in nodes if x.get("source") == "gossip"
                   and x.get("member_state") == "alive") < n:
                return False
        return True

    await _wait_until(f"{n} agents to see each other", all_alive)
    for i in range(workers):  # through every agent in turn: members forward the write
        body = {"hostname": _worker_id(i), "node_id": _worker_id(i), "platform": "linux",
                "arch": "x64", "available_skills": ["shell", "python"] if i % 2 else ["shell"],
                "max_concurrent_tasks": 4}
        async with http.post(f"{urls[i % n]}/api/v1/nodes/register", json=body) as r:
            if r.status != 200:
                raise SystemExit(f"register {_worker_id(i)}: HTTP {r.status} {await r.text()}")

    async def all_listed() -> bool:
        for url in urls:
            if sum(1 for x in await _nodes(http, url) if x.get("source") == "http") < workers:
                return False
        return True

    await _wait_until(f"all {workers} workers listed on every agent", all_listed)


async def _client(http: aiohttp.ClientSession, urls: list[str], workers: int, index: int,
                  interval_s: float, until: float, window: Window) -> None:
    """One client: a heartbeat or a list every ``interval_s``, on agent after agent."""
    i = index
    next_at = time.monotonic()
    while next_at < until:
        url = urls[i % len(urls)]
        if i % 2:
            method, path, body = "POST", f"/api/v1/nodes/{_worker_id(i % workers)}/heartbeat", {
                "cpu_usage": float(i % 100), "memory_usage": 40.0, "disk_usage": 20.0,
                "running_tasks": i % 4}
        else:
            method, path, body = "GET", "/api/v1/nodes?skill=shell&sort=load", None
        t = time.perf_counter()
        try:
            async with http.request(method, url + path, json=body) as r:
                await r.read()
                if r.status != 200:
                    raise RuntimeError(f"{method} {url}{path}: HTTP {r.status}")
            window.latencies_ms.append((time.perf_counter() - t) * 1000)
        except (TimeoutError, aiohttp.ClientError, OSError, RuntimeError) as exc:
            window.errors += 1
            window.first_error = window.first_error or f"{type(exc).__name__}: {exc}"
        i += 1
        next_at += interval_s
        delay = next_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            next_at = time.monotonic()  # behind: do not burst to catch up


def _signal_all(agents: list[Agent], signum: int) -> None:
    for agent in agents:
        with contextlib.suppress(ProcessLookupError):
            os.kill(agent.pid, signum)


def _growth_lines(log_dir: str, agent: Agent, report: int) -> list[str]:
    """The ``report``-th (0-based) tracemalloc report in ``agent``'s log."""
    with open(os.path.join(log_dir, f"{agent.name}.log"), errors="replace") as f:
        lines = [line.rstrip() for line in f if "memory growth" in line]
    starts = [k for k, line in enumerate(lines) if "memory growth: traced" in line]
    if report >= len(starts):
        return []
    end = starts[report + 1] if report + 1 < len(starts) else len(lines)
    return lines[starts[report]:end]


async def soak(args: argparse.Namespace, agents: list[Agent], log_dir: str) -> bool:
    urls = [f"http://127.0.0.1:{a.api_port}" for a in agents]
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=args.clients * 2)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
        await _prepare(http, urls, args.workers)
        print(f"{len(agents)} agents ({', '.join(f'{a.name} pid {a.pid}' for a in agents)}; "
              f"{agents[0].name} is the first, the coordinator); {args.workers} workers; "
              f"{args.clients} clients at {args.rate:g} req/s; {args.duration_s:g} s, "
              f"warm-up {args.warmup_s:g} s; load {_loadavg()}", flush=True)
        print(f"{'t_s':>6} " + " ".join(f"{a.name + '_MiB':>8}" for a in agents)
              + f" {'req':>7} {'err':>4} {'p50_ms':>7} {'p99_ms':>7}  load", flush=True)
        window = Window()
        start = time.monotonic()
        until = start + args.duration_s
        interval = args.clients / args.rate
        clients = [asyncio.create_task(_client(http, urls, args.workers, k, interval, until, window))
                   for k in range(args.clients)]
        rss: dict[str, list[tuple[float, float]]] = {a.name: [] for a in agents}
        total, errors, first_error, signalled = 0, 0, "", False
        while True:
            await asyncio.sleep(max(0.0, min(args.sample_s, until - time.monotonic())))
            t = time.monotonic() - start
            if args.tracemalloc and not signalled and t >= args.warmup_s:
                _signal_all(agents, signal.SIGUSR2)  # reference snapshot after the warm-up
                signalled = True
            done = window.take()
            lat = sorted(done.latencies_ms)
            total += len(lat) + done.errors
            errors += done.errors
            first_error = first_error or done.first_error
            row = []
            for a in agents:
                mib = (proc_rss_bytes(a.pid) or 0) / MIB
                rss[a.name].append((t, mib))
                row.append(f"{mib:>8.1f}")
            print(f"{t:>6.0f} " + " ".join(row) + f" {len(lat) + done.errors:>7} {done.errors:>4} "
                  f"{_pct(lat, 50):>7.2f} {_pct(lat, 99):>7.2f}  {_loadavg()}", flush=True)
            if time.monotonic() >= until - 0.01:
                break
        await asyncio.gather(*clients)
        if args.tracemalloc:
            _signal_all(agents, signal.SIGUSR2)
            deadline = time.monotonic() + REPORT_WAIT_S
            while time.monotonic() < deadline and not all(
                    _growth_lines(log_dir, a, 1) for a in agents):
                await asyncio.sleep(1.0)

    print(f"\n{total} requests, {errors} errors" + (f" (first: {first_error})" if errors else ""))
    flat = True
    for a in agents:
        after = [mib for t, mib in rss[a.name] if t >= args.warmup_s]
        if not after:
            print(f"{a.name}: no sample after the warm-up")
            flat = False
            continue
        spread = max(after) - min(after)
        ok = spread <= args.flat_mib
        flat = flat and ok
        print(f"{a.name}: RSS after warm-up {min(after):.1f}..{max(after):.1f} MiB "
              f"(spread {spread:.1f}, {'flat' if ok else 'NOT flat'} within {args.flat_mib:g}), "
              f"first {rss[a.name][0][1]:.1f}, last {after[-1]:.1f}")
    if args.tracemalloc:
        for a in agents:
            lines = _growth_lines(log_dir, a, 1)
            print(f"\n{a.name}: tracemalloc growth from the end of the warm-up to the end")
            print("\n".join(lines) if lines else "  (no report in its log)")
    print(f"\nagent logs in {log_dir}")
    return flat and errors == 0


def _loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m simulations.bench.soak",
                                description=__doc__.splitlines()[0])
    p.add_argument("--agents", type=int, default=3, help="agents on loopback (default 3)")
    p.add_argument("--workers", type=int, default=200, help="HTTP workers registered (default 200)")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    p.add_argument("--rate", type=float, default=340.0, help="total requests per second (default 340)")
    p.add_argument("--duration-s", type=float, default=900.0, help="load duration, s (default 900)")
    p.add_argument("--warmup-s", type=float, default=300.0,
                   help="RSS before this is not judged, s (default 300)")
    p.add_argument("--sample-s", type=float, default=30.0, help="RSS sample period, s (default 30)")
    p.add_argument("--flat-mib", type=float, default=5.0,
                   help="largest RSS spread after the warm-up called flat, MiB (default 5)")
    p.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES",
                   help="start agents with CLAW_TRACEMALLOC=FRAMES and print top growth (default 0: off)")
    p.add_argument("--log-dir", default=None, help="where agent logs go (default: a temp dir, kept)")
    args = p.parse_args()
    if args.tracemalloc:
        os.environ["CLAW_TRACEMALLOC"] = str(args.tracemalloc)  # inherited by the agents
    log_dir = args.log_dir or tempfile.mkdtemp(prefix="claw-soak-")
    os.makedirs(log_dir, exist_ok=True)
    with _cluster(args.agents, log_dir) as (_, agents):
        ok = asyncio.run(soak(args, agents, log_dir))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
