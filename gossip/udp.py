"""GossipTransport: the asyncio driver of the sans-I/O ``SwimProtocol``.

The aioquic pattern: one UDP endpoint and one TCP listener on the same port feed
``loop.time()`` and whatever arrives into the core, then flush the core's outputs
(datagrams, TCP exchanges, events) and re-arm a single ``loop.call_at`` timer at
``core.next_deadline()``. The driver makes no protocol decisions: it only moves bytes,
enforces the I/O limits of ``GossipConfig`` (datagram size, stream size, TCP deadlines,
concurrent inbound exchanges) and survives every socket error and every exception the
core might raise (logged and counted in ``stats``), and logs the bugs the core caught
itself (``core.internal_errors_to_report``).

With ``stream_io`` (reading one TCP message) and ``channel_driver`` (the request
channel's transfers) it is the only code of ``gossip`` that touches sockets or the clock.

    transport = GossipTransport(
        lambda address, now: SwimProtocol(config, name="a", address=address, rng=rng, now=now),
        config, bind=("127.0.0.1", 0))
    await transport.start()           # binds, then builds the core with the bound address
    transport.join([("127.0.0.1", 7946)])
    async for event in transport.events(): ...
    await transport.leave(timeout=5.0)
    await transport.stop()
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from typing import Any, TypeVar

from .app_relay import AppVersion
from .channel import ChannelCall
from .channel_connections import SERVE_IDLE_S
from .channel_driver import (
    CHANNEL_COUNTERS,
    ChannelEndpoint,
    ChannelError,
    RequestHandler,
)
from .config import GossipConfig
from .events import Event
from .protocol import SwimProtocol
from .push_pull import StreamRequest
from .stream_io import StreamTooLarge, close_writer, read_message
from .types import Address

__all__ = ["ChannelError", "CoreFactory", "GossipTransport", "RequestHandler"]

log = logging.getLogger(__name__)

T = TypeVar("T")

CoreFactory = Callable[[Address, float], SwimProtocol]
"""Builds the core once the sockets are bound: ``factory(bound_address, now)``.

