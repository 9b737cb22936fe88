"""``Agent``: the composition root of a claw-node process.

Wires the store (identity, incarnation, peers, registry), the gossip transport, the
resource loop (sampling, heartbeats, clock-jump detection), the election, and the REST
API (every node serves it; the API forwards writes to the coordinator).

Membership first: ``start`` binds the API socket (so its address is in the node's
metadata and a taken port fails at once), starts gossip and the first join, and only then
imports the REST stack (aiohttp, api/, pydantic: ~0.4 s of CPU, ~20 MiB) in a worker
thread while the event loop keeps answering probes, and serves the API on the socket bound
before. A member that is not the coordinator (and has no ``--alert-webhook`` or
``--api-eager``) does so only when the first client connects: connections wait in the
socket's backlog meanwhile, so the first request takes ~0.5 s longer.

    agent = Agent(config)
    exit_code = await agent.run()        # until SIGINT/SIGTERM or a leave request
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import ipaddress
import itertools
import logging
import random
import signal
import socket
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from api.registry import HttpNodeRecord, HttpNodeRegistry
from api.server import ApiServer, bind_api_socket, check_bind_safety
from gossip.config import GossipConfig, agent_profile
from gossip.errors import LocalProtocolError
from gossip.events import (
    AppMessage,
    AppState,
    Event,
    JoinResult,
    Member,
    MemberFailed,
    MemberJoined,
    MemberLeft,
    MemberRecovered,
    MemberSuspected,
    MemberUpdated,
    NameConflict,
    Refuted,
)
from gossip.protocol import SwimProtocol
from gossip.types import Address, MemberState
from gossip.udp import GossipTransport

from . import __version__
from .app_messages import (
    APP_DIRECTIVE,
    APP_HEARTBEAT,
    APP_REGISTRY,
    Directive,
    decode_app,
    decode_directive,
    decode_heartbeat_payload,
    decode_state,
    encode_app,
    encode_directive,
    encode_state,
    heartbeat_message,
)
from .config import NodeConfig, NodeConfigError, parse_host_port
from .election import Candidate, decide_claim
from .heartbeat import (
    TASK_FIELDS,
    HeartbeatRecord,
    HeartbeatSchedule,
    HeartbeatTable,
    min_send_interval,
)
from .metadata import MetadataTooLarge, NodeMeta, decode_meta, encode_meta
from .platform_info import (
    default_route_ip,
    normalise_arch,
    normalise_platform,
    tailscale_ip,
)
from .platform_info import (
    hostname as machine_hostname,
)
from .resources import HostCpuMeter, PsutilSampler, ResourceSnapshot, Sampler
from .store import NodeStore

if TYPE_CHECKING:
    from aiohttp import web

    from .view import GossipClusterView

__all__ = ["CLOCK_JUMP_S", "LEAVE_TIMEOUT_S", "PEER_SAVE_INTERVAL_S", "Agent", "MemberEvent",
           "MemberObserver"]

log = logging.getLogger(__name__)

MemberEvent = (MemberJoined | MemberUpdated | MemberRecovered | MemberSuspected | MemberFailed
               | MemberLeft)
"""A change of one member's state, as the gossip layer reports it."""
MemberObserver = Callable[[MemberEvent], None]
"""Called with each ``MemberEvent`` before the agent acts on it (``Agent.add_member_observer``)."""
_MEMBER_EVENTS = (MemberJoined, MemberUpdated, MemberRecovered, MemberSuspected, MemberFailed,
                  MemberLeft)

