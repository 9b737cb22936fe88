"""claw-node's REST API (aiohttp): the seed document's endpoints over a ``ClusterView``.

``node/`` implements ``ClusterView`` over gossip and calls ``create_app(view, ...)``;
``MemoryClusterView`` is the single-node in-memory implementation.

The names below are imported on first access (PEP 562), so ``import api.app`` does not
also load the HTTP client (psutil, platform probing) or the in-memory view.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import build_openapi, create_app
    from .client import HeartbeatClient, HeartbeatClientError
    from .config import ApiConfig
    from .errors import ApiError, Conflict, NotFound, Unavailable
    from .memory_view import MemoryClusterView
    from .models import (
        ClusterInfo,
        CoordinatorInfo,
        HeartbeatIn,
        NodeInfo,
        NodeStatus,
        NodeTransition,
        RegisterIn,
        StatusChange,
    )
    from .registry import HttpNodeRecord, HttpNodeRegistry
    from .server import (
        ApiServer,
        InsecureBindError,
        check_bind_safety,
        is_loopback_host,
    )
    from .view import CheckResult, ClusterView, RegisterResult

_HOME = {
    "ApiConfig": "config",
    "ApiError": "errors",
    "ApiServer": "server",
    "CheckResult": "view",
    "ClusterInfo": "models",
    "ClusterView": "view",
    "Conflict": "errors",
    "CoordinatorInfo": "models",
    "HeartbeatClient": "client",
    "HeartbeatClientError": "client",
    "HeartbeatIn": "models",
    "HttpNodeRecord": "registry",
    "HttpNodeRegistry": "registry",
    "InsecureBindError": "server",
    "MemoryClusterView": "memory_view",
    "NodeInfo": "models",
    "NodeStatus": "models",
    "NodeTransition": "models",
    "NotFound": "errors",
    "RegisterIn": "models",
    "RegisterResult": "view",
    "StatusChange": "models",
    "Unavailable": "errors",
    "build_openapi": "app",
    "check_bind_safety": "server",
    "create_app": "app",
    "is_loopback_host": "server",
}
"""Public name → the submodule defining it."""

__all__ = [
    "ApiConfig",
    "ApiError",
    "ApiServer",
    "CheckResult",
    "ClusterInfo",
    "ClusterView",
    "Conflict",
    "CoordinatorInfo",
    "HeartbeatClient",
    "HeartbeatClientError",
    "HeartbeatIn",
    "HttpNodeRecord",
    "HttpNodeRegistry",
    "InsecureBindError",
    "MemoryClusterView",
    "NodeInfo",
    "NodeStatus",
    "NodeTransition",
    "NotFound",
    "RegisterIn",
    "RegisterResult",
    "StatusChange",
    "Unavailable",
    "build_openapi",
    "check_bind_safety",
    "create_app",
    "is_loopback_host",
]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
