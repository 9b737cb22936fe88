"""CPU and RSS of a ``claw-node`` member from exec to its first probe (a script, not a test).

    python -m simulations.bench.first_probe [--runs 5] [--idle 5] [--profile lan]
        [--checkout DIR | --python VENV/bin/python]

Run from the repository root. Each run starts, in this process, a gossip seed (the real
core on the real asyncio driver, ``gossip.udp``) on 127.0.0.1, then spawns one member,
``python -m node.cli --join`` the seed (random free ports, a temporary data dir), the
case of every agent but the coordinator. The seed is a bare gossip core, not a claw-node,
so the member would elect itself and load the REST stack at its first calm moment, on a
quiet host before its first probe: it runs with ``--no-coordinator``, as a member of a
cluster that has a coordinator. The seed watches its datagrams; when the first
``Ping`` from the member arrives, the member's CPU seconds (utime + stime since exec,
``/proc/PID/stat``) and ``VmRSS`` are read at once: *start CPU*. Then the same after
``--idle`` seconds, with whether the member has loaded the REST stack by then (it must
not: it loads on the first API connection, ``node/lazy_api.py``), read from
``/proc/PID/maps`` (aiohttp's compiled extensions).

The first line says whether this checkout's bytecode is cached (``agent_start
--precompile`` caches it, as an install would; uncached, each start also compiles the
project). Every wait is bounded; the member is ended by PID. The machine is shared:
quote the load average printed with the figures.

What a user gets: ``--python`` runs the member with another interpreter, from the copy
of ``claw-node`` installed there (no ``PYTHONPATH``, working directory outside any source
tree). A development interpreter's ``site`` may load more than a user's does (an
editable-install finder, a sandbox's ``.pth`` hooks: several MiB before any project
code); a clean virtual environment with a normal, non-editable install is the user's
case (pip compiles the bytecode on install)::

    python -m venv /tmp/lean-venv
    git archive HEAD | (mkdir /tmp/lean-tree && tar -x -C /tmp/lean-tree)
    /tmp/lean-venv/bin/pip install /tmp/lean-tree
    python -m simulations.bench.first_probe --python /tmp/lean-venv/bin/python

(Offline, point pip at a local index: ``--index-url file:///...``; a dependency the
member does not import, such as ``swagger-ui-bundle-v2``, can be left out by installing
the tree with ``--no-deps`` and the member's dependencies by name.) The first line then
names the installed copy the member runs and whether its bytecode is cached.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

from gossip import PROFILES, SwimProtocol
from gossip.codec import decode_packet
from gossip.errors import MalformedPacket
from gossip.messages import Ping
from gossip.types import Address
from gossip.udp import GossipTransport
from simulations.bench.agent_start import ROOT, bytecode_state, proc_status
from simulations.realproc.agents import free_port, proc_cpu_seconds

PROBE_TIMEOUT_S = 60.0
"""Longest wait for the member's first probe (start-up is CPU-bound on a shared host)."""
MIB = 1024 * 1024


class _WatchingSeed(SwimProtocol):
    """A seed core that notes when the first ``Ping`` from ``watched`` arrives."""

    watched = ""
    on_first_ping: asyncio.Future[None] | None = None

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        waiting = self.on_first_ping
        if waiting is not None and not waiting.done():
            try:
                messages, _ = decode_packet(data)
            except MalformedPacket:
                messages = []
            if any(isinstance(m, Ping) and m.source_node == self.watched for m in messages):
                waiting.set_result(None)
        super().receive_datagram(data, addr, now)


def without_pythonpath() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def installed_root(python: str) -> str:
    """The directory ``python`` imports ``node`` from, outside any source tree."""
    out = subprocess.run(
        [python, "-c", "import os, node; print(os.path.dirname(os.path.dirname(node.__file__)))"],
        cwd=tempfile.gettempdir(), env=without_pythonpath(), capture_output=True, text=True,
        check=True, timeout=PROBE_TIMEOUT_S)
    return out.stdout.strip()


