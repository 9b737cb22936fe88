"""Typed ``AppKey``s: the only way state is shared inside the aiohttp app."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from .config import ApiConfig
from .view import ClusterView

if TYPE_CHECKING:
    from .alerts import AlertDispatcher

__all__ = ["VIEW", "CONFIG", "CLIENT", "ALERTS", "OPENAPI"]

VIEW = web.AppKey("view", ClusterView)
CONFIG = web.AppKey("config", ApiConfig)
CLIENT = web.AppKey("client", aiohttp.ClientSession)
"""Outgoing HTTP (forwarding, webhooks); created in cleanup_ctx."""
ALERTS = web.AppKey("alerts", "AlertDispatcher")
OPENAPI = web.AppKey("openapi", dict)
