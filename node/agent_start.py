"""``AgentStart``: how an agent starts its membership, in order.

A base class of ``node.agent.Agent`` holding its start sequence: open the store and take
this run's identity, registry and keys from it; bind the API socket (it listens before
it serves); build the gossip transport and the parts that speak through it (the request
channel, durable writes, Serf's key queries, user events), each registered on the
agent's ``AsyncExitStack`` so that ``stop`` undoes them in reverse; start gossip; begin
joining; start the background loops and the election. The REST stack is loaded later,
by ``Agent.start`` (``node.lazy_api``). The parts are built by the agent's ``__init__``;
they are declared here for the type checker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from api.server import bind_api_socket, check_bind_safety
from gossip.keyring import Keyring
from gossip.protocol import SwimProtocol
from gossip.tags import decode_tags
from gossip.types import Address, MemberState
from gossip.udp import GossipTransport

from . import sd_notify
from .advertise import advertise_address, host_port, own_meta
from .agent_controls import AgentControls
from .app_messages import record_version
from .cluster_keys import ClusterKeys, TransportKeyPort
from .event_handlers import HandlerRunner
from .joining import Joiner
from .keyring_file import KEYRING_FILE, settle_keyring
from .lazy_api import LazyApi
from .metadata import encode_meta
from .peer_requests import KIND_REPLICA
from .platform_info import hostname as machine_hostname
from .platform_info import tailscale_ip
from .resources import HostSampler, Sampler
from .store import NodeStore
from .store_writer import StoreWriter
from .user_events import TransportUserPort, UserEvents

if TYPE_CHECKING:
    from aiohttp import web

    from api.registry import HttpNodeRegistry
    from gossip.config import GossipConfig
    from gossip.events import Event

    from .config import NodeConfig
    from .events import EventBus
    from .identity_keeper import IdentityKeeper
    from .registry_feed import RegistryFeed
    from .replication import ReplicatedState

__all__ = ["LEAVE_TIMEOUT_S", "AgentStart"]

log = logging.getLogger(__name__)


LEAVE_TIMEOUT_S = 5.0
"""Longest wait for the leave broadcasts to go out (Serf's BroadcastTimeout, 5 s)."""


class AgentStart(AgentControls):
    """The agent's start sequence (``_start_membership``) and its lifetimes. The parts
    the view's answers use are declared by ``AgentControls``."""

    version: str
    config: NodeConfig
    gossip_config: GossipConfig
    node_id: str
    node_uuid: bytes
    started_at: float
    _epoch: int
    store: NodeStore | None
    _writer: StoreWriter | None
    _sampler: Sampler | None
    _host_busy: Callable[[], float | None]
    _wall: Callable[[], float]
    _stack: contextlib.AsyncExitStack
    _api: LazyApi | None
    _joiner: Joiner | None
    _leave_on_stop: bool
    keyring: Keyring
    cluster_keys: ClusterKeys | None
    user_events: UserEvents | None
    events: EventBus
    feed: RegistryFeed
    registry: HttpNodeRegistry
    replicated: ReplicatedState
    identity: IdentityKeeper

    _build_app: Callable[[], web.Application]
    """Builds the REST app once its stack is imported (``Agent._build_app``)."""
    _on_event: Callable[[Event], None]
    """Where the transport hands gossip events (``AgentEvents._on_event`` routes them)."""

    async def _start_membership(self) -> None:
        """Store, API socket, gossip, joining, election: everything but the REST stack."""
        config, stack = self.config, self._stack
        store = self._open_store()
        api_host, api_port = config.api_address
        check_bind_safety(api_host, config.api_token, config.insecure_api)
        if self._sampler is None:
            self._sampler = HostSampler(config.data_dir)

        bind_host, bind_port = config.bind_address
        ts_ip = config.tailscale_ip or tailscale_ip()
        advertise_host, advertise_port = advertise_address(config, bind_host, ts_ip)
        meta = own_meta(config, version=self.version, advertise_host=advertise_host,
                        ts_ip=ts_ip, started_at=self.started_at, uuid=self.node_uuid)
        api = self._api = LazyApi(
            bind_api_socket(api_host, api_port), host=api_host, tls=config.needs_tls,
            build_app=self._build_app, host_busy=self._host_busy,
            first_join_done=lambda: self._joiner is not None
            and self._joiner.first_attempt_done.is_set(),
            last_join_at=lambda: self.watch.last_join_at)
        stack.push_async_callback(api.aclose)
        api_public_host = advertise_host if api_host in ("0.0.0.0", "::", "") else api_host
        self.advert.meta = meta.replace(api=host_port(api_public_host, api.port))
        meta_bytes = encode_meta(self.advert.meta)

        def build_core(bound: Address, now: float) -> SwimProtocol:
            port = advertise_port or bound[1]
            return SwimProtocol(
                self.gossip_config, name=self.node_id, address=(advertise_host, port),
                meta=meta_bytes, rng=random.Random(), now=now, incarnation=self._epoch,
                app_state=self.replicated.encode_state, keyring=self.keyring,
                clock_offset_s=self._wall() - now,  # probe-order alignment
                app_version_of=record_version)  # one queued relay per record

        transport = self.link.transport = GossipTransport(
            build_core, self.gossip_config, bind=(bind_host, bind_port), on_event=self._on_event)
        self.channel.install(transport)
        transport.set_request_handler(KIND_REPLICA, self.durable.serve_replica)
        stack.push_async_callback(self.channel.aclose)
        stack.push_async_callback(self.durable.aclose)
        stack.push_async_callback(
            lambda: self.link.stop(leave=self._leave_on_stop, timeout_s=LEAVE_TIMEOUT_S))
        self.cluster_keys = ClusterKeys(TransportKeyPort(transport), self.keyring,
                                        config.data_dir / KEYRING_FILE)
        stack.push_async_callback(self.cluster_keys.aclose)
        self.user_events = UserEvents(
            TransportUserPort(transport),
            HandlerRunner.from_specs(config.event_handler, self.node_id, decode_tags(meta_bytes)),
            publish=self.events.publish, wall_clock=self._wall,
            member_tags=self.link.member_tags)
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
            backoff_max_s=config.join_backoff_max, on_settled=self.election.settle)
        self._spawn(self._joiner.run(), "join")
        self._spawn(self._notify_ready(self._joiner), "sd-notify")
        self._spawn(self.publisher.run(), "resources")
        self._spawn(self.watch.run(), "peers")
        stack.callback(self.publisher.cancel_deferred)
        stack.callback(lambda: self.identity.close())
        self.election.run()

    def _open_store(self) -> NodeStore:
        """Open the store and take this run's identity, registry and keys from it."""
        config = self.config
        store = self.store = NodeStore(config.data_dir, wall_clock=self._wall)
        self._writer = StoreWriter(store)
        self._stack.push_async_callback(self._close_store)
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
        self.feed.prime(self.registry)
        return store

    def _identify(self, node_id: str, epoch: int, highest_term: int = 0) -> None:
        """Give the agent and its parts this run's identity (node id, start incarnation)."""
        self.node_id, self._epoch = node_id, epoch
        self.replicated.node_id = node_id
        self.publisher.identify(node_id, epoch)
        self.election.identify(node_id, highest_term)
        self.directives.identify(node_id, epoch)
        self.identity.identify(node_id)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``coro`` in the background until ``stop`` cancels it."""
        task = asyncio.get_running_loop().create_task(coro, name=name)

        async def cancel() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

        self._stack.push_async_callback(cancel)

    async def _close_store(self) -> None:
        if self._writer is not None:
            await self._writer.aclose()  # every write submitted so far is on disk
        self.store = None

    async def _notify_ready(self, joiner: Joiner) -> None:
        """Tell a service manager the agent is ready once the first join attempt ended."""
        await joiner.first_attempt_done.wait()
        alive = sum(1 for m in self.members() if m.state == MemberState.ALIVE)
        sd_notify.notify_ready(f"{alive} member(s) alive")
