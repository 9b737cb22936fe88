"""Cross-cutting HTTP behaviour: JSON errors, CORS, the coordinator header, bearer auth.

Forwarding writes to the coordinator is ``api.forwarding``."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from .cors import SAFE_METHODS, cors_headers, write_origin_allowed
from .errors import ApiError, Forbidden, Unauthorized
from .keys import CONFIG, LIVE, VIEW
from .models import ErrorOut
from .openapi import body_limit_text
from .routes import registry

__all__ = [
    "COORDINATOR_HEADER",
    "COORDINATOR_URL_HEADER",
    "auth_middleware",
    "envelope_middleware",
    "error_response",
]

log = logging.getLogger(__name__)

COORDINATOR_HEADER = "X-Claw-Coordinator"
"""Every response names the coordinator's node id (absent while none is known)."""
COORDINATOR_URL_HEADER = "X-Claw-Coordinator-Url"
"""...and its API base URL, when known."""

_CORS_ALLOW_HEADERS = "Authorization, Content-Type, Last-Event-ID"
"""Last-Event-ID: a dashboard that moved to another node's event stream resumes it."""
_CORS_MAX_AGE_S = "600"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(status: int, message: str, details: list[dict[str, str]] | None = None,
                   headers: dict[str, str] | None = None, applied: str | None = None
                   ) -> web.Response:
    body = ErrorOut(error=message, details=details or [], applied=applied)
    return web.Response(text=body.model_dump_json(exclude_none=True), status=status,
                        content_type="application/json", headers=headers)


def _preflight(request: web.Request, origin: str) -> web.Response:
    wanted = request.headers.get("Access-Control-Request-Method", "").upper()
    if write_origin_allowed(request, origin):
        return web.Response(status=204, headers={
            "Access-Control-Allow-Origin": origin, "Vary": "Origin",
            "Access-Control-Allow-Methods": "GET, HEAD, POST, OPTIONS",
            "Access-Control-Allow-Headers": _CORS_ALLOW_HEADERS,
            "Access-Control-Max-Age": _CORS_MAX_AGE_S})
    if wanted in SAFE_METHODS:
        return web.Response(status=204, headers={
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
            "Access-Control-Allow-Headers": _CORS_ALLOW_HEADERS,
            "Access-Control-Max-Age": _CORS_MAX_AGE_S})
    return error_response(403, f"origin {origin!r} may not send {wanted or 'this'} requests "
                               "(not in cors_origins)",
                          [{"field": "header.Origin", "message": "origin not allowed",
                            "type": "cors"}])


@web.middleware
async def envelope_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: CORS (preflight, refusing cross-origin writes before they run), every
    error as ``ErrorOut`` JSON, and the coordinator headers on every response."""
    origin = request.headers.get("Origin")
    if (origin is not None and request.method == "OPTIONS"
            and "Access-Control-Request-Method" in request.headers):
        resp: web.StreamResponse = _preflight(request, origin)
    else:
        try:
            if (origin is not None and request.method not in SAFE_METHODS
                    and not write_origin_allowed(request, origin)):
                # CORS alone would only hide the answer from the page; the write would
                # still run. Refuse it here.
                raise Forbidden(f"Origin: cross-origin {request.method} from {origin!r} is "
                                "not allowed (add it to cors_origins)",
                                [{"field": "header.Origin", "message": "origin not allowed",
                                  "type": "cors"}])
            resp = await handler(request)
        except ApiError as exc:
            headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
            resp = error_response(exc.status, exc.message, exc.details, headers, exc.applied)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
            if exc.status == 405:
                # /nodes/register also matches GET /nodes/{node_id}; advertise only the
                # methods declared for the fixed path.
                declared = [op.method for op in registry.operations if op.path == request.path]
                if declared:
                    headers = {"Allow": ",".join(sorted(set(declared)))}
            field = "body" if exc.status == 413 else "path"
            message = exc.reason
            if exc.status == 413:
                limit = body_limit_text(request.app[CONFIG].max_body_bytes)
                message = f"larger than the {limit} limit"
            resp = error_response(exc.status, f"{field}: {message}",
                                  [{"field": field, "message": message,
                                    "type": f"http_{exc.status}"}], headers)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.path)
            resp = error_response(500, "internal error")
        if not resp.prepared:  # a stream sent its headers itself (cors_headers)
            resp.headers.update(cors_headers(request))
    try:
        coordinator = await request.app[VIEW].coordinator()
    except Exception:
        coordinator = None
    if coordinator is not None:
        resp.headers[COORDINATOR_HEADER] = coordinator.node_id
        if coordinator.api_url:
            resp.headers[COORDINATOR_URL_HEADER] = coordinator.api_url
    return resp


_GUARDED = frozenset({"/api/v1", "/metrics"})
"""Paths outside ``/api/v1/`` that need the token too (metrics tell who is in the cluster
and how it is doing)."""


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bearer token on ``/api/v1/*`` and ``/metrics`` when ``api_token`` is set."""
    token = request.app[LIVE].api_token
    if token and (request.path.startswith("/api/v1/") or request.path in _GUARDED):
        got = request.headers.get("Authorization", "")
        scheme, _, value = got.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                value.strip().encode(), token.encode()):
            raise Unauthorized("Authorization: missing or wrong bearer token",
                               [{"field": "header.Authorization",
                                 "message": "expected 'Bearer <api token>'", "type": "auth"}])
    return await handler(request)
