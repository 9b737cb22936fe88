"""The discrete-event loop: N unmodified ``SwimProtocol`` cores on a ``SimNetwork``.

Each step pops the earliest of: a network delivery, a world action (fault, resume,
stream timeout) or a node deadline; feeds it to the core with ``now`` = virtual time;
then routes the core's outputs (datagrams, TCP exchanges, events, next deadline).
The world makes no protocol decision: the bytes the cores exchange are exactly the
bytes ``gossip.udp`` would put on a socket.

Determinism: one seed derives every random source (network, each core, the scenario),
ties in time are broken by sequence numbers, and nothing iterates a ``set`` of strings.
Every event, fault and (optionally) delivered datagram is folded into a SHA-256 trace
hash, so two runs can be compared bit for bit.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gossip.channel import ChannelCall
from gossip.config import GossipConfig
from gossip.converged import converged_table, in_converged_cluster
from gossip.decode_cache import DecodeCache
from gossip.events import Event
from gossip.keyring import Keyring
from gossip.membership import SharedTable
from gossip.protocol import SwimProtocol
from gossip.push_pull import StreamRequest
from gossip.types import Address

from .clock import SimClock
from .network import DATAGRAM, STREAM_REPLY, STREAM_REQUEST, NetworkOptions, SimNetwork

__all__ = ["SimWorld", "SimNode", "WorldOptions", "EventObserver", "LifecycleObserver"]

EventObserver = Callable[[float, "SimNode", Event], None]
"""Called with (now, observing node, event) for every event any core emits."""

LifecycleObserver = Callable[[str, "SimNode"], None]
"""Called with ("up" | "crash" | "leave", node): a core started, crashed, or began a
graceful leave (after which it no longer counts as a member)."""

_INF = math.inf
_LAGGED = 8
"""Added to a heap item's kind once a slow node's lag was applied to it."""
SHARED_CACHE_ENTRIES = 65536
"""Entries per namespace of the world's shared decode cache: every rumour in flight in a
few-thousand-node cluster."""
SHARED_CACHE_BYTES = 64 * 1024 * 1024
"""Charged bytes per namespace of the world's shared decode cache (64 MiB)."""


@dataclass(frozen=True, slots=True)
class WorldOptions:
    """Knobs of the simulated hosts (not of the protocol, not of the links)."""

    port: int = 7946
    """Gossip port of every simulated node (each node has its own IP)."""

    paused_backlog_datagrams: int = 4096
    """Datagrams a paused node's socket buffer holds; more are dropped (a full kernel
    buffer). ~4k × 1200 B is about a 4.5 MiB receive buffer."""

    trace_packets: bool = True
    """Fold every delivered datagram into the trace hash (strongest determinism check;
    costs ~1 µs per datagram)."""

    resume_timers_first: bool = True
    """On resume from a pause, run the overdue timer before the queued datagrams. This is
    what asyncio does after SIGSTOP/SIGCONT: each loop iteration reads one datagram, then
    runs every due timer, so probe timeouts fire before the late acks are read (the slow
    node of Lifeguard). False: drain the queue first (a kinder host)."""

    leave_grace_s: float = 5.0
    """How long a leaving node keeps running at most before it shuts down (it stops as soon
    as the core reports ``leave_done``)."""

    share_decoder: bool = False
    """One decode cache for every core instead of one per core (``gossip.decode_cache``):
    the identical bytes of a broadcast are decoded once for the whole world, not once per
    receiving node. Every result, and so the trace hash, is the same; only faster."""

    encrypt_key: bytes | None = None
    """Gossip encryption key every node starts with (16, 24 or 32 bytes); None: plaintext.
    Each core's nonces come from its own seeded generator, so encrypted runs stay
    reproducible; without a key no random number is drawn for it (same trace hashes)."""


