"""Blocking JSON calls to many claw-node APIs at once, optionally from inside a namespace.

Calls run on a small thread pool; when the agents live in a ``NetnsLab`` each call's
socket is opened in the lab's hub namespace (``netns.http_request``), so the harness's
own threads never leave the host's network.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..realproc.netns import http_request
from .invariants import NodeReport

__all__ = ["ApiClient"]

CALL_TIMEOUT_S = 3.0
"""Deadline of one HTTP call (seconds); a paused or partitioned node must not stall us."""
WORKERS = 8


class ApiClient:
    def __init__(self, netns: str | None = None) -> None:
        self._netns = netns
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="api")

    def _call(self, method: str, url: str, body: Any = None,
              timeout_s: float = CALL_TIMEOUT_S) -> tuple[int, Any]:
        answer = http_request(self._netns, method, url, body, timeout_s)
        return answer.status, answer.body

    def get(self, url: str, timeout_s: float = CALL_TIMEOUT_S) -> tuple[int, Any]:
        return self._pool.submit(self._call, "GET", url, None, timeout_s).result()

    def post(self, url: str, body: Any, timeout_s: float = CALL_TIMEOUT_S) -> tuple[int, Any]:
        return self._pool.submit(self._call, "POST", url, body, timeout_s).result()

    def _report(self, name: str, base: str, t_of: Any) -> NodeReport | None:
        status, nodes = self._call("GET", f"{base}/api/v1/nodes")
        if status != 200 or not isinstance(nodes, dict):
            return None
        hstatus, health = self._call("GET", f"{base}/health")
        coordinator = term = None
        if hstatus == 200 and isinstance(health, dict) and isinstance(health.get("coordinator"), dict):
            coordinator = health["coordinator"].get("node_id")
            term = health["coordinator"].get("term")
        statuses = {}
        for node in nodes.get("nodes") or []:
            if isinstance(node, dict) and isinstance(node.get("node_id"), str):
                statuses[node["node_id"]] = str(node.get("status"))
        return NodeReport(name, t_of(), statuses, coordinator, term)

    def reports(self, bases: dict[str, str], clock: Any) -> dict[str, NodeReport | None]:
        """name → its report (None when it did not answer), all asked in parallel."""
        futures = {n: self._pool.submit(self._report, n, b, clock) for n, b in bases.items()}
        return {n: f.result() for n, f in futures.items()}

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
