"""RSS and CPU of ``claw-node`` agents never queried, then after each first API request
(a script, not a test).

    python -m simulations.bench.api_rss [--idle 8] [--python VENV/bin/python]

Run from the repository root. Starts two agents on 127.0.0.1 (random free ports,
temporary data dirs): ``r0``, which becomes the coordinator, and ``r1``, which joins it,
the case of every member but one. Waits ``--idle`` seconds without touching either API
and prints each one's ``VmRSS`` and CPU seconds; then, for the member, the same after
``GET /health``, ``GET /api/v1/nodes``, ``GET /openapi.json`` and
``POST /api/v1/nodes/register`` (what is imported or built on first use shows up there).
An idle member has not imported the REST stack at all (it loads on the first connection);
the coordinator has (it runs the HTTP-heartbeat monitor). The agents are ended by PID.

The first line is the coordinator's baseline: the RSS of a fresh interpreter that only
imports what the coordinator imports (the agent's modules, then the REST stack: aiohttp,
pydantic, ``api/``, as ``node.lazy_api.import_rest_stack`` loads it) and runs nothing.

``--python``: the agents and the baseline run with that interpreter and the claw-node
installed for it, not this tree (a clean install: see ``bench/first_probe.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

from simulations.bench.first_probe import installed_root, without_pythonpath
from simulations.realproc.agents import free_port

MIB = 1024 * 1024
REQUEST_TIMEOUT_S = 30.0
"""Longest wait for one API answer (the first one may wait for the agent's imports)."""
REGISTER_BODY: dict[str, object] = {"hostname": "w1", "platform": "linux", "arch": "x64",
                                   "available_skills": ["python"]}


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / MIB
    return 0.0


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


BASELINE_CODE = """
import re, sys
from node.ssl_free import ssl_hidden
with ssl_hidden():
    import asyncio
import node.agent
from node.lazy_api import import_rest_stack
import_rest_stack(False)
print(re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
"""
"""A coordinator's imports (no HTTPS setting; psutil is not one on Linux since
``node.linux_host``), nothing run; prints VmRSS in KiB."""


def rest_stack_baseline_mib(python: str | None = None) -> float:
    """RSS of an interpreter with the coordinator's modules imported (see the docstring)."""
    out = subprocess.run([python or sys.executable, "-c", BASELINE_CODE], capture_output=True,
                         text=True, check=True, timeout=REQUEST_TIMEOUT_S,
                         cwd=_installed(python)[0], env=_installed(python)[1])
    return int(out.stdout.split()[-1]) * 1024 / MIB


def _installed(python: str | None) -> tuple[str | None, dict[str, str] | None]:
    """(cwd, env) that make ``python`` run its installed copy (no tree, no PYTHONPATH);
    (None, None) inherits this process's."""
    return (tempfile.gettempdir(), without_pythonpath()) if python else (None, None)


def _request(base: str, path: str, body: dict[str, object] | None) -> int:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method="GET" if data is None else "POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT_S) as resp:
        return int(resp.status)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--idle", type=float, default=8.0, help="seconds before the first figure")
    p.add_argument("--python", metavar="INTERPRETER",
                   help="run the agents with this interpreter and the claw-node installed for "
                        "it (default: this interpreter and this tree)")
    args = p.parse_args(argv)
    if args.python:
        print(f"agents: {args.python}, installed copy in {installed_root(args.python)}")
    print(f"{'REST stack import baseline':40s}     rss {rest_stack_baseline_mib(args.python):5.1f} MiB  "
          f"load average {os.getloadavg()[0]:.2f}")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        gossip, apis = [], []
        for i in range(2):
            port, api = free_port(), free_port()
            gossip.append(port)
            apis.append(api)
            join = ["--join", f"127.0.0.1:{gossip[0]}"] if i else []
            procs.append(subprocess.Popen(
                [args.python or sys.executable, "-m", "node.cli", "--node-id", f"r{i}",
                 "--bind", f"127.0.0.1:{port}", "--api-bind", f"127.0.0.1:{api}",
                 "--data-dir", tempfile.mkdtemp(prefix="bench-api-rss-"),
                 "--log-level", "WARNING", *join],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                cwd=_installed(args.python)[0], env=_installed(args.python)[1]))
            time.sleep(1.0)  # r0 elects itself before r1 joins
        time.sleep(args.idle)
        for proc, role in zip(procs, ("coordinator", "member"), strict=True):
            label = f"{role}, idle, never queried"
            print(f"{label:40s}     rss {_rss_mib(proc.pid):5.1f} MiB  "
                  f"cpu {_cpu_s(proc.pid):.2f} s")
        member, base = procs[1], f"http://127.0.0.1:{apis[1]}"
        for method, path, body in (("GET", "/health", None), ("GET", "/api/v1/nodes", None),
                                   ("GET", "/openapi.json", None),
                                   ("POST", "/api/v1/nodes/register", REGISTER_BODY)):
            status = _request(base, path, body)
            label = f"member after {method} {path}"
            print(f"{label:40s} {status} rss {_rss_mib(member.pid):5.1f} MiB  "
                  f"cpu {_cpu_s(member.pid):.2f} s")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
