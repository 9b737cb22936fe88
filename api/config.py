"""``ApiConfig``: every knob of the REST API, with its default and unit."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from .models import NodeTransition

__all__ = ["AlertHook", "ApiConfig", "LiveSettings"]

AlertHook = Callable[[NodeTransition], "Awaitable[None] | None"]
"""Python alert callback (sync or async); called on the coordinator once per transition."""


@dataclass(slots=True)
class LiveSettings:
    """The API settings a running app may change (``api.app.reconfigure``, called on an
    agent's reload); ``ApiConfig`` holds their values at start."""

    api_token: str | None = None
    """As ``ApiConfig.api_token``: read by the auth middleware on every request."""


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """REST API settings; ``node/`` fills them from its CLI/env (``--api-token`` …)."""

    api_token: str | None = None
    """When set, ``/api/v1/*`` requires ``Authorization: Bearer <token>`` (else 401);
    ``/health``, ``/openapi.json`` and the docs stay open. Forwarded writes carry the
    caller's header, so every node of a cluster must share the token."""
    cors_origins: tuple[str, ...] = ()
    """Origins (``scheme://host[:port]``) allowed to make cross-origin writes. GET/HEAD
    are allowed from any origin. A write carrying an ``Origin`` header that is neither
    listed nor this server's own origin is refused with 403 before it runs. ``"*"`` allows
    every origin (unsafe without a token)."""
    max_body_bytes: int = 64 * 1024
    """Largest accepted request body (bytes); larger → 413. A maximal registration is
    ~6 KiB."""
    forward_timeout_s: float = 15.0
    """Total time (seconds) a write relayed to the coordinator may take, the directives it
    sends to a member included (acknowledged or given up within ~8 s); then 503."""
    run_monitor: bool = True
    """Run the HTTP-heartbeat check every ``check_interval_s`` while this node is the
    coordinator (``view.check_heartbeats()``)."""
    check_interval_s: float | None = None
    """Seconds between checks; None → ``view.cluster_info().check_interval_s`` (30 s)."""
    alert_webhook: str | None = None
    """URL that receives a JSON POST (``NodeTransition``) per liveness transition, sent by
    the coordinator only."""
    alert_hook: AlertHook | None = None
    """Python callback per transition (coordinator only)."""
    alert_retries: int = 5
    """Webhook attempts per alert before it is dropped (count, ≥ 1)."""
    alert_backoff_s: float = 0.5
    """First retry delay (seconds); doubles per attempt, capped at 30 s."""
    alert_timeout_s: float = 5.0
    """Timeout of one webhook POST (seconds)."""
    alert_queue_max: int = 1000
    """Pending alerts kept at most; beyond it the oldest is dropped (and counted)."""
    clock: Callable[[], float] = time.time
    """Wall clock, Unix seconds, for ``seconds_since_heartbeat`` and timestamps (inject a
    fake one in tests)."""
    title: str = "claw-node API"
    """OpenAPI title."""
    redoc_dir: Path | None = None
    """Directory holding ReDoc's ``redoc.standalone.js``; None → ``api/_vendor/redoc``,
    where ``python -m api.redoc_assets`` puts it."""

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1024:
            raise ValueError("max_body_bytes must be >= 1024")
        if self.forward_timeout_s <= 0 or self.alert_timeout_s <= 0:
            raise ValueError("timeouts must be > 0")
        if self.alert_retries < 1 or self.alert_queue_max < 1:
            raise ValueError("alert_retries and alert_queue_max must be >= 1")
        if self.check_interval_s is not None and self.check_interval_s <= 0:
            raise ValueError("check_interval_s must be > 0")
