"""The cluster request channel's transfers over asyncio (part of the driver).

``gossip.channel`` defines the frames and their limits, sans I/O. This module moves
them: an outbound request dials the callee, writes one frame and reads one reply
(``ChannelEndpoint.request``); an inbound request the core classified as a
``ChannelCall`` is answered by the handler registered for its kind
(``ChannelEndpoint.answer``). ``udp.GossipTransport`` owns one endpoint and counts its
outcomes in its ``stats`` under ``channel_*``. A connection whose exchange ended with a
well-formed reply is kept for the next request to the same node
(``gossip.channel_connections``), and the driver serves further requests on it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from .channel import (
    HANDLER_SHARE,
    MAX_INBOUND,
    MAX_OUTBOUND,
    MAX_REPLY_BYTES,
    ChannelCall,
    ChannelReply,
    ChannelSlots,
    ReplyStatus,
    decode_reply,
    encode_reply,
    encode_request,
)
from .channel_connections import IdleConnections
from .errors import GossipError
from .protocol import SwimProtocol
from .stream_io import StreamTooLarge, close_writer, read_message
from .types import Address

__all__ = ["CHANNEL_COUNTERS", "ChannelEndpoint", "ChannelError", "REPLY_FRAME_SLACK",
           "RequestHandler"]

RequestHandler = Callable[[ChannelCall], Awaitable[bytes]]
"""Answers one inbound channel request of a kind (``set_handler``); the bytes it
returns are the reply body. It runs at most the request's TTL; raising answers ``FAILED``
(``ValueError`` means a malformed body: counted as ``channel_in_malformed``, not logged)."""

REPLY_FRAME_SLACK = 64 * 1024
"""Bytes a reply frame may take beyond ``MAX_REPLY_BYTES`` (headers; compression can grow
incompressible data a little)."""

CHANNEL_COUNTERS = (
    "channel_in", "channel_in_busy", "channel_in_unknown_kind", "channel_in_malformed",
    "channel_in_failed",
    "channel_in_timeouts", "channel_out", "channel_out_refused", "channel_out_errors",
    "channel_out_timeouts", "channel_out_malformed", "channel_out_reused",
    "channel_out_stale",
)
"""The ``stats`` keys a ``ChannelEndpoint`` counts in."""

CountError = Callable[..., None]
"""``count_error(counter, message, *args)``: count and log (rate-limited) a failure."""


class ChannelError(Exception):
    """A channel request got no usable answer: refused, unreachable, timed out, garbled,
    or the callee answered with a status other than OK. The message says which."""


class ChannelEndpoint:
    """One node's side of the request channel: its handlers and in-flight limits.

    Args:
        stats: the driver's counters; every ``CHANNEL_COUNTERS`` key must be in it.
        count_error: counts and logs an unexpected failure (a handler's bug).
    """

    def __init__(self, stats: dict[str, int], count_error: CountError) -> None:
        self._stats = stats
        self._count_error = count_error
        self._handlers: dict[str, RequestHandler] = {}
        self.inbound = ChannelSlots(MAX_INBOUND)
        """Inbound requests being answered (at most ``MAX_INBOUND``)."""
        self.outbound = ChannelSlots(MAX_OUTBOUND)
        """Our requests in flight (at most ``MAX_OUTBOUND``)."""
        self.idle: IdleConnections[asyncio.StreamReader, asyncio.StreamWriter] = \
            IdleConnections(time.monotonic)
        """Connections kept for the next request to the same node."""
        self._closed = False

    def close_idle(self) -> None:
        """Close the kept connections and keep no more (the transport stops)."""
        self._closed = True
        self.idle.close_all()

    def set_handler(self, kind: str, handler: RequestHandler) -> None:
        """Serve inbound requests of ``kind`` with ``handler`` (replaces any)."""
        self._handlers[kind] = handler

    async def request(self, core: SwimProtocol, now: Callable[[], float], address: Address,
                      kind: str, body: bytes, *, timeout_s: float) -> bytes:
        """Send one request to the node at ``address``; its handler's answer.

        ``core`` frames and opens the messages like every other stream of this node;
        ``now`` reads the driver's clock. See ``GossipTransport.request``.

        Raises:
            ChannelError: ``MAX_OUTBOUND`` requests already in flight, the node is
                unreachable, no answer in time, a garbled answer, or a status other
                than OK (the message names it).
            ValueError: ``kind`` or ``body`` over the channel limits (the caller's bug).
        """
        stats = self._stats
        payload = encode_request(kind, body, timeout_s * HANDLER_SHARE)
        if not self.outbound.acquire():
            stats["channel_out_refused"] += 1
            raise ChannelError(f"{MAX_OUTBOUND} channel requests already in flight")
        stats["channel_out"] += 1
        writer: asyncio.StreamWriter | None = None
        keep = False
        try:
            frame = core.channel_frame(payload)
            async with asyncio.timeout(timeout_s):
                raw, reader, writer = await self._exchange(address, frame)
            if raw is None:
                stats["channel_out_errors"] += 1
                raise ChannelError("the node closed the connection without an answer")
            reply = decode_reply(core.channel_payload(raw, address, now()))
            keep = True  # a well-formed reply: the connection may carry the next request
        except TimeoutError:
            stats["channel_out_timeouts"] += 1
            raise ChannelError(f"no answer within {timeout_s:g} s") from None
        except (OSError, EOFError) as exc:
            stats["channel_out_errors"] += 1
            raise ChannelError(f"unreachable ({type(exc).__name__}: {exc})") from None
        except (StreamTooLarge, GossipError, ValueError) as exc:
            stats["channel_out_malformed"] += 1
            raise ChannelError(f"garbled answer ({exc or type(exc).__name__})") from None
        finally:
            self.outbound.release()
            if writer is not None and not (
                    keep and not self._closed and self.idle.put(address, reader, writer)):
                await close_writer(writer)
        return _reply_body(reply)

    async def _exchange(self, address: Address, frame: bytes) -> tuple[
            bytes | None, asyncio.StreamReader, asyncio.StreamWriter]:
        """Write ``frame`` on a kept connection to ``address`` or a new one; read the
        reply message (None: closed without one). A kept connection that gives no reply
        (the callee closed it, restarted, or the link broke) is replaced by a new one,
        once (``gossip.channel_connections``)."""
        limit = MAX_REPLY_BYTES + REPLY_FRAME_SLACK
        kept = self.idle.take(address)
        if kept is not None:
            reader, writer = kept
            try:
                writer.write(frame)
                await writer.drain()
                raw = await read_message(reader, limit)
            except (OSError, EOFError):
                raw = None
            except BaseException:
                writer.close()
                raise
            if raw is not None:
                self._stats["channel_out_reused"] += 1
                return raw, reader, writer
            self._stats["channel_out_stale"] += 1
            writer.close()
        reader, writer = await asyncio.open_connection(address[0], address[1])
        try:
            writer.write(frame)
            await writer.drain()
            return await read_message(reader, limit), reader, writer
        except BaseException:
            writer.close()
            raise

    async def answer(self, call: ChannelCall) -> bytes:
        """The reply payload for an inbound request: the handler's answer or a status."""
        stats = self._stats
        stats["channel_in"] += 1
        handler = self._handlers.get(call.kind)
        if handler is None:
            stats["channel_in_unknown_kind"] += 1
            return encode_reply(ReplyStatus.UNKNOWN_KIND, call.kind.encode())
        if not self.inbound.acquire():
            stats["channel_in_busy"] += 1
            return encode_reply(ReplyStatus.BUSY)
        try:
            async with asyncio.timeout(call.ttl_s):
                return encode_reply(ReplyStatus.OK, await handler(call))
        except TimeoutError:
            stats["channel_in_timeouts"] += 1
            return encode_reply(ReplyStatus.TIMEOUT)
        except ValueError as exc:  # the handler found the body malformed: hostile or buggy
            stats["channel_in_malformed"] += 1
            return encode_reply(ReplyStatus.FAILED, f"malformed request: {exc}"[:500].encode())
        except Exception as exc:
            self._count_error("channel_in_failed", "channel handler for %r failed", call.kind)
            return encode_reply(ReplyStatus.FAILED, f"{type(exc).__name__}: {exc}"[:500].encode())
        finally:
            self.inbound.release()


def _reply_body(reply: ChannelReply) -> bytes:
    if reply.ok:
        return reply.body
    detail = reply.body.decode("utf-8", "replace")[:200]
    raise ChannelError(f"the node answered {reply.status.name}" + (f": {detail}" if detail else ""))
