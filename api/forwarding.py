"""Forwarding a write that reached a non-coordinator to the coordinator's API.

Every node serves reads from its own view; a write (register, heartbeat, shutdown,
maintenance) must be applied by the coordinator, so a node that is not the coordinator
relays the request to ``view.coordinator().api_url`` and relays the answer back. A
forwarded request carries ``FORWARDED_HEADER``: a node never forwards twice (two nodes
that each think the other is coordinator would otherwise bounce a write between them).
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

from .errors import Unavailable
from .keys import CLIENT, CONFIG, VIEW

__all__ = ["FORWARDED_HEADER", "forward_to_coordinator"]

FORWARDED_HEADER = "X-Claw-Forwarded-By"
"""Set on a forwarded write (the forwarding node's id); a node never forwards twice."""

_FORWARD_HEADERS = ("Content-Type", "Authorization", "Accept")
_MAX_RELAY_BYTES = 4 * 1024 * 1024


async def forward_to_coordinator(request: web.Request) -> web.Response:
    """Send this write to the coordinator and relay its answer (status and body).

    Raises:
        Unavailable: no coordinator known, it has no API URL, it is unreachable or timed
            out, or this request was already forwarded once (coordinator changing).
    """
    view = request.app[VIEW]
    coordinator = await view.coordinator()
    if request.headers.get(FORWARDED_HEADER):
        raise Unavailable("coordinator: this node received a forwarded write but is not the "
                          "coordinator (election in progress?); retry shortly")
    if coordinator is None:
        raise Unavailable("coordinator: no coordinator is known, writes are unavailable "
                          "(reads still work); retry shortly")
    if not coordinator.api_url:
        raise Unavailable(f"coordinator: {coordinator.node_id} has no API URL; "
                          "cannot forward the write")
    body = await request.read()
    headers = {h: request.headers[h] for h in _FORWARD_HEADERS if h in request.headers}
    headers[FORWARDED_HEADER] = (await view.cluster_info()).node_id
    url = coordinator.api_url.rstrip("/") + request.raw_path
    timeout = aiohttp.ClientTimeout(total=request.app[CONFIG].forward_timeout_s)
    try:
        async with request.app[CLIENT].request(request.method, url, data=body,
                                               headers=headers, timeout=timeout,
                                               allow_redirects=False) as upstream:
            chunks: list[bytes] = []
            size = 0
            async for chunk in upstream.content.iter_any():
                size += len(chunk)
                if size > _MAX_RELAY_BYTES:
                    raise Unavailable("coordinator: answer too large to relay")
                chunks.append(chunk)
            data = b"".join(chunks)
            return web.Response(status=upstream.status, body=data,
                                content_type=upstream.content_type or "application/json")
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise Unavailable(
            f"coordinator: {coordinator.node_id} at {coordinator.api_url} is unreachable "
            f"({type(exc).__name__}: {exc}); writes are unavailable, reads still work") from exc
