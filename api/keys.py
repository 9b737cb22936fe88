"""Typed ``AppKey``s: the only way state is shared inside the aiohttp app."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from .alerts import AlertDispatcher
from .config import ApiConfig
from .view import ClusterView

__all__ = ["ALERTS", "CLIENT", "CONFIG", "OPENAPI", "VIEW"]

VIEW = web.AppKey("view", ClusterView)
CONFIG = web.AppKey("config", ApiConfig)
CLIENT = web.AppKey("client", aiohttp.ClientSession)
"""Outgoing HTTP (forwarding, webhooks); created in cleanup_ctx."""
ALERTS = web.AppKey("alerts", AlertDispatcher)
OPENAPI = web.AppKey("openapi", dict)
