"""Reading and closing one TCP stream message with asyncio (part of the driver).

memberlist's peers write one whole message and then wait for the reply without
half-closing, so the end of a message is found by parsing it
(``codec.stream_message_length``), not by EOF. Used by ``udp.GossipTransport`` for
push-pulls and pings and by ``channel_driver.ChannelEndpoint`` for request channel replies.
"""

from __future__ import annotations

import asyncio

from . import codec

__all__ = ["STREAM_QUIET_MAX_S", "STREAM_QUIET_S", "STREAM_READ_CHUNK", "StreamTooLarge",
           "close_writer", "read_message"]

STREAM_READ_CHUNK = 256 * 1024
"""Bytes asked of the socket per read while assembling one TCP message."""

STREAM_QUIET_S = 0.005
"""A partial TCP message is parsed again once the peer has sent nothing for this long
(seconds)..."""
STREAM_QUIET_MAX_S = 0.25
"""...and that wait doubles after each use, up to this (seconds)."""


class StreamTooLarge(Exception):
    """An incoming TCP message exceeds the size limit it was read with."""


async def read_message(reader: asyncio.StreamReader, max_bytes: int) -> bytes | None:
    """Read exactly one stream message; None on EOF or garbage, StreamTooLarge if big.

    Go peers never half-close (they write the whole message, then wait for the reply),
    so the end of a message is found by parsing (``codec.stream_message_length``). Each
    parse copies the buffer, so a partial message is parsed again only when the buffer
    has doubled or the peer went quiet; the quiet wait doubles after each use, which
    bounds the parses a trickling peer can cause within one ``tcp_timeout_s``.
    """
    buf = bytearray()
    parsed_len = 0
    quiet_s = STREAM_QUIET_S
    while True:
        if not buf:
            chunk: bytes | None = await reader.read(STREAM_READ_CHUNK)
        else:
            try:
                chunk = await asyncio.wait_for(reader.read(STREAM_READ_CHUNK), quiet_s)
            except TimeoutError:
                chunk = None  # the peer is waiting for us: a good moment to parse
                quiet_s = min(2 * quiet_s, STREAM_QUIET_MAX_S)
        if chunk:
            buf += chunk
        done = chunk == b"" or len(buf) >= max_bytes  # EOF, or no more room
        if chunk:
            should_parse = parsed_len == 0 or len(buf) >= 2 * parsed_len or done
        else:
            should_parse = len(buf) > parsed_len
        if should_parse:
            parsed_len = len(buf)
            try:
                length = codec.stream_message_length(bytes(buf), max_size=max_bytes)
            except Exception:  # MalformedPacket or any decoder failure: garbage
                return None
            if length is not None:
                return bytes(buf[:length])
        if chunk == b"":
            return None
        if len(buf) >= max_bytes:
            raise StreamTooLarge()


async def close_writer(writer: asyncio.StreamWriter) -> None:
    """Close ``writer`` and wait for it, ignoring the errors of a connection already gone."""
    writer.close()
    try:
        await writer.wait_closed()
    except (OSError, asyncio.CancelledError, RuntimeError):
        pass
