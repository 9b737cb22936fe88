"""``ClusterView``: the one interface the REST API reads and writes through.

``api/`` knows nothing of gossip. ``node/`` implements this protocol over its gossip view
(members judged by SWIM, plus HTTP-registered workers replicated through gossip) and hands
it to ``api.app.create_app(view)``. ``api.memory_view.MemoryClusterView`` is the
single-node, in-memory implementation (tests, standalone use, and a reference for the
semantics below).

Contract for implementers:

* Every method is a coroutine and must not block the event loop (no disk fsync, no
  network I/O longer than a few ms inside the call), except the two plain functions
  ``nearest_first`` (pure arithmetic) and ``add_transition_listener``.
* Writes (``register``, ``heartbeat``, ``shutdown``, ``set_maintenance``,
  ``check_heartbeats``) are only called on the coordinator: the API forwards writes that
  reach a non-coordinator (when ``is_coordinator()`` is false) to
  ``coordinator().api_url``. A write the coordinator answered must be visible in its next
  read (read-your-writes on the coordinator).
* Domain failures are raised as ``api.errors`` exceptions (``Conflict`` → 409,
  ``Unavailable`` → 503 …); "not found" is signalled by returning ``None``.
* Times inside ``NodeInfo`` are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .models import (
    ClusterInfo,
    CoordinatorInfo,
    HeartbeatIn,
    NodeCoordinate,
    NodeInfo,
    NodeTransition,
    RegisterIn,
    StatusChange,
)

__all__ = ["CheckResult", "ClusterView", "DeleteResult", "RegisterResult", "TransitionListener"]


@dataclass(frozen=True, slots=True)
class RegisterResult:
    """What ``ClusterView.register`` returns."""

    node: NodeInfo
    """The node as stored after the write."""
    created: bool
    """True when a new id was assigned / a new record created; False for a re-registration."""


@dataclass(frozen=True, slots=True)
class DeleteResult:
    """What ``ClusterView.delete_node`` returns."""

    source: str
    """``gossip`` (a force-left member) or ``http`` (a registered worker)."""
    was: str
    """What the node was before: ``failed``, ``left`` (gossip) or its HTTP status."""
    kept_as_left: bool = False
    """A gossip member force-left without prune: still listed, as ``left``."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What ``ClusterView.check_heartbeats`` returns."""

    checked: int
    """How many HTTP-registered nodes were examined."""
    changed: list[StatusChange]
    """Nodes whose status or suspect flag changed in this check (empty if none)."""


TransitionListener = Callable[[NodeTransition], None]
"""A synchronous, non-blocking callback for liveness transitions (alerts)."""