LEAVE_TIMEOUT_S = 5.0
"""Longest wait for the leave broadcasts to go out (Serf's BroadcastTimeout, 5 s)."""
CLOCK_JUMP_S = 10.0
"""A resource tick arriving this many seconds later than planned (by the wall clock or
the monotonic clock) means the machine was suspended: re-announce at once."""
PEER_SAVE_INTERVAL_S = 30.0
"""How often alive peers are written to the store (for rejoining without --join) when
nobody joined since the last write."""
PEER_CHECK_INTERVAL_S = 2.0
"""How often a membership change is looked for, to save the peers soon after a join."""
PEER_QUIET_S = 5.0
"""New peers are saved once no member has joined for this long (seconds), or after
``PEER_SAVE_INTERVAL_S``: while a cluster forms, every join would otherwise rewrite the
peer table (an fsync per agent every ``PEER_CHECK_INTERVAL_S``)."""
REELECT_COALESCE_S = 0.25
"""Membership events within this many seconds share one re-election (each is O(members));
in a 100-agent start storm re-elections were 12 % of an agent's CPU (py-spy)."""
HEARTBEAT_MIN_INTERVAL_S = 1.0
"""Floor of the time between two heartbeats of this node, seconds (``min_send_interval``
raises it with cluster size to stay within ``--heartbeat-budget``)."""
JOIN_GRACE_S = 10.0
"""Failed joining this long: run alone (elect ourselves) while still retrying."""
JOIN_BACKOFF_START_S = 1.0
"""First wait between two join attempts; doubles up to ``--join-backoff-max``."""
META_CACHE_ENTRIES = 4096
"""Decoded metadata kept (keyed by the raw bytes), so elections don't re-decode."""
DIRECTIVE_RESEND_S = (1.0, 3.0, 7.0)
"""Seconds after the first send at which a directive is sent again (broadcast and direct)."""
SEEN_DIRECTIVES = 1024
"""Directive ids remembered to drop repeats."""
FIRST_JOIN_WAIT_S = 2.0
"""Longest wait, seconds, for the first join attempt before the REST stack is imported
(importing it takes the CPU the join needs; an unanswered join does not hold the API)."""
API_QUIET_S = 0.5
"""After the first join, the REST stack is imported once no member has joined for this
long (seconds): in a cluster starting all at once, the ~0.5 s of CPU each agent spends on
imports would otherwise slow the membership work of the agents still starting."""
API_CALM_BUSY = 0.9
"""Host CPU busy fraction (0..1, over the last ``API_CALM_POLL_S``) below which the REST
stack may be imported (``Agent._defer_api``)."""
API_CALM_POLL_S = 0.25
"""Seconds between two checks of that calm."""
IMPORT_SWITCH_INTERVAL_S = 0.0005
"""The interpreter's thread switch interval, seconds, while the REST stack is imported
in a worker thread (Python's default: 0.005; see ``Agent._serve_api``)."""
API_DEFER_MAX_S = 30.0
"""Longest time, seconds from the start of gossip, that the imports wait for that calm.
Without the CPU condition and with 5 s, the seed of a 100-agent start on 2 cores (also
its coordinator) imported the REST stack while the other agents started and joined
through it, fell seconds behind on probes, and was declared failed by 83 of them
(``python -m simulations.versus_serf --nodes 100``)."""


