"""``create_app(view, ...) -> web.Application``: the REST API over a ``ClusterView``.

Usage (the agent)::

    app = create_app(view, api_token=token, cors_origins=("https://ui.example",),
                     alert_webhook=url)
    server = ApiServer(app, host="127.0.0.1", port=8888)   # api.server
    await server.start() ... await server.stop()

The app runs on every node: reads are answered from ``view``; writes reaching a
non-coordinator are forwarded to ``view.coordinator().api_url``; while this node is the
coordinator a background task calls ``view.check_heartbeats()`` every check interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from .alerts import AlertDispatcher
from .config import ApiConfig, LiveSettings
from .dashboard import add_dashboard_routes
from .docs import add_docs_routes
from .event_stream import EventFeed
from .forwarding import forward_to_coordinator
from .json_cache import NodeJsonCache
from .keys import (
    ALERTS,
    CLIENT,
    CONFIG,
    EVENTS,
    FORWARDER,
    JSON_CACHE,
    LIVE,
    OPENAPI,
    VIEW,
)
from .metrics import METRICS, ApiMetrics, metrics_middleware, serve_metrics
from .middleware import auth_middleware, envelope_middleware
from .openapi import (
    Call,
    OpenApiDocument,
    Operation,
    body_limit_text,
    parse_body,
    parse_query,
)
from .relay import WriteForwarder
from .routes import registry
from .sse import close_streams, feed_ctx
from .view import ClusterView

__all__ = ["build_openapi", "create_app", "reconfigure"]

log = logging.getLogger(__name__)

_DESCRIPTION = (
    "Membership and health of an OpenClaw cluster (claw-node). Any node answers reads "
    "from its gossip view; writes are forwarded to the coordinator (named in the "
    "X-Claw-Coordinator response header)."
)


_DOCS_PATHS: dict[str, Any] = {
    "/openapi.json": {"get": {
        "summary": "This document", "operationId": "openapi_json", "tags": ["docs"],
        "responses": {"200": {"description": "OpenAPI 3.1 document",
                              "content": {"application/json": {"schema": {"type": "object"}}}}}}},
    "/docs": {"get": {
        "summary": "Swagger UI (served offline)", "operationId": "swagger_ui", "tags": ["docs"],
        "responses": {"200": {"description": "HTML page (or how to install it)",
                              "content": {"text/html": {"schema": {"type": "string"}}}}}}},
    "/redoc": {"get": {
        "summary": "ReDoc (served offline)", "operationId": "redoc", "tags": ["docs"],
        "responses": {"200": {"description": "HTML page (or how to fetch it)",
                              "content": {"text/html": {"schema": {"type": "string"}}}}}}},
    "/": {"get": {
        "summary": "Dashboard: the cluster live (served offline; data from /api/v1/events)",
        "operationId": "dashboard", "tags": ["docs"],
        "responses": {"200": {"description": "HTML page",
                              "content": {"text/html": {"schema": {"type": "string"}}}}}}},
    "/metrics": {"get": {
        "summary": "Prometheus metrics (text exposition format); needs the API token when "
                   "one is set", "operationId": "metrics", "tags": ["system"],
        "responses": {"200": {"description": "Prometheus text format 0.0.4",
                              "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
}
"""The documentation pages themselves (their scripts and assets are not listed)."""


def build_openapi(config: ApiConfig, version: str = "0.1.0",
                  app: web.Application | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document served at ``/openapi.json``.

    Args:
        app: when given, routes mounted by the embedding process (the agent's leave) are
            listed only if ``app`` serves them.
    """
    served = (lambda method, path: True) if app is None else functools.partial(_serves, app)
    description = (f"{_DESCRIPTION} Request bodies are JSON objects of at most "
                   f"{body_limit_text(config.max_body_bytes)}; larger ones get 413. Unknown "
                   "query parameters get 422 naming them.")
    return registry.openapi(title=config.title, version=version, description=description,
                            bearer=bool(config.api_token), extra_paths=_DOCS_PATHS,
                            max_body_bytes=config.max_body_bytes, served=served)


def _serves(app: web.Application, method: str, path: str) -> bool:
    return any(route.method == method and route.resource is not None
               and route.resource.canonical == path for route in app.router.routes())


def _wrap(op: Operation) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    handler = op.handler
    assert handler is not None  # mount() skips external operations

    async def handle(request: web.Request) -> web.StreamResponse:
        if op.write and not await request.app[VIEW].is_coordinator():
            return await forward_to_coordinator(request)
        query = parse_query(op.query, request) if op.query is not None else None
        body = await parse_body(op, request) if op.body is not None else None
        return await handler(request, Call(body=body, query=query))

    handle.__name__ = op.operation_id
    return handle