def _rest_stack_loaded(pid: int) -> bool:
    """Whether aiohttp's compiled modules are mapped into ``pid``."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            return "aiohttp" in f.read()
    except OSError:
        return False


async def one_run(profile: str, idle_s: float, checkout: str,
                  python: str | None = None) -> dict[str, float | bool]:
    """One member from exec to ``idle_s`` after its first probe: run from ``checkout``, or,
    with ``python``, the copy installed for that interpreter."""
    config = PROFILES[profile]()
    member = "probe-member"
    loop = asyncio.get_running_loop()
    first_ping: asyncio.Future[None] = loop.create_future()

    def build(address: Address, now: float) -> SwimProtocol:
        core = _WatchingSeed(config, name="probe-seed", address=address, meta=b"",
                             rng=random.Random(1), now=now)
        core.watched, core.on_first_ping = member, first_ping
        return core

    seed = GossipTransport(build, config, bind=("127.0.0.1", 0))
    await seed.start()
    proc: subprocess.Popen[bytes] | None = None
    try:
        host, port = seed.address
        with tempfile.TemporaryDirectory(prefix="bench-first-probe-") as data_dir:
            # The installed copy: no PYTHONPATH, and a working directory (sys.path[0]
            # under -m) that holds no source tree.
            run_from = ((data_dir, without_pythonpath()) if python else
                        (checkout, {**os.environ, "PYTHONPATH": checkout}))
            proc = subprocess.Popen(
                [python or sys.executable, "-m", "node.cli", "--node-id", member,
                 "--bind", f"127.0.0.1:{free_port()}", "--api-bind", f"127.0.0.1:{free_port()}",
                 "--data-dir", data_dir, "--profile", profile, "--log-level", "WARNING",
                 "--join", f"{host}:{port}", "--no-coordinator"],
                cwd=run_from[0], env=run_from[1],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            await asyncio.wait_for(first_ping, PROBE_TIMEOUT_S)
            at_probe = proc_cpu_seconds(proc.pid), proc_status(proc.pid).get("VmRSS", 0) / MIB
            await asyncio.sleep(idle_s)
            idle = proc_cpu_seconds(proc.pid), proc_status(proc.pid).get("VmRSS", 0) / MIB
            rest = _rest_stack_loaded(proc.pid)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        await seed.stop()
    if at_probe[0] is None or idle[0] is None:
        raise RuntimeError("the member exited before its figures were read")
    return {"probe_cpu_s": at_probe[0], "probe_rss_mib": at_probe[1],
            "idle_cpu_s": idle[0], "idle_rss_mib": idle[1], "rest_loaded": rest}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5, help="members started one after another (default 5)")
    p.add_argument("--idle", type=float, default=5.0,
                   help="seconds after the first probe before the second figure (default 5)")
    p.add_argument("--profile", choices=sorted(PROFILES), default="lan",
                   help="gossip timing of seed and member (default lan)")
    p.add_argument("--checkout", default=ROOT,
                   help="source tree the member runs from (default: this one), e.g. an older "
                        "commit's `git archive` for a before/after")
    p.add_argument("--python", metavar="INTERPRETER",
                   help="run the member with this interpreter and the claw-node installed "
                        "for it (e.g. a clean venv's bin/python; see the module docstring), "
                        "instead of a source tree")
    args = p.parse_args(argv)
    if not 1 <= args.runs <= 50 or not 0 <= args.idle <= 600:
        p.error("--runs must be 1..50 and --idle 0..600")
    source = installed_root(args.python) if args.python else os.path.abspath(args.checkout)
    how = f"{args.python}, installed copy" if args.python else "PYTHONPATH"
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs, "
          f"{time.strftime('%Y-%m-%d %H:%M:%S')}; member from {source} ({how}); "
          f"{bytecode_state(source)}")
    rows = []
    for i in range(args.runs):
        row = asyncio.run(one_run(args.profile, args.idle, source, args.python))
        rows.append(row)
        print(f"  run {i + 1}: first probe at cpu {row['probe_cpu_s']:.3f} s rss "
              f"{row['probe_rss_mib']:5.1f} MiB; after {args.idle:.0f} s idle cpu "
              f"{row['idle_cpu_s']:.3f} s rss {row['idle_rss_mib']:5.1f} MiB, REST stack "
              f"{'loaded' if row['rest_loaded'] else 'not loaded'}")
    med = {k: statistics.median(float(r[k]) for r in rows)
           for k in ("probe_cpu_s", "probe_rss_mib", "idle_cpu_s", "idle_rss_mib")}
    print(f"median of {args.runs}: first probe cpu {med['probe_cpu_s']:.3f} s rss "
          f"{med['probe_rss_mib']:.1f} MiB; idle cpu {med['idle_cpu_s']:.3f} s rss "
          f"{med['idle_rss_mib']:.1f} MiB; load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
