"""``ApiServer``: start/stop the API without blocking (aiohttp ``AppRunner`` + ``TCPSite``),
plus the bind-safety check the agent runs before starting it.

aiohttp is imported when a server starts, so the agent can run ``check_bind_safety`` and
bind its API socket (``bind_api_socket``) before paying for aiohttp."""

from __future__ import annotations

import ipaddress
import socket
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["MAX_REQUEST_LINE_BYTES", "ApiServer", "InsecureBindError", "bind_api_socket", "check_bind_safety",
           "is_loopback_host"]


MAX_REQUEST_LINE_BYTES = 128 * 1024
"""Longest request line served (bytes). The longest valid ``GET /api/v1/nodes`` query (64
skills and 32 tags of 64 characters, percent-encoded UTF-8 at up to 12 bytes per
character, plus ``near``, ``platform``, ...) is about 75 KiB; with aiohttp's default of
8190 bytes a valid query got a bare, undocumented 400."""


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


def bind_api_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 → a free port), as aiohttp's
    ``TCPSite`` would open it (``SO_REUSEADDR`` on POSIX, dual-stack off for ``::``).
    Connections made before the server starts wait in the backlog.

    Raises:
        OSError: the address is in use / not available / cannot be resolved.
    """
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                               flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        if hasattr(socket, "SO_REUSEADDR") and sys.platform != "win32":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class ApiServer:
    """Runs one ``web.Application`` on ``host:port`` (port 0 → a free port), or on an
    already listening ``sock`` (from ``bind_api_socket``; the server then owns it)."""

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 8888,
                 *, shutdown_timeout_s: float = 5.0, sock: socket.socket | None = None
                 ) -> None:
        self.app = app
        self.host = host
        self.port = int(sock.getsockname()[1]) if sock is not None else port
        self.shutdown_timeout_s = shutdown_timeout_s
        self._sock = sock
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
        from aiohttp import web

        runner = web.AppRunner(self.app, access_log=None,
                               shutdown_timeout=self.shutdown_timeout_s,
                               max_line_size=MAX_REQUEST_LINE_BYTES)
        await runner.setup()
        site: web.BaseSite
        if self._sock is not None:
            site = web.SockSite(runner, self._sock)
        else:
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
