"""The seed's ``HeartbeatClient`` for HTTP-only workers (no gossip: behind NAT, a script).

Usage, as in the seed, with the failover this module adds::

    import asyncio
    from api.client import HeartbeatClient

    async def main() -> None:
        client = HeartbeatClient(
            # Any claw-node API answers. One URL is enough: the client learns the other
            # nodes' API URLs from GET /api/v1/nodes; several are safer for the first start.
            coordinator_url=["http://10.0.0.5:8888", "http://10.0.0.6:8888"],
            node_id="worker-001",                  # stable id: kept across failovers
            available_skills=["python", "fastapi"],
            api_token=None,                        # the cluster's --api-token, if set
        )
        await client.start()   # registers, then heartbeats every 30 s with psutil figures
        try:
            await asyncio.Event().wait()           # the worker's own work goes here
        finally:
            await client.stop()                    # stops and sends the shutdown notice

    asyncio.run(main())

Failover: a request that meets a connection error, a timeout or a 503 (that node has no
coordinator to forward the write to) goes to the next known node at once; the client
stays on the node that answered. A heartbeat answered 404 (a new coordinator that never
saw this worker) re-registers under the same ``node_id``, so the worker keeps its id,
``registered_at`` and counters wherever the registry still holds them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import platform as _platform
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import psutil

__all__ = [
    "HeartbeatClient",
    "HeartbeatClientError",
    "NoLiveNode",
    "detect_arch",
    "detect_platform",
    "psutil_sampler",
]

log = logging.getLogger(__name__)

Sampler = Callable[[], dict[str, float]]
"""Returns ``cpu_usage``, ``memory_usage``, ``disk_usage`` (percent)."""


class HeartbeatClientError(Exception):
    """Registration failed for good (validation error, or every attempt failed)."""


class NoLiveNode(ConnectionError):
    """Every known node failed this request (connection error, timeout or 503)."""


MAX_KNOWN_URLS = 32
"""API URLs kept at most (given ones first, then learned ones): a bound on what a
``/api/v1/nodes`` answer can make the client try."""
REFRESH_EVERY_HEARTBEATS = 10
"""Heartbeats between two refreshes of the learned URLs (also refreshed after a failover)."""
_LIVE_GOSSIP_STATES = ("alive", "suspect")


def detect_platform() -> str:
    """The seed's platform name: darwin → macos, win32 → windows, else linux."""
    if sys.platform == "darwin":
        return "macos"
    if sys.platform.startswith("win"):
        return "windows"
    return "linux"


def detect_arch() -> str:
    """The seed's arch name from ``platform.machine()``."""
    m = _platform.machine().lower()
    if m in ("x86_64", "amd64"):
        return "x64"
    if m in ("aarch64", "arm64"):
        return "arm64"
    if m in ("i386", "i486", "i586", "i686", "x86"):
        return "x86"
    if m.startswith("arm"):
        return "arm"
    return "x64"


def psutil_sampler(disk_path: str = "/") -> Sampler:
    """A sampler reading psutil. ``cpu_percent`` is primed here (its first call returns 0)
    and then read with ``interval=None`` so it never blocks the loop."""
    psutil.cpu_percent(interval=None)

    def sample() -> dict[str, float]:
        return {
            "cpu_usage": float(psutil.cpu_percent(interval=None)),
            "memory_usage": float(psutil.virtual_memory().percent),
            "disk_usage": float(psutil.disk_usage(disk_path).percent),
        }
    return sample


def _local_ip_towards(url: str) -> str:
    """The local address used to reach ``url``'s host (a UDP connect sends nothing)."""
    host = urlsplit(url).hostname or "127.0.0.1"
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((host, 9))
            return str(s.getsockname()[0])
    except OSError:
        return ""


