"""Typed ``AppKey``s: the only way state is shared inside the aiohttp app."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from .alerts import AlertDispatcher
from .config import ApiConfig, LiveSettings
from .event_stream import EventFeed
from .json_cache import NodeJsonCache
from .key_control import KeyControl
from .openapi import OpenApiDocument
from .user_events import UserEventControl
from .view import ClusterView

if TYPE_CHECKING:
    from .relay import WriteForwarder

__all__ = ["ALERTS", "CLIENT", "CONFIG", "EVENTS", "FORWARDER", "JSON_CACHE", "KEY_CONTROL",
           "LIVE", "OPENAPI", "USER_EVENT_CONTROL", "VIEW"]

VIEW = web.AppKey("view", ClusterView)
CONFIG = web.AppKey("config", ApiConfig)
LIVE = web.AppKey("live", LiveSettings)
"""Settings a reload changes while the app runs (the API token)."""
CLIENT = web.AppKey("client", aiohttp.ClientSession)
"""Outgoing HTTP (forwarding, webhooks); created in cleanup_ctx."""
ALERTS = web.AppKey("alerts", AlertDispatcher)
OPENAPI = web.AppKey("openapi", OpenApiDocument)
"""Built on the first GET /openapi.json."""
JSON_CACHE = web.AppKey("json_cache", NodeJsonCache)
"""Per-app cache of NodeInfo JSON (list responses)."""
EVENTS = web.AppKey("events", EventFeed)
"""What ``GET /api/v1/events`` streams; the embedding process publishes cluster events."""
FORWARDER: web.AppKey[WriteForwarder] = web.AppKey("forwarder")
"""How this node relays writes to the coordinator (``create_app(forwarder=...)``); absent:
a non-coordinator answers writes with 503."""
KEY_CONTROL = web.AppKey("key_control", KeyControl)
USER_EVENT_CONTROL = web.AppKey("user_event_control", UserEventControl)
"""Cluster-wide gossip key management; set by the agent (absent: the key routes answer 503)."""