@runtime_checkable
class ClusterView(Protocol):
    """The cluster as one node sees it, plus the writes the coordinator performs."""

    # --- reads (answered locally on every node) ---------------------------------------

    async def list_nodes(self) -> list[NodeInfo]:
        """Every node this node knows: gossip members (including itself and dead/left
        members it still remembers) and HTTP-registered workers, in any order. The API
        filters and sorts; return everything (it is called per list and cluster-health
        request, so keep it O(n) with no I/O, and reuse ``NodeInfo`` objects between
        writes: ``HttpNodeRegistry.node_infos()`` caches them per record version, and the
        API caches each object's JSON by identity, so a list of 1,000 unchanged nodes
        costs a join instead of 1,000 model builds and serialisations).

        Returns:
            A fresh list of ``NodeInfo`` (the caller may not mutate the models; they are
            frozen).
        """
        ...

    async def get_node(self, node_id: str) -> NodeInfo | None:
        """One node by id.

        Returns:
            The node, or ``None`` if unknown (→ 404).
        """
        ...

    async def coordinator(self) -> CoordinatorInfo | None:
        """The coordinator as this node currently sees it.

        Returns:
            ``CoordinatorInfo(node_id, api_url, term)``, or ``None`` while no coordinator
            is known (then writes reaching a non-coordinator get 503). ``api_url`` is the
            base URL writes are forwarded to (``http://host:port``, no trailing slash);
            ``None`` if the coordinator serves no API (writes then get 503).
        """
        ...

    async def is_coordinator(self) -> bool:
        """True if this node is the coordinator now: the API then executes writes locally
        and runs the HTTP-heartbeat monitor; otherwise it forwards writes."""
        ...

    async def cluster_info(self) -> ClusterInfo:
        """Cluster-level facts: this node's id, the HTTP heartbeat timeout and check
        interval (seconds), the version. Cheap; called by /health and health endpoints."""
        ...

    def nearest_first(self, origin: NodeCoordinate, nodes: list[NodeInfo]) -> list[NodeInfo]:
        """``nodes`` ordered by estimated round-trip time from ``origin`` (the coordinate
        of one of this view's nodes), nearest first: the ``near=`` order of node lists.

        The view owns the distance rule because it owns the coordinates (the agent's are
        Serf-compatible Vivaldi coordinates; ``api/`` only carries them). A node without an
        estimate (no coordinate, one of another dimensionality, or not finite) comes after
        every node with one. The sort is stable, so the caller sorts by its tie-break
        first. A view whose nodes carry no coordinates returns ``nodes`` in their order.
        Called per ``near=`` list request: pure arithmetic, O(n log n), no I/O.

        Returns:
            A new list of the same ``NodeInfo`` objects.
        """
        ...

    # --- writes (called on the coordinator only) --------------------------------------

    async def register(self, request: RegisterIn) -> RegisterResult:
        """Register an HTTP worker (the seed's ``register_node``); ``request`` is already
        validated by the API (seed rules and bounds).

        * ``request.node_id`` is None → assign a new unique id, ``created=True``.
        * It names an existing HTTP-registered node → update its fields in place, keep
          ``registered_at`` and the task counters, set ``last_heartbeat`` = now and status
          online (or busy), ``created=False``.
        * It names an unknown id → create with that id, ``created=True``.
        The record must then be replicated (gossip) so a future coordinator has it.

        Raises:
            Conflict: the id belongs to a gossip member (409).
            Unavailable: the registry is full (503).
        """
        ...

    async def heartbeat(self, node_id: str, beat: HeartbeatIn) -> NodeInfo | None:
        """Record a heartbeat: ``last_heartbeat`` = now; fields present in ``beat``
        overwrite the stored ones, omitted fields keep their values. An offline/error HTTP
        node comes back online (busy if running_tasks ≥ max_concurrent_tasks), a
        maintenance node stays in maintenance; the suspect flag clears. For a gossip member,
        only its reported load is updated (its liveness stays SWIM's).

        Returns:
            The node after the update, or ``None`` if unknown (→ 404).
        """
        ...

    async def shutdown(self, node_id: str) -> NodeInfo | None:
        """The seed's shutdown notice: mark the node offline (record kept, so it can
        re-register with its id). For a gossip member the agent decides what else it does
        (e.g. leave the cluster if it is this node).

        Returns:
            The node after the update, or ``None`` if unknown (→ 404).
        """
        ...

    async def set_maintenance(self, node_id: str, enabled: bool) -> NodeInfo | None:
        """Put a node into maintenance (``enabled``) or take it out (back to online, or
        busy if its slots are full; an HTTP node stays offline if its heartbeat is late).

        Returns:
            The node after the update, or ``None`` if unknown (→ 404).
        """
        ...

    async def delete_node(self, node_id: str, *, prune: bool) -> DeleteResult | None:
        """Remove a node that is gone: an HTTP-registered worker (deleted on every node),
        or a failed or left gossip member (force-left with Serf's leave intent; ``prune``
        erases it from the member lists, otherwise it stays listed as ``left``).

        Returns:
            What was removed, or ``None`` if unknown (→ 404).

        Raises:
            Conflict: a live gossip member (alive or suspect) or this node (409): only
                its own agent can take it out (``claw-node leave``), or SWIM once it fails.
        """
        ...

    async def check_heartbeats(self) -> CheckResult:
        """Run the HTTP-heartbeat check now (the seed's ``check_heartbeat``): every
        HTTP-registered node whose last heartbeat is older than ``heartbeat_timeout_s``
        becomes offline; older than 2/3 of it becomes suspect. Gossip members are not
        touched (SWIM judges them). The API calls this every ``check_interval_s`` while
        this node is coordinator, and on ``POST /api/v1/cluster/check-heartbeat``.

        Returns:
            How many nodes were checked and which changed.
        """
        ...

    # --- alerts -------------------------------------------------------------------------

    def add_transition_listener(self, listener: TransitionListener) -> None:
        """Subscribe to liveness transitions (online → suspect → offline, offline → online,
        for gossip members and HTTP nodes alike). The view calls every listener
        synchronously, once per transition it observes; listeners never block (the app's
        alert dispatcher only enqueues, and itself sends only while this node is
        coordinator)."""
        ...
