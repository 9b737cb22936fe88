"""Reloading the agent's settings while it runs, without leaving the cluster.

On SIGHUP or ``claw-node reload`` (``POST /api/v1/agent/reload``) the agent reads its
settings again, from the same sources and with the same precedence as at start (the
command-line flags it was started with, ``CLAW_*`` variables, the ``--config`` file),
and applies the ones listed in ``RELOADABLE``. Every other changed setting is named in
one WARNING line and keeps its running value until a restart. A new configuration that
is invalid (a bad value, a file that does not parse, skills and tags too long for the
gossip metadata) changes nothing: the reload is refused with the reason.

``plan_reload`` is the pure part (old and new settings → what to apply, what needs a
restart); ``Reloader`` reads, plans, applies through the agent's callbacks and tells a
service manager (``sd_notify``: RELOADING=1, then READY=1).
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import sd_notify
from .config import NodeConfig, NodeConfigError
from .logs import configure_logging

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["RELOADABLE", "ReloadError", "ReloadOutcome", "ReloadPlan", "Reloader",
           "describe", "http_answer", "https_ready_in_process", "plan_reload"]

log = logging.getLogger(__name__)

RELOADABLE: tuple[str, ...] = (
    "log_level", "log_format", "skills", "tags", "max_concurrent_tasks", "maintenance",
    "api_token", "alert_webhook", "gossip_verify_incoming", "gossip_verify_outgoing",
)
"""The settings a reload applies to the running agent; the others need a restart."""

LABELS = ("skills", "tags", "max_concurrent_tasks")
"""Settings carried in the node's gossip metadata (a change is re-announced)."""


class ReloadError(ValueError):
    """The new settings cannot be used; nothing was changed. The message says why."""


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    """What a reload does, decided from the running and the newly read settings."""

    config: NodeConfig
    """The settings to run with: the new values of ``applied``, the running values of
    everything else."""
    applied: tuple[str, ...]
    """Changed settings that take effect now (a subset of ``RELOADABLE``)."""
    restart_needed: tuple[str, ...]
    """Changed settings that keep their running value until a restart."""


def plan_reload(running: NodeConfig, loaded: NodeConfig, *,
                https_ready: bool = True) -> ReloadPlan:
    """Compare ``running`` with ``loaded`` and split the changes.

    Args:
        running: the settings the agent runs with.
        loaded: the settings just read.
        https_ready: whether this process can make HTTPS requests now; when not, a new
            https ``alert_webhook`` waits for a restart (``node.lazy_api`` imports the
            HTTP client without TLS when no setting needed it).
    Raises:
        ReloadError: the combination of new and running values is invalid.
    """
    changed = [f.name for f in dataclasses.fields(NodeConfig)
               if getattr(running, f.name) != getattr(loaded, f.name)]
    applied = [name for name in changed if name in RELOADABLE]
    if "alert_webhook" in applied and loaded.needs_tls and not https_ready:
        applied.remove("alert_webhook")
    restart = [name for name in changed if name not in applied]
    try:
        config = dataclasses.replace(running, **{name: getattr(loaded, name) for name in applied})
    except NodeConfigError as exc:  # e.g. a removed token on a public --api-bind
        raise ReloadError(str(loaded.renamed(exc))) from None
    object.__setattr__(config, "_origins", getattr(loaded, "_origins", {}))
    return ReloadPlan(config=config, applied=tuple(applied), restart_needed=tuple(restart))


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    """What one reload did (for the log, the HTTP answer and tests)."""

    ok: bool
    message: str
    applied: tuple[str, ...] = ()
    restart_needed: tuple[str, ...] = ()


def _flags(names: tuple[str, ...]) -> str:
    return ", ".join("--" + name.replace("_", "-") for name in names)