class Agent:
    """One claw-node process.

    Args:
        config: the settings.
        sampler: resource sampler (default: psutil on the data dir's filesystem).
        wall_clock: unix time (tests inject one).
        host_busy: the host's CPU busy fraction since its previous call, or None
            (default: ``HostCpuMeter``); it gates the REST stack's import.
    """

    version = __version__

    def __init__(self, config: NodeConfig, *, sampler: Sampler | None = None,
                 wall_clock: Callable[[], float] = time.time,
                 host_busy: Callable[[], float | None] | None = None) -> None:
        self.config = config
        self._sampler = sampler
        self._host_busy = host_busy or HostCpuMeter()
        self._wall = wall_clock
        self.heartbeat_timeout_s = config.heartbeat_timeout
        self.check_interval_s = config.check_interval
        self.gossip_config: GossipConfig = agent_profile(config.gossip_config())
        self.node_id = ""
        self.store: NodeStore | None = None
        self.transport: GossipTransport | None = None
        self.api: ApiServer | None = None
        self.api_port: int | None = None
        """The API's bound TCP port (set by ``start``; it listens before it serves)."""
        self.view: GossipClusterView | None = None
        self.registry = HttpNodeRegistry(heartbeat_timeout_s=config.heartbeat_timeout,
                                         on_change=self._on_registry_write)
        self.heartbeats = HeartbeatTable(max_entries=self.gossip_config.max_members)
        self._schedule = HeartbeatSchedule(cpu_confirm_s=0.8 * config.resource_interval)
        self._deferred_heartbeat: asyncio.TimerHandle | None = None
        self._meta = NodeMeta()
        self._meta_cache: OrderedDict[bytes, NodeMeta] = OrderedDict()
        self._epoch = 0
        self._seq = itertools.count(1)
        self._tasks: dict[str, Any] = dict.fromkeys(TASK_FIELDS, 0)
        self._tasks["average_execution_time"] = 0.0
        self._fault = ""
        self._last_sample: ResourceSnapshot | None = None
        self._coordinator: str | None = None
        self._term = 0
        self._highest_term = 0
        self._settled = False
        self._peers_dirty = False
        self._reelect_pending = False
        self._suspect_since: dict[str, float] = {}
        self._seen_directives: OrderedDict[str, None] = OrderedDict()
        self._last_directive: dict[tuple[str, str], int] = {}
        """Newest directive sequence applied per (origin coordinator:start, action)."""
        self._directive_ids = itertools.count(1)
        self._join_round: dict[str, Any] | None = None
        self._api_sock: socket.socket | None = None
        self._first_join_done = asyncio.Event()
        self._api_wanted = asyncio.Event()
        """Set when an idle member must serve its API (a client, the coordinator role)."""
        self._last_join_at = 0.0
        self._stop = asyncio.Event()
        self._store_lock = asyncio.Lock()
        self._background: list[asyncio.Task[None]] = []
        self._member_observers: list[MemberObserver] = []
        self.stats: dict[str, int] = dict.fromkeys((
            "app_bad", "heartbeats_applied", "heartbeats_sent",
            "registry_merged", "directives_applied", "clock_jumps", "state_bad_entries",
            "app_too_large", "directives_stale",
        ), 0)
        self.started_at = 0.0
        self.exit_code = 0

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, start gossip and the API, begin joining.

        Raises:
            StoreError: unreadable store / data dir owned by another node or process.
            NodeConfigError: a setting cannot be honoured (e.g. no Tailscale address).
            OSError: a port is taken.
        """
        try:
            await self._start()
        except BaseException:
            await self.stop(leave=False)
            raise

    async def _start(self) -> None:
        await self._start_membership()
        await self._defer_api()
        if self._api_needed():
            await self._serve_api()
        else:  # an idle member: the REST stack waits for its first client
            self._background.append(asyncio.get_running_loop().create_task(
                self._serve_api_on_demand(), name="api-on-demand"))

    async def _start_membership(self) -> None:
        """Store, API socket, gossip, joining, election: everything but the REST stack."""
        config = self.config
        self.store = NodeStore(config.data_dir, wall_clock=self._wall)
        store = self.store
        self.node_id = store.claim_node_id(config.node_id, machine_hostname())
        self._epoch = store.next_start_incarnation()
        self._highest_term = store.max_term
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
        api_host, api_port = config.api_address
        check_bind_safety(api_host, config.api_token, config.insecure_api)
        if self._sampler is None:
            self._sampler = PsutilSampler(config.data_dir)

        bind_host, bind_port = config.bind_address
        ts_ip = config.tailscale_ip or tailscale_ip()
        advertise_host, advertise_port = self._advertise(bind_host, ts_ip)
        self._meta = NodeMeta(
            version=self.version, platform=normalise_platform(), arch=normalise_arch(),
            hostname=config.hostname or machine_hostname(), ip_address=advertise_host,
            tailscale_ip=ts_ip or "", skills=tuple(config.skills), tags=tuple(config.tags),
            port=config.port, max_concurrent_tasks=config.max_concurrent_tasks,
            started_at=self.started_at, no_coordinator=config.no_coordinator,
        )
        try:  # check now, with the longest API address, before anything listens
            encode_meta(self._meta.replace(api="[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"))
        except MetadataTooLarge as exc:
            raise NodeConfigError("--skills", str(exc)) from None
        self._api_sock = bind_api_socket(api_host, api_port)
        api_bound_port = int(self._api_sock.getsockname()[1])
        self.api_port = api_bound_port
        api_public_host = advertise_host if api_host in ("0.0.0.0", "::", "") else api_host
        self._meta = self._meta.replace(api=_host_port(api_public_host, api_bound_port))
        meta_bytes = encode_meta(self._meta)

        def build_core(bound: Address, now: float) -> SwimProtocol:
            port = advertise_port or bound[1]
            return SwimProtocol(
                self.gossip_config, name=self.node_id, address=(advertise_host, port),
                meta=meta_bytes, rng=random.Random(), now=now, incarnation=self._epoch,
                app_state=self._app_state)

        self.transport = GossipTransport(
            build_core, self.gossip_config, bind=(bind_host, bind_port),
            on_event=self._on_event)
        await self.transport.start()
        log.info("node %s started: gossip on %s advertised as %s, API %s (serving shortly), "
                 "incarnation %d", self.node_id, self.transport.address,
                 _host_port(advertise_host, advertise_port or self.transport.address[1]),
                 _host_port(api_host, api_bound_port), self._epoch)
        loop = asyncio.get_running_loop()
        self._background = [
            loop.create_task(self._join_loop(), name="join"),
            loop.create_task(self._resource_loop(), name="resources"),
            loop.create_task(self._peer_loop(), name="peers"),
        ]
        self._reelect()

    async def _defer_api(self) -> None:
        """Wait for a calm moment to import the REST stack (~0.35 CPU-s, in a thread that
        shares the GIL with gossip): the first join attempt done (or ``FIRST_JOIN_WAIT_S``
        passed), no member joined for ``API_QUIET_S``, and the host's CPU less than
        ``API_CALM_BUSY`` busy. At most ``API_DEFER_MAX_S``; a client connecting to the
        API socket ends the wait at once."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        client = asyncio.Event()
        meter = self._host_busy
        meter()
        with self._watching_api_socket(client.set):  # Windows: the bounded wait only
            while not client.is_set() and loop.time() - start < API_DEFER_MAX_S:
                await asyncio.sleep(API_CALM_POLL_S)
                busy = meter()
                now = loop.time()
                joined = self._first_join_done.is_set() or now - start >= FIRST_JOIN_WAIT_S
                quiet = now - self._last_join_at >= API_QUIET_S
                if joined and quiet and (busy is None or busy < API_CALM_BUSY):
                    break
        if client.is_set():
            self._api_wanted.set()

    def _api_needed(self) -> bool:
        """Whether the REST stack must run now, before any client connects: it was asked
        for (``--api-eager``), alerts are configured, or this node is the coordinator (it
        runs the HTTP-heartbeat monitor)."""
        config = self.config
        return (config.api_eager or bool(config.alert_webhook)
                or self._coordinator == self.node_id)

    async def _serve_api_on_demand(self) -> None:
        """Serve the API once a client connects to its socket (pending connections wait
        in the backlog meanwhile) or this node becomes coordinator. An idle member thus
        never pays for aiohttp and pydantic (``simulations/bench_api_rss.py``)."""
        if self._api_sock is None:
            return
        wanted = self._api_wanted
        with self._watching_api_socket(wanted.set) as watching:
            if not watching:  # Windows' proactor loop has no readiness callbacks
                wanted.set()
            await wanted.wait()
        await self._serve_api()

    @contextlib.contextmanager
    def _watching_api_socket(self, on_client: Callable[[], None]) -> Iterator[bool]:
        """Call ``on_client`` when a client connects to the not yet served API socket
        (the connection waits in the backlog); yields False where the event loop cannot
        watch a socket (Windows' proactor) or there is none."""
        sock = self._api_sock
        loop = asyncio.get_running_loop()
        if sock is None:
            yield False
            return
        try:
            loop.add_reader(sock.fileno(), on_client)
        except NotImplementedError:
            yield False
            return
        try:
            yield True
        finally:
            loop.remove_reader(sock.fileno())

    async def _serve_api(self) -> None:
        """Import the REST stack off the event loop, build the view and the app, serve on
        the socket bound by ``_start_membership``."""
        # The importing thread holds the GIL between the event loop's system calls, and
        # the loop waits up to one switch interval to get it back after each one (every
        # datagram read or sent): with the default 5 ms a busy seed fell seconds behind
        # on probes while importing. A shorter interval, for the import only.
        switch = sys.getswitchinterval()
        sys.setswitchinterval(min(switch, IMPORT_SWITCH_INTERVAL_S))
        try:
            await asyncio.to_thread(_import_rest_stack, self.config.needs_tls)
        finally:
            sys.setswitchinterval(switch)
        from api.app import create_app

        from .view import GossipClusterView

        config = self.config
        view = GossipClusterView(self, self.registry, clock=self._wall)
        for member in self.members():  # what happened before the view existed
            view.observe_member(member, "joined")
        self.view = view
        app = create_app(
            view, api_token=config.api_token, cors_origins=tuple(config.cors_origins),
            alert_webhook=config.alert_webhook, check_interval_s=config.check_interval)
        app.router.add_post("/api/v1/agent/leave", self._http_leave)
        sock, self._api_sock = self._api_sock, None
        self.api = ApiServer(app, host=config.api_address[0], sock=sock)
        await self.api.start()
        log.info("node %s: API serving on %s", self.node_id, self.api.url)

    def _advertise(self, bind_host: str, ts_ip: str | None) -> tuple[str, int]:
        """(host, port) peers dial; port 0 means "the bound port"."""
        advertise = self.config.advertise
        if advertise == "tailscale":
            if not ts_ip:
                raise NodeConfigError("--advertise", "tailscale: no Tailscale address found on "
                                                     "this machine (is tailscaled up?)")
            return ts_ip, 0
        if advertise:
            host, port = parse_host_port(advertise, default_port=0)
            return _resolve(host, "--advertise"), port
        if bind_host in ("0.0.0.0", "::", ""):
            return default_route_ip(), 0
        return bind_host, 0

    async def run(self) -> int:
        """Start, serve until SIGINT/SIGTERM or a leave request, leave gracefully, stop.

        Returns:
            The process exit code (0 after a graceful leave).
        """
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):  # a signal during start-up waits for it
            with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows: KeyboardInterrupt
                loop.add_signal_handler(signum, self.request_leave)
        await self.start()  # on failure it cleans up and raises
        try:
            await self._stop.wait()
        finally:
            await self.stop(leave=True)
        return self.exit_code

    def request_leave(self) -> None:
        """Leave the cluster gracefully and stop (signal handlers, API, directives)."""
        self._stop.set()

    async def stop(self, *, leave: bool) -> None:
        """Leave (if ``leave``), stop the API and gossip, close the store. Idempotent."""
        if self._deferred_heartbeat is not None:
            self._deferred_heartbeat.cancel()
            self._deferred_heartbeat = None
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._background = []
        transport = self.transport
        if transport is not None and transport.running:
            if leave:
                done = await transport.leave(timeout=LEAVE_TIMEOUT_S)
                log.info("left the cluster (%s)", "broadcast done" if done else "timed out")
            self._persist_incarnation()
            await transport.stop()
        if self.api is not None:
            await self.api.stop()
            self.api = None
        if self._api_sock is not None:  # stopped before the API was served
            self._api_sock.close()
            self._api_sock = None
        if self.store is not None:
            async with self._store_lock:
                self.store.close()
            self.store = None

    async def _http_leave(self, request: web.Request) -> web.Response:
        """``POST /api/v1/agent/leave``: this node leaves gracefully, then the process exits.
        Local to this node (never forwarded)."""
        from aiohttp import web

        asyncio.get_running_loop().call_later(0.1, self.request_leave)
        return web.json_response({"success": True, "node_id": self.node_id,
                                  "message": "leaving the cluster"}, status=202)

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
        return self._coordinator, self._term

    def api_url_of(self, meta: NodeMeta) -> str | None:
        return f"http://{meta.api}" if meta.api else None

    def suspect_since(self, node_id: str) -> float | None:
        return self._suspect_since.get(node_id)

    def apply_tasks(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if key in TASK_FIELDS:
                self._tasks[key] = value
        self._publish_heartbeat(force=False)

    def apply_maintenance(self, enabled: bool) -> None:
        if self._meta.maintenance != enabled:
            self._set_meta(self._meta.replace(maintenance=enabled))

    def send_directive(self, target: str, action: str, value: Any) -> None:
        ident = f"{self.node_id}:{self._epoch}:{next(self._directive_ids)}"
        self._remember_directive(ident)
        body = encode_directive(Directive(target, action, value, ident))
        log.info("directive %s to %s: %s %r", ident, target, action, value)
        send = functools.partial(self._send_directive, target, body, f"dir:{ident}")
        send()
        # Directives are not carried by push-pull, and an epidemic with few retransmits
        # (the local profile relays each app message twice) can miss the target: each
        # send also goes straight to it, and is repeated a few times (receivers drop
        # repeats by digest and by ident).
        loop = asyncio.get_running_loop()
        for delay in DIRECTIVE_RESEND_S:
            loop.call_later(delay, send)

    def _send_directive(self, target: str, body: bytes, key: str) -> None:
        self._broadcast(body, key=key, urgent=True)
        transport = self.transport
        if transport is not None and transport.running:
            transport.send_app_to(target, body)

    # --- gossip plumbing --------------------------------------------------------------------

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

    def _app_state(self) -> bytes:
        return encode_state(self.heartbeats, (r.to_bytes() for r in self.registry),
                            now_s=self._wall())

    def _on_event(self, event: Event) -> None:
        if isinstance(event, AppMessage):
            self._on_app_message(event.body)
        elif isinstance(event, AppState):
            self._on_app_state(event.body)
        elif isinstance(event, JoinResult):
            self._on_join_result(event)
        elif isinstance(event, Refuted):
            log.info("refuted a rumour by %s at incarnation %d", event.accuser, event.incarnation)
            self._persist_incarnation()
        elif isinstance(event, NameConflict):
            log.error("node id %r is claimed by %s too: ids must be unique",
                      event.existing.name, event.claimed_by)
        elif isinstance(event, _MEMBER_EVENTS):
            self._on_member(event)

    def add_member_observer(self, observer: MemberObserver) -> None:
        """Call ``observer`` with every membership event, before the agent acts on it.

        For harnesses that log or count membership changes
        (``simulations.versus_serf.claw_shim``). An observer must not block; one that
        raises is logged and the agent carries on.
        """
        self._member_observers.append(observer)

    def _on_member(self, event: MemberEvent) -> None:
        for observer in self._member_observers:
            try:
                observer(event)
            except Exception:
                log.exception("member observer %r failed", observer)
        member: Member = event.member
        if isinstance(event, MemberJoined):
            self._peers_dirty = True
            self._last_join_at = asyncio.get_running_loop().time()
        if isinstance(event, MemberSuspected):
            self._suspect_since.setdefault(member.name, self._wall())
        else:
            self._suspect_since.pop(member.name, None)
        if self.view is not None:
            reason = type(event).__name__.removeprefix("Member").lower()
            self.view.observe_member(member, reason)
        self._reelect_soon()

    def _reelect_soon(self) -> None:
        """Re-run the election once after the current burst of events (O(n) each), at
        most every ``REELECT_COALESCE_S``."""
        if not self._reelect_pending:
            self._reelect_pending = True
            asyncio.get_running_loop().call_later(REELECT_COALESCE_S, self._reelect_now)

    def _reelect_now(self) -> None:
        self._reelect_pending = False
        if self.transport is not None and self.transport.running:
            self._reelect()

    def _on_app_message(self, body: bytes) -> None:
        try:
            kind, payload = decode_app(body)
            if kind == APP_HEARTBEAT:
                rec = decode_heartbeat_payload(payload)
                # The gossip core relays every new app message itself (epidemic).
                if rec.node != self.node_id and self.heartbeats.apply(rec):
                    self.stats["heartbeats_applied"] += 1
            elif kind == APP_REGISTRY:
                record = HttpNodeRecord.from_bytes(payload)
                if self.registry.merge(record):
                    self.stats["registry_merged"] += 1
                    self._persist_registered(record)
            elif kind == APP_DIRECTIVE:
                self._on_directive(decode_directive(payload))
            else:
                self.stats["app_bad"] += 1
        except ValueError:
            self.stats["app_bad"] += 1

    def _on_app_state(self, body: bytes) -> None:
        try:
            records, registered, bad = decode_state(body)
        except ValueError:
            self.stats["app_bad"] += 1
            return
        self.stats["state_bad_entries"] += bad
        for rec in records:
            if rec.node != self.node_id and self.heartbeats.apply(rec):
                self.stats["heartbeats_applied"] += 1
        for raw in registered:
            try:
                record = HttpNodeRecord.from_bytes(raw)
                if self.registry.merge(record):
                    self.stats["registry_merged"] += 1
                    self._persist_registered(record)
            except ValueError:
                self.stats["state_bad_entries"] += 1

    def _remember_directive(self, ident: str) -> bool:
        if ident in self._seen_directives:
            return False
        self._seen_directives[ident] = None
        if len(self._seen_directives) > SEEN_DIRECTIVES:
            self._seen_directives.popitem(last=False)
        return True

    def _on_directive(self, directive: Directive) -> None:
        if directive.target != self.node_id or not self._remember_directive(directive.id):
            return
        # Re-sends can arrive after a newer directive of the same kind: apply only the
        # newest one per (origin coordinator and start, action).
        origin, _, seq = directive.id.rpartition(":")
        if seq.isdigit():
            last_key = (origin, directive.action)
            if int(seq) < self._last_directive.get(last_key, -1):
                self.stats["directives_stale"] += 1
                return
            self._last_directive[last_key] = int(seq)
            if len(self._last_directive) > SEEN_DIRECTIVES:
                self._last_directive.pop(next(iter(self._last_directive)))
        self.stats["directives_applied"] += 1
        log.info("directive %s from the coordinator: %s %r", directive.id, directive.action,
                 directive.value)
        if directive.action == "maintenance" and isinstance(directive.value, bool):
            self.apply_maintenance(directive.value)
        elif directive.action == "tasks" and isinstance(directive.value, dict):
            self.apply_tasks(_valid_tasks(directive.value))
        elif directive.action == "shutdown":
            self.request_leave()

    def _on_registry_write(self, record: HttpNodeRecord) -> None:
        self._persist_registered(record)
        self._broadcast(encode_app(APP_REGISTRY, record.to_bytes()), key=f"reg:{record.node_id}")

    # --- election ---------------------------------------------------------------------------

    def _reelect(self) -> None:
        members = self.members()
        if not members:
            return
        candidates = []
        highest = self._highest_term
        for m in members:
            meta = self._meta if m.name == self.node_id else self.meta_of(m)
            highest = max(highest, meta.term)
            candidates.append(Candidate(
                node_id=m.name, live=m.state in (MemberState.ALIVE, MemberState.SUSPECT),
                eligible=meta.is_claw and not meta.no_coordinator,
                started_at=meta.started_at, term=meta.term))
        decision = decide_claim(candidates, self_id=self.node_id, my_claim=self._meta.term,
                                highest_seen=highest, settled=self._settled)
        if highest > self._highest_term:
            self._highest_term = highest
            self._persist_term(highest)
        if (decision.coordinator, decision.term) != (self._coordinator, self._term):
            log.info("coordinator: %s (term %d)", decision.coordinator, decision.term)
        self._coordinator, self._term = decision.coordinator, decision.term
        if decision.coordinator == self.node_id:
            self._api_wanted.set()  # the coordinator runs the HTTP-heartbeat monitor
        if decision.my_claim != self._meta.term:
            if decision.my_claim > 0:
                log.info("elected coordinator, term %d", decision.my_claim)
                self._highest_term = max(self._highest_term, decision.my_claim)
                self._persist_term(decision.my_claim)
            else:
                log.info("stepping down as coordinator (term %d)", self._meta.term)
            self._set_meta(self._meta.replace(term=decision.my_claim))

    # --- joining ------------------------------------------------------------------------------

    async def _join_loop(self) -> None:
        """Join through --join seeds (or remembered peers), retrying with backoff until
        one answers. The node counts as settled (may claim the coordinator role) once it
        joined, when it has nobody to join, or after ``JOIN_GRACE_S`` of failures: nodes
        of a cluster booting together then do not each elect themselves for a moment."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        explicit = bool(self.config.join)
        delay = JOIN_BACKOFF_START_S
        while True:
            seeds = await self._resolve_seeds(explicit)
            if not seeds:
                break
            joined = await self._join_once(seeds)
            self._first_join_done.set()
            if joined:
                break
            if not self._settled and loop.time() - started >= JOIN_GRACE_S:
                log.warning("no seed answered (%s); running alone meanwhile, still retrying",
                            ", ".join(f"{h}:{p}" for h, p in seeds))
                self._settled = True
                self._reelect()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.config.join_backoff_max)
        self._first_join_done.set()
        self._settled = True
        self._reelect()

    async def _resolve_seeds(self, explicit: bool) -> list[Address]:
        own = self.transport.address if self.transport else None
        own_advertised = None
        core_self = self.transport.core.member(self.node_id) if self.transport else None
        if core_self is not None:
            own_advertised = core_self.address
        raw = self.config.seeds if explicit else (self.store.known_peers() if self.store else [])
        loop = asyncio.get_running_loop()
        out: list[Address] = []
        for host, port in raw:
            try:
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
            except OSError as exc:
                log.warning("--join %s:%d: cannot resolve: %s", host, port, exc)
                continue
            for info in infos[:1]:
                addr = (str(info[4][0]), int(info[4][1]))
                if addr not in (own, own_advertised) and addr not in out:
                    out.append(addr)
        return out

    async def _join_once(self, seeds: list[Address]) -> bool:
        """One join attempt through every seed; True if any answered."""
        assert self.transport is not None
        done = asyncio.Event()
        self._join_round = {"pending": len(seeds), "ok": False, "done": done}
        self.transport.join(seeds)
        timeout = self.gossip_config.tcp_timeout_s + 2.0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await done.wait()
        ok = bool(self._join_round["ok"])
        self._join_round = None
        if ok:
            log.info("joined the cluster")
        return ok

    def _on_join_result(self, event: JoinResult) -> None:
        round_ = self._join_round
        if round_ is None:
            return
        round_["pending"] -= 1
        if event.ok:
            round_["ok"] = True
            self._settled = True
        else:
            log.debug("join through %s failed: %s", event.seed, event.error)
        if event.ok or round_["pending"] <= 0:
            round_["done"].set()

    # --- resources ----------------------------------------------------------------------------

    async def _resource_loop(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.config.resource_interval
        last_mono, last_wall = loop.time(), self._wall()
        while True:
            await asyncio.sleep(interval)
            mono, wall = loop.time(), self._wall()
            late = max(mono - last_mono, wall - last_wall) - interval
            last_mono, last_wall = mono, wall
            if late > CLOCK_JUMP_S and self.transport is not None:
                # Suspended (laptop sleep): peers may think us dead. Re-announce with a
                # higher incarnation and sync state now instead of flapping.
                self.stats["clock_jumps"] += 1
                log.warning("clock jumped %.1f s (suspended?): re-announcing", late)
                self.transport.reannounce()
                self._persist_incarnation()
            self._sample()
            self._publish_heartbeat(force=False)

    def _sample(self) -> None:
        assert self._sampler is not None
        try:
            self._last_sample = self._sampler()
            if self._fault.startswith("resource sampling"):
                self._fault = ""
        except Exception as exc:  # noqa: BLE001 - a broken sensor is a node fault, not a crash
            self._fault = f"resource sampling failed: {exc}"[:200]

    def _current_record(self) -> HeartbeatRecord:
        s = self._last_sample
        t = self._tasks
        return HeartbeatRecord(
            node=self.node_id, epoch=self._epoch, seq=0, sampled_at=self._wall(),
            cpu_usage=s.cpu_percent if s else 0.0, memory_usage=s.memory_percent if s else 0.0,
            disk_usage=s.disk_percent if s else 0.0, running_tasks=int(t["running_tasks"]),
            total_tasks_processed=int(t["total_tasks_processed"]),
            successful_tasks=int(t["successful_tasks"]), failed_tasks=int(t["failed_tasks"]),
            average_execution_time=float(t["average_execution_time"]), fault=self._fault)

    def _publish_heartbeat(self, *, force: bool) -> None:
        """Update our own row of the table; broadcast it when the schedule says so."""
        transport = self.transport
        if transport is None or not transport.running:
            return
        rec = self._current_record()
        loop = asyncio.get_running_loop()
        now = loop.time()
        body = heartbeat_message(rec)
        n_members = sum(1 for m in self.members() if m.state != MemberState.LEFT)
        interval = min_send_interval(
            base_s=HEARTBEAT_MIN_INTERVAL_S, n_members=n_members,
            retransmit_mult=self.gossip_config.app_retransmit_mult, record_bytes=len(body) + 4,
            budget_bytes_per_s=self.config.heartbeat_budget)
        rec = _with_seq(rec, next(self._seq))
        self.heartbeats.apply(rec)  # our own row: what push-pull carries and we display
        at = now if force else self._schedule.next_send(rec, now, interval)
        if at is None:
            return
        if at <= now:
            if self._deferred_heartbeat is not None:
                self._deferred_heartbeat.cancel()
                self._deferred_heartbeat = None
            self._schedule.sent(rec, now)
            self._broadcast(heartbeat_message(rec), key=f"hb:{self.node_id}")
            self.stats["heartbeats_sent"] += 1
        elif self._deferred_heartbeat is None:
            # A meaningful change inside the rate limit: send the then-current record
            # when the interval ends.
            self._deferred_heartbeat = loop.call_at(at, self._publish_deferred)

    def _publish_deferred(self) -> None:
        self._deferred_heartbeat = None
        self._publish_heartbeat(force=False)

    # --- persistence ------------------------------------------------------------------------

    async def _peer_loop(self) -> None:
        loop = asyncio.get_running_loop()
        last_saved = -PEER_SAVE_INTERVAL_S
        while True:
            await asyncio.sleep(PEER_CHECK_INTERVAL_S)
            members = self.members()
            names = {m.name for m in members}
            self.heartbeats.prune(names | {self.node_id})
            for name in [n for n in self._suspect_since if n not in names]:
                del self._suspect_since[name]
            if self.view is not None:
                self.view.forget_missing(names)
            peers = {m.name: m.address for m in members
                     if m.name != self.node_id and m.state == MemberState.ALIVE}
            now = loop.time()
            quiet = now - self._last_join_at >= PEER_QUIET_S
            if peers and ((self._peers_dirty and quiet) or now - last_saved >= PEER_SAVE_INTERVAL_S):
                self._peers_dirty = False
                last_saved = now
                await self._in_store(_remember(peers))

    async def _in_store(self, fn: Callable[[NodeStore], None]) -> None:
        """Run a store write off the event loop (fsync), one at a time."""
        if self.store is None:
            return
        async with self._store_lock:
            store = self.store
            if store is None:
                return
            try:
                await asyncio.to_thread(fn, store)
            except Exception:
                log.exception("store write failed")

    def _spawn_store(self, fn: Callable[[NodeStore], None]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self._in_store(fn))
        task.add_done_callback(lambda t: None)

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

    def _persist_term(self, term: int) -> None:
        self._spawn_store(lambda s: s.record_term(term))

    def _persist_registered(self, record: HttpNodeRecord) -> None:
        data = record.to_dict()
        self._spawn_store(lambda s: s.save_registered(record.node_id, data))


def _import_rest_stack(tls: bool) -> None:
    """Import aiohttp, the API app and the gossip view (run in a worker thread).

    Importing aiohttp builds two SSL contexts, each parsing the system CA bundle: about
    2.5 MB of RSS and 0.08 s of CPU per agent here (``simulations/bench_agent_start.py``).
    Unless the agent makes HTTPS requests (``tls``) or aiohttp is already imported,
    aiohttp is imported as on a Python built without ``ssl``, which it supports (an https
    URL would fail with "SSL is not supported"). Serving the API and plain-HTTP requests
    are unaffected.
    """
    import importlib
    import sys

    hide_ssl = not tls and "aiohttp" not in sys.modules
    saved = sys.modules.get("ssl")
    if hide_ssl:
        sys.modules["ssl"] = None  # type: ignore[assignment]  # "import ssl" raises ImportError
    try:
        importlib.import_module("aiohttp")
    finally:
        if hide_ssl:
            if saved is None:
                del sys.modules["ssl"]
            else:
                sys.modules["ssl"] = saved
    importlib.import_module("api.app")
    importlib.import_module("node.view")


def _remember(peers: dict[str, Address]) -> Callable[[NodeStore], None]:
    return lambda store: store.remember_peers(peers)


def _with_seq(rec: HeartbeatRecord, seq: int) -> HeartbeatRecord:
    return dataclasses.replace(rec, seq=seq)


def _valid_tasks(values: dict[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in TASK_FIELDS or isinstance(value, bool):
            continue
        if key == "average_execution_time":
            if isinstance(value, (int, float)) and 0 <= value <= 1e9:
                out[key] = float(value)
        elif isinstance(value, int) and 0 <= value <= 1_000_000:
            out[key] = value
    return out


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _resolve(host: str, flag: str) -> str:
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    try:
        return str(socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)[0][4][0])
    except OSError as exc:
        raise NodeConfigError(flag, f"cannot resolve {host!r}: {exc}") from None