async def _openapi_json(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI].body(), content_type="application/json")


async def _client_ctx(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as session:
        app[CLIENT] = session
        yield


async def _alerts_ctx(app: web.Application) -> AsyncIterator[None]:
    config, view = app[CONFIG], app[VIEW]
    dispatcher = AlertDispatcher(
        is_coordinator=view.is_coordinator, session=app[CLIENT],
        webhook_url=config.alert_webhook, hook=config.alert_hook,
        retries=config.alert_retries, backoff_s=config.alert_backoff_s,
        timeout_s=config.alert_timeout_s, queue_max=config.alert_queue_max)
    app[ALERTS] = dispatcher
    # Always listening (``notify`` returns at once while disabled): a reload may set a
    # webhook later (``reconfigure``).
    view.add_transition_listener(dispatcher.notify)
    if dispatcher.enabled:
        dispatcher.start()
    yield
    await dispatcher.stop()


async def _monitor_ctx(app: web.Application) -> AsyncIterator[None]:
    config, view = app[CONFIG], app[VIEW]
    if not config.run_monitor:
        yield
        return
    interval = config.check_interval_s or (await view.cluster_info()).check_interval_s

    async def loop() -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                if await view.is_coordinator():
                    await view.check_heartbeats()
            except asyncio.CancelledError:
                raise
            except Exception:  # keep monitoring; the next round may succeed
                log.exception("heartbeat check failed")

    task = asyncio.get_running_loop().create_task(loop(), name="heartbeat-monitor")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_app(view: ClusterView, config: ApiConfig | None = None, *,
               forwarder: WriteForwarder | None = None, **overrides: Any) -> web.Application:
    """Build the API application.

    Args:
        view: the cluster as this node sees it (``api.view.ClusterView``).
        forwarder: how a write that reaches this node while it is not the coordinator
            travels to the coordinator (``api.forwarding``); None: such writes get 503.
        config: settings; defaults to ``ApiConfig()``.
        **overrides: ``ApiConfig`` fields overriding ``config`` (e.g. ``api_token=...``,
            ``cors_origins=(...)``, ``alert_webhook=...``, ``alert_hook=...``,
            ``check_interval_s=...``, ``run_monitor=False``, ``clock=...``).

    Returns:
        An ``aiohttp.web.Application``; start it with ``api.server.ApiServer`` or
        aiohttp's runners. Its ``cleanup_ctx`` opens the outgoing ``ClientSession``
        (forwarding, webhook), the alert dispatcher and the heartbeat monitor.

    Raises:
        ValueError / TypeError: invalid config values.
    """
    cfg = dataclasses.replace(config or ApiConfig(), **overrides)
    app = web.Application(client_max_size=cfg.max_body_bytes,
                          middlewares=[metrics_middleware, envelope_middleware,
                                       auth_middleware])
    app[VIEW] = view
    app[CONFIG] = cfg
    if forwarder is not None:
        app[FORWARDER] = forwarder
    app[LIVE] = LiveSettings(api_token=cfg.api_token)
    # Built on first GET, after the agent mounted its own routes.
    app[OPENAPI] = OpenApiDocument(functools.partial(build_openapi, cfg, app=app))
    app[JSON_CACHE] = NodeJsonCache()
    app[EVENTS] = EventFeed()
    app[METRICS] = ApiMetrics()
    registry.mount(app, _wrap)
    app.router.add_get("/openapi.json", _openapi_json)
    app.router.add_get("/metrics", serve_metrics)
    add_dashboard_routes(app)
    add_docs_routes(app, cfg.title, redoc_bundle=cfg.redoc_dir)
    app.cleanup_ctx.extend([_client_ctx, _alerts_ctx, _monitor_ctx, feed_ctx])
    app.on_shutdown.append(close_streams)
    return app


def reconfigure(app: web.Application, *, api_token: str | None,
                alert_webhook: str | None) -> None:
    """Apply a reload's API token and alert webhook to a running app (from the next
    request, and the next transition, on).

    The OpenAPI document keeps saying whether a bearer token is needed as it was at its
    first build.
    """
    app[LIVE].api_token = api_token
    dispatcher = app.get(ALERTS)
    if dispatcher is not None:
        dispatcher.webhook_url = alert_webhook
        if dispatcher.enabled:
            dispatcher.start()
