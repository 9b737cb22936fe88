"""The REST stack's calm-moment rule, and the lazy API closing its unserved socket."""

from __future__ import annotations

import asyncio
import socket

import pytest

from node.lazy_api import (
    API_CALM_BUSY,
    API_QUIET_S,
    FIRST_JOIN_WAIT_S,
    LazyApi,
    is_calm,
)


@pytest.mark.parametrize("waited_s, joined, since_join_s, busy, calm", [
    (0.25, True, 99.0, 0.1, True),                    # joined, quiet, idle host
    (0.25, True, 99.0, None, True),                   # CPU unknown: counts as calm
    (0.25, False, 99.0, 0.1, False),                  # first join attempt still running
    (FIRST_JOIN_WAIT_S, False, 99.0, 0.1, True),      # ... but not for longer than this
    (5.0, True, API_QUIET_S / 2, 0.1, False),         # a member joined a moment ago
    (5.0, True, API_QUIET_S, 0.1, True),
    (5.0, True, 99.0, API_CALM_BUSY, False),          # the host is busy
])
def test_is_calm(waited_s: float, joined: bool, since_join_s: float, busy: float | None,
                 calm: bool) -> None:
    assert is_calm(waited_s=waited_s, first_join_done=joined, since_last_join_s=since_join_s,
                   busy=busy) is calm


def _unused() -> None:
    raise AssertionError("not called")


async def test_a_client_ends_the_wait_and_an_unserved_socket_is_closed_on_aclose() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    api = LazyApi(sock, host="127.0.0.1", tls=False, build_app=_unused,  # type: ignore[arg-type]
                  host_busy=lambda: 1.0, first_join_done=lambda: True,
                  last_join_at=lambda: 0.0)
    waiting = asyncio.create_task(api.wait_for_calm())  # the host stays busy
    client = socket.create_connection(("127.0.0.1", api.port), timeout=30)
    try:
        await asyncio.wait_for(waiting, 30)
        assert api.wanted.is_set() and api.server is None
    finally:
        client.close()
        await api.aclose()
    assert sock.fileno() == -1
