"""``AgentEvents``: where the agent sends each gossip event and each cluster event.

A base class of ``node.agent.Agent``. The transport hands every gossip event to
``_on_event``, which passes it to the one part that handles it: Serf's queries and user
events to the key queries and user events, application messages and state to the
replicated state (directives among them to the directive desk), join results to the
joiner, refutations and own-id conflicts to the identity keeper, member changes to the
member watch. Cluster events (``node.events``) also go to the event handlers.
"""

from __future__ import annotations

import logging

from gossip.events import (
    AddressChecked,
    AppMessage,
    AppState,
    Event,
    JoinResult,
    NameConflict,
    QueryAnswered,
    QueryFinished,
    QueryReceived,
    Refuted,
    UserEventReceived,
)

from .agent_start import AgentStart
from .events import MEMBER_CHANGES, ClusterEvent

__all__ = ["AgentEvents"]

log = logging.getLogger(__name__)


class AgentEvents(AgentStart):
    """Routes gossip and cluster events to the agent's parts."""

    def _on_event(self, event: Event) -> None:
        if isinstance(event, (QueryReceived, QueryAnswered, QueryFinished, UserEventReceived)):
            if self.cluster_keys is not None:
                self.cluster_keys.on_event(event)
            if self.user_events is not None:
                self.user_events.on_event(event)
        elif isinstance(event, AppMessage):
            directive = self.replicated.receive(event.body)
            if directive is not None:
                self.directives.receive(directive)
        elif isinstance(event, AppState):
            self.replicated.merge_state(event.body)
        elif isinstance(event, JoinResult):
            if self._joiner is not None:
                self._joiner.on_result(event)
        elif isinstance(event, Refuted):
            log.info("refuted a rumour by %s at incarnation %d", event.accuser, event.incarnation)
            self.link.persist_incarnation()
        elif isinstance(event, NameConflict):
            self.identity.on_conflict(event)
        elif isinstance(event, AddressChecked):
            self.identity.on_address_checked(event)
        elif isinstance(event, MEMBER_CHANGES):
            self.watch.on_change(event)

    def _to_event_handlers(self, event: ClusterEvent) -> None:
        if self.user_events is not None:
            self.user_events.on_cluster_event(event)
