"""``ApiServer``: start/stop the API without blocking (aiohttp ``AppRunner`` + ``TCPSite``),
plus the bind-safety check the agent runs before starting it."""

from __future__ import annotations

import ipaddress
import socket

from aiohttp import web

__all__ = ["ApiServer", "InsecureBindError", "check_bind_safety", "is_loopback_host"]


class InsecureBindError(ValueError):
    """The API would listen beyond loopback with no token and no explicit opt-in."""


def is_loopback_host(host: str) -> bool:
    """True if ``host`` (an IP or name) only ever resolves to loopback addresses.
    ``""``/``0.0.0.0``/``::`` (all interfaces) are not loopback."""
    if host in ("", "0.0.0.0", "::"):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def check_bind_safety(host: str, api_token: str | None, insecure: bool = False) -> None:
    """Refuse to serve an unauthenticated API beyond loopback.

    Args:
        host: the API bind address.
        api_token: the configured token (None/"" = none).
        insecure: ``--insecure-api`` was given.

    Raises:
        InsecureBindError: ``host`` is not loopback, there is no token, and not
            ``insecure``; the message says how to fix it.
    """
    if api_token or insecure or is_loopback_host(host):
        return
    raise InsecureBindError(
        f"refusing to serve the API on {host!r} without a token: anyone who can reach it "
        "could register or shut down nodes. Set --api-token / CLAW_API_TOKEN, bind to "
        "127.0.0.1, or pass --insecure-api.")


class ApiServer:
    """Runs one ``web.Application`` on ``host:port`` (port 0 → a free port)."""

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 8888,
                 *, shutdown_timeout_s: float = 5.0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.shutdown_timeout_s = shutdown_timeout_s
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Base URL (``http://host:port``) once started."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Bind and serve; ``self.port`` holds the bound port afterwards.

        Raises:
            OSError: the address is in use / not available.
        """
        runner = web.AppRunner(self.app, access_log=None,
                               shutdown_timeout=self.shutdown_timeout_s)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        server = site._server  # aiohttp exposes no public accessor for the bound port
        sockets = getattr(server, "sockets", None)
        if sockets:
            self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop serving and run the app's cleanup (idempotent)."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
