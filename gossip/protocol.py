"""SwimProtocol: memberlist's SWIM + Lifeguard as a sans-I/O state machine.

No sockets, sleeps, clock reads or global randomness: every input carries ``now``
(monotonic seconds, the same scale as ``loop.time()``), randomness comes from the
injected ``random.Random``. Drivers (``gossip.udp`` for asyncio, ``simulations``
for virtual time) feed inputs and flush outputs:

    core.receive_datagram(data, addr, now)      # a UDP datagram arrived
    core.handle_timer(now)                      # the deadline from next_deadline() passed
    reply = core.handle_stream(data, addr, now) # an inbound TCP request was read whole
    core.stream_done(stream_id, reply, now)     # an outbound TCP exchange finished/failed
    ...
    for addr, data in core.datagrams_to_send(): sendto(...)
    for req in core.streams_to_open(): dial req.address, write req.data, read a reply
                                       if req.expect_reply, then stream_done(...)
    while (ev := core.next_event()) is not None: ...
    loop.call_at(core.next_deadline(), ...)

Stream framing for drivers: ``gossip.codec.stream_message_length(buf)`` says how many
bytes of ``buf`` make one complete stream message (None: need more).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Iterable

from .config import GossipConfig
from .events import Event, Member
from .types import Address

__all__ = ["SwimProtocol", "StreamRequest"]


@dataclass(frozen=True, slots=True)
class StreamRequest:
    """An outbound TCP exchange the driver must perform.

    Dial ``address``, write ``data``; if ``expect_reply`` read one stream message
    (``codec.stream_message_length``) and pass it to ``stream_done(stream_id, reply, now)``;
    on any failure or after ``deadline`` (core time) pass ``None``. Without
    ``expect_reply`` call ``stream_done(stream_id, b"", now)`` once written.
    """

    stream_id: int
    address: Address
    data: bytes
    expect_reply: bool
    deadline: float


class SwimProtocol:
    """One node's view of the cluster and its failure detector.

    Args:
        config: timing and sizing knobs (``GossipConfig.lan()`` etc.).
        name: this node's unique name.
        address: (ip, port) that peers should dial (the advertise address).
        meta: node metadata, at most ``config.meta_max_bytes``; claw nodes use
            ``gossip.serf.encode_tags`` with the ``claw`` tag.
        rng: the only source of randomness.
        now: current time.
        incarnation: starting incarnation (>= 1; a restarted node passes stored + 1).
        app_state: called when a push-pull is built; returns claw application state
            bytes carried to the peer (``AppState`` event on the other side).
    Raises:
        LocalProtocolError: bad arguments (meta too large, incarnation < 1, ...).
    """

    def __init__(
        self,
        config: GossipConfig,
        *,
        name: str,
        address: Address,
        meta: bytes = b"",
        rng: random.Random,
        now: float,
        incarnation: int = 1,
        app_state: Callable[[], bytes] | None = None,
    ) -> None:
        raise NotImplementedError

    # --- commands -------------------------------------------------------------

    def join(self, seeds: Iterable[Address], now: float) -> None:
        """Start a push-pull (Join=true) with each seed; ``JoinResult`` events follow."""
        raise NotImplementedError

    def leave(self, now: float) -> None:
        """Graceful leave: Serf leave intent, then ``dead(self, from=self)`` broadcast.

        ``leave_done`` becomes true once both were sent to peers (or there is nobody).
        """
        raise NotImplementedError

    @property
    def leave_done(self) -> bool:
        raise NotImplementedError

    def set_meta(self, meta: bytes, now: float) -> None:
        """Replace node metadata; bumps incarnation and broadcasts alive."""
        raise NotImplementedError

    def broadcast_app(self, body: bytes, now: float, *, key: str | None = None) -> None:
        """Disseminate a claw application message to claw members by piggybacking.

        A later broadcast with the same ``key`` replaces a queued older one.
        """
        raise NotImplementedError

    def reannounce(self, now: float) -> None:
        """After a clock jump (sleep/wake): higher incarnation, alive broadcast, and an
        immediate push-pull with a random live peer."""
        raise NotImplementedError

    # --- inputs -----------------------------------------------------------------

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        """Process one UDP datagram. Never raises on bad input: it is counted in ``stats``."""
        raise NotImplementedError

    def handle_timer(self, now: float) -> None:
        """Run everything due at ``now`` (probes, gossip, suspicion timeouts, push-pull)."""
        raise NotImplementedError

    def handle_stream(self, data: bytes, addr: Address, now: float) -> bytes | None:
        """Serve one inbound TCP request (push-pull, ping, user); return reply bytes or None."""
        raise NotImplementedError

    def stream_done(self, stream_id: int, reply: bytes | None, now: float) -> None:
        """Result of a ``StreamRequest``: its reply, b"" when no reply was expected, None on failure."""
        raise NotImplementedError

    # --- outputs ---------------------------------------------------------------

    def datagrams_to_send(self) -> list[tuple[Address, bytes]]:
        raise NotImplementedError

    def streams_to_open(self) -> list[StreamRequest]:
        raise NotImplementedError

    def next_deadline(self) -> float | None:
        raise NotImplementedError

    def next_event(self) -> Event | None:
        raise NotImplementedError

    # --- views ------------------------------------------------------------------

    @property
    def name(self) -> str:
        raise NotImplementedError

    @property
    def incarnation(self) -> int:
        raise NotImplementedError

    def members(self) -> list[Member]:
        """Every known member including self, dead and left ones (until reaped)."""
        raise NotImplementedError

    def member(self, name: str) -> Member | None:
        raise NotImplementedError

    @property
    def health_score(self) -> int:
        """Lifeguard local health (0 = healthy)."""
        raise NotImplementedError

    @property
    def stats(self) -> dict[str, int]:
        """Counters: packets/bytes in and out, drops by reason, probes, suspicions, ..."""
        raise NotImplementedError
