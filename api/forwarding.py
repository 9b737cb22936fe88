"""Relaying a write that reached a non-coordinator to the coordinator.

Every node serves reads from its own view; a write (register, heartbeat, shutdown,
maintenance, check-heartbeat) must be applied by the coordinator. A node that is not the
coordinator packs the request into a ``ForwardedWrite`` and hands it to the app's
``WriteForwarder``; the agent's forwarder carries it over the cluster request channel
(the gossip port, so the coordinator's API may stay on its loopback), where the
coordinator replays it on its own API with ``execute_write`` and the answer (status,
body) comes back unchanged.

The caller's ``Authorization`` header travels with the write, so the coordinator's
token policy decides: a node without a token cannot relay writes into a cluster whose
coordinator has one. A replayed request carries ``FORWARDED_HEADER``: a node never
relays twice (two nodes that each think the other is coordinator would otherwise bounce
a write between them).
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

from .errors import Unavailable
from .keys import CONFIG, FORWARDER, VIEW
from .relay import (
    FORWARDED_HEADER,
    FORWARDED_REQUEST_HEADERS,
    MAX_RELAY_BYTES,
    ForwardedAnswer,
    ForwardedWrite,
    WriteForwarder,
)

__all__ = [
    "FORWARDED_HEADER", "FORWARDED_REQUEST_HEADERS", "MAX_RELAY_BYTES", "ForwardedAnswer",
    "ForwardedWrite", "WriteForwarder", "execute_write", "forward_to_coordinator",
]

async def forward_to_coordinator(request: web.Request) -> web.Response:
    """Relay this write to the coordinator and answer with its answer (status and body).

    Raises:
        Unavailable: this request was already relayed once (the coordinator role is
            changing hands), no forwarder is configured, or the forwarder failed.
    """
    node_id = (await request.app[VIEW].cluster_info()).node_id
    if request.headers.get(FORWARDED_HEADER):
        raise Unavailable(
            f"coordinator: {request.headers[FORWARDED_HEADER]} relayed this write to {node_id} "
            f"as the coordinator, but {node_id} is not the coordinator (the role is changing "
            "hands); retry shortly")
    forwarder = request.app.get(FORWARDER)
    if forwarder is None:
        raise Unavailable(f"coordinator: {node_id} is not the coordinator and cannot relay "
                          "writes; send them to the coordinator")
    write = ForwardedWrite(
        method=request.method, path=request.raw_path,
        headers=tuple((h, request.headers[h]) for h in FORWARDED_REQUEST_HEADERS
                      if h in request.headers),
        body=await request.read(), relayed_by=node_id)
    answer = await forwarder(write, request.app[CONFIG].forward_timeout_s)
    return web.Response(status=answer.status, body=answer.body,
                        content_type=answer.content_type or "application/json")


async def execute_write(session: aiohttp.ClientSession, base_url: str, write: ForwardedWrite,
                        timeout_s: float) -> ForwardedAnswer:
    """Replay ``write`` on the API at ``base_url`` (the coordinator's own) and return its
    answer, marked with ``FORWARDED_HEADER`` so that API never relays it again.

    Raises:
        Unavailable: the API did not answer within ``timeout_s``, or answered with more
            than ``MAX_RELAY_BYTES``.
    """
    headers = dict(write.headers)
    headers[FORWARDED_HEADER] = write.relayed_by or "?"
    url = base_url.rstrip("/") + write.path
    try:
        async with session.request(write.method, url, data=write.body, headers=headers,
                                   timeout=aiohttp.ClientTimeout(total=timeout_s),
                                   allow_redirects=False) as upstream:
            chunks: list[bytes] = []
            size = 0
            async for chunk in upstream.content.iter_any():
                size += len(chunk)
                if size > MAX_RELAY_BYTES:
                    raise Unavailable("coordinator: answer too large to relay")
                chunks.append(chunk)
            return ForwardedAnswer(upstream.status, upstream.content_type or "application/json",
                                   b"".join(chunks))
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise Unavailable(f"coordinator: its API at {base_url} did not answer the relayed "
                          f"write ({type(exc).__name__}: {exc})") from exc
