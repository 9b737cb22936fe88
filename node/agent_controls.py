"""``AgentControls``: what the REST view asks of the agent (``node.view.AgentControl``),
answered from the agent's parts.

A base class of ``node.agent.Agent``: each method passes the question to the part that
owns the answer (the gossip link, the election, the member watch, the heartbeat table
and publisher, the published metadata, directives, durable writes). The parts are built
by the agent's ``__init__``; they are declared here for the type checker.
"""

from __future__ import annotations

from typing import Any

from api.registry import HttpNodeRecord
from gossip.coordinate import Coordinate
from gossip.events import Member

from .advertise import PublishedMeta
from .cluster_channel import ClusterChannel
from .directives import DirectiveDesk
from .gossip_link import GossipLink
from .heartbeat import HeartbeatRecord, HeartbeatTable
from .heartbeat_publisher import HeartbeatPublisher
from .member_watch import MemberWatch
from .metadata import MetaCache, NodeMeta
from .partition import PartitionStatus, partition_status
from .reelection import Reelection
from .write_replicas import DurableWrites

__all__ = ["AgentControls"]


class AgentControls:
    """The agent's answers to its REST view (``node.view.AgentControl``)."""

    link: GossipLink
    election: Reelection
    watch: MemberWatch
    heartbeats: HeartbeatTable
    publisher: HeartbeatPublisher
    advert: PublishedMeta
    directives: DirectiveDesk
    channel: ClusterChannel
    durable: DurableWrites
    _metas: MetaCache

    def members(self) -> list[Member]:
        return self.link.members()

    def member(self, name: str) -> Member | None:
        return self.link.table_member(name)

    def meta_of(self, member: Member) -> NodeMeta:
        return self._metas.decode(member.meta)

    def heartbeat_of(self, node_id: str) -> HeartbeatRecord | None:
        return self.heartbeats.get(node_id)

    def coordinator_state(self) -> tuple[str | None, int]:
        return self.election.role.coordinator, self.election.role.term

    def api_url_of(self, meta: NodeMeta) -> str | None:
        return f"http://{meta.api}" if meta.api else None

    def suspect_since(self, node_id: str) -> float | None:
        return self.watch.suspect_since(node_id)

    def coordinate_of(self, node_id: str) -> Coordinate | None:
        return self.link.coordinate_of(node_id)

    def apply_tasks(self, values: dict[str, Any]) -> None:
        self.publisher.apply_tasks(values)

    def apply_maintenance(self, enabled: bool) -> None:
        self.advert.set_maintenance(enabled)

    async def send_directive(self, target: str, action: str, value: Any) -> None:
        """Deliver a directive to member ``target`` over the request channel.

        Raises:
            DirectiveNotAcknowledged: the member never acknowledged it.
        """
        await self.directives.send(target, action, value, self.channel.send_directive)

    async def make_durable(self, record: HttpNodeRecord) -> list[str]:
        """``DurableWrites.make_durable``: ``record`` is stored here and on enough members.

        Raises:
            NotReplicated: the own store write failed, or too few members confirmed.
        """
        return await self.durable.make_durable(record)

    def partition(self) -> PartitionStatus:
        """How much of the last stable view this node reaches (``node.partition``)."""
        return partition_status(self.members())

    def replicas_candidates(self) -> list[str]:
        """Live claw members other than this node: each keeps a store."""
        return self.durable.candidates()

    def force_leave(self, name: str, *, prune: bool) -> bool:
        """Serf's force-leave of member ``name``; False if gossip is not running."""
        return self.link.force_leave(name, prune=prune)