The bound address carries the real port when ``bind`` asked for port 0; the factory
derives the advertise address from it (the bind host may be a wildcard such as 0.0.0.0,
which peers cannot dial)."""

EVENT_QUEUE_LIMIT = 10_000
"""Events buffered per ``events()`` subscriber; a subscriber that falls further behind
loses the oldest ones (counted as ``events_dropped``), so a stuck consumer cannot grow
memory without bound."""

BIND_ATTEMPTS = 20
"""With port 0, tries at finding an ephemeral port free for both TCP and UDP."""

TIMER_RETRY_S = 0.1
"""When the core's timer step raised or left its deadline in the past, the next tick is
delayed by this much instead of spinning."""

UDP_REOPEN_DELAY_S = 0.05
"""Pause before re-opening a UDP endpoint that the event loop closed under us."""

_LOG_EVERY = 1000
"""Repeated failures are logged at their 1st..10th and then every 1000th occurrence."""


class GossipTransport:
    """Runs one ``SwimProtocol`` on a real UDP socket and TCP listener (same port).

    Args:
        core: a ready ``SwimProtocol`` (its advertise address must match ``bind``), or a
            ``CoreFactory`` called with the bound address once the sockets exist.
        config: the same config the core uses; the driver reads its I/O limits
            (``max_udp_packet_bytes``, ``max_stream_bytes``, ``max_push_pull_requests``,
            ``tcp_timeout_s``).
        bind: (host, port) to listen on; port 0 picks a free port (see ``address``).
            The host must be a literal address ("0.0.0.0", "127.0.0.1", "::").
        on_event: called with every event the core emits, in order, right after the
            step that produced it. Exceptions are logged and counted.
        on_step: called after every core step (input, timer or command) once its outputs
            were flushed; the agent uses it to look at the core's views.
    """

    def __init__(
        self,
        core: SwimProtocol | CoreFactory,
        config: GossipConfig,
        *,
        bind: Address = ("0.0.0.0", 7946),
        on_event: Callable[[Event], None] | None = None,
        on_step: Callable[[], None] | None = None,
    ) -> None:
        self._config = config
        self._bind = bind
        self._on_event = on_event
        self._on_step = on_step
        if isinstance(core, SwimProtocol):
            ready = core
            self._factory: CoreFactory = lambda _address, _now: ready
        else:
            self._factory = core
        self._core: SwimProtocol | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._address: Address | None = None
        self._family = socket.AF_INET
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when: float | None = None
        self._timer_floor = -math.inf
        self._tasks: set[asyncio.Task[None]] = set()
        self._inbound_active = 0
        self._subscribers: list[asyncio.Queue[Event | None]] = []
        self._flushing = False
        self._dirty = False
        self._running = False
        self._left = asyncio.Event()
        self.stats: dict[str, int] = dict.fromkeys((
            "udp_in", "udp_out", "udp_dropped_oversize", "udp_dropped_not_ready",
            "udp_send_errors", "udp_errors", "udp_reopened",
            "tcp_in", "tcp_in_refused_busy", "tcp_in_errors", "tcp_in_timeouts",
            "tcp_in_too_large", "tcp_out", "tcp_out_errors", "tcp_out_timeouts",
            "core_errors", "core_internal_errors", "callback_errors", "events",
            "events_dropped", "timer_stuck",
        ) + CHANNEL_COUNTERS, 0)
        self._channel = ChannelEndpoint(self.stats, self._count_error)

    # --- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        """Bind UDP and TCP on the same port, build the core, start serving.

        Raises OSError when the port is taken (or, with port 0, no free port was found).
        """
        if self._running or self._core is not None:
            raise RuntimeError("GossipTransport already started")
        self._loop = asyncio.get_running_loop()
        host, port = self._bind
        self._family = socket.AF_INET6 if ":" in host else socket.AF_INET
        attempts = BIND_ATTEMPTS if port == 0 else 1
        for attempt in range(attempts):
            server = await asyncio.start_server(
                self._serve_stream, host, port, family=self._family, start_serving=False,
                backlog=max(16, self._config.max_push_pull_requests),
            )
            bound_port = server.sockets[0].getsockname()[1]
            try:
                await self._open_udp(host, bound_port)
            except OSError:
                server.close()
                await server.wait_closed()
                if attempt == attempts - 1:
                    raise
                continue  # the ephemeral TCP port is taken for UDP: pick another
            self._tcp = server
            self._address = (host, bound_port)
            break
        assert self._address is not None
        try:
            self._core = self._factory(self._address, self._loop.time())
        except BaseException:
            await self._close_sockets()
            raise
        self._running = True
        await self._tcp.start_serving()  # type: ignore[union-attr]
        self._flush()

    async def stop(self) -> None:
        """Close sockets and cancel pending exchanges without leaving (peers will see
        this node fail). Idempotent."""
        if not self._running:
            await self._close_sockets()
            return
        self._running = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._timer_when = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        self._channel.close_idle()
        await self._close_sockets()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for queue in self._subscribers:
            _put_dropping_oldest(queue, None)

    async def leave(self, timeout: float) -> bool:
        """Leave gracefully: ``core.leave`` then wait until the core reports
        ``leave_done`` or ``timeout`` seconds passed. Returns ``leave_done``.

        The sockets stay open (so the leave can still be gossiped); call ``stop`` next.
        """
        core = self._require_core()
        self.invoke(lambda c, now: c.leave(now))
        if not core.leave_done:
            try:
                async with asyncio.timeout(timeout):
                    await self._left.wait()
            except TimeoutError:
                pass
        return core.leave_done

    async def __aenter__(self) -> GossipTransport:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # --- views ---------------------------------------------------------------------

    @property
    def address(self) -> Address:
        """The bound (host, port); the real port when ``bind`` asked for 0."""
        if self._address is None:
            raise RuntimeError("GossipTransport not started")
        return self._address

    @property
    def core(self) -> SwimProtocol:
        return self._require_core()

    @property
    def running(self) -> bool:
        return self._running

    # --- commands --------------------------------------------------------------------

    def invoke(self, command: Callable[[SwimProtocol, float], T]) -> T:
        """Run ``command(core, now)`` and flush its outputs. Use it for every core
        command, so its datagrams, streams and events leave at once.
        Exceptions of the command propagate (they are the caller's mistake)."""
        core = self._require_core()
        try:
            return command(core, self._now())
        finally:
            self._flush()

    def join(self, seeds: Iterable[Address]) -> None:
        """Start joining through ``seeds``; ``JoinResult`` events follow."""
        seeds = list(seeds)
        self.invoke(lambda c, now: c.join(seeds, now))

    def set_meta(self, meta: bytes) -> None:
        self.invoke(lambda c, now: c.set_meta(meta, now))

    def broadcast_app(self, body: bytes, *, key: str | None = None, urgent: bool = False,
                      version: AppVersion | None = None) -> None:
        self.invoke(lambda c, now: c.broadcast_app(body, now, key=key, urgent=urgent,
                                                   version=version))

    def reannounce(self) -> None:
        self.invoke(lambda c, now: c.reannounce(now))

    # --- the cluster request channel ---------------------------------------------------

    def set_request_handler(self, kind: str, handler: RequestHandler) -> None:
        """Serve inbound channel requests of ``kind`` with ``handler`` (replaces any)."""
        self._channel.set_handler(kind, handler)

    async def request(self, address: Address, kind: str, body: bytes, *,
                      timeout_s: float) -> bytes:
        """Send one channel request to the node at ``address``; its handler's answer
        (``gossip.channel_driver``).

        The whole exchange (dial, write, the callee's handler, the reply) must finish
        within ``timeout_s``; ``channel.HANDLER_SHARE`` of it travels as the request's
        TTL, the time the callee's handler gets. Send only to claw nodes (a Serf agent
        would log the frame as an unknown message).

        Raises:
            ChannelError: ``channel.MAX_OUTBOUND`` requests already in flight, the node
                is unreachable, no answer in time, a garbled answer, or a status other
                than OK (the message names it).
            ValueError: ``kind`` or ``body`` over the channel limits (the caller's bug).
        """
        return await self._channel.request(self._require_core(), self._now, address, kind,
                                           body, timeout_s=timeout_s)

    async def events(self) -> AsyncIterator[Event]:
        """Every event emitted after this iterator started, until ``stop``."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=EVENT_QUEUE_LIMIT)
        self._subscribers.append(queue)
        try:
            while self._running or not queue.empty():
                event = await queue.get()
                if event is None:
                    return
                yield event
        finally:
            self._subscribers.remove(queue)

    # --- the core step ---------------------------------------------------------------

    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def _require_core(self) -> SwimProtocol:
        if self._core is None:
            raise RuntimeError("GossipTransport not started")
        return self._core

    def _step(self, input_: Callable[..., T], *args: object) -> T | None:
        """Feed one input to the core; never raises (a core exception is counted)."""
        try:
            return input_(*args, self._now())
        except Exception:
            self._count_error("core_errors", "core raised on %s", getattr(input_, "__name__", input_))
            return None
        finally:
            self._flush()

    def _flush(self) -> None:
        """Send everything the core queued, start its TCP exchanges, deliver its events,
        re-arm the timer. Re-entrant calls (a callback issuing a command) only mark the
        outbox dirty; the outer flush loops until it is empty."""
        if self._flushing:
            self._dirty = True
            return
        core = self._core
        if core is None or not self._running:
            return
        self._flushing = True
        try:
            while True:
                self._dirty = False
                self._log_internal_errors(core)
                self._log_decrypt_failures(core)
                self._send_datagrams(core)
                self._open_streams(core)
                self._deliver_events(core)
                if self._on_step is not None:
                    try:
                        self._on_step()
                    except Exception:
                        self._count_error("callback_errors", "on_step callback raised")
                if not self._dirty:
                    break
            self._arm_timer(core)
            try:
                if core.leave_done:
                    self._left.set()
            except Exception:
                self._count_error("core_errors", "core raised on leave_done")
        finally:
            self._flushing = False

    def _log_internal_errors(self, core: SwimProtocol) -> None:
        """The core survives its own bugs (it counts them); this is where they are seen:
        the first 10, then one in ``_LOG_EVERY`` (``core_internal_errors``)."""
        for exc in core.internal_errors_to_report():
            self.stats["core_internal_errors"] += 1
            n = self.stats["core_internal_errors"]
            if n <= 10 or n % _LOG_EVERY == 0:
                log.error("gossip core internal error (core_internal_errors #%d): %r", n, exc,
                          exc_info=(type(exc), exc, exc.__traceback__))

    @staticmethod
    def _log_decrypt_failures(core: SwimProtocol) -> None:
        """What failed to decrypt, one line per source and minute at most (the core
        rate-limits its reports: ``gossip.decrypt_failures``)."""
        for report in core.decrypt_failure_reports():
            host, port = report.source
            log.warning(
                "gossip: %d %s from %s failed to decrypt (%s; %d from it in all): "
                "a node with another key, or without encryption?", report.failures,
                "stream(s)" if report.stream else "datagram(s)",
                f"{host}:{port}" if port else host, report.reason, report.total)

    def _send_datagrams(self, core: SwimProtocol) -> None:
        try:
            outbox = core.datagrams_to_send()
        except Exception:
            self._count_error("core_errors", "core raised on datagrams_to_send")
            return
        udp = self._udp
        for addr, data in outbox:
            if udp is None or udp.is_closing():
                self.stats["udp_send_errors"] += 1
                continue
            try:
                udp.sendto(data, (addr[0], addr[1]))
                self.stats["udp_out"] += 1
            except (OSError, ValueError, TypeError):
                self._count_error("udp_send_errors", "sendto %s failed", addr)

    def _open_streams(self, core: SwimProtocol) -> None:
        try:
            requests = core.streams_to_open()
        except Exception:
            self._count_error("core_errors", "core raised on streams_to_open")
            return
        for request in requests:
            self._spawn(self._exchange(request))

    def _deliver_events(self, core: SwimProtocol) -> None:
        while True:
            try:
                event = core.next_event()
            except Exception:
                self._count_error("core_errors", "core raised on next_event")
                return
            if event is None:
                return
            self.stats["events"] += 1
            for queue in self._subscribers:
                if _put_dropping_oldest(queue, event):
                    self.stats["events_dropped"] += 1
            if self._on_event is not None:
                try:
                    self._on_event(event)
                except Exception:
                    self._count_error("callback_errors", "on_event callback raised")

    def _arm_timer(self, core: SwimProtocol) -> None:
        try:
            deadline = core.next_deadline()
        except Exception:
            self._count_error("core_errors", "core raised on next_deadline")
            deadline = self._now() + TIMER_RETRY_S  # keep the node ticking
        if deadline is not None and deadline < self._timer_floor:
            deadline = self._timer_floor
        if deadline == self._timer_when and self._timer is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_when = deadline
        if deadline is not None:
            assert self._loop is not None
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_when = None
        if not self._running or self._core is None:
            return
        fired_at = self._now()
        errors = self.stats["core_errors"]
        self._timer_floor = fired_at + TIMER_RETRY_S  # while handle_timer runs
        self._step(self._core.handle_timer)
        try:
            stuck = (self.stats["core_errors"] != errors
                     or (self._core.next_deadline() or math.inf) <= fired_at)
        except Exception:
            stuck = True
        if stuck:
            # A core bug (an exception, or a deadline that does not advance) must not turn
            # into a busy loop: keep the floor, so the next tick is TIMER_RETRY_S later.
            self.stats["timer_stuck"] += 1
        else:
            self._timer_floor = -math.inf
            self._arm_timer(self._core)

    # --- UDP -------------------------------------------------------------------------

    async def _open_udp(self, host: str, port: int) -> None:
        assert self._loop is not None
        sock = socket.socket(self._family, socket.SOCK_DGRAM)
        try:
            if self._family == socket.AF_INET6:
                # Same as asyncio does for the TCP listener: no IPv4-mapped peers.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if hasattr(socket, "SIO_UDP_CONNRESET"):
                # Windows reports an ICMP port-unreachable as ConnectionResetError on
                # the next receive, which stops the proactor's UDP read loop for good.
                sock.ioctl(socket.SIO_UDP_CONNRESET, False)  # type: ignore[attr-defined]
            sock.bind((host, port))
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        transport, _ = await self._loop.create_datagram_endpoint(
            lambda: _UdpEndpoint(self), sock=sock)
        self._udp = transport

    def _on_datagram(self, data: bytes, addr: tuple[object, ...]) -> None:
        if self._core is None or not self._running:
            self.stats["udp_dropped_not_ready"] += 1
            return
        self.stats["udp_in"] += 1
        if len(data) > self._config.max_udp_packet_bytes:
            self.stats["udp_dropped_oversize"] += 1
            return
        self._step(self._core.receive_datagram, data, (str(addr[0]), int(addr[1])))  # type: ignore[call-overload]

    def _on_udp_error(self, exc: Exception) -> None:
        self._count_error("udp_errors", "UDP socket error: %r", exc, with_traceback=False)
        if sys.platform == "win32" and self._running:
            # On the proactor loop the read loop does not re-arm after an error
            # (CPython 3.11 _ProactorDatagramTransport._loop_reading): re-open.
            self._reopen_udp()

    def _on_udp_lost(self, endpoint: asyncio.DatagramTransport) -> None:
        if self._running and endpoint is self._udp:
            self._reopen_udp()

    def _reopen_udp(self) -> None:
        old, self._udp = self._udp, None
        if old is not None and not old.is_closing():
            old.close()
        self._spawn(self._reopen_udp_soon())

    async def _reopen_udp_soon(self) -> None:
        assert self._address is not None
        while self._running and self._udp is None:
            await asyncio.sleep(UDP_REOPEN_DELAY_S)
            try:
                await self._open_udp(*self._address)
            except OSError as exc:
                self._count_error("udp_errors", "re-opening UDP failed: %r", exc, with_traceback=False)
                await asyncio.sleep(1.0)
                continue
            self.stats["udp_reopened"] += 1
            log.warning("UDP endpoint on %s re-opened", self._address)

    # --- TCP -------------------------------------------------------------------------

    async def _serve_stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One inbound connection: one exchange, then, after a channel reply, the
        caller's next requests on it until it stays idle ``SERVE_IDLE_S``
        (``gossip.channel_connections``)."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)  # cancelled by stop()
        try:
            request: bytes | None = None
            while await self._serve_exchange(reader, writer, request):
                # Idle between requests: no inbound slot held, the wait bounded.
                try:
                    async with asyncio.timeout(SERVE_IDLE_S):
                        request = await read_message(reader, self._config.max_stream_bytes)
                except (TimeoutError, OSError, EOFError, StreamTooLarge):
                    return
                if request is None:
                    return
        except asyncio.CancelledError:
            pass
        finally:
            await close_writer(writer)
            if task is not None:
                self._tasks.discard(task)

    async def _serve_exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                              request: bytes | None) -> bool:
        """Read one message (unless ``request`` was read already), let the core answer,
        write the reply. True when it was a channel request answered: the connection
        may carry another."""
        config = self._config
        if self._inbound_active >= config.max_push_pull_requests or not self._running:
            self.stats["tcp_in_refused_busy"] += 1
            return False
        self._inbound_active += 1
        self.stats["tcp_in"] += 1
        try:
            peer = writer.get_extra_info("peername") or ("", 0)
            async with asyncio.timeout(config.tcp_timeout_s) as deadline:
                if request is None:
                    request = await read_message(reader, config.max_stream_bytes)
                if request is None:
                    self.stats["tcp_in_errors"] += 1
                    return False
                core = self._core
                if core is None or not self._running:
                    return False
                reply = self._step(core.handle_stream, request, (str(peer[0]), int(peer[1])))
                channel = False
                if isinstance(reply, ChannelCall):
                    channel = True
                    # The handler gets the caller's TTL; writing the answer, the usual slack.
                    deadline.reschedule(reply.deadline(self._now()) + config.tcp_timeout_s)
                    payload = await self._channel.answer(reply)
                    reply = core.channel_frame(payload) if self._running else None
                if reply:
                    writer.write(reply)
                    await writer.drain()
                    return channel
        except TimeoutError:
            self.stats["tcp_in_timeouts"] += 1
        except StreamTooLarge:
            self.stats["tcp_in_too_large"] += 1
        except (OSError, EOFError):
            self.stats["tcp_in_errors"] += 1
        except asyncio.CancelledError:
            raise
        except Exception:
            self._count_error("tcp_in_errors", "inbound stream failed")
        finally:
            self._inbound_active -= 1
        return False

    async def _exchange(self, request: StreamRequest) -> None:
        """One outbound exchange for the core: dial, write, maybe read one reply."""
        reply: bytes | None = None
        writer: asyncio.StreamWriter | None = None
        self.stats["tcp_out"] += 1
        try:
            async with asyncio.timeout_at(request.deadline):
                reader, writer = await asyncio.open_connection(
                    request.address[0], request.address[1])
                writer.write(request.data)
                await writer.drain()
                if request.expect_reply:
                    reply = await read_message(reader, self._config.max_stream_bytes)
                    if reply is None:
                        self.stats["tcp_out_errors"] += 1
                else:
                    reply = b""
        except TimeoutError:
            self.stats["tcp_out_timeouts"] += 1
        except asyncio.CancelledError:
            if writer is not None:
                writer.close()
            raise  # stop(): the core is going away, nobody waits for the result
        except (OSError, EOFError, StreamTooLarge):
            self.stats["tcp_out_errors"] += 1
        except Exception:
            self._count_error("tcp_out_errors", "outbound stream to %s failed", request.address)
        if writer is not None:
            await close_writer(writer)
        if self._running and self._core is not None:
            self._step(self._core.stream_done, request.stream_id, reply)

    # --- helpers ---------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_sockets(self) -> None:
        udp, self._udp = self._udp, None
        if udp is not None:
            udp.close()
        tcp, self._tcp = self._tcp, None
        if tcp is not None:
            tcp.close()
            await tcp.wait_closed()

    def _count_error(self, counter: str, message: str, *args: object, with_traceback: bool = True) -> None:
        self.stats[counter] += 1
        n = self.stats[counter]
        if n <= 10 or n % _LOG_EVERY == 0:
            log.warning(message + " (%s #%d)", *args, counter, n, exc_info=with_traceback)


class _UdpEndpoint(asyncio.DatagramProtocol):
    """Forwards socket callbacks to the transport; holds no state of its own."""

    def __init__(self, owner: GossipTransport) -> None:
        self._owner = owner
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[object, ...]) -> None:
        self._owner._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        self._owner._on_udp_error(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._owner._on_udp_lost(self._transport)


def _put_dropping_oldest(queue: asyncio.Queue[T], item: T) -> bool:
    """Enqueue without blocking; when full, drop the oldest entry. True if one was dropped."""
    dropped = False
    while True:
        try:
            queue.put_nowait(item)
            return dropped
        except asyncio.QueueFull:
            queue.get_nowait()
            dropped = True
