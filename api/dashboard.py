"""The dashboard at ``/``: one hand-written page (``api/static/``: HTML, CSS, JS; no build
step, no CDN, no third-party code) that every node serves and that draws the cluster
live from ``GET /api/v1/events``.

The page itself is public like ``/docs``; its data comes from ``/api/v1/events``, which
needs the API token when one is set (the page asks for it and keeps it in the tab's
session storage). When the page's node stops answering, it lists the other nodes'
dashboards and follows the first of their event streams that answers: GETs are allowed
from any origin (``api.middleware``), so this works wherever those APIs are reachable
from the browser and share the token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

__all__ = ["STATIC_DIR", "add_dashboard_routes"]

STATIC_DIR = Path(__file__).parent / "static"
"""The page's files, shipped in the package."""

_FILES = {"style.css": "text/css", "app.js": "text/javascript"}
_NO_CACHE = {"Cache-Control": "no-cache"}


def add_dashboard_routes(app: web.Application) -> None:
    """``GET /`` (the page), ``/dashboard/style.css`` and ``/dashboard/app.js``."""
    page = (STATIC_DIR / "index.html").read_bytes()
    assets = {name: (STATIC_DIR / name).read_bytes() for name in _FILES}

    async def dashboard(request: web.Request) -> web.Response:
        return web.Response(body=page, content_type="text/html", charset="utf-8",
                            headers=_NO_CACHE)

    def asset(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def serve(request: web.Request) -> web.Response:
            return web.Response(body=assets[name], content_type=_FILES[name],
                                charset="utf-8", headers=_NO_CACHE)
        return serve

    app.router.add_get("/", dashboard)
    for name in _FILES:
        app.router.add_get(f"/dashboard/{name}", asset(name))
