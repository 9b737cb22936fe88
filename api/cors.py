"""Which origins may read and write: the CORS policy of the API's answers.

GETs and HEADs are readable from any origin (the dashboard of one node follows another
node's event stream); writes only from ``ApiConfig.cors_origins`` or the API's own
origin (``api.middleware`` refuses the others before they run).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from aiohttp import web

from .keys import CONFIG

__all__ = ["SAFE_METHODS", "cors_headers", "write_origin_allowed"]

SAFE_METHODS = frozenset({"GET", "HEAD"})


def _is_own_origin(request: web.Request, origin: str) -> bool:
    """The page was served by this API (e.g. Swagger UI's "Try it out").

    Only when the Host is an IP literal or ``localhost``: with DNS rebinding, a hostile
    page at ``http://evil.example:8888`` re-pointed to 127.0.0.1 sends Origin and Host
    both ``evil.example:8888``, and must not count as same-origin.
    """
    if origin != f"{request.scheme}://{request.host}":
        return False
    host = urlsplit(origin).hostname or ""
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def write_origin_allowed(request: web.Request, origin: str) -> bool:
    """Whether `origin` may send writes (listed, "*", or the API's own origin)."""
    allowed = request.app[CONFIG].cors_origins
    return origin in allowed or "*" in allowed or _is_own_origin(request, origin)


def cors_headers(request: web.Request) -> dict[str, str]:
    """The CORS headers of an answer to ``request`` (none without ``Origin``). A handler
    that streams (prepares its response itself) must add them before it starts."""
    origin = request.headers.get("Origin")
    if origin is None:
        return {}
    if write_origin_allowed(request, origin):
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    if request.method in SAFE_METHODS:
        return {"Access-Control-Allow-Origin": "*"}
    return {}