class HeartbeatClient:
    """Registers a worker with the cluster and keeps it alive with heartbeats."""

    def __init__(
        self,
        config: Any = None,
        *,
        coordinator_url: str | Sequence[str],
        available_skills: Sequence[str],
        node_id: str | None = None,
        hostname: str | None = None,
        platform: str | None = None,
        arch: str | None = None,
        tags: Sequence[str] = (),
        port: int = 18789,
        max_concurrent_tasks: int = 5,
        ip_address: str | None = None,
        tailscale_ip: str = "",
        heartbeat_interval_s: float = 30.0,
        api_token: str | None = None,
        sampler: Sampler | None = None,
        running_tasks: Callable[[], int] | None = None,
        register_attempts: int = 5,
        retry_backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        request_timeout_s: float = 10.0,
        discover: bool = True,
    ) -> None:
        """
        Args:
            config: accepted for the seed's signature; if it has ``heartbeat_interval``
                (seconds) or ``api_token`` attributes, they are used as defaults.
            coordinator_url: base URL of any claw-node API (``http://host:8888``), or
                several: requests fail over from one to the next.
            available_skills: at least one skill.
            node_id: stable id to register under (re-registration keeps history); None →
                the cluster assigns one (``self.node_id`` after ``start``).
            hostname / platform / arch / ip_address: detected when None.
            heartbeat_interval_s: seconds between heartbeats (the cluster's timeout is
                90 s: keep this ≤ 30 s).
            api_token: bearer token if the cluster requires one.
            sampler: resource figures (default psutil).
            running_tasks: callable giving the number of running tasks (default 0).
            register_attempts: tries for the initial registration before ``start`` raises.
            retry_backoff_s / max_backoff_s: first retry delay, doubled per failure, capped.
            request_timeout_s: timeout of each HTTP request (seconds).
            discover: learn the other nodes' API URLs from ``GET /api/v1/nodes`` (the
                ``api_url`` of live gossip members) after registering, every
                ``REFRESH_EVERY_HEARTBEATS`` heartbeats and after a failover.
        """
        if config is not None:
            heartbeat_interval_s = float(getattr(config, "heartbeat_interval", heartbeat_interval_s))
            api_token = api_token or getattr(config, "api_token", None)
        if not available_skills:
            raise ValueError("available_skills must not be empty")
        if heartbeat_interval_s <= 0 or register_attempts < 1:
            raise ValueError("heartbeat_interval_s must be > 0 and register_attempts >= 1")
        given = [coordinator_url] if isinstance(coordinator_url, str) else list(coordinator_url)
        if not given:
            raise ValueError("coordinator_url: give at least one API URL")
        self._given = list(dict.fromkeys(u.rstrip("/") for u in given))[:MAX_KNOWN_URLS]
        self.urls: list[str] = list(self._given)
        """Known API base URLs, in failover order (given ones first, then learned ones)."""
        self._current = 0
        self.discover = discover
        self.node_id = node_id
        self.registration: dict[str, Any] = {
            "hostname": hostname or socket.gethostname() or "localhost",
            "platform": platform or detect_platform(),
            "arch": arch or detect_arch(),
            "available_skills": list(available_skills),
            "tags": list(tags),
            "port": port,
            "max_concurrent_tasks": max_concurrent_tasks,
            "ip_address": ip_address if ip_address is not None else _local_ip_towards(self.urls[0]),
            "tailscale_ip": tailscale_ip,
        }
        self.heartbeat_interval_s = heartbeat_interval_s
        self.api_token = api_token
        self._sampler = sampler
        self._running_tasks = running_tasks or (lambda: 0)
        self.register_attempts = register_attempts
        self.retry_backoff_s = retry_backoff_s
        self.max_backoff_s = max_backoff_s
        self.request_timeout_s = request_timeout_s
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._refresh_due = False
        self.heartbeats_sent = 0
        """Heartbeats the cluster acknowledged."""
        self.failures = 0
        """Failed requests (any kind) since start."""
        self.failovers = 0
        """Times a request moved on to the next node."""

    @property
    def coordinator_url(self) -> str:
        """The API URL in use (the node that answered last)."""
        return self.urls[self._current]

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Register (retrying with backoff), then heartbeat in the background.

        Raises:
            HeartbeatClientError: the cluster rejected the registration (4xx), or every
                attempt failed.
        """
        if self._task is not None:
            return
        headers = {"Authorization": f"Bearer {self.api_token}"} if self.api_token else {}
        self._session = aiohttp.ClientSession(
            headers=headers, timeout=aiohttp.ClientTimeout(total=self.request_timeout_s))
        if self._sampler is None:
            self._sampler = psutil_sampler()
        try:
            await self._register_with_retries()
            if self.discover:
                await self.refresh_urls()
        except BaseException:
            await self._session.close()
            self._session = None
            raise
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="heartbeat-client")

    async def stop(self) -> None:
        """Stop heartbeating and send the shutdown notice (best effort, one attempt)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is None:
            return
        try:
            if self.node_id is not None:
                await self._post(f"/api/v1/nodes/{self.node_id}/shutdown", None)
        except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
            log.warning("shutdown notice failed: %s", exc)
        finally:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> HeartbeatClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- requests -----------------------------------------------------------------------

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None
                    ) -> tuple[int, Any]:
        """One request, tried on each known node at most once, starting with the current.

        Returns:
            (status, decoded JSON or None) of the first answer that is not a 503.

        Raises:
            NoLiveNode: every node failed (connection error, timeout or 503).
        """
        assert self._session is not None
        failed: list[str] = []
        for _ in range(len(self.urls)):
            url = self.urls[self._current]
            try:
                async with self._session.request(method, url + path, json=body) as resp:
                    try:
                        data = await resp.json(content_type=None)
                    except ValueError:
                        data = None
                    if resp.status != 503:
                        return resp.status, data
                    error = data.get("error") if isinstance(data, dict) else None
                    failed.append(f"{url}: 503 {error or ''}".rstrip())
            except (TimeoutError, aiohttp.ClientConnectionError, OSError) as exc:
                failed.append(f"{url}: {type(exc).__name__}: {exc}")
            if len(self.urls) > 1:
                self._current = (self._current + 1) % len(self.urls)
                self.failovers += 1
                self._refresh_due = True
                log.warning("%s %s failed on %s; trying %s", method, path, url,
                            self.urls[self._current])
        raise NoLiveNode("no live node answered: " + "; ".join(failed))

    async def _post(self, path: str, body: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
        status, data = await self._call("POST", path, body)
        return status, data if isinstance(data, dict) else {}

    async def refresh_urls(self) -> list[str]:
        """Learn the API URLs of live gossip members from ``GET /api/v1/nodes``.

        The given URLs stay first, in their order; learned ones follow and replace the
        previously learned ones (a member that left or failed is dropped); the node that
        answered stays. Errors are logged, and the known URLs kept.

        Returns:
            The known URLs after the refresh.
        """
        self._refresh_due = False
        try:
            status, data = await self._call("GET", "/api/v1/nodes")
        except NoLiveNode as exc:
            log.warning("cannot refresh the node list: %s", exc)
            return self.urls
        nodes = data.get("nodes") if status == 200 and isinstance(data, dict) else None
        if not isinstance(nodes, list):
            log.warning("cannot refresh the node list: HTTP %s", status)
            return self.urls
        learned = [str(n["api_url"]).rstrip("/") for n in nodes
                   if isinstance(n, dict) and isinstance(n.get("api_url"), str)
                   and n.get("api_url", "").startswith(("http://", "https://"))
                   and n.get("gossip_state") in _LIVE_GOSSIP_STATES]
        # The node that just answered stays known even if it does not list itself.
        current = self.urls[self._current]
        known = list(dict.fromkeys([*self._given, *learned]))[:MAX_KNOWN_URLS - 1]
        if current not in known:
            known.append(current)
        self.urls, self._current = known, known.index(current)
        return self.urls

    async def register(self) -> str:
        """One registration attempt (re-registers under ``self.node_id`` if set).

        Returns:
            The node id.

        Raises:
            HeartbeatClientError: rejected with a 4xx (not retryable).
            aiohttp.ClientError / asyncio.TimeoutError / ConnectionError: retryable.
        """
        body = dict(self.registration)
        if self.node_id is not None:
            body["node_id"] = self.node_id
        status, data = await self._post("/api/v1/nodes/register", body)
        if status == 200 and data.get("success"):
            self.node_id = str(data["node_id"])
            log.info("registered as %s: %s", self.node_id, data.get("message"))
            return self.node_id
        if 400 <= status < 500:
            raise HeartbeatClientError(f"registration rejected ({status}): {data.get('error')}")
        raise ConnectionError(f"registration failed ({status}): {data.get('error')}")

    async def _register_with_retries(self) -> None:
        delay = self.retry_backoff_s
        for attempt in range(1, self.register_attempts + 1):
            try:
                await self.register()
                return
            except HeartbeatClientError:
                raise
            except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
                self.failures += 1
                log.warning("registration attempt %d failed: %s", attempt, exc)
                if attempt == self.register_attempts:
                    raise HeartbeatClientError(
                        f"registration failed after {attempt} attempts: {exc}") from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)

    def sample(self) -> dict[str, Any]:
        """The heartbeat body: resource figures and running tasks."""
        assert self._sampler is not None
        return {**self._sampler(), "running_tasks": max(0, int(self._running_tasks()))}

    async def send_heartbeat(self) -> None:
        """One heartbeat; re-registers if the cluster no longer knows this node (404).

        Raises:
            aiohttp.ClientError / asyncio.TimeoutError / ConnectionError on failure.
        """
        status, data = await self._post(f"/api/v1/nodes/{self.node_id}/heartbeat", self.sample())
        if status == 404:
            log.warning("cluster forgot %s; registering again", self.node_id)
            await self.register()
            return
        if status != 200:
            raise ConnectionError(f"heartbeat failed ({status}): {data.get('error')}")
        self.heartbeats_sent += 1
        if self.discover and (self._refresh_due
                              or self.heartbeats_sent % REFRESH_EVERY_HEARTBEATS == 0):
            await self.refresh_urls()

    async def _loop(self) -> None:
        delay = self.heartbeat_interval_s
        consecutive = 0
        while True:
            await asyncio.sleep(delay)
            try:
                await self.send_heartbeat()
                delay, consecutive = self.heartbeat_interval_s, 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep trying: the coordinator may be failing over
                self.failures += 1
                consecutive += 1
                delay = min(self.retry_backoff_s * 2 ** min(consecutive - 1, 10),
                            self.max_backoff_s, self.heartbeat_interval_s)
                log.warning("heartbeat failed (retry in %.1f s): %s", delay, exc)
