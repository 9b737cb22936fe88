"""Wires the agent into its REST app's live views once the REST stack loads: the event
bus feeds ``GET /api/v1/events`` (``api.event_stream``), and the agent's metrics join
``GET /metrics`` (``node.metrics``).

Imported by ``node.rest_app`` only, so an idle member never imports it (nor
``prometheus_client``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from api.keys import EVENTS
from api.metrics import METRICS

from .events import ClusterEvent, EventBus
from .metrics import AgentCollector

if TYPE_CHECKING:
    from .agent import Agent

__all__ = ["attach_observers", "stream_kind"]


def stream_kind(event: ClusterEvent) -> str:
    """The stream's name for a bus event: ``member failed`` → ``member_failed``
    (``api.event_stream.CLUSTER_KINDS``)."""
    return event.kind.value.replace(" ", "_")


def _forward(bus: EventBus, app: web.Application) -> None:
    feed = app[EVENTS]

    def publish(event: ClusterEvent) -> None:
        feed.publish(stream_kind(event), event.node, {
            "address": event.address, "time": event.time, "details": dict(event.details)})

    bus.add_listener(publish)


def attach_observers(app: web.Application, agent: Agent) -> None:
    """Publish the agent's cluster events on ``app``'s event stream and add its metrics to
    ``app``'s ``/metrics``."""
    _forward(agent.events, app)
    app[METRICS].registry.register(AgentCollector(
        transport=lambda: agent.transport, members=agent.members,
        events_published=lambda: agent.events.published))