class Reloader:
    """Reads the settings again and applies them through the agent's callbacks.

    Args:
        load: reads the settings from their sources (raises ``NodeConfigError``).
        running: the settings the agent runs with now.
        relabel: re-announces skills, tags and task slots from a config; raises
            ``NodeConfigError`` (before changing anything) when they do not fit.
        set_maintenance: enters or leaves maintenance.
        reconfigure_api: applies the new API token and alert webhook.
        set_gossip_verify: applies ``gossip_verify_incoming`` and ``_outgoing`` to the
            running gossip (a migration to encryption moves a step without a restart).
        adopt: makes a config the agent's running one.
        https_ready: whether HTTPS requests work in this process now.
    """

    def __init__(self, *, load: Callable[[], NodeConfig], running: Callable[[], NodeConfig],
                 relabel: Callable[[NodeConfig], None], set_maintenance: Callable[[bool], None],
                 reconfigure_api: Callable[[NodeConfig], None],
                 set_gossip_verify: Callable[[bool, bool], None],
                 adopt: Callable[[NodeConfig], None],
                 https_ready: Callable[[], bool]) -> None:
        self._load = load
        self._running = running
        self._relabel = relabel
        self._set_maintenance = set_maintenance
        self._reconfigure_api = reconfigure_api
        self._set_gossip_verify = set_gossip_verify
        self._adopt = adopt
        self._https_ready = https_ready

    def reload(self) -> ReloadOutcome:
        """Read, check and apply the settings; never raises for a bad configuration."""
        sd_notify.notify_reloading()
        try:
            outcome = self._reload()
        finally:
            sd_notify.notify_ready("reloaded")
        return outcome

    def _reload(self) -> ReloadOutcome:
        running = self._running()
        try:
            loaded = self._load()
            plan = plan_reload(running, loaded, https_ready=self._https_ready())
            if any(name in plan.applied for name in LABELS):
                self._relabel(plan.config)
        except (NodeConfigError, ReloadError) as exc:
            message = f"reload refused, the running settings stay: {exc}"
            log.error("%s", message)
            return ReloadOutcome(ok=False, message=message)
        new = plan.config
        if "maintenance" in plan.applied:
            self._set_maintenance(new.maintenance)
        if "log_level" in plan.applied or "log_format" in plan.applied:
            configure_logging(new.log_level, new.log_format)
        if "api_token" in plan.applied or "alert_webhook" in plan.applied:
            self._reconfigure_api(new)
        if "gossip_verify_incoming" in plan.applied or "gossip_verify_outgoing" in plan.applied:
            self._set_gossip_verify(new.gossip_verify_incoming, new.gossip_verify_outgoing)
        self._adopt(new)
        log.debug("reload: running with %s", describe(new))
        if plan.restart_needed:
            log.warning("reload: these settings change only at a restart and keep their "
                        "running values: %s", _flags(plan.restart_needed))
        message = (f"reloaded: {_flags(plan.applied)} applied" if plan.applied
                   else "reloaded: no setting changed")
        log.info("%s", message)
        return ReloadOutcome(ok=True, message=message, applied=plan.applied,
                             restart_needed=plan.restart_needed)


def describe(config: NodeConfig) -> str:
    """The reloadable settings of ``config`` in words (the API token only as set or not)."""
    return (f"log level {config.log_level}, log format {config.log_format}, skills "
            f"{','.join(config.skills) or '-'}, tags {','.join(config.tags) or '-'}, "
            f"max concurrent tasks {config.max_concurrent_tasks}, maintenance "
            f"{'on' if config.maintenance else 'off'}, API token "
            f"{'set' if config.api_token else 'none'}, alert webhook "
            f"{config.alert_webhook or 'none'}, gossip verify incoming "
            f"{'on' if config.gossip_verify_incoming else 'off'}, outgoing "
            f"{'on' if config.gossip_verify_outgoing else 'off'}")


def https_ready_in_process(tls_planned: bool) -> bool:
    """Whether an https webhook would work: aiohttp is imported with TLS, or will be
    (``tls_planned``: the REST stack is not imported yet and will be with TLS)."""
    connector = sys.modules.get("aiohttp.connector")
    if connector is None:
        return tls_planned
    return getattr(connector, "ssl", None) is not None


def http_answer(node_id: str, outcome: ReloadOutcome) -> web.Response:
    """``POST /api/v1/agent/reload``'s answer: 200 with what changed, or 422 naming the
    reason the new settings were refused."""
    from aiohttp import web

    if not outcome.ok:
        body: dict[str, Any] = {
            "success": False, "error": outcome.message,
            "details": [{"field": "config", "message": outcome.message, "type": "reload"}]}
        return web.json_response(body, status=422)
    return web.json_response({
        "success": True, "node_id": node_id, "message": outcome.message,
        "applied": list(outcome.applied), "restart_needed": list(outcome.restart_needed)})
