"""``MemoryClusterView``: a single-node, in-memory ``ClusterView`` over ``HttpNodeRegistry``.

Used by the API tests and the benchmark, and usable standalone (one coordinator, no
gossip: the seed's original architecture). It is also the reference for the semantics
the agent's gossip-backed view implements.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from .errors import Unavailable
from .models import (
    ClusterInfo,
    CoordinatorInfo,
    HeartbeatIn,
    NodeCoordinate,
    NodeInfo,
    NodeStatus,
    NodeTransition,
    RegisterIn,
    StatusChange,
)
from .registry import (
    DEFAULT_CHECK_INTERVAL_S,
    DEFAULT_HEARTBEAT_TIMEOUT_S,
    Change,
    HttpNodeRecord,
    HttpNodeRegistry,
    RegistryFull,
)
from .view import CheckResult, DeleteResult, RegisterResult, TransitionListener

__all__ = ["MemoryClusterView", "transition_of"]

log = logging.getLogger(__name__)


def transition_of(change: Change, *, coordinator: str | None, now: float) -> NodeTransition:
    """The alert for a registry change."""
    return NodeTransition(
        node_id=change.after.node_id, hostname=change.after.hostname,
        from_state=change.liveness_from, to_state=change.liveness_to, source="http",
        reason=change.reason, at=datetime.fromtimestamp(now, tz=UTC),
        coordinator=coordinator,
    )


class MemoryClusterView:
    """Implements ``api.view.ClusterView`` for one node holding every record in memory.

    ``coordinator_info``/``coordinating`` are plain attributes so tests can make this view
    a non-coordinator pointing at another server (forwarding tests).
    """

    def __init__(
        self,
        *,
        node_id: str = "coordinator",
        api_url: str | None = None,
        coordinating: bool = True,
        coordinator_info: CoordinatorInfo | None = None,
        clock: Callable[[], float] = time.time,
        heartbeat_timeout_s: float = DEFAULT_HEARTBEAT_TIMEOUT_S,
        check_interval_s: float = DEFAULT_CHECK_INTERVAL_S,
        max_nodes: int = 10_000,
        version: str = "0.1.0",
    ) -> None:
        """
        Args:
            node_id: this node's id.
            api_url: this node's API base URL (reported as the coordinator's when
                ``coordinating``).
            coordinating: whether this node is the coordinator.
            coordinator_info: who the coordinator is; default: this node when
                ``coordinating``, else None (writes → 503).
            clock: wall clock, Unix seconds (inject a fake one in tests).
            heartbeat_timeout_s / check_interval_s: the seed's 90 s / 30 s.
            max_nodes: registry bound.
        """
        self.node_id = node_id
        self.api_url = api_url
        self.coordinating = coordinating
        self.coordinator_info = coordinator_info
        self.clock = clock
        self.check_interval_s = check_interval_s
        self.version = version
        self.registry = HttpNodeRegistry(heartbeat_timeout_s=heartbeat_timeout_s,
                                         max_nodes=max_nodes)
        self._listeners: list[TransitionListener] = []

    # --- helpers ------------------------------------------------------------------------

    def _info(self, rec: HttpNodeRecord) -> NodeInfo:
        info = self.registry.node_info(rec.node_id)
        assert info is not None
        return info

    def _emit(self, change: Change | None, now: float) -> None:
        if change is None or change.liveness_from == change.liveness_to:
            return
        t = transition_of(change, coordinator=self.node_id, now=now)
        for listener in self._listeners:
            try:
                listener(t)
            except Exception:  # a broken listener must not break a write
                log.exception("transition listener failed")

    # --- reads --------------------------------------------------------------------------

    async def list_nodes(self) -> list[NodeInfo]:
        return list(self.registry.node_infos())

    async def get_node(self, node_id: str) -> NodeInfo | None:
        return self.registry.node_info(node_id)

    async def coordinator(self) -> CoordinatorInfo | None:
        if self.coordinator_info is not None:
            return self.coordinator_info
        if self.coordinating:
            return CoordinatorInfo(node_id=self.node_id, api_url=self.api_url, term=1)
        return None

    async def is_coordinator(self) -> bool:
        return self.coordinating

    async def cluster_info(self) -> ClusterInfo:
        return ClusterInfo(node_id=self.node_id,
                           heartbeat_timeout_s=self.registry.heartbeat_timeout_s,
                           check_interval_s=self.check_interval_s, version=self.version)

    def nearest_first(self, origin: NodeCoordinate, nodes: list[NodeInfo]) -> list[NodeInfo]:
        """The given order: HTTP-registered records carry no coordinate, so no node has an
        estimate (and ``near=`` is refused before any order is asked for). A subclass
        listing nodes with coordinates must override this."""
        return list(nodes)

    # --- writes -------------------------------------------------------------------------

    async def register(self, request: RegisterIn) -> RegisterResult:
        now = self.clock()
        try:
            rec, created, change = self.registry.register(request, now)
        except RegistryFull as exc:
            raise Unavailable(f"cannot register: {exc}") from exc
        self._emit(change, now)
        return RegisterResult(node=self._info(rec), created=created)

    async def heartbeat(self, node_id: str, beat: HeartbeatIn) -> NodeInfo | None:
        now = self.clock()
        res = self.registry.heartbeat(node_id, beat, now)
        if res is None:
            return None
        self._emit(res[1], now)
        return self._info(res[0])

    async def shutdown(self, node_id: str) -> NodeInfo | None:
        now = self.clock()
        res = self.registry.shutdown(node_id, now)
        if res is None:
            return None
        self._emit(res[1], now)
        return self._info(res[0])

    async def set_maintenance(self, node_id: str, enabled: bool) -> NodeInfo | None:
        now = self.clock()
        res = self.registry.set_maintenance(node_id, enabled, now)
        if res is None:
            return None
        self._emit(res[1], now)
        return self._info(res[0])

    async def delete_node(self, node_id: str, *, prune: bool) -> DeleteResult | None:
        old = self.registry.delete(node_id, self.clock())
        if old is None:
            return None
        return DeleteResult(source="http", was=old.status)

    async def check_heartbeats(self) -> CheckResult:
        now = self.clock()
        checked = len(self.registry)
        changes = self.registry.check(now)
        for c in changes:
            self._emit(c, now)
        return CheckResult(checked=checked, changed=[
            StatusChange(node_id=c.after.node_id, hostname=c.after.hostname,
                         old_status=NodeStatus(c.before.status if c.before else c.after.status),
                         new_status=NodeStatus(c.after.status), suspect=c.after.suspect, reason=c.reason)
            for c in changes
        ])

    def add_transition_listener(self, listener: TransitionListener) -> None:
        self._listeners.append(listener)