@dataclass(slots=True, eq=False)
class SimNode:
    """One simulated host: a name, an address and (unless crashed) a core."""

    index: int
    name: str
    address: Address
    core: SwimProtocol | None
    incarnation: int
    """Last incarnation seen (persisted across restarts, as the agent's store does)."""
    generation: int = 0
    """Bumped on crash/restart so stale deadlines and stream replies are ignored."""
    deadline: float | None = None
    paused_until: float | None = None
    lag_s: float = 0.0
    """Extra delay before this node reads each input (a slow, overloaded host)."""
    backlog: list[tuple[int, Any, Any]] = field(default_factory=list)
    leaving: bool = False
    backlog_datagrams: int = 0
    spins: int = 0
    """Consecutive timer calls that left the deadline in the past (a core bug if it grows)."""
    datagrams_sent: int = 0
    bytes_sent: int = 0
    metered: bool = False
    """Time this node's core calls (``cpu_s``) and count what it reads
    (``bytes_received``); off by default, it costs two clock reads per input."""
    cpu_s: float = 0.0
    """CPU seconds of this process spent in this node's core and routing (metered only)."""
    bytes_received: int = 0
    """Datagram and stream bytes this node read (metered only)."""

    @property
    def up(self) -> bool:
        """Running (possibly paused): it has a core."""
        return self.core is not None


@dataclass(slots=True, eq=False)
class _Stream:
    """One TCP exchange in flight."""

    client: SimNode
    generation: int
    request: StreamRequest
    src: Address
    done: bool = False


