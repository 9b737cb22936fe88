"""``Agent``: the composition root of a claw-node process.

Wires the store (identity, incarnation, peers, registry; ``StoreWriter``), the gossip
transport, the resource heartbeats (``HeartbeatPublisher``), joining (``Joiner``), the
election (``CoordinatorRole``), coordinator directives (``DirectiveOutbox`` and
``DirectiveInbox``), the cluster request channel (``ClusterChannel``: writes relayed to
the coordinator, directives to members) and the REST API (``LazyApi``: every node serves
it). Each piece holds its own policy; the agent routes gossip
events to them and owns their lifetimes in one ``AsyncExitStack``, so ``stop`` (or a
failed ``start``) undoes exactly what was started, in reverse order: timers, background
tasks, gossip (leaving first), the API, then the store once its writes are drained.

Membership first: ``start`` binds the API socket, starts gossip and the first join, and
only then loads the REST stack at a calm moment (``node.lazy_api``).

    agent = Agent(config)
    exit_code = await agent.run()        # until SIGINT/SIGTERM or a leave request
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from api.registry import HttpNodeRecord, HttpNodeRegistry
from api.server import bind_api_socket, check_bind_safety
from gossip.channel import ChannelCall
from gossip.config import GossipConfig, agent_profile
from gossip.coordinate import Coordinate
from gossip.errors import GossipError, LocalProtocolError
from gossip.events import (
    AddressChecked,
    AppMessage,
    AppState,
    Event,
    JoinResult,
    Member,
    MemberJoined,
    MemberSuspected,
    NameConflict,
    QueryAnswered,
    QueryFinished,
    QueryReceived,
    Refuted,
    UserEventReceived,
)
from gossip.keyring import Keyring
from gossip.protocol import SwimProtocol
from gossip.tags import decode_tags
from gossip.types import Address, MemberState
from gossip.udp import GossipTransport

from . import __version__, exit_codes, memory_trace, sd_notify
from .advertise import advertise_address, host_port, own_meta
from .app_messages import APP_REGISTRY, Directive, encode_app
from .cluster_channel import ClusterChannel
from .cluster_keys import ClusterKeys, TransportKeyPort
from .config import NodeConfig, NodeConfigError
from .directives import (
    DirectiveInbox,
    DirectiveOutbox,
    Verdict,
    task_values,
)
from .election import CoordinatorRole
from .event_handlers import HandlerRunner
from .event_log import log_event
from .events import (
    MEMBER_CHANGES,
    ClusterEvent,
    EventBus,
    EventKind,
    MemberChange,
    MemberEventTranslator,
    WorkerEventTranslator,
)
from .heartbeat import HeartbeatRecord, HeartbeatTable
from .heartbeat_publisher import HeartbeatPublisher
from .identity import Holder
from .identity_guard import IdentityGuard
from .joining import Joiner, PeerMemory
from .keyring_file import KEYRING_FILE, settle_keyring
from .lazy_api import LazyApi
from .metadata import MetadataTooLarge, NodeMeta, decode_meta, encode_meta
from .partition import PartitionStatus, partition_status
from .peer_requests import KIND_REPLICA, REPLICA_CONFIRMED
from .platform_info import hostname as machine_hostname
from .platform_info import (
    tailscale_ip,
)
from .reload import Reloader, ReloadOutcome, http_answer, https_ready_in_process
from .replication import ReplicatedState
from .resources import HostCpuMeter, PsutilSampler, ResourceSnapshot, Sampler
from .store import NodeStore
from .store_writer import StoreWrite, StoreWriter
from .user_events import TransportUserPort, UserEvents
from .write_replicas import NotReplicated, ReplicaConfirmer

if TYPE_CHECKING:
    from aiohttp import web

    from api.server import ApiServer

    from .view import GossipClusterView

__all__ = ["LEAVE_TIMEOUT_S", "Agent"]

log = logging.getLogger(__name__)


LEAVE_TIMEOUT_S = 5.0
"""Longest wait for the leave broadcasts to go out (Serf's BroadcastTimeout, 5 s)."""
PEER_CHECK_INTERVAL_S = 2.0
"""How often a membership change is looked for (to save the peers, prune the tables)."""
REELECT_COALESCE_S = 0.25
"""Membership events within this many seconds share one re-election (each is O(members));
in a 100-agent start storm re-elections were 12 % of an agent's CPU (py-spy)."""
META_CACHE_ENTRIES = 4096
"""Decoded metadata kept (keyed by the raw bytes), so elections don't re-decode."""


class Agent:
    """One claw-node process.

    Args:
        config: the settings.
        sampler: resource sampler (default: psutil on the data dir's filesystem).
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
        self.gossip_config: GossipConfig = agent_profile(config.gossip_config())
        self.node_id = ""
        self.started_at = 0.0
        self.exit_code = 0
        self.store: NodeStore | None = None
        self.transport: GossipTransport | None = None
        self.view: GossipClusterView | None = None
        self.keyring = Keyring()
        """The gossip keys (settled with the keyring file at start); empty: no encryption.
        The live core seals and opens with this very object, so install/use/remove on it
        take effect on the next message."""
        self.cluster_keys: ClusterKeys | None = None
        """Serf's key-management queries, answered and sent (set once gossip runs)."""
        self.user_events: UserEvents | None = None
        """Serf user events and queries, sent and handed to handlers (once gossip runs)."""
        self.registry = HttpNodeRegistry(heartbeat_timeout_s=config.heartbeat_timeout,
                                         on_change=self._on_registry_write)
        self.heartbeats = HeartbeatTable(max_entries=self.gossip_config.max_members)
        self.stats: dict[str, int] = dict.fromkeys((
            "app_bad", "heartbeats_applied", "heartbeats_sent",
            "registry_merged", "directives_applied", "clock_jumps", "state_bad_entries",
            "app_too_large", "directives_stale",
        ), 0)
        self.replicated = ReplicatedState(
            heartbeats=self.heartbeats, registry=self.registry, wall_clock=wall_clock,
            on_registered=self._on_registered_merged, stats=self.stats)
        self.publisher = HeartbeatPublisher(
            table=self.heartbeats, sampler=self._sample, wall_clock=wall_clock,
            interval_s=config.resource_interval, budget_bytes_per_s=config.heartbeat_budget,
            app_retransmit_mult=self.gossip_config.app_retransmit_mult,
            broadcast=lambda body, key: self._broadcast(body, key=key),
            live=lambda: self._gossiping() and not self._identity.in_doubt,
            member_count=lambda: sum(1 for m in self.members() if m.state != MemberState.LEFT),
            on_clock_jump=self._reannounce, stats=self.stats)
        self.role = CoordinatorRole("")
        self._epoch = 0
        self.node_uuid = b""
        self._identity = self._identity_guard("")
        self._silencing: asyncio.Task[None] | None = None
        self._meta = NodeMeta()
        self._meta_cache: OrderedDict[bytes, NodeMeta] = OrderedDict()
        self._inbox = DirectiveInbox("")
        self._outbox = DirectiveOutbox("")
        self.channel = ClusterChannel(
            transport=lambda: self.transport, node_id=lambda: self.node_id,
            coordinator=lambda: self.role.coordinator, local_api_url=self._local_api_url,
            apply_directive=self._on_directive)
        write_replicas = config.write_replicas  # read at start (a reload names it)
        self.replicas = ReplicaConfirmer(
            send=self.channel.send_replica, candidates=self.replicas_candidates,
            configured=lambda: write_replicas)
        """Confirms the coordinator's writes on other members (``node.write_replicas``)."""
        self._peer_memory = PeerMemory()
        self._suspect_since: dict[str, float] = {}
        self._reelect_pending = False
        self.events = EventBus()
        """Every cluster event this node sees (``node.events``); each is logged."""
        self.events.add_listener(log_event)
        self.events.add_listener(self._to_event_handlers)
        self._member_events = MemberEventTranslator(
            wall_clock, lambda member: self.meta_of(member).maintenance)
        self._worker_events = WorkerEventTranslator(wall_clock)
        self._reloader = Reloader(
            load=load_config or _no_config_source, running=lambda: self.config,
            relabel=self._relabel, set_maintenance=self.apply_maintenance,
            reconfigure_api=self._reconfigure_api, adopt=self._adopt_config,
            https_ready=lambda: https_ready_in_process(self._tls_at_start))
        self._tls_at_start = config.needs_tls
        self._writer: StoreWriter | None = None
        self._joiner: Joiner | None = None
        self._api: LazyApi | None = None
        self._stack = contextlib.AsyncExitStack()
        self._leave_on_stop = False
        self._stop = asyncio.Event()

    # --- lifecycle ------------------------------------------------------------------------

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

    async def _start_membership(self) -> None:
        """Store, API socket, gossip, joining, election: everything but the REST stack."""
        config, stack = self.config, self._stack
        store = self.store = NodeStore(config.data_dir, wall_clock=self._wall)
        self._writer = StoreWriter(store)
        stack.push_async_callback(self._close_store)
        self._identify(store.claim_node_id(config.node_id, machine_hostname()),
                       store.next_start_incarnation(), store.max_term)
        self.node_uuid = store.claim_node_uuid()
        # In whole milliseconds, as the metadata carries it: the election compares this
        # node's own value with the ones others decode, and every node must see the same
        # order (with the full float, two agents started within the same millisecond each
        # found the other older, and neither claimed the role).
        self.started_at = int(self._wall() * 1000) / 1000.0
        for record in store.registered().values():
            try:
                self.registry.merge(record)
            except ValueError:
                log.warning("skipping an unreadable registry record in the store")
        settled = settle_keyring(config.data_dir / KEYRING_FILE, config.encrypt_key,
                                 encrypt_name=config.written_as("encrypt"))
        if settled.notice:
            log.info("%s", settled.notice)
        self.keyring = Keyring(settled.keys)
        self._worker_events.prime(self.registry)
        api_host, api_port = config.api_address
        check_bind_safety(api_host, config.api_token, config.insecure_api)
        if self._sampler is None:
            self._sampler = PsutilSampler(config.data_dir)

        bind_host, bind_port = config.bind_address
        ts_ip = config.tailscale_ip or tailscale_ip()
        advertise_host, advertise_port = advertise_address(config, bind_host, ts_ip)
        self._meta = own_meta(config, version=self.version, advertise_host=advertise_host,
                              ts_ip=ts_ip, started_at=self.started_at, uuid=self.node_uuid)
        api = self._api = LazyApi(
            bind_api_socket(api_host, api_port), host=api_host, tls=config.needs_tls,
            build_app=self._build_app, host_busy=self._host_busy,
            first_join_done=lambda: self._joiner is not None
            and self._joiner.first_attempt_done.is_set(),
            last_join_at=lambda: self._peer_memory.last_join_at)
        stack.push_async_callback(api.aclose)
        api_public_host = advertise_host if api_host in ("0.0.0.0", "::", "") else api_host
        self._meta = self._meta.replace(api=host_port(api_public_host, api.port))
        meta_bytes = encode_meta(self._meta)

        def build_core(bound: Address, now: float) -> SwimProtocol:
            port = advertise_port or bound[1]
            return SwimProtocol(
                self.gossip_config, name=self.node_id, address=(advertise_host, port),
                meta=meta_bytes, rng=random.Random(), now=now, incarnation=self._epoch,
                app_state=self.replicated.encode_state, keyring=self.keyring)

        transport = self.transport = GossipTransport(
            build_core, self.gossip_config, bind=(bind_host, bind_port), on_event=self._on_event)
        self.channel.install(transport)
        transport.set_request_handler(KIND_REPLICA, self._serve_replica)
        stack.push_async_callback(self.channel.aclose)
        stack.push_async_callback(self.replicas.aclose)
        stack.push_async_callback(self._stop_gossip)
        self.cluster_keys = ClusterKeys(TransportKeyPort(transport), self.keyring,
                                        config.data_dir / KEYRING_FILE)
        stack.push_async_callback(self.cluster_keys.aclose)
        self.user_events = UserEvents(
            TransportUserPort(transport),
            HandlerRunner.from_specs(config.event_handler, self.node_id, decode_tags(meta_bytes)),
            publish=self.events.publish, wall_clock=self._wall, member_tags=self._member_tags)
        stack.push_async_callback(self.user_events.aclose)
        await transport.start()
        log.info("node %s started: gossip on %s advertised as %s, API %s (serving shortly), "
                 "incarnation %d", self.node_id, transport.address,
                 host_port(advertise_host, advertise_port or transport.address[1]),
                 host_port(api_host, api.port), self._epoch)
        self._joiner = Joiner(
            transport, node_id=self.node_id,
            seeds=lambda: config.seeds if config.join else store.known_peers(),
            tcp_timeout_s=self.gossip_config.tcp_timeout_s,
            backoff_max_s=config.join_backoff_max, on_settled=self._settle)
        self._spawn(self._joiner.run(), "join")
        self._spawn(self._notify_ready(self._joiner), "sd-notify")
        self._spawn(self.publisher.run(), "resources")
        self._spawn(self._peer_loop(), "peers")
        stack.callback(self._cancel_timers)
        stack.callback(lambda: self._identity.close())
        self._reelect()

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

    def _identify(self, node_id: str, epoch: int, highest_term: int = 0) -> None:
        """Give the agent and its parts this run's identity (node id, start incarnation)."""
        self.node_id, self._epoch = node_id, epoch
        self.replicated.node_id = node_id
        self.publisher.identify(node_id, epoch)
        self.role = CoordinatorRole(node_id, highest_term)
        self._inbox = DirectiveInbox(node_id)
        self._outbox = DirectiveOutbox(f"{node_id}:{epoch}")
        self._identity.close()
        self._identity = self._identity_guard(node_id)

    def _identity_guard(self, node_id: str) -> IdentityGuard:
        return IdentityGuard(
            node_id=node_id, mine=self._holder, joining=lambda: not self.role.settled,
            check_address=self._check_address, outbid=self._outbid,
            give_up=self._give_up_name)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``coro`` in the background until ``stop`` cancels it."""
        task = asyncio.get_running_loop().create_task(coro, name=name)

        async def cancel() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

        self._stack.push_async_callback(cancel)

    def _cancel_timers(self) -> None:
        self.publisher.cancel_deferred()

    async def _stop_gossip(self) -> None:
        if self._silencing is not None:
            await self._silencing  # gave our id up: gossip already stopped, no leave
        transport = self.transport
        if transport is None or not transport.running:
            return
        if self._leave_on_stop:
            sd_notify.notify_stopping()
            done = await transport.leave(timeout=LEAVE_TIMEOUT_S)
            log.info("left the cluster (%s)", "broadcast done" if done else "timed out")
        self._persist_incarnation()
        await transport.stop()

    async def _close_store(self) -> None:
        if self._writer is not None:
            await self._writer.aclose()  # every write submitted so far is on disk
        self.store = None

    def _api_needed(self) -> bool:
        """Whether the REST stack must run now, before any client connects: it was asked
        for (``--api-eager``), alerts are configured, or this node is the coordinator (it
        runs the HTTP-heartbeat monitor)."""
        config = self.config
        return config.api_eager or bool(config.alert_webhook) or self.role.is_coordinator

    def _build_app(self) -> web.Application:
        """The REST app over a new gossip view (once the REST stack is imported)."""
        from api.app import create_app
        from api.keys import KEY_CONTROL, USER_EVENT_CONTROL

        from .api_observers import attach_observers
        from .key_api import ClusterKeyControl
        from .user_event_api import ClusterUserEventControl
        from .view import GossipClusterView

        config = self.config
        view = GossipClusterView(self, self.registry, clock=self._wall)
        for member in self.members():  # what happened before the view existed
            view.observe_member(member, "joined")
        self.view = view
        app = create_app(
            view, forwarder=self.channel.forward_write,
            api_token=config.api_token, cors_origins=tuple(config.cors_origins),
            alert_webhook=config.alert_webhook, check_interval_s=config.check_interval)
        app.router.add_post("/api/v1/agent/leave", self._http_leave)
        app[KEY_CONTROL] = ClusterKeyControl(self.cluster_keys)
        app[USER_EVENT_CONTROL] = ClusterUserEventControl(self.user_events)
        app.router.add_post("/api/v1/agent/reload", self._http_reload)
        attach_observers(app, self)
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
            await self.stop(leave=not self._identity.gave_up)
        return self.exit_code

    def request_leave(self) -> None:
        """Leave the cluster gracefully and stop (signal handlers, API, directives)."""
        self._stop.set()

    async def stop(self, *, leave: bool) -> None:
        """Undo ``start`` in reverse order: timers and background tasks, gossip (leaving
        first if ``leave``), the API, then the store once its pending writes are done.
        Idempotent."""
        self._leave_on_stop = leave
        await self._stack.aclose()

    async def _http_leave(self, request: web.Request) -> web.Response:
        """``POST /api/v1/agent/leave``: this node leaves gracefully, then the process exits.
        Local to this node (never forwarded)."""
        from aiohttp import web

        asyncio.get_running_loop().call_later(0.1, self.request_leave)
        return web.json_response({"success": True, "node_id": self.node_id,
                                  "message": "leaving the cluster"}, status=202)

    async def _http_reload(self, request: web.Request) -> web.Response:
        """``POST /api/v1/agent/reload``: this node re-reads its settings (``reload``).
        Local to this node (never forwarded)."""
        return http_answer(self.node_id, self.reload())

    def reload(self) -> ReloadOutcome:
        """Read the settings again and apply what may change at run time, keeping the
        membership (``node.reload``). A bad configuration changes nothing."""
        return self._reloader.reload()

    async def _notify_ready(self, joiner: Joiner) -> None:
        """Tell a service manager the agent is ready once the first join attempt ended."""
        await joiner.first_attempt_done.wait()
        alive = sum(1 for m in self.members() if m.state == MemberState.ALIVE)
        sd_notify.notify_ready(f"{alive} member(s) alive")

    # --- reload (node.reload calls these) ----------------------------------------------------

    def _relabel(self, config: NodeConfig) -> None:
        meta = self._meta.replace(skills=tuple(config.skills), tags=tuple(config.tags),
                                  max_concurrent_tasks=config.max_concurrent_tasks)
        try:
            encode_meta(meta)
        except MetadataTooLarge as exc:
            raise NodeConfigError(config.written_as("skills"), str(exc)) from None
        self._set_meta(meta)

    def _reconfigure_api(self, config: NodeConfig) -> None:
        server = self.api
        if server is not None:
            from api.app import reconfigure
            reconfigure(server.app, api_token=config.api_token,
                        alert_webhook=config.alert_webhook)
        if config.alert_webhook and self._api is not None:
            self._api.wanted.set()  # alerts need the REST stack running

    def _adopt_config(self, config: NodeConfig) -> None:
        self.config = config

    # --- AgentControl (used by the view) ----------------------------------------------------

    def members(self) -> list[Member]:
        transport = self.transport
        if transport is None:
            return []
        try:
            return transport.core.members()
        except RuntimeError:  # not started yet
            return []

    def meta_of(self, member: Member) -> NodeMeta:
        cached = self._meta_cache.get(member.meta)
        if cached is None:
            cached = decode_meta(member.meta)
            self._meta_cache[member.meta] = cached
            if len(self._meta_cache) > META_CACHE_ENTRIES:
                self._meta_cache.popitem(last=False)
        return cached

    def heartbeat_of(self, node_id: str) -> HeartbeatRecord | None:
        return self.heartbeats.get(node_id)

    def coordinator_state(self) -> tuple[str | None, int]:
        return self.role.coordinator, self.role.term

    def api_url_of(self, meta: NodeMeta) -> str | None:
        return f"http://{meta.api}" if meta.api else None

    def suspect_since(self, node_id: str) -> float | None:
        return self._suspect_since.get(node_id)

    def coordinate_of(self, node_id: str) -> Coordinate | None:
        transport = self.transport
        if transport is None:
            return None
        try:
            return transport.core.coordinate_of(node_id)
        except RuntimeError:  # not started yet
            return None

    def apply_tasks(self, values: dict[str, Any]) -> None:
        self.publisher.apply_tasks(values)

    def apply_maintenance(self, enabled: bool) -> None:
        if self._meta.maintenance != enabled:
            self._set_meta(self._meta.replace(maintenance=enabled))
            # Gossip reports other members' switches; our own is published here.
            transport = self.transport
            own = (transport.core.member(self.node_id)
                   if transport is not None and transport.running else None)
            address = host_port(*own.address) if own is not None else ""
            self.events.publish(ClusterEvent(EventKind.MAINTENANCE, self.node_id, address,
                                             self._wall(), {"enabled": enabled, "worker": False}))

    async def send_directive(self, target: str, action: str, value: Any) -> None:
        """Deliver a directive to member ``target`` over the request channel.

        Raises:
            DirectiveNotAcknowledged: the member never acknowledged it.
        """
        directive, body = self._outbox.new(target, action, value)
        self._inbox.remember(directive.id)  # our own: never for us to apply
        log.info("directive %s to %s: %s %r", directive.id, target, action, value)
        verdict = await self.channel.send_directive(directive, body)
        log.info("directive %s acknowledged by %s (%s)", directive.id, target, verdict.value)

    async def make_durable(self, record: HttpNodeRecord) -> list[str]:
        """Return once ``record`` (just written by this coordinator) is committed to this
        node's store and confirmed by enough members (``node.write_replicas``).

        Returns:
            The members that confirmed.

        Raises:
            NotReplicated: the own store write failed, or too few members confirmed.
        """
        async def own_commit() -> None:
            if self._writer is not None:
                try:
                    await self._writer.settled()  # the write ``on_change`` submitted
                except Exception as exc:
                    raise NotReplicated(f"this node's store write failed: {exc}") from exc

        _, confirmed = await asyncio.gather(own_commit(), self.replicas.confirm(record.to_bytes()))
        return confirmed

    def partition(self) -> PartitionStatus:
        """How much of the last stable view this node reaches (``node.partition``)."""
        return partition_status(self.members())

    def replicas_candidates(self) -> list[str]:
        """Live claw members other than this node: each keeps a store."""
        return [m.name for m in self.members()
                if m.name != self.node_id and m.state == MemberState.ALIVE and m.is_claw]

    async def _serve_replica(self, call: ChannelCall) -> bytes:
        """A record from the coordinator: merge it, answer once it is in our store."""
        record = HttpNodeRecord.from_bytes(call.body)  # ValueError: answered as an error
        if self.replicated.merge_registered(record):
            # Gossip it on too, in gossip rounds of its own (app messages otherwise only
            # ride on probes): the coordinator may die right after the answer, before its
            # own broadcast went out; the replicas are then the epidemic's sources.
            self._broadcast(encode_app(APP_REGISTRY, record.to_bytes()),
                            key=f"reg:{record.node_id}", urgent=True)
        if self._writer is None:
            raise RuntimeError("no store")
        await self._writer.settled()  # our copy (or a newer one) is committed
        return REPLICA_CONFIRMED

    def _local_api_url(self) -> str | None:
        """This node's own API as seen from this host (a wildcard bind: loopback)."""
        port = self.api_port
        if port is None:
            return None
        host = self.config.api_address[0]
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        return f"http://{host_port(host, port)}"

    def force_leave(self, name: str, *, prune: bool) -> bool:
        """Serf's force-leave of member ``name`` (``SwimProtocol.force_leave``); False
        if gossip is not running (starting or stopping)."""
        transport = self.transport
        if transport is None or not transport.running:
            return False
        transport.invoke(lambda core, now: core.force_leave(name, now, prune=prune))
        log.info("force-leave %s%s", name, " (prune)" if prune else "")
        return True

    # --- directives -------------------------------------------------------------------------

    def _on_directive(self, directive: Directive) -> Verdict:
        """Judge a directive (from the channel, or gossiped by an older coordinator) and
        act on it if it is ours and new."""
        verdict = self._inbox.receive(directive)
        if verdict is Verdict.STALE:
            self.stats["directives_stale"] += 1
        if verdict is not Verdict.APPLY:
            return verdict
        self.stats["directives_applied"] += 1
        log.info("directive %s from the coordinator: %s %r", directive.id, directive.action,
                 directive.value)
        if directive.action == "maintenance" and isinstance(directive.value, bool):
            self.apply_maintenance(directive.value)
        elif directive.action == "tasks" and isinstance(directive.value, dict):
            self.apply_tasks(task_values(directive.value))
        elif directive.action == "shutdown":
            # After the acknowledgement has gone out: leaving closes the gossip port.
            asyncio.get_running_loop().call_later(0.1, self.request_leave)
        return verdict

    # --- gossip plumbing --------------------------------------------------------------------

    def _gossiping(self) -> bool:
        return self.transport is not None and self.transport.running

    def _broadcast(self, body: bytes, *, key: str, urgent: bool = False) -> None:
        transport = self.transport
        if transport is None or not transport.running:
            return
        try:
            transport.broadcast_app(body, key=key, urgent=urgent)
        except LocalProtocolError:
            # Bigger than a datagram (e.g. a registration with many long skills): it
            # still reaches every node through push-pull anti-entropy.
            self.stats["app_too_large"] += 1

    def _set_meta(self, meta: NodeMeta) -> None:
        self._meta = meta
        if self.transport is not None and self.transport.running:
            self.transport.set_meta(encode_meta(meta))
            self._persist_incarnation()
        self._reelect()

    def _holder(self) -> Holder:
        """This node as a holder of its id (``node.identity``)."""
        me = self.transport.core.member(self.node_id) if self._gossiping() else None
        address = me.address if me is not None else ("", 0)
        return Holder(uuid=self.node_uuid, started_at=self.started_at, address=address)

    def _check_address(self, name: str, address: Address) -> None:
        if self.transport is not None and self.transport.running:
            self.transport.invoke(lambda core, now: core.check_address(name, address, now))

    def _outbid(self, incarnation: int, other: Address) -> None:
        """Announce ourselves above another holder's incarnation (and tell it, at
        ``other``); persist it, and let our heartbeats carry it as their epoch so they
        outrank any the other sent."""
        transport = self.transport
        if transport is not None and transport.running:
            transport.invoke(lambda core, now: core.outbid(incarnation, now, tell=other))
            self.publisher.identify(self.node_id, transport.core.incarnation)
            self._persist_incarnation()

    def _give_up_name(self, line: str) -> None:
        """Another live node keeps our id: exit ``IDENTITY_CONFLICT`` without leaving."""
        log.error("%s", line)
        self.exit_code = exit_codes.IDENTITY_CONFLICT
        transport = self.transport
        if transport is not None and transport.running:
            # Silent at once: nothing more goes out under the id while start-up ends.
            self._silencing = asyncio.get_running_loop().create_task(transport.stop())
        self.request_leave()

    def _reannounce(self, late_s: float) -> None:
        """Suspended (laptop sleep): peers may think us dead. Re-announce with a higher
        incarnation and sync state now instead of flapping."""
        if self.transport is not None:
            self.transport.reannounce()
            self._persist_incarnation()

    def _on_event(self, event: Event) -> None:
        if isinstance(event, (QueryReceived, QueryAnswered, QueryFinished, UserEventReceived)):
            if self.cluster_keys is not None:
                self.cluster_keys.on_event(event)
            if self.user_events is not None:
                self.user_events.on_event(event)
        elif isinstance(event, AppMessage):
            directive = self.replicated.receive(event.body)
            if directive is not None:
                self._on_directive(directive)
        elif isinstance(event, AppState):
            self.replicated.merge_state(event.body)
        elif isinstance(event, JoinResult):
            if self._joiner is not None:
                self._joiner.on_result(event)
        elif isinstance(event, Refuted):
            log.info("refuted a rumour by %s at incarnation %d", event.accuser, event.incarnation)
            self._persist_incarnation()
        elif isinstance(event, NameConflict):
            self._identity.on_conflict(event)
        elif isinstance(event, AddressChecked):
            self._identity.on_address_checked(event)
        elif isinstance(event, MEMBER_CHANGES):
            self._on_member(event)

    def _to_event_handlers(self, event: ClusterEvent) -> None:
        if self.user_events is not None:
            self.user_events.on_cluster_event(event)

    def _member_tags(self, node_id: str) -> dict[str, str]:
        """A member's gossip tags (for event handler stdin); {} if unknown."""
        transport = self.transport
        if transport is None or not transport.running:
            return {}
        for member in transport.core.members():
            if member.name == node_id:
                try:
                    return decode_tags(member.meta)
                except GossipError:  # tags that are not Serf's encoding
                    return {}
        return {}

    def _on_member(self, event: MemberChange) -> None:
        for cluster_event in self._member_events.translate(event):
            self.events.publish(cluster_event)
        member = event.member
        if isinstance(event, MemberJoined):
            first = self._peer_memory.member_joined(asyncio.get_running_loop().time())
            if first and member.name != self.node_id:
                self._persist(_remember({member.name: member.address}))
        if isinstance(event, MemberSuspected):
            self._suspect_since.setdefault(member.name, self._wall())
        else:
            self._suspect_since.pop(member.name, None)
        if self.view is not None:
            reason = type(event).__name__.removeprefix("Member").lower()
            self.view.observe_member(member, reason)
        self._reelect_soon()

    def _on_registry_write(self, record: HttpNodeRecord) -> None:
        self._publish_all(self._worker_events_of(record))
        self._persist_registered(record)
        self._broadcast(encode_app(APP_REGISTRY, record.to_bytes()), key=f"reg:{record.node_id}")

    def _on_registered_merged(self, record: HttpNodeRecord) -> None:
        self._publish_all(self._worker_events_of(record))
        self._persist_registered(record)

    def _worker_events_of(self, record: HttpNodeRecord) -> list[ClusterEvent]:
        if record.removed:
            return self._worker_events.removed(record.node_id)
        return self._worker_events.observe(record)

    def _publish_all(self, events: list[ClusterEvent]) -> None:
        for event in events:
            self.events.publish(event)

    # --- election ---------------------------------------------------------------------------

    def _settle(self) -> None:
        """Joining is over (or failed long enough): this node may claim the role."""
        self.role.settled = True
        self._reelect()

    def _reelect_soon(self) -> None:
        """Re-run the election once after the current burst of events (O(n) each), at
        most every ``REELECT_COALESCE_S``."""
        if not self._reelect_pending:
            self._reelect_pending = True
            asyncio.get_running_loop().call_later(REELECT_COALESCE_S, self._reelect_now)

    def _reelect_now(self) -> None:
        self._reelect_pending = False
        if self._gossiping():
            self._reelect()

    def _reelect(self) -> None:
        members = self.members()
        if not members:
            return
        before = (self.role.coordinator, self.role.term)
        change, meta = self.role.reelect(members, self._meta, self.meta_of)
        if (self.role.coordinator, self.role.term) != before:
            self._publish_coordinator(members, before[0])
        if change.persist_term is not None:
            self._persist(_record_term(change.persist_term))
        if self.role.is_coordinator and self._api is not None:
            self._api.wanted.set()  # the coordinator runs the HTTP-heartbeat monitor
        if meta is not None:
            self._set_meta(meta)

    def _publish_coordinator(self, members: list[Member], previous: str | None) -> None:
        name = self.role.coordinator or ""
        address = next((host_port(*m.address) for m in members if m.name == name), "")
        self.events.publish(ClusterEvent(
            EventKind.COORDINATOR, name, address, self._wall(),
            {"term": self.role.term, "previous": previous or ""}))

    # --- housekeeping and persistence -------------------------------------------------------

    async def _peer_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(PEER_CHECK_INTERVAL_S)
            members = self.members()
            names = {m.name for m in members}
            self.heartbeats.prune(names | {self.node_id})
            for name in [n for n in self._suspect_since if n not in names]:
                del self._suspect_since[name]
            if self.view is not None:
                self.view.forget_missing(names)
            self._member_events.forget_missing(names)
            peers = {m.name: m.address for m in members
                     if m.name != self.node_id and m.state == MemberState.ALIVE}
            if self._peer_memory.due(loop.time(), bool(peers)) and self._writer is not None:
                with contextlib.suppress(Exception):  # logged by the writer; next round
                    await self._writer.write(_remember(peers))

    def _sample(self) -> ResourceSnapshot:
        assert self._sampler is not None  # set by start, before the resource loop runs
        return self._sampler()

    def _persist(self, write: StoreWrite) -> None:
        if self._writer is not None:
            self._writer.submit(write)

    def _persist_incarnation(self) -> None:
        transport = self.transport
        if transport is None or self.store is None:
            return
        try:
            incarnation = transport.core.incarnation
        except RuntimeError:  # not started yet
            return
        if incarnation > 0:
            try:
                self.store.record_incarnation(incarnation)  # rare and must not be lost
            except Exception:
                log.exception("could not persist incarnation %d", incarnation)

    def _persist_registered(self, record: HttpNodeRecord) -> None:
        data = record.to_dict()
        self._persist(lambda store: store.save_registered(record.node_id, data))


def _no_config_source() -> NodeConfig:
    raise NodeConfigError("reload", "this agent was started without settings to read "
                                    "again (not from the claw-node command line)")


def _remember(peers: dict[str, Address]) -> StoreWrite:
    return lambda store: store.remember_peers(peers)


def _record_term(term: int) -> StoreWrite:
    return lambda store: store.record_term(term)
