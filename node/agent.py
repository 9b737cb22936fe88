"""``Agent``: the composition root of a claw-node process.

Each policy lives in its own part; the agent builds them, hands each what it needs,
routes gossip events to them and owns their lifetimes in one ``AsyncExitStack``, so
``stop`` (or a failed ``start``) undoes exactly what was started, in reverse order:
timers, background tasks, gossip (leaving first), the API, then the store once its
writes are drained. The parts:

* the store and its writes (``NodeStore``, ``StoreWriter``), the gossip transport behind
  a phase-safe handle (``GossipLink``), this node's published metadata (``PublishedMeta``);
* membership: joining (``Joiner``), the member table's follow-up (``MemberWatch``), the
  election (``Reelection`` over ``CoordinatorRole``), own-id conflicts (``IdentityGuard``);
* replicated state: resource heartbeats (``HeartbeatPublisher``, ``ReplicatedState``),
  HTTP-registered records (``RegistryFeed``) and their replicas (``DurableWrites``);
* requests between nodes (``ClusterChannel``) and coordinator directives
  (``DirectiveDesk``); Serf's key queries (``ClusterKeys``), user events and queries
  (``UserEvents``), the cluster event bus (``EventBus``);
* the REST API every node serves (``LazyApi``, built by ``node.rest_app``) and settings
  reloads (``Reloader``).

Membership first: ``start`` binds the API socket, starts gossip and the first join, and
only then loads the REST stack at a calm moment (``node.lazy_api``).

This module builds the parts and runs the lifecycle; three base classes hold the rest:
the start sequence (``node.agent_start``), the routing of gossip events to the parts
(``node.agent_events``) and the answers the REST view asks for (``node.agent_controls``).

    agent = Agent(config)
    exit_code = await agent.run()        # until SIGINT/SIGTERM or a leave request
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from api.registry import HttpNodeRegistry
from gossip.config import agent_profile
from gossip.keyring import Keyring
from gossip.types import MemberState

from . import __version__, exit_codes, memory_trace
from .advertise import PublishedMeta
from .agent_events import AgentEvents
from .agent_start import LEAVE_TIMEOUT_S
from .cluster_channel import ClusterChannel
from .config import NodeConfig, NodeConfigError
from .directives import DirectiveDesk
from .event_log import log_event
from .events import EventBus
from .gossip_link import GossipLink
from .heartbeat import HeartbeatTable
from .heartbeat_publisher import HeartbeatPublisher
from .identity_keeper import IdentityKeeper
from .member_watch import MemberWatch
from .metadata import MetaCache, NodeMeta, encode_meta
from .reelection import Reelection
from .registry_feed import RegistryFeed
from .reload import Reloader, ReloadOutcome, https_ready_in_process
from .replication import ReplicatedState
from .resources import HostCpuMeter, ResourceSnapshot, Sampler
from .write_replicas import DurableWrites

if TYPE_CHECKING:
    from aiohttp import web

    from api.server import ApiServer
    from gossip.udp import GossipTransport

    from .view import GossipClusterView

__all__ = ["LEAVE_DELAY_S", "LEAVE_TIMEOUT_S", "Agent"]

log = logging.getLogger(__name__)


LEAVE_DELAY_S = 0.1
"""Seconds between a leave asked over the network (API, directive) and the leave: the
answer goes out first (leaving closes the ports)."""


class Agent(AgentEvents):
    """One claw-node process.

    Args:
        config: the settings.
        sampler: resource sampler (default: ``HostSampler`` on the data dir's filesystem).
        wall_clock: unix time (tests inject one).
        host_busy: the host's CPU busy fraction since its previous call, or None
            (default: ``HostCpuMeter``); it gates the REST stack's import.
        load_config: reads the settings again from their sources, for a reload (SIGHUP,
            ``POST /api/v1/agent/reload``); ``node.cli`` passes its flags and
            ``--config`` file. Default: none, and a reload is refused.
    """

    version = __version__

    def __init__(self, config: NodeConfig, *, sampler: Sampler | None = None,
                 wall_clock: Callable[[], float] = time.time,
                 host_busy: Callable[[], float | None] | None = None,
                 load_config: Callable[[], NodeConfig] | None = None) -> None:
        self.config = config
        self._sampler = sampler
        self._host_busy = host_busy or HostCpuMeter()
        self._wall = wall_clock
        self.heartbeat_timeout_s = config.heartbeat_timeout
        self.check_interval_s = config.check_interval
        self.gossip_config = agent_profile(config.gossip_config())
        self.node_id = ""
        self.node_uuid = b""
        self.started_at = 0.0
        self.exit_code = 0
        self._epoch = 0
        self.store = None
        self._writer = None
        self.view: GossipClusterView | None = None
        self.keyring = Keyring()
        """The gossip keys (settled with the keyring file at start); empty: no encryption.
        The live core seals and opens with this very object, so install/use/remove on it
        take effect on the next message."""
        self.cluster_keys = None
        """Serf's key-management queries, answered and sent (set once gossip runs)."""
        self.user_events = None
        """Serf user events and queries, sent and handed to handlers (once gossip runs)."""
        self.stats: dict[str, int] = dict.fromkeys((
            "app_bad", "heartbeats_applied", "heartbeats_sent",
            "registry_merged", "directives_applied", "clock_jumps", "state_bad_entries",
            "app_too_large", "directives_stale",
        ), 0)
        self.link = GossipLink(self.stats, save_incarnation=self._save_incarnation)
        self.events = EventBus()
        """Every cluster event this node sees (``node.events``); each is logged."""
        self.events.add_listener(log_event)
        self.events.add_listener(self._to_event_handlers)
        self._metas = MetaCache()
        self.advert = PublishedMeta(announce=self._announce_meta, publish=self.events.publish,
                                    node_id=lambda: self.node_id, member=self.link.member,
                                    wall_clock=wall_clock)
        """This node's metadata as published now."""
        self.election = Reelection(
            members=self.members, own_meta=lambda: self.advert.meta, meta_of=self.meta_of,
            publish_meta=self.advert.set, publish=self.events.publish,
            persist_term=self._persist_term, wants_api=self._want_api,
            live=lambda: self.link.running, wall_clock=wall_clock)
        self.feed = RegistryFeed(
            publish=self.events.publish, writer=lambda: self._writer,
            broadcast=self.link.broadcast, wall_clock=wall_clock)
        self.registry = HttpNodeRegistry(heartbeat_timeout_s=config.heartbeat_timeout,
                                         on_change=self.feed.on_write)
        self.heartbeats = HeartbeatTable(max_entries=self.gossip_config.max_members)
        self.replicated = ReplicatedState(
            heartbeats=self.heartbeats, registry=self.registry, wall_clock=wall_clock,
            on_registered=self.feed.on_merged, stats=self.stats)
        self.publisher = HeartbeatPublisher(
            table=self.heartbeats, sampler=self._sample, wall_clock=wall_clock,
            interval_s=config.resource_interval, budget_bytes_per_s=config.heartbeat_budget,
            app_retransmit_mult=self.gossip_config.app_retransmit_mult,
            broadcast=self.link.broadcast,
            live=lambda: self.link.running and not self.identity.in_doubt,
            member_count=lambda: sum(1 for m in self.members() if m.state != MemberState.LEFT),
            on_clock_jump=lambda late_s: self.link.reannounce(), stats=self.stats)
        self.watch = MemberWatch(
            node_id=lambda: self.node_id, members=self.members,
            maintenance_of=lambda member: self.meta_of(member).maintenance,
            publish=self.events.publish, heartbeats=self.heartbeats, view=lambda: self.view,
            writer=lambda: self._writer, on_change=self.election.soon, wall_clock=wall_clock)
        self.directives = DirectiveDesk(stats=self.stats, maintenance=self.apply_maintenance,
                                        tasks=self.apply_tasks, shutdown=self.leave_soon)
        self.channel = ClusterChannel(
            transport=lambda: self.transport, node_id=lambda: self.node_id,
            coordinator=lambda: self.election.role.coordinator,
            local_api_url=lambda: self._api.local_url if self._api is not None else None,
            apply_directive=self.directives.receive)
        self.durable = DurableWrites(
            send=self.channel.send_replica, members=self.members, node_id=lambda: self.node_id,
            configured=config.write_replicas,  # as started (a reload names it)
            writer=lambda: self._writer, merge=self.replicated.merge_registered,
            gossip=lambda record: self.feed.gossip(record, urgent=True))
        """Acknowledged means replicated (``node.write_replicas``)."""
        self.identity = IdentityKeeper(
            link=self.link, uuid=lambda: self.node_uuid, started_at=lambda: self.started_at,
            joining=lambda: not self.election.role.settled,
            outbid=lambda incarnation: self.publisher.identify(self.node_id, incarnation),
            give_up=self._give_up_name)
        """This node's hold on its id against other members claiming it."""
        self._reloader = Reloader(
            load=load_config or _no_config_source, running=lambda: self.config,
            relabel=self.advert.relabel, set_maintenance=self.apply_maintenance,
            reconfigure_api=self._reconfigure_api, set_gossip_verify=self._set_gossip_verify,
            adopt=self._adopt_config,
            https_ready=lambda: https_ready_in_process(self._tls_at_start))
        self._tls_at_start = config.needs_tls
        self._joiner = None
        self._api = None
        self._stack = contextlib.AsyncExitStack()
        self._leave_on_stop = False
        self._stop = asyncio.Event()

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def transport(self) -> GossipTransport | None:
        """The gossip transport (None until ``start`` builds it)."""
        return self.link.transport

    @property
    def api(self) -> ApiServer | None:
        """The running API server (None until the REST stack is loaded)."""
        return self._api.server if self._api is not None else None

    @property
    def api_port(self) -> int | None:
        """The API's bound TCP port (set by ``start``; it listens before it serves)."""
        return self._api.port if self._api is not None else None

    async def start(self) -> None:
        """Open the store, start gossip and the API, begin joining.

        Raises:
            StoreError: unreadable store / data dir owned by another node or process.
            NodeConfigError: a setting cannot be honoured (e.g. no Tailscale address).
            OSError: a port is taken.
        """
        try:
            await self._start_membership()
            api = self._api
            assert api is not None
            await self._unless_stopping(api.wait_for_calm())
            if self._stop.is_set():
                return  # stopping already (a signal, or our id was given up)
            if self._api_needed():
                await api.serve()
            else:  # an idle member: the REST stack waits for its first client
                self._spawn(api.serve_when_wanted(), "api-on-demand")
        except BaseException:
            await self.stop(leave=False)
            raise

    async def _unless_stopping(self, wait: Coroutine[Any, Any, None]) -> None:
        """Await ``wait``, or only until a stop is requested."""
        waiting = asyncio.ensure_future(wait)
        stopping = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait((waiting, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiting, stopping):
                task.cancel()
            await asyncio.gather(waiting, stopping, return_exceptions=True)

    def _api_needed(self) -> bool:
        """Whether the REST stack must run now, before any client connects: it was asked
        for (``--api-eager``), alerts are configured, or this node is the coordinator (it
        runs the HTTP-heartbeat monitor)."""
        config = self.config
        return (config.api_eager or bool(config.alert_webhook)
                or self.election.role.is_coordinator)

    def _want_api(self) -> None:
        if self._api is not None:
            self._api.wanted.set()

    def _build_app(self) -> web.Application:
        """The REST app over a new gossip view (once the REST stack is imported)."""
        from .rest_app import build_app

        app, self.view = build_app(self, wall_clock=self._wall)
        return app

    async def run(self) -> int:
        """Start, serve until SIGINT/SIGTERM or a leave request, leave gracefully, stop.
        SIGHUP (where it exists: not on Windows) reloads the settings (``reload``).

        Returns:
            The process exit code (0 after a graceful leave).
        """
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):  # a signal during start-up waits for it
            with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows: KeyboardInterrupt
                loop.add_signal_handler(signum, self.request_leave)
        if hasattr(signal, "SIGHUP"):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signal.SIGHUP, self.reload)
        trace = memory_trace.from_environment()  # opt-in: CLAW_TRACEMALLOC
        if trace is not None and hasattr(signal, "SIGUSR2"):
            trace.start()
            loop.add_signal_handler(signal.SIGUSR2, trace.report)
        await self.start()  # on failure it cleans up and raises
        try:
            await self._stop.wait()
        finally:
            # A node that gave its id up leaves nothing: a leave would be about the id,
            # that is, about the live node that keeps it.
            await self.stop(leave=not self.identity.gave_up)
        return self.exit_code

    def request_leave(self) -> None:
        """Leave the cluster gracefully and stop (signal handlers, API, directives)."""
        self._stop.set()

    def leave_soon(self) -> None:
        """``request_leave`` after ``LEAVE_DELAY_S``, once the answer to whoever asked
        over the network has gone out."""
        asyncio.get_running_loop().call_later(LEAVE_DELAY_S, self.request_leave)

    async def stop(self, *, leave: bool) -> None:
        """Undo ``start`` in reverse order: timers and background tasks, gossip (leaving
        first if ``leave``), the API, then the store once its pending writes are done.
        Idempotent."""
        self._leave_on_stop = leave
        await self._stack.aclose()

    def reload(self) -> ReloadOutcome:
        """Read the settings again and apply what may change at run time, keeping the
        membership (``node.reload``). A bad configuration changes nothing."""
        return self._reloader.reload()

    # --- reload (node.reload calls these) ----------------------------------------------------

    def _reconfigure_api(self, config: NodeConfig) -> None:
        server = self.api
        if server is not None:
            from .rest_app import reconfigure_app
            reconfigure_app(server.app, config)
        if config.alert_webhook:
            self._want_api()  # alerts need the REST stack running

    def _set_gossip_verify(self, incoming: bool, outgoing: bool) -> None:
        if self.transport is not None and self.transport.running:
            self.transport.invoke(lambda core, now: core.set_gossip_verify(incoming, outgoing, now))

    def _adopt_config(self, config: NodeConfig) -> None:
        self.config = config

    # --- this node's identity and incarnation -------------------------------------------------

    def _give_up_name(self) -> None:
        """Another live node keeps our id: exit ``IDENTITY_CONFLICT`` without leaving."""
        self.exit_code = exit_codes.IDENTITY_CONFLICT
        self.request_leave()

    def _announce_meta(self, meta: NodeMeta) -> None:
        """Gossip this node's new metadata (an incarnation bump), then re-elect."""
        self.link.set_meta(encode_meta(meta))
        self.election.run()

    def _save_incarnation(self, incarnation: int) -> None:
        if self.store is not None:
            try:
                self.store.record_incarnation(incarnation)  # rare and must not be lost
            except Exception:
                log.exception("could not persist incarnation %d", incarnation)

    def _persist_term(self, term: int) -> None:
        if self._writer is not None:
            self._writer.submit(lambda store: store.record_term(term))

    def _sample(self) -> ResourceSnapshot:
        assert self._sampler is not None  # set by start, before the resource loop runs
        return self._sampler()


def _no_config_source() -> NodeConfig:
    raise NodeConfigError("reload", "this agent was started without settings to read "
                                    "again (not from the claw-node command line)")
