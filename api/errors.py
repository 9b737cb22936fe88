"""Domain errors a ``ClusterView`` (or a handler) raises; the app maps each to an HTTP
status and an ``ErrorOut`` body. Raise these, never ``web.HTTPException``, from a view."""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiError",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "Unauthorized",
    "Unavailable",
    "ValidationFailed",
    "WriteUnconfirmed",
]


class ApiError(Exception):
    """Base: an HTTP ``status``, a human-readable ``message`` naming the field, ``details``."""

    status = 500
    applied: str | None = None
    """Set when the outcome of a write is not known (``ErrorOut.applied``)."""

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class BadRequest(ApiError):
    """400: the body is not JSON / not an object."""

    status = 400


class Unauthorized(ApiError):
    """401: missing or wrong bearer token."""

    status = 401


class Forbidden(ApiError):
    """403: cross-origin write from an origin not in ``cors_origins``."""

    status = 403


class NotFound(ApiError):
    """404: unknown node id (or route)."""

    status = 404


class Conflict(ApiError):
    """409: the request contradicts existing state, e.g. registering over the id of a
    gossip member."""

    status = 409


class PayloadTooLarge(ApiError):
    """413: body larger than ``max_body_bytes``."""

    status = 413


class ValidationFailed(ApiError):
    """422: well-formed JSON that breaks the model's rules (``details`` name each field)."""

    status = 422


class Unavailable(ApiError):
    """503: no reachable coordinator for a write, or the registry is full."""

    status = 503


class WriteUnconfirmed(Unavailable):
    """503 with ``applied: unknown``: the coordinator made the write but too few members
    confirmed holding it in time (``node.write_replicas``). It may be in effect or not;
    every write is idempotent, so the client retries it."""

    applied = "unknown"
