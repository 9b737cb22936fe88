"""claw-node's REST API (aiohttp): the seed document's endpoints over a ``ClusterView``.

``node/`` implements ``ClusterView`` over gossip and calls ``create_app(view, ...)``;
``MemoryClusterView`` is the single-node in-memory implementation.
"""

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
from .server import ApiServer, InsecureBindError, check_bind_safety, is_loopback_host
from .view import CheckResult, ClusterView, RegisterResult

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
