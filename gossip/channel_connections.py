"""``IdleConnections``: request-channel connections kept open between requests, per peer.

Without them each relayed write and each replica dials a TCP connection, and on a loaded
host the dial's tail is milliseconds (the callee's loop must accept it and start a
handler before the request is even read). The driver (``gossip/udp.py``) puts a
connection whose exchange ended with a well-formed reply back here, and the next request
to the same address takes it; the callee keeps serving requests on a connection until it
stays idle ``SERVE_IDLE_S``.

Bounds: ``IDLE_PER_PEER`` connections per address, none kept longer than ``IDLE_KEEP_S``
(shorter than the callee's ``SERVE_IDLE_S``, so the caller normally closes first and does
not write into a connection the callee is closing); expired ones are closed on every
``take`` and ``put``. A kept connection the callee closed meanwhile (a restart, a broken
link, an older claw node that answers one request per connection) is detected by the
driver when its request gets no reply, and the request is sent again on a new connection
(every channel request is idempotent: writes, replicas, directives). Each frame is sealed
on its own by the core, so encrypted streams are kept the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from .types import Address

__all__ = ["IDLE_KEEP_S", "IDLE_PER_PEER", "SERVE_IDLE_S", "IdleConnections"]

IDLE_PER_PEER = 4
"""Idle connections kept per peer address (count): enough for the few writes a
coordinator replicates to one member at once; more requests in flight dial their own."""
IDLE_KEEP_S = 10.0
"""Longest time, seconds, a caller keeps an idle connection for reuse."""
SERVE_IDLE_S = 15.0
"""Longest time, seconds, a callee waits for the next request on a kept connection
(more than ``IDLE_KEEP_S``: the caller gives it up first)."""



class Reader(Protocol):
    def at_eof(self) -> bool: ...


class Writer(Protocol):
    def is_closing(self) -> bool: ...

    def close(self) -> None: ...


R = TypeVar("R", bound=Reader)
W = TypeVar("W", bound=Writer)


class IdleConnections(Generic[R, W]):
    """Idle connections by peer address, newest last: bookkeeping only (the driver's
    ``asyncio`` streams go in and out; closing one is ``writer.close()``).
    ``clock``: monotonic seconds."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._idle: dict[Address, list[tuple[float, R, W]]] = {}

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._idle.values())

    def take(self, address: Address) -> tuple[R, W] | None:
        """The newest idle connection to ``address`` that is still open, or None."""
        self._expire()
        entries = self._idle.get(address)
        while entries:
            _, reader, writer = entries.pop()
            if not entries:
                del self._idle[address]
            if reader.at_eof() or writer.is_closing():
                writer.close()  # the callee closed it while it was idle
                continue
            return reader, writer
        return None

    def put(self, address: Address, reader: R, writer: W) -> bool:
        """Keep a connection whose exchange just ended well; False (the caller closes it)
        when ``address`` has ``IDLE_PER_PEER`` idle ones already."""
        self._expire()
        entries = self._idle.setdefault(address, [])
        if len(entries) >= IDLE_PER_PEER:
            return False
        entries.append((self._clock(), reader, writer))
        return True

    def close_all(self) -> None:
        """Close every idle connection (the transport stops)."""
        for entries in self._idle.values():
            for _, _, writer in entries:
                writer.close()
        self._idle.clear()

    def _expire(self) -> None:
        oldest = self._clock() - IDLE_KEEP_S
        for address in [a for a, entries in self._idle.items() if entries[0][0] < oldest]:
            entries = self._idle[address]
            while entries and entries[0][0] < oldest:
                entries.pop(0)[2].close()
            if not entries:
                del self._idle[address]
