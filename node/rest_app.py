"""The agent's REST app: ``api.app.create_app`` over a gossip view of the agent
(``node.view``), with what only a running agent adds: its own routes (leave, reload), the
cluster key and user event controls, and the live observers (event stream, metrics).

Imported when the REST stack loads (``node.lazy_api``), so an idle member never
imports it, nor aiohttp.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from api.app import create_app, reconfigure
from api.keys import KEY_CONTROL, USER_EVENT_CONTROL

from .api_observers import attach_observers
from .config import NodeConfig
from .key_api import ClusterKeyControl
from .reload import http_answer
from .user_event_api import ClusterUserEventControl
from .view import GossipClusterView

if TYPE_CHECKING:
    from .agent import Agent

__all__ = ["build_app", "reconfigure_app"]


def build_app(agent: Agent, *, wall_clock: Callable[[], float]
              ) -> tuple[web.Application, GossipClusterView]:
    """The REST app of ``agent`` and the new view it serves (which the agent keeps
    informed of membership changes from now on)."""
    config = agent.config
    view = GossipClusterView(agent, agent.registry, clock=wall_clock)
    for member in agent.members():  # what happened before the view existed
        view.observe_member(member, "joined")
    app = create_app(
        view, forwarder=agent.channel.forward_write,
        api_token=config.api_token, cors_origins=tuple(config.cors_origins),
        alert_webhook=config.alert_webhook, check_interval_s=config.check_interval)

    async def leave(request: web.Request) -> web.Response:
        """``POST /api/v1/agent/leave``: this node leaves gracefully, then the process
        exits. Local to this node (never forwarded)."""
        agent.leave_soon()
        return web.json_response({"success": True, "node_id": agent.node_id,
                                  "message": "leaving the cluster"}, status=202)

    async def reload(request: web.Request) -> web.Response:
        """``POST /api/v1/agent/reload``: this node re-reads its settings
        (``node.reload``). Local to this node (never forwarded)."""
        return http_answer(agent.node_id, agent.reload())

    app.router.add_post("/api/v1/agent/leave", leave)
    app[KEY_CONTROL] = ClusterKeyControl(agent.cluster_keys)
    app[USER_EVENT_CONTROL] = ClusterUserEventControl(agent.user_events)
    app.router.add_post("/api/v1/agent/reload", reload)
    attach_observers(app, agent)
    return app, view


def reconfigure_app(app: web.Application, config: NodeConfig) -> None:
    """Apply a reloaded ``config``'s API token and alert webhook to a running app."""
    reconfigure(app, api_token=config.api_token, alert_webhook=config.alert_webhook)
