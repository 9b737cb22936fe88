"""In-memory cluster of ``SwimProtocol`` cores on a fake network with an explicit clock.

No sockets, no event loop, no real time: a heap of ``(time, seq, action)`` drives
datagram deliveries, TCP exchanges and each core's ``next_deadline``. Reusable by any
test or simulation that wants many real cores talking the real wire format::

    c = Cluster(GossipConfig.local(), seed=1)
    for i in range(5):
        c.add_node(f"n{i}")
    c.join_all()                      # every node joins n0
    c.run(10.0)                       # advance virtual time by 10 s
    assert c.converged()
    c.crash("n3"); c.run(30.0)
    assert c.all_see("n3", MemberState.DEAD)

Faults: ``loss`` (probability, per datagram), ``partition(a, b)`` / ``block(src, dst)``
(one-way) / ``heal()``, ``crash(name)`` (stops sending, receiving and timers),
``drop_hook(src, dst, data)`` (return True to drop one datagram), ``latency_s`` (one-way
delay) or ``latency_fn(src, dst) -> seconds`` (per link, overrides ``latency_s``).

TCP exchanges: a ``StreamRequest`` to a reachable node is served by calling the peer's
``handle_stream`` (after one latency) and the initiator's ``stream_done`` with the reply
(after another); to an unreachable node (crashed, partitioned) it fails with ``None`` at
the request's deadline, and to an address nobody owns it fails at once (refused).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from gossip.channel import ChannelCall
from gossip.config import GossipConfig
from gossip.events import Event
from gossip.keyring import Keyring
from gossip.protocol import SwimProtocol
from gossip.tags import CLAW_TAG, encode_tags
from gossip.types import Address, MemberState

__all__ = ["Cluster", "NetStats", "claw_meta"]


def claw_meta(**extra: str) -> bytes:
    """Serf-tag meta of a claw node (``claw=1`` plus ``extra``)."""
    return encode_tags({CLAW_TAG: "1", **extra})


@dataclass
class NetStats:
    sent: int = 0
    delivered: int = 0
    dropped_loss: int = 0
    dropped_partition: int = 0
    dropped_down: int = 0
    dropped_hook: int = 0
    unroutable: int = 0
    streams: int = 0
    streams_failed: int = 0
    bytes: int = 0


@dataclass
class _Node:
    name: str
    address: Address
    core: SwimProtocol
    up: bool = True
    events: list[Event] = field(default_factory=list)
    deadline: float | None = None


class Cluster:
    """N cores wired by a fake network. Time only moves inside ``run``/``run_until``."""

    def __init__(self, config: GossipConfig | None = None, *, seed: int = 0,
                 latency_s: float = 0.001, loss: float = 0.0, start: float = 0.0) -> None:
        self.config = config or GossipConfig.local()
        self.rng = random.Random(seed)
        self.seed = seed
        self.latency_s = latency_s
        self.loss = loss
        self.now = start
        self.nodes: dict[str, _Node] = {}
        self.by_addr: dict[Address, str] = {}
        self.net = NetStats()
        self.drop_hook: Callable[[str, str, bytes], bool] | None = None
        self.latency_fn: Callable[[str, str], float] | None = None
        self._blocked: set[frozenset[str]] = set()
        self._blocked_oneway: set[tuple[str, str]] = set()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self._ephemeral = 40000

    # --- topology ------------------------------------------------------------------

    def add_node(self, name: str, *, address: Address | None = None, meta: bytes | None = None,
                 incarnation: int = 1, config: GossipConfig | None = None,
                 app_state: Callable[[], bytes] | None = None,
                 keyring: Keyring | None = None, label: str | None = None) -> SwimProtocol:
        """Create (or replace, for a restart) the core called ``name``.

        ``keyring``: its gossip keys (None: plaintext). ``label``: the key this harness
        knows the node by (default ``name``); a second core with an existing member name
        (a clone) needs its own label.
        """
        key = label or name
        if address is None:
            i = len(self.by_addr) + 1
            address = (f"10.0.{i // 250}.{i % 250 + 1}", 7946)
        old = self.nodes.get(key)
        if old is not None and self.by_addr.get(old.address) == key:
            del self.by_addr[old.address]
        core = SwimProtocol(
            config or self.config, name=name, address=address,
            meta=claw_meta() if meta is None else meta,
            rng=random.Random(self.rng.getrandbits(64)), now=self.now,
            incarnation=incarnation, app_state=app_state, strict=True, keyring=keyring,
        )
        self.nodes[key] = _Node(key, address, core)
        self.by_addr[address] = key
        return core

    def core(self, name: str) -> SwimProtocol:
        return self.nodes[name].core

    def events(self, name: str) -> list[Event]:
        return self.nodes[name].events

    def events_of(self, name: str, kind: type) -> list:
        return [e for e in self.nodes[name].events if isinstance(e, kind)]

    def live(self) -> list[str]:
        return [n for n, node in self.nodes.items() if node.up]

    def join(self, name: str, seeds: Iterable[str]) -> None:
        self.core(name).join([self.nodes[s].address for s in seeds], self.now)

    def join_all(self, seed: str | None = None) -> None:
        """Every node except ``seed`` (default: the first) joins ``seed``."""
        names = list(self.nodes)
        seed = seed or names[0]
        for n in names:
            if n != seed:
                self.join(n, [seed])

    def crash(self, name: str) -> None:
        """Stop a node without leaving: it neither sends, receives, nor runs timers."""
        self.nodes[name].up = False

    def partition(self, a: Iterable[str], b: Iterable[str]) -> None:
        """Drop all traffic between every member of ``a`` and every member of ``b``."""
        for x in a:
            for y in b:
                self._blocked.add(frozenset((x, y)))

    def block(self, src: str, dst: str) -> None:
        """Drop datagrams from ``src`` to ``dst`` only (TCP between them fails too)."""
        self._blocked_oneway.add((src, dst))

    def heal(self) -> None:
        self._blocked.clear()
        self._blocked_oneway.clear()

    def _path_open(self, src: str, dst: str) -> bool:
        return frozenset((src, dst)) not in self._blocked and (src, dst) not in self._blocked_oneway

    def reachable(self, src: str, dst: str) -> bool:
        """Both up and both directions open (what a TCP exchange needs)."""
        return (self.nodes[src].up and self.nodes[dst].up
                and self._path_open(src, dst) and self._path_open(dst, src))

    def _latency(self, src: str, dst: str) -> float:
        return self.latency_fn(src, dst) if self.latency_fn is not None else self.latency_s

    # --- views -----------------------------------------------------------------------

    def state_of(self, observer: str, target: str) -> MemberState | None:
        return self.core(observer).member_state(target)

    def all_see(self, target: str, state: MemberState, observers: Iterable[str] | None = None) -> bool:
        obs = [o for o in (observers or self.live()) if o != target]
        return all(self.state_of(o, target) == state for o in obs)

    def converged(self, names: Iterable[str] | None = None) -> bool:
        """Every listed live node sees every other listed node alive."""
        names = list(names or self.live())
        return all(self.state_of(o, t) == MemberState.ALIVE
                   for o in names for t in names if o != t)

    def internal_errors(self) -> dict[str, int]:
        return {n: node.core.stats["internal_errors"] for n, node in self.nodes.items()
                if node.core.stats["internal_errors"]}

    # --- time ---------------------------------------------------------------------------

    def run(self, duration: float, *, until: Callable[[], bool] | None = None,
            check_every_s: float = 0.01) -> float:
        return self.run_until(self.now + duration, until=until, check_every_s=check_every_s)

    def run_until(self, t_end: float, *, until: Callable[[], bool] | None = None,
                  check_every_s: float = 0.01, max_steps: int = 5_000_000) -> float:
        """Advance virtual time to ``t_end`` (or until ``until()`` holds); return now.

        ``until`` is evaluated at most once per ``check_every_s`` of virtual time, so the
        returned time may overshoot the exact moment by that much.
        """
        self._flush_all()  # tests may have called cores directly since the last run
        checked = float("-inf")
        for _ in range(max_steps):
            if until is not None and self.now - checked >= check_every_s:
                checked = self.now
                if until():
                    return self.now
            t = self._heap[0][0] if self._heap else float("inf")
            due: list[_Node] = []
            for node in self.nodes.values():
                if node.up and node.deadline is not None and node.deadline < t:
                    t = node.deadline
            if t > t_end:
                self.now = t_end
                return self.now
            self.now = max(self.now, t)
            while self._heap and self._heap[0][0] <= self.now:
                _, _, action = heapq.heappop(self._heap)
                action()
            due = [n for n in self.nodes.values()
                   if n.up and n.deadline is not None and n.deadline <= self.now]
            for node in due:
                node.core.handle_timer(self.now)
                self._flush(node)
        raise RuntimeError(f"run_until({t_end}) did not finish in {max_steps} steps")

    def inject(self, dst: str, data: bytes, src_addr: Address = ("192.0.2.1", 9999)) -> None:
        """Deliver raw bytes to ``dst`` now, as if from ``src_addr`` (hostile-input tests)."""
        self.nodes[dst].core.receive_datagram(data, src_addr, self.now)
        self._flush(self.nodes[dst])

    # --- plumbing -------------------------------------------------------------------------

    def _schedule(self, at: float, action: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, action))

    def _flush_all(self) -> None:
        for node in list(self.nodes.values()):
            self._flush(node)

    def _flush(self, node: _Node) -> None:
        """Collect a core's outputs (after any call into it) and refresh its deadline."""
        core = node.core
        out = core.datagrams_to_send()
        streams = core.streams_to_open()
        while (ev := core.next_event()) is not None:
            node.events.append(ev)
        node.deadline = core.next_deadline()
        if not node.up:
            return
        for addr, data in out:
            self._send_datagram(node, addr, data)
        for req in streams:
            self._open_stream(node, req)

    def _send_datagram(self, src: _Node, addr: Address, data: bytes) -> None:
        self.net.sent += 1
        self.net.bytes += len(data)
        dst_name = self.by_addr.get(addr)
        if dst_name is None:
            self.net.unroutable += 1
            return
        if not self._path_open(src.name, dst_name):
            self.net.dropped_partition += 1
            return
        if self.loss and self.rng.random() < self.loss:
            self.net.dropped_loss += 1
            return
        if self.drop_hook is not None and self.drop_hook(src.name, dst_name, data):
            self.net.dropped_hook += 1
            return
        dst = self.nodes[dst_name]
        core = dst.core

        def deliver() -> None:
            if not dst.up or dst.core is not core:
                self.net.dropped_down += 1
                return
            self.net.delivered += 1
            core.receive_datagram(data, src.address, self.now)
            self._flush(dst)

        self._schedule(self.now + self._latency(src.name, dst_name), deliver)

    def _open_stream(self, src: _Node, req) -> None:
        self.net.streams += 1
        initiator = src.core
        dst_name = self.by_addr.get(req.address)

        def finish(reply: bytes | None) -> None:
            if reply is None:
                self.net.streams_failed += 1
            if src.up and src.core is initiator:
                initiator.stream_done(req.stream_id, reply, self.now)
                self._flush(src)

        if dst_name is None:
            self._schedule(self.now + self.latency_s, lambda: finish(None))  # refused
            return
        dst = self.nodes[dst_name]
        if not self.reachable(src.name, dst_name):
            self._schedule(max(req.deadline, self.now), lambda: finish(None))  # timeout
            return
        self._ephemeral = 40000 + (self._ephemeral - 39999) % 20000
        peer_addr = (src.address[0], self._ephemeral)
        serving = dst.core

        def serve() -> None:
            if not dst.up or dst.core is not serving or not self.reachable(src.name, dst_name):
                self._schedule(max(req.deadline, self.now), lambda: finish(None))
                return
            reply = serving.handle_stream(req.data, peer_addr, self.now)
            assert not isinstance(reply, ChannelCall)  # the harness carries no request channel
            self._flush(dst)
            back = self.now + self._latency(dst_name, src.name)
            self._schedule(back, lambda: finish(reply if req.expect_reply else b""))

        self._schedule(self.now + self._latency(src.name, dst_name), serve)


def converged_cluster(names: list[str], seed: int = 1) -> Cluster:
    """``names`` joined and converged on memberlist's LAN profile, every odd-numbered
    node tagged ``role=gpu``, the others ``role=cpu`` (for tag filters).

    The LAN profile (4 retransmits x log N): the local profile's 2 can leave a member
    of 5 unreached by one broadcast (as it does Serf agents), which is not what tests
    of queries and events are about.
    """
    c = Cluster(GossipConfig.lan(), seed=seed)
    for i, name in enumerate(names):
        c.add_node(name, meta=claw_meta(role="gpu" if i % 2 else "cpu"))
    c.join_all()
    c.run(10.0, until=c.converged)
    assert c.converged()
    return c
