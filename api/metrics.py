"""``GET /metrics``: Prometheus text format, from ``prometheus-client``.

The API measures itself (request latency by route and status, open event streams, the
coordinator term as this node sees it); the embedding process adds its own collectors to
``ApiMetrics.registry`` (the agent's: ``node.metrics``). This module is imported with the
REST stack only, so an idle member that never loads its API never imports
``prometheus_client`` either.

Scraping: ``/metrics`` is served on the API address (``--api-bind``) and, when an API
token is set, needs it like ``/api/v1/*`` (Prometheus: ``authorization: {type: Bearer,
credentials_file: ...}`` in the scrape config). To scrape from another machine, bind the
API beyond loopback with a token (see the README's "Metrics and the dashboard").
"""

from __future__ import annotations

import time

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest

from .keys import EVENTS, VIEW

__all__ = ["API_LATENCY_BUCKETS_S", "METRICS", "STREAM_ROUTES", "ApiMetrics",
           "metrics_middleware", "serve_metrics"]

API_LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                         1.0, 2.5, 5.0)
"""Upper bounds, seconds, of the request latency buckets (a forwarded write may take up
to ``forward_timeout_s``, 5 s)."""
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""Prometheus' classic text format (every Prometheus version reads it)."""
STREAM_ROUTES = frozenset({"/api/v1/events"})
"""Routes whose answers last as long as the client listens: not timed (a stream of an
hour is not a slow request); ``claw_api_event_streams`` counts them instead."""


class ApiMetrics:
    """One app's Prometheus registry and the API's own metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        """What ``/metrics`` exposes; the embedding process registers its collectors here."""
        self.request_seconds = Histogram(
            "claw_api_request_duration_seconds",
            "API requests answered by this node, by route template, method and status",
            ["route", "method", "status"], buckets=API_LATENCY_BUCKETS_S,
            registry=self.registry)
        self.coordinator_term = Gauge(
            "claw_coordinator_term", "Election term of the coordinator this node follows "
            "(0: none known)", registry=self.registry)
        self.event_streams = Gauge(
            "claw_api_event_streams", "Event streams (GET /api/v1/events) open on this node",
            registry=self.registry)


METRICS = web.AppKey("metrics", ApiMetrics)
"""The app's ``ApiMetrics`` (kept here, not in ``api.keys``: only this module and the
app factory need it, and ``api.keys`` stays free of ``prometheus_client``)."""


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: times every answer (errors included) by route template, not by path, so
    node ids do not become label values."""
    start = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = _route(request)
        if route not in STREAM_ROUTES:
            request.app[METRICS].request_seconds.labels(
                route, request.method, str(status)).observe(time.perf_counter() - start)


async def serve_metrics(request: web.Request) -> web.Response:
    """``GET /metrics``: every registered metric, in Prometheus' text format."""
    metrics = request.app[METRICS]
    coordinator = await request.app[VIEW].coordinator()
    metrics.coordinator_term.set(coordinator.term if coordinator is not None else 0)
    metrics.event_streams.set(request.app[EVENTS].clients)
    body = generate_latest(metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