class SimWorld:
    """A simulated cluster.

    Args:
        config: gossip configuration shared by every core.
        seed: the one seed every random source derives from.
        network: link model (``NetworkOptions``).
        options: host model (``WorldOptions``).
    """

    def __init__(
        self,
        config: GossipConfig,
        seed: int,
        network: NetworkOptions | None = None,
        options: WorldOptions | None = None,
    ) -> None:
        self.config = config
        self.seed = seed
        self.options = options or WorldOptions()
        self._rng = random.Random(seed)
        self.network = SimNetwork(network or NetworkOptions(), random.Random(self._rng.getrandbits(64)))
        self.rng = random.Random(self._rng.getrandbits(64))
        """For scenarios: choose victims, times, ... (separate from the network's draws)."""
        self.clock = SimClock()
        self.nodes: list[SimNode] = []
        self._by_name: dict[str, SimNode] = {}
        self._by_addr: dict[Address, SimNode] = {}
        self._deadlines: list[tuple[float, int, int, int]] = []
        self._timers: list[tuple[float, int, Callable[..., object], tuple[Any, ...]]] = []
        self._seq = 0
        self._next_ip = 0
        self._hash = hashlib.sha256()
        self.trace_lines = 0
        self.observers: list[EventObserver] = []
        self.lifecycle: list[LifecycleObserver] = []
        self.streams_opened = 0
        self.stream_bytes = 0
        self.unroutable = 0
        self._address_texts: dict[Address, bytes] = {}
        """Address → its text in the packet trace (``_address_text``)."""
        """Datagrams and TCP requests that reached an address no node owns."""
        self.steps = 0
        self.decode_cache = (DecodeCache(SHARED_CACHE_ENTRIES, SHARED_CACHE_BYTES)
                             if self.options.share_decoder else None)
        """The cache every core shares (``WorldOptions.share_decoder``), else None."""
        self.app_state_for: Callable[[str], Callable[[], bytes] | None] | None = None
        """Gives a booting node's core its push-pull app state (by node name); None: none
        (the claw layer sets it, ``simulations.sim.claw_layer``)."""
        self.clock_offset_for: Callable[[str], float] | None = None
        """A booting node's ``clock_offset_s`` (by node name): how far its shared clock
        is off the virtual time. None: 0 for every node (perfectly synchronized clocks)."""

    # --- time ---------------------------------------------------------------------

    @property
    def now(self) -> float:
        return self.clock.now

    def at(self, t: float, action: Callable[..., object], *args: Any) -> None:
        """Run ``action(*args)`` at virtual time ``t`` (or now, if ``t`` has passed).

        Pass a function and arguments rather than a closure where the world may be
        snapshotted (``pickle``) while the action is pending.
        """
        self._seq += 1
        heapq.heappush(self._timers, (max(t, self.clock.now), self._seq, action, args))

    def run_until(self, t_end: float) -> None:
        """Process everything due up to and including ``t_end``; the clock ends at ``t_end``."""
        # The loop of every run (one turn per event): the network's heap is read in place
        # and stale deadline entries are skipped here, without a call each.
        net = self.network
        queue = net.queue
        timers = self._timers
        deadlines = self._deadlines
        nodes = self.nodes
        advance = self.clock.advance_to
        heappop = heapq.heappop
        deliver = self._deliver
        steps = 0
        try:
            while True:
                tn = queue[0][0] if queue else _INF
                tt = timers[0][0] if timers else _INF
                td = deadlines[0][0] if deadlines else _INF
                if tn <= tt and tn <= td:
                    if tn > t_end:
                        break
                    advance(tn)
                    steps += 1
                    item = heappop(queue)
                    if item[2] == DATAGRAM:
                        net.delivered += 1
                    deliver(item)
                elif tt <= td:
                    if tt > t_end:
                        break
                    advance(tt)
                    steps += 1
                    _, _, action, args = heappop(timers)
                    action(*args)
                else:
                    if td > t_end:
                        break
                    advance(td)
                    steps += 1
                    deadline, _, index, generation = heappop(deadlines)
                    node = nodes[index]
                    if node.deadline == deadline and node.generation == generation \
                            and node.core is not None and node.paused_until is None:
                        self._timer(node)  # else stale, or fires on resume
        finally:
            self.steps += steps
        advance(t_end)

    # --- membership of the world -----------------------------------------------------

    def new_address(self) -> Address:
        """A fresh IP (10.x.y.z) on the world's port."""
        self._next_ip += 1
        i = self._next_ip
        return (f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}", self.options.port)

    def node(self, name: str) -> SimNode:
        return self._by_name[name]

    def live_nodes(self) -> list[SimNode]:
        """Nodes with a running core (paused ones included), in creation order."""
        return [n for n in self.nodes if n.core is not None and not n.leaving]

    def add_node(self, name: str | None = None, seeds: Iterable[Address] = (),
                 meta: bytes = b"") -> SimNode:
        """Start a new node now and, if ``seeds`` is non-empty, join through them."""
        node = self._register(name or f"node-{len(self.nodes):05d}")
        self._boot(node, seeds, meta)
        return node

    def _register(self, name: str, address: Address | None = None) -> SimNode:
        """A new node without a core yet, at ``address`` (default: a fresh one)."""
        if name in self._by_name:
            raise ValueError(f"node {name!r} exists; use restart()")
        node = SimNode(index=len(self.nodes), name=name,
                       address=self.new_address() if address is None else address,
                       core=None, incarnation=0)
        self.nodes.append(node)
        self._by_name[name] = node
        return node

    def add_converged_nodes(self, n: int, meta: bytes = b"") -> list[SimNode]:
        """Start ``n`` new nodes that already know each other (and nobody else): every
        core is built by ``in_converged_cluster`` from one shared table.
        No join is simulated; use it for steady-state runs of big clusters."""
        nodes = [self._register(f"node-{len(self.nodes):05d}") for _ in range(n)]
        table = converged_table(
            ((node.name, node.address, meta, node.incarnation + 1) for node in nodes),
            self.clock.now)
        for node in nodes:
            self._boot(node, (), meta, table)
        return nodes

    def start_core(self, name: str, address: Address, core: SwimProtocol) -> SimNode:
        """Run ``core``, built by the caller (its own config, keyring, app state and
        incarnation, at ``now``, bound to ``address``), as node ``name``: a new node, or the
        next life of an existing one (crashed first if it still runs). It joins nobody:
        call its ``join``, then ``flush``.

        ``name`` is the world's label of the node and may differ from the core's member
        name (two cores claiming one name, as a cloned machine does).
        """
        node = self._by_name.get(name)
        if node is None:
            node = self._register(name, address)
        elif node.core is not None:
            self.crash(name)
        if node.address != address:
            if self._by_addr.get(node.address) is node:
                del self._by_addr[node.address]
            node.address = address
        self._by_addr[node.address] = node
        node.generation += 1
        node.incarnation = core.incarnation
        self._start(node, core, ())
        return node

    def flush(self, name: str) -> None:
        """Route what node ``name``'s core produced since the world last looked: for a
        caller that called the core directly (``core.leave(now)``, a test's input)."""
        self._flush(self._by_name[name])

    def _boot(self, node: SimNode, seeds: Iterable[Address], meta: bytes,
              table: SharedTable | None = None) -> None:
        now = self.clock.now
        self._by_addr[node.address] = node
        node.generation += 1
        node.incarnation += 1
        rng = random.Random(self._rng.getrandbits(64))
        keyring = self._keyring()
        offset = 0.0 if self.clock_offset_for is None else self.clock_offset_for(node.name)
        core: SwimProtocol
        if table is None:
            core = SwimProtocol(
                self.config, name=node.name, address=node.address, meta=meta, rng=rng,
                now=now, incarnation=node.incarnation, decode_cache=self.decode_cache,
                strict=True, keyring=keyring, clock_offset_s=offset,
                app_state=None if self.app_state_for is None else self.app_state_for(node.name),
            )
        else:
            core = in_converged_cluster(
                self.config, table, name=node.name, address=node.address, meta=meta,
                rng=rng, now=now, incarnation=node.incarnation, decode_cache=self.decode_cache,
                strict=True, keyring=keyring, clock_offset_s=offset,
            )
        self._start(node, core, seeds)

    def _start(self, node: SimNode, core: SwimProtocol, seeds: Iterable[Address]) -> None:
        """Make ``core`` the node's running core: reset the host state, trace the boot,
        tell the lifecycle observers, join ``seeds`` and route the first outputs."""
        now = self.clock.now
        node.core = core
        node.deadline = None
        node.paused_until = None
        node.backlog.clear()
        node.backlog_datagrams = 0
        node.leaving = False
        self._trace(f"{now!r} boot {node.name} {node.address[0]} {node.incarnation}")
        for observer in self.lifecycle:
            observer("up", node)
        seeds = list(seeds)
        if seeds:
            core.join(seeds, now)
        self._flush(node)

    def _keyring(self) -> Keyring | None:
        """A new node's keyring (``WorldOptions.encrypt_key``) with seeded nonces."""
        key = self.options.encrypt_key
        if key is None:
            return None
        return Keyring([key], random_bytes=random.Random(self._rng.getrandbits(64)).randbytes)

    def crash(self, name: str) -> None:
        """Stop a node abruptly: its core is dropped, packets to it vanish, TCP is refused."""
        node = self._by_name[name]
        if node.core is None:
            return
        if not node.leaving:
            for observer in self.lifecycle:
                observer("crash", node)
        node.incarnation = max(node.incarnation, node.core.incarnation)
        node.core = None
        node.generation += 1
        node.deadline = None
        node.paused_until = None
        node.backlog.clear()
        node.backlog_datagrams = 0
        self._trace(f"{self.clock.now!r} crash {name}")

    def restart(self, name: str, seeds: Iterable[Address] = (), new_address: bool = False,
                meta: bytes = b"") -> SimNode:
        """Start a crashed node again: a new core, same name, incarnation = last + 1."""
        node = self._by_name[name]
        if node.core is not None:
            raise ValueError(f"node {name!r} is running")
        if new_address:
            self._by_addr.pop(node.address, None)
            node.address = self.new_address()
        self._boot(node, seeds, meta)
        return node

    def leave(self, name: str) -> None:
        """Graceful leave; the node shuts down once ``leave_done`` (or after the grace time)."""
        node = self._by_name[name]
        if node.core is None or node.leaving:
            return
        for observer in self.lifecycle:
            observer("leave", node)
        node.leaving = True
        self._trace(f"{self.clock.now!r} leave {name}")
        node.core.leave(self.clock.now)
        self._flush(node)
        give_up = self.clock.now + self.options.leave_grace_s
        self.at(self.clock.now + 0.05, self._leave_check, node, node.generation, give_up)

    def _leave_check(self, node: SimNode, generation: int, give_up: float) -> None:
        if node.core is None or node.generation != generation:
            return
        if node.core.leave_done or self.clock.now >= give_up:
            self.crash(node.name)
        else:
            self.at(self.clock.now + 0.05, self._leave_check, node, generation, give_up)

    def pause(self, name: str, duration_s: float) -> None:
        """Freeze a node for ``duration_s``: inputs queue (up to the socket buffer), timers
        wait; on resume everything is processed late (Lifeguard's slow node)."""
        node = self._by_name[name]
        if node.core is None:
            return
        until = self.clock.now + duration_s
        node.paused_until = max(until, node.paused_until or 0.0)
        self._trace(f"{self.clock.now!r} pause {name} {duration_s!r}")
        self.at(until, self._resume, node, node.generation, until)

    def lag(self, name: str, delay_s: float) -> None:
        """Make a node slow: every input it receives waits ``delay_s`` more before it is
        processed, while its timers stay on time, so acks look late to it (the slow
        node that raises false suspicions in the Lifeguard paper). 0 ends it."""
        node = self._by_name[name]
        node.lag_s = delay_s
        self._trace(f"{self.clock.now!r} lag {name} {delay_s!r}")

    def _resume(self, node: SimNode, generation: int, until: float) -> None:
        if node.core is None or node.generation != generation or node.paused_until != until:
            return
        node.paused_until = None
        self._trace(f"{self.clock.now!r} resume {node.name}")
        backlog, node.backlog = node.backlog, []
        node.backlog_datagrams = 0
        if self.options.resume_timers_first and node.deadline is not None \
                and node.deadline <= self.clock.now:
            self._timer(node)
        for kind, src, payload in backlog:
            if node.core is None or node.generation != generation:
                return
            self._input(node, kind, src, payload)
        if node.core is not None and node.deadline is not None and node.deadline <= self.clock.now:
            self._timer(node)

    # --- routing --------------------------------------------------------------------

    def _deliver(self, item: tuple[float, int, int, Address, Address, Any]) -> None:
        _, _, kind, src, dst, payload = item
        if kind != DATAGRAM and kind != DATAGRAM + _LAGGED:
            self._deliver_stream(kind, src, dst, payload)
            return
        node = self._by_addr.get(dst)
        if node is None:
            self.unroutable += 1
            return
        core = node.core
        if core is None:
            return
        now = self.clock.now
        if kind == DATAGRAM and node.lag_s > 0.0:  # a slow host reads it later, in order
            self.network.schedule(now + node.lag_s, DATAGRAM + _LAGGED, src, dst, payload)
            return
        if self.options.trace_packets:
            # The bytes of f"{now!r}{src}{dst}" then the payload, in one update.
            texts = self._address_texts
            self._hash.update(b"".join((repr(now).encode(),
                                        texts.get(src) or self._address_text(src),
                                        texts.get(dst) or self._address_text(dst), payload)))
        if node.paused_until is not None:
            if node.backlog_datagrams >= self.options.paused_backlog_datagrams:
                return  # socket buffer full
            node.backlog_datagrams += 1
            node.backlog.append((DATAGRAM, src, payload))
        elif node.metered:
            self._input(node, DATAGRAM, src, payload)
        else:  # the common case, without _input
            core.receive_datagram(payload, src, now)
            self._flush(node)

    def _deliver_stream(self, kind: int, src: Address, dst: Address, payload: Any) -> None:
        """``_deliver`` of a TCP leg (``STREAM_REQUEST`` or ``STREAM_REPLY``, maybe lagged)."""
        lagged = kind >= _LAGGED
        if lagged:
            kind -= _LAGGED
        if kind == STREAM_REPLY:
            stream: _Stream = payload[0]
            node = stream.client
            if stream.done or node.core is None or node.generation != stream.generation:
                return
        else:
            node = self._by_addr.get(dst)  # type: ignore[assignment]
            if node is None:
                self.unroutable += 1
            if node is None or node.core is None:
                self._reply(payload, None, dst)  # nobody listens: connection refused
                return
        if node.lag_s > 0.0 and not lagged:  # a slow host reads it later, in order
            self.network.schedule(self.clock.now + node.lag_s, kind + _LAGGED, src, dst, payload)
            return
        if node.paused_until is not None:
            node.backlog.append((kind, src, payload))
            return
        self._input(node, kind, src, payload)

    def _address_text(self, address: Address) -> bytes:
        """``str(address)`` encoded, as the packet trace spells it (memoised per address)."""
        text = self._address_texts[address] = str(address).encode()
        return text

    def _input(self, node: SimNode, kind: int, src: Address, payload: Any) -> None:
        if node.metered:
            self._metered_input(node, kind, src, payload)
            return
        core = node.core
        assert core is not None
        now = self.clock.now
        if kind == DATAGRAM:
            core.receive_datagram(payload, src, now)
        elif kind == STREAM_REQUEST:
            stream: _Stream = payload
            reply = core.handle_stream(stream.request.data, src, now)
            assert not isinstance(reply, ChannelCall)  # the simulator carries no request channel
            if stream.request.expect_reply:
                self._reply(stream, reply, node.address)
            else:
                self._reply(stream, b"", node.address)
            if reply:
                node.bytes_sent += len(reply)
                self.stream_bytes += len(reply)
        else:  # STREAM_REPLY
            stream, reply = payload
            if stream.done:
                return  # the timeout (or the reply) was already handled
            stream.done = True
            core.stream_done(stream.request.stream_id, reply, now)
        self._flush(node)

    def _metered_input(self, node: SimNode, kind: int, src: Address, payload: Any) -> None:
        """``_input`` for a metered node: its CPU time and the bytes it read."""
        if kind == DATAGRAM:
            node.bytes_received += len(payload)
        elif kind == STREAM_REQUEST:
            node.bytes_received += len(payload.request.data)
        elif payload[1]:
            node.bytes_received += len(payload[1])
        node.metered = False
        start = time.process_time()
        try:
            self._input(node, kind, src, payload)
        finally:
            node.cpu_s += time.process_time() - start
            node.metered = True

    def _reply(self, stream: _Stream, reply: bytes | None, server: Address) -> None:
        """Send a stream's reply (None: failure) back; a cut link means a client timeout."""
        if not self.network.reachable(server, stream.src):
            return
        self.network.schedule(self.clock.now + self.network.delay(server, stream.src), STREAM_REPLY,
                              server, stream.src, (stream, reply))

    def _open_stream(self, node: SimNode, request: StreamRequest) -> None:
        now = self.clock.now
        stream = _Stream(client=node, generation=node.generation, request=request, src=node.address)
        self.streams_opened += 1
        self.stream_bytes += len(request.data)
        node.bytes_sent += len(request.data)

        self.at(max(request.deadline, now), self._stream_timeout, stream)
        if not self.network.reachable(node.address, request.address):
            return  # SYNs vanish: the client times out
        # Handshake (one round trip) plus the request's one-way trip.
        there, back = (node.address, request.address), (request.address, node.address)
        delay = self.network.delay(*there) + self.network.delay(*back) + self.network.delay(*there)
        self.network.schedule(now + delay, STREAM_REQUEST, node.address, request.address, stream)

    def _stream_timeout(self, stream: _Stream) -> None:
        node, request = stream.client, stream.request
        if stream.done or node.core is None or node.generation != stream.generation:
            return
        if node.paused_until is not None:  # handled on resume, after earlier inputs
            node.backlog.append((STREAM_REPLY, request.address, (stream, None)))
            return
        stream.done = True
        node.core.stream_done(request.stream_id, None, self.clock.now)
        self._flush(node)

    def _timer(self, node: SimNode) -> None:
        assert node.core is not None
        node.deadline = None
        now = self.clock.now
        start = time.process_time() if node.metered else 0.0
        node.core.handle_timer(now)
        self._flush(node)
        if node.metered:
            node.cpu_s += time.process_time() - start
        if node.deadline is not None and node.deadline <= now:
            node.spins += 1
            if node.spins > 10_000:
                raise RuntimeError(f"{node.name}: next_deadline() stays at or before now={now!r}")
        else:
            node.spins = 0

    def _flush(self, node: SimNode) -> None:
        """Route everything the core produced, and re-arm its deadline."""
        core = node.core
        if core is None:
            return
        now = self.clock.now
        datagrams = core.datagrams_to_send()
        if datagrams:
            send = self.network.send_datagram
            src = node.address
            node.datagrams_sent += len(datagrams)
            for addr, data in datagrams:
                node.bytes_sent += len(data)
                send(src, addr, data, now)
        for request in core.streams_to_open():
            self._open_stream(node, request)
        event = core.next_event()
        while event is not None:
            self._on_event(node, event)
            event = core.next_event()
        deadline = core.next_deadline()
        if deadline is None:
            node.deadline = None
            return
        if deadline <= now:
            deadline = now  # overdue: run it next, without going back in time
        if deadline != node.deadline:
            node.deadline = deadline
            self._seq += 1
            heapq.heappush(self._deadlines, (deadline, self._seq, node.index, node.generation))

    # --- events and trace --------------------------------------------------------------

    def _on_event(self, node: SimNode, event: Event) -> None:
        member = getattr(event, "member", None)
        if member is not None:
            self._trace(f"{self.clock.now!r} {node.name} {type(event).__name__} "
                        f"{member.name} {member.incarnation}")
        else:
            self._trace(f"{self.clock.now!r} {node.name} {event!r}")
            incarnation = getattr(event, "incarnation", None)
            if incarnation is not None:
                node.incarnation = max(node.incarnation, incarnation)
        for observer in self.observers:
            observer(self.clock.now, node, event)

    def _trace(self, line: str) -> None:
        self.trace_lines += 1
        self._hash.update(line.encode())
        self._hash.update(b"\n")

    def note(self, line: str) -> None:
        """Add a scenario's own line to the trace (faults it injected, phases)."""
        self._trace(f"{self.clock.now!r} {line}")

    def __getstate__(self) -> dict[str, Any]:
        # hashlib objects do not pickle: carry the digest, continue the chain from it.
        state = self.__dict__.copy()
        state["_hash"] = self._hash.digest()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        digest = state.pop("_hash")
        self.__dict__.update(state)
        self._hash = hashlib.sha256(digest)

    def rechain_trace(self) -> None:
        """Continue the trace hash from its current digest (what unpickling does)."""
        self._hash = hashlib.sha256(self._hash.digest())

    def trace_hash(self) -> str:
        """SHA-256 of everything traced so far (hex)."""
        return self._hash.hexdigest()

    # --- accounting ---------------------------------------------------------------------

    def totals(self) -> dict[str, int]:
        """Traffic counters since the start (datagrams sent by cores, bytes incl. TCP)."""
        return {
            "datagrams": sum(n.datagrams_sent for n in self.nodes),
            "bytes": sum(n.bytes_sent for n in self.nodes),
            "streams": self.streams_opened,
            "stream_bytes": self.stream_bytes,
        }
