"""Real ``claw-node`` processes on loopback (``--profile local``): convergence, failover,
rejoin with a lasting identity, graceful leave, SIGTERM.

One scenario in one test, so the four process start-ups are paid once. Timing figures
are printed (run with ``-s``), never asserted: the machine may be slow.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from simulations.versus_serf.agents import free_port  # TCP+UDP port finder

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parent.parent
WAIT_S = 60.0
"""Generous bound for each convergence wait (a loaded 2-core CI box)."""


class Node:
    """One claw-node process."""

    def __init__(self, name: str, data_dir: Path, log_dir: Path) -> None:
        self.name = name
        self.data_dir = data_dir
        self.log_path = log_dir / f"{name}.log"
        self.gossip_port = free_port()
        self.api_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def gossip(self) -> str:
        return f"127.0.0.1:{self.gossip_port}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self, *extra: str) -> None:
        args = [sys.executable, "-m", "node.cli", "--node-id", self.name,
                "--bind", self.gossip, "--api-bind", f"127.0.0.1:{self.api_port}",
                "--data-dir", str(self.data_dir), "--profile", "local",
                "--resource-interval", "1", "--skills", "python", *extra]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLAW_")}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=log, env=env)

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.api + path, timeout=3) as resp:
            return json.loads(resp.read())

    def post(self, path: str, body: dict[str, Any]) -> Any:
        req = urllib.request.Request(self.api + path, data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def try_get(self, path: str) -> Any:
        try:
            return self.get(path)
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def nodes(self) -> dict[str, dict[str, Any]]:
        listing = self.try_get("/api/v1/nodes")
        return {} if listing is None else {n["node_id"]: n for n in listing["nodes"]}

    def coordinator(self) -> tuple[str | None, int]:
        health = self.try_get("/health")
        c = (health or {}).get("coordinator") or {}
        return c.get("node_id"), c.get("term", 0)

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


def wait_for(what: str, check: Callable[[], bool], timeout: float = WAIT_S) -> float:
    """Poll ``check`` until true; returns the seconds it took. Fails with ``what``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for: {what}")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def cluster(tmp_path: Path) -> Any:
    nodes = [Node(f"n{i}", tmp_path / f"data{i}", tmp_path) for i in range(1, 5)]
    yield nodes
    codes = {n.name: n.stop() for n in nodes}
    for n in nodes:
        if n.log_path.exists():
            sys.stdout.write(f"--- {n.name} log (tail) ---\n")
            sys.stdout.write("".join(n.log_path.read_text(errors="replace").splitlines(True)[-15:]))
    assert all(code in (0, None) for code in codes.values()), codes


