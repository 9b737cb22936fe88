"""Load benchmark of the REST API (a script, not a test).

Runs the API (``MemoryClusterView``) in a child process on 127.0.0.1 and drives it with
concurrent aiohttp clients from this process; prints p50/p95/p99 latency per endpoint
(and the clients' own CPU ms per request, ``cli-cpu``: they share the cores) against the
seed's targets (register < 10 ms, heartbeat < 5 ms, query < 20 ms, health < 30 ms, any
API call p95 < 50 ms) and the 10x stretch goal.

    python -m simulations.bench.api [--concurrency 1,10] [--requests 2000]
    python -m simulations.bench.api --agent [--concurrency 1,10,50]
    python -m simulations.bench.api --agents 3 [--write-replicas 2] [--concurrency 1,10] [--writes 200]

``--agent`` runs the same routes against one real claw-node agent (a child process on
loopback, fresh data dir, a fresh agent per concurrency level) instead of the in-memory
view: its gossip-backed view, its middleware and its store, with 100 and then 1,000
HTTP-registered nodes (alone, its writes need no replica). It also prints the agent's own
CPU ms per request (``srv-cpu``, from ``/proc``: the kernel counts in 10 ms ticks, so a
route of 100 requests reads to 0.1 ms), the figure the latencies under load follow.

``--agents N`` runs N real claw-node agents instead (child processes on loopback, the
``local`` gossip profile, fresh data dirs) and measures the writes the coordinator
answers only once replicated (``node.write_replicas``: registration, maintenance,
shutdown) and a heartbeat (answered on the coordinator's own word), through the
coordinator's API.

With N concurrent clients on a single-threaded server, latency includes queueing (about
N x the service time), so the 1-client run shows the service time and the 10-client run
the latency under load. Each concurrency level gets a fresh server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator

import aiohttp

TARGETS_MS = {"register": 10.0, "heartbeat": 5.0, "query": 20.0, "health": 30.0}
P95_TARGET_MS = 50.0


def _serve() -> None:
    from api import ApiServer, create_app
    from api.memory_view import MemoryClusterView

    async def main() -> None:
        server = ApiServer(create_app(MemoryClusterView(), run_monitor=False), port=0)
        await server.start()
        print(server.url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await server.stop()

    asyncio.run(main())


def _pct(sorted_ms: list[float], p: float) -> float:
    k = min(len(sorted_ms) - 1, max(0, round(p / 100 * len(sorted_ms)) - 1))
    return sorted_ms[k]


def _process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()  # after the command, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _run(name: str, n: int, concurrency: int,
               one: Callable[[int], Awaitable[None]], server_pid: int | None = None
               ) -> dict[str, float]:
    latencies: list[float] = []
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            t = time.perf_counter()
            await one(i)
            latencies.append((time.perf_counter() - t) * 1000)

    server_cpu = _process_cpu_s(server_pid) if server_pid is not None else 0.0
    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    lat = sorted(latencies)
    # The clients share the host's cores with the server: their CPU per request says how
    # much of the latency is the load generator's own.
    out = {"n": n, "p50": statistics.median(lat), "p95": _pct(lat, 95), "p99": _pct(lat, 99),
           "max": lat[-1], "rps": n / wall, "client_cpu_ms": cpu / n * 1000}
    if server_pid is not None:
        out["server_cpu_ms"] = (_process_cpu_s(server_pid) - server_cpu) / n * 1000
    return out


def _line(name: str, kind: str, r: dict[str, float]) -> str:
    target = TARGETS_MS[kind]
    verdict = ("10x" if r["p50"] < target / 10 and r["p95"] < P95_TARGET_MS / 10 else
               "ok" if r["p50"] < target and r["p95"] < P95_TARGET_MS else "MISS")
    server = f" {r['server_cpu_ms']:>7.2f}" if "server_cpu_ms" in r else ""
    return (f"{name:<28} {int(r['n']):>6} {r['p50']:>8.2f} {r['p95']:>8.2f} {r['p99']:>8.2f} "
            f"{r['max']:>8.2f} {r['rps']:>8.0f} {r['client_cpu_ms']:>7.2f}{server}   "
            f"<{target:g} ms p50, <{P95_TARGET_MS:g} p95: {verdict}")


async def bench(url: str, concurrency: int, requests: int, server_pid: int | None = None) -> None:
    """Every route at ``concurrency`` clients; ``server_pid``: the server's process, whose
    CPU per request is printed too."""
    rng = random.Random(1)
    run = functools.partial(_run, server_pid=server_pid)
    skills = ["python", "go", "rust", "cuda", "fastapi", "node"]
    ids: list[str] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    # Bodies are read as sent (gzip when the server gzips: aiohttp asks for it) and not
    # inflated: the load generator shares the cores with the server, and inflating a
    # 700 KB list costs more CPU per request than the server spends answering it.
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as http:

        async def register(i: int) -> None:
            body = {"hostname": f"worker-{i:05d}", "platform": "linux", "arch": "x64",
                    "available_skills": rng.sample(skills, 2), "tags": ["gpu"] if i % 3 else [],
                    "max_concurrent_tasks": 4}
            async with http.post(f"{url}/api/v1/nodes/register", json=body) as r:
                assert r.status == 200, await r.text()
                ids.append(json.loads(await r.read())["node_id"])  # a short body: not gzipped

        async def heartbeat(i: int) -> None:
            body = {"cpu_usage": rng.uniform(0, 100), "memory_usage": rng.uniform(0, 100),
                    "disk_usage": rng.uniform(0, 100), "running_tasks": rng.randint(0, 4)}
            async with http.post(f"{url}/api/v1/nodes/{ids[i % len(ids)]}/heartbeat", json=body) as r:
                assert r.status == 200
                await r.read()

        def get(path: Callable[[int], str]) -> Callable[[int], Awaitable[None]]:
            async def one(i: int) -> None:
                async with http.get(url + path(i)) as r:
                    assert r.status == 200
                    await r.read()
            return one

        print(f"API at {url}; {concurrency} concurrent clients; latencies in ms; "
              f"load {_loadavg()}\n")
        print(f"{'endpoint':<28} {'n':>6} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8} {'req/s':>8} {'cli-cpu':>7}"
              + (f" {'srv-cpu':>7}" if server_pid is not None else ""))
        print(_line("register (first 100)", "register", await run("register", 100, concurrency, register)))
        small_reads = max(200, requests // 4)
        print(_line("list, 100 nodes", "query", await run("list", small_reads, concurrency,
                                                           get(lambda i: "/api/v1/nodes"))))
        print(_line("list filtered, 100 nodes", "query", await run(
            "list", small_reads, concurrency,
            get(lambda i: "/api/v1/nodes?skill=python&available=true&sort=load"))))
        print(_line("register (to 1,000)", "register", await run("register", 900, concurrency, register)))
        print(_line("heartbeat, 1,000 nodes", "heartbeat", await run("heartbeat", requests, concurrency, heartbeat)))
        print(_line("node detail", "query", await run(
            "detail", requests, concurrency, get(lambda i: f"/api/v1/nodes/{ids[i % len(ids)]}"))))
        print(_line("list, 1,000 nodes", "query", await run("list", small_reads, concurrency,
                                                             get(lambda i: "/api/v1/nodes"))))
        print(_line("list filtered, 1,000 nodes", "query", await run(
            "list", small_reads, concurrency,
            get(lambda i: "/api/v1/nodes?skill=python&available=true&sort=load"))))
        print(_line("skill, 1,000 nodes", "query", await run(
            "skill", small_reads, concurrency, get(lambda i: "/api/v1/nodes/skills/cuda"))))
        print(_line("node health", "health", await run(
            "health", requests, concurrency, get(lambda i: f"/api/v1/nodes/{ids[i % len(ids)]}/health"))))
        print(_line("cluster health, 1,000 nodes", "health", await run(
            "cluster", small_reads, concurrency, get(lambda i: "/api/v1/cluster/health"))))
        print(_line("/health", "health", await run("ping", requests, concurrency, get(lambda i: "/health"))))


def _loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


AGENTS_READY_S = 120.0
"""Longest wait for N agents to see each other (seconds)."""


async def _members_alive(url: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/api/v1/nodes") as r:
        nodes = (await r.json()).get("nodes") or [] if r.status == 200 else []
    return sum(1 for n in nodes if n.get("source") == "gossip" and n.get("member_state") == "alive")


@contextlib.contextmanager
def _agents(n: int) -> Iterator[tuple[str, int]]:
    """Start ``n`` agents on loopback (``realproc.agents.Cluster``); yields the first
    one's (the coordinator's) API URL and process id once it sees all of them alive."""
    from simulations.realproc.agents import ClawKind, Cluster

    with Cluster(ClawKind(), None, "local") as cluster:
        seed = cluster.start(0, None)
        for i in range(1, n):
            cluster.start(i, seed)
        url = f"http://127.0.0.1:{seed.api_port}"
        deadline = time.monotonic() + AGENTS_READY_S
        while True:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                if asyncio.run(_members_alive(url)) == n:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"{n} agents did not see each other in {AGENTS_READY_S:g} s")
            time.sleep(0.5)
        yield url, seed.pid


async def bench_writes(url: str, agents: int, concurrency: int, writes: int) -> None:
    """Replicated writes on the coordinator of ``agents`` real agents."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:

        def post(path: Callable[[int], str], body: Callable[[int], dict[str, object]]
                 ) -> Callable[[int], Awaitable[None]]:
            async def one(i: int) -> None:
                async with http.post(url + path(i), json=body(i)) as r:
                    assert r.status == 200, await r.text()
                    await r.read()
            return one

        def worker(i: int) -> str:
            return f"w-{concurrency}-{i:05d}"

        print(f"{agents} agents, coordinator at {url}; {concurrency} concurrent clients; ms; "
              f"load {_loadavg()}\n")
        print(f"{'endpoint':<28} {'n':>6} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8} {'req/s':>8} {'cli-cpu':>7}")
        register = post(lambda i: "/api/v1/nodes/register", lambda i: {
            "hostname": worker(i), "node_id": worker(i), "platform": "linux", "arch": "x64",
            "available_skills": ["python"]})
        print(_line("register (replicated)", "register",
                    await _run("register", writes, concurrency, register)))
        print(_line("heartbeat (own word)", "heartbeat", await _run(
            "heartbeat", writes, concurrency, post(
                lambda i: f"/api/v1/nodes/{worker(i)}/heartbeat", lambda i: {"cpu_usage": 5.0}))))
        print(_line("maintenance (replicated)", "register", await _run(
            "maintenance", writes, concurrency, post(
                lambda i: f"/api/v1/nodes/{worker(i)}/maintenance", lambda i: {"enabled": True}))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,10",
                        help="comma-separated concurrent-client counts (default 1,10)")
    parser.add_argument("--requests", type=int, default=2000, help="requests per cheap endpoint (default 2000)")
    parser.add_argument("--agents", type=int, default=0, metavar="N",
                        help="benchmark the writes of N real agents (default 0: the API alone)")
    parser.add_argument("--agent", action="store_true",
                        help="benchmark every route on one real agent (default: the API alone)")
    parser.add_argument("--write-replicas", type=int, default=None, metavar="K",
                        help="the agents' --write-replicas with --agents (default: theirs)")
    parser.add_argument("--writes", type=int, default=200,
                        help="writes of each kind with --agents (default 200)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve()
        return
    if args.write_replicas is not None:
        os.environ["CLAW_WRITE_REPLICAS"] = str(args.write_replicas)  # inherited by the agents
    if args.agent:
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            with _agents(1) as (url, pid):
                asyncio.run(bench(url, concurrency, args.requests, server_pid=pid))
            print()
        return
    if args.agents > 0:
        with _agents(args.agents) as (url, _):
            for concurrency in (int(c) for c in args.concurrency.split(",")):
                asyncio.run(bench_writes(url, args.agents, concurrency, args.writes))
                print()
        return
    for concurrency in (int(c) for c in args.concurrency.split(",")):
        child = subprocess.Popen([sys.executable, "-m", "simulations.bench.api", "--serve"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout is not None
            url = child.stdout.readline().strip()
            if not url.startswith("http"):
                raise SystemExit("API server did not start")
            asyncio.run(bench(url, concurrency, args.requests))
            print()
        finally:
            if child.stdin:
                child.stdin.close()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


if __name__ == "__main__":
    main()