def test_converge_failover_rejoin_leave(cluster: list[Node]) -> None:
    n1, n2, n3, n4 = cluster
    names = {n.name for n in cluster}
    t0 = time.monotonic()
    n1.start()
    wait_for("n1 serves its API", lambda: n1.try_get("/health") is not None)
    for n in (n2, n3, n4):
        n.start("--join", n1.gossip)

    # 1. Convergence: every node sees every node online, with its resources.
    def converged() -> bool:
        for n in cluster:
            view = n.nodes()
            if set(view) != names:
                return False
            for node in view.values():
                if node["status"] != "online" or node["last_heartbeat"] is None:
                    return False
                if node["memory_usage"] <= 0 or node["disk_usage"] <= 0:
                    return False
        return True

    up = wait_for("every agent serves its API", lambda: all(n.try_get("/health") for n in cluster))
    took = wait_for("4 nodes converge with resources", converged)
    print(f"\nconverged: {took:.1f} s after the last agent answered its API "
          f"({time.monotonic() - t0:.1f} s after starting 4 processes; start-up took {up:.1f} s)")

    def agreed() -> str | None:
        views = {n.coordinator() for n in cluster if n.proc and n.proc.poll() is None}
        if len(views) == 1:
            (coordinator, term), = views
            return coordinator if term > 0 else None
        return None

    wait_for("every node names the same coordinator", lambda: agreed() is not None)
    first, first_term = n1.coordinator()
    assert first == "n1"  # the longest-running eligible node
    listing = cli("members", "--api", n3.api)
    assert listing.returncode == 0, listing.stderr
    assert "n1 *" in listing.stdout and "online" in listing.stdout
    print(listing.stdout)

    # An HTTP-registered worker, registered through a non-coordinator (forwarded), is
    # replicated to every node through gossip.
    worker = n2.post("/api/v1/nodes/register", {
        "hostname": "worker-1", "platform": "linux", "arch": "x64",
        "available_skills": ["python"]})["node_id"]
    wait_for("the HTTP-registered worker is known everywhere",
             lambda: all(worker in n.nodes() for n in cluster))

    # A task report for a gossip member (forwarded to the coordinator, relayed to the
    # member) makes it busy everywhere.
    n3.post("/api/v1/nodes/n2/heartbeat", {"running_tasks": 5})
    wait_for("n2 busy everywhere", lambda: all(
        n.nodes().get("n2", {}).get("status") == "busy" for n in cluster))
    n3.post("/api/v1/nodes/n2/heartbeat", {"running_tasks": 0})
    wait_for("n2 online again everywhere", lambda: all(
        n.nodes().get("n2", {}).get("status") == "online" for n in cluster))

    # 2. kill -9 the coordinator: the survivors agree on a new one with a higher term.
    n1.proc.kill()  # type: ignore[union-attr]
    n1.proc.wait()  # type: ignore[union-attr]
    killed_at = time.monotonic()
    survivors = [n2, n3, n4]

    def failed_over() -> bool:
        views = {n.coordinator() for n in survivors}
        if len(views) != 1:
            return False
        (coordinator, term), = views
        return coordinator not in (None, "n1") and term > first_term

    took = wait_for("survivors agree on a new coordinator", failed_over)
    new_coordinator, new_term = n2.coordinator()
    print(f"fail-over after kill -9 of {first}: {took:.1f} s -> {new_coordinator} (term {new_term})")
    wait_for("survivors see n1 offline",
             lambda: all(n.nodes().get("n1", {}).get("status") == "offline" for n in survivors))
    # The new coordinator has the registry: a heartbeat for the worker succeeds.
    beat = n4.post(f"/api/v1/nodes/{worker}/heartbeat", {"cpu_usage": 12.5})
    assert beat["node"]["cpu_usage"] == 12.5

    # 3. Restart n1 with the same data dir and no --join: it rejoins from its remembered
    # peers under the same id, is online everywhere, and does not take the role back.
    restarted_at = time.monotonic()
    n1.start()
    took = wait_for("restarted n1 online everywhere", lambda: all(
        n.nodes().get("n1", {}).get("status") == "online" for n in cluster))
    print(f"restarted n1 back online everywhere: {took:.1f} s "
          f"({time.monotonic() - killed_at:.1f} s after the kill)")
    assert n1.get("/health")["node_id"] == "n1"
    wait_for("n1 agrees on the coordinator", lambda: n1.coordinator() == (new_coordinator, new_term))
    time.sleep(2.0)  # give a wrong claim the chance to show up
    assert {n.coordinator() for n in cluster} == {(new_coordinator, new_term)}
    assert restarted_at > killed_at

    # Maintenance through the CLI (forwarded, relayed to n4): visible everywhere.
    result = cli("maintenance", "on", "--api", n4.api)
    assert result.returncode == 0, result.stderr
    wait_for("n4 in maintenance everywhere", lambda: all(
        n.nodes().get("n4", {}).get("status") == "maintenance" for n in cluster))
    info = cli("info", "--api", n1.api)
    assert info.returncode == 0 and f"{new_coordinator} (term {new_term})" in info.stdout, info
    print(info.stdout)

    # 4. `claw-node leave` on n4: offline everywhere, as left (not failed), exit 0.
    result = cli("leave", "--api", n4.api)
    assert result.returncode == 0, result.stderr
    assert n4.proc.wait(timeout=30) == 0  # type: ignore[union-attr]
    rest = [n1, n2, n3]
    wait_for("n4 offline (left) everywhere", lambda: all(
        n.nodes().get("n4", {}).get("status") == "offline"
        and n.nodes().get("n4", {}).get("gossip_state") == "left" for n in rest))
    gossip_online = {name for name, node in n2.nodes().items()
                     if node["source"] == "gossip" and node["status"] == "online"}
    assert gossip_online == {"n1", "n2", "n3"}

    # 5. SIGTERM: graceful leave, exit 0 (checked by the fixture for every node).
    assert n3.stop() == 0
    wait_for("n3 left after SIGTERM", lambda: n2.nodes().get("n3", {}).get("gossip_state") == "left")
