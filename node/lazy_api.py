"""``LazyApi``: the agent's REST API, on a socket bound at start, its stack loaded later.

The agent binds the API socket at start (its address goes into the node's metadata and
a taken port fails at once) but imports the REST stack (aiohttp, api/, pydantic: ~0.4 s
of CPU, ~20 MiB) only at a calm moment, in a worker thread while the event loop keeps
answering probes (``wait_for_calm``). A member that is not the coordinator (and has no
``--alert-webhook`` or ``--api-eager``) loads it only when a first client connects
(``serve_when_wanted``): connections wait in the socket's backlog meanwhile, so the first
request takes ~0.5 s longer, and an idle member never pays for aiohttp and pydantic
(``simulations/bench/api_rss.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import socket
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from api.server import ApiServer

from .advertise import host_port
from .ssl_free import ssl_hidden

if TYPE_CHECKING:
    from aiohttp import web

__all__ = [
    "API_CALM_BUSY",
    "API_CALM_POLL_S",
    "API_DEFER_MAX_S",
    "API_QUIET_S",
    "FIRST_JOIN_WAIT_S",
    "IMPORT_SWITCH_INTERVAL_S",
    "LazyApi",
    "import_rest_stack",
    "is_calm",
]

log = logging.getLogger(__name__)

FIRST_JOIN_WAIT_S = 2.0
"""Longest wait, seconds, for the first join attempt before the REST stack is imported
(importing it takes the CPU the join needs; an unanswered join does not hold the API)."""
API_QUIET_S = 0.5
"""After the first join, the REST stack is imported once no member has joined for this
long (seconds): in a cluster starting all at once, the ~0.5 s of CPU each agent spends on
imports would otherwise slow the membership work of the agents still starting."""
API_CALM_BUSY = 0.9
"""Host CPU busy fraction (0..1, over the last ``API_CALM_POLL_S``) below which the REST
stack may be imported."""
API_CALM_POLL_S = 0.25
"""Seconds between two checks of that calm."""
IMPORT_SWITCH_INTERVAL_S = 0.0005
"""The interpreter's thread switch interval, seconds, while the REST stack is imported
in a worker thread (Python's default: 0.005; see ``LazyApi.serve``)."""
API_DEFER_MAX_S = 30.0
"""Longest time, seconds from the start of gossip, that the imports wait for that calm.
Without the CPU condition and with 5 s, the seed of a 100-agent start on 2 cores (also
its coordinator) imported the REST stack while the other agents started and joined
through it, fell seconds behind on probes, and was declared failed by 83 of them
(``python -m simulations.versus_serf --nodes 100``)."""


def is_calm(*, waited_s: float, first_join_done: bool, since_last_join_s: float,
            busy: float | None) -> bool:
    """Whether the REST stack may be imported now: the first join attempt is done (or
    ``FIRST_JOIN_WAIT_S`` passed), no member joined for ``API_QUIET_S``, and the host's
    CPU is less than ``API_CALM_BUSY`` busy (None: unknown, counts as calm).

    Args:
        waited_s: seconds since the wait began.
        first_join_done: whether the first join attempt ended.
        since_last_join_s: seconds since a member last joined.
        busy: the host's CPU busy fraction over the last poll, or None.
    """
    joined = first_join_done or waited_s >= FIRST_JOIN_WAIT_S
    quiet = since_last_join_s >= API_QUIET_S
    return joined and quiet and (busy is None or busy < API_CALM_BUSY)


def import_rest_stack(tls: bool) -> None:
    """Import aiohttp, the API app and the gossip view (run in a worker thread).

    Importing aiohttp builds two SSL contexts, each parsing the system CA bundle: about
    2.5 MB of RSS and 0.08 s of CPU per agent here (``simulations/bench/agent_start.py``).
    Unless the agent makes HTTPS requests (``tls``, ``NodeConfig.needs_tls``) or aiohttp
    is already imported, aiohttp is imported as on a Python built without ``ssl``, which
    it supports (an https URL would fail with "SSL is not supported"). Serving the API
    and plain-HTTP requests are unaffected.

    ``prometheus_client`` (``GET /metrics``) is imported first: it needs
    ``urllib.request`` whole, which a module imported while ``ssl`` is hidden would leave
    without its HTTPS classes.
    """
    importlib.import_module("prometheus_client")
    with ssl_hidden(not tls and "aiohttp" not in sys.modules):
        importlib.import_module("aiohttp")
    importlib.import_module("api.app")
    importlib.import_module("node.view")
    importlib.import_module("node.api_observers")  # prometheus_client, the metrics


class LazyApi:
    """The API socket of an agent and, once loaded, the server on it.

    Args:
        sock: the bound, listening API socket (``api.server.bind_api_socket``).
        host: the ``--api-bind`` host (for the server's URL).
        tls: whether aiohttp must be imported with TLS (``NodeConfig.needs_tls``).
        build_app: builds the application once the REST stack is imported.
        host_busy: the host's CPU busy fraction since its previous call, or None.
        first_join_done: whether the first join attempt ended.
        last_join_at: when a member last joined (event loop time).
    """

    def __init__(self, sock: socket.socket, *, host: str, tls: bool,
                 build_app: Callable[[], web.Application],
                 host_busy: Callable[[], float | None], first_join_done: Callable[[], bool],
                 last_join_at: Callable[[], float]) -> None:
        self.port = int(sock.getsockname()[1])
        """The bound TCP port (it listens before it serves)."""
        self.server: ApiServer | None = None
        """The running server, once the stack is loaded."""
        self.wanted = asyncio.Event()
        """Set when an idle member must serve its API (a client, the coordinator role)."""
        self._sock: socket.socket | None = sock
        self._host = host
        self._tls = tls
        self._build_app = build_app
        self._host_busy = host_busy
        self._first_join_done = first_join_done
        self._last_join_at = last_join_at

    @property
    def local_url(self) -> str:
        """This API's URL as seen from this host (a wildcard bind: loopback)."""
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self._host, self._host)
        return f"http://{host_port(host, self.port)}"

    async def wait_for_calm(self) -> None:
        """Wait for ``is_calm``, at most ``API_DEFER_MAX_S``; a client connecting to the
        API socket ends the wait at once (and sets ``wanted``)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        client = asyncio.Event()
        meter = self._host_busy
        meter()
        with self._watching_socket(client.set):  # Windows: the bounded wait only
            while not client.is_set() and loop.time() - start < API_DEFER_MAX_S:
                await asyncio.sleep(API_CALM_POLL_S)
                busy = meter()
                now = loop.time()
                if is_calm(waited_s=now - start, first_join_done=self._first_join_done(),
                           since_last_join_s=now - self._last_join_at(), busy=busy):
                    break
        if client.is_set():
            self.wanted.set()

    async def serve_when_wanted(self) -> None:
        """Serve once a client connects to the socket (pending connections wait in the
        backlog meanwhile) or ``wanted`` is set."""
        if self._sock is None:
            return
        with self._watching_socket(self.wanted.set) as watching:
            if not watching:  # Windows' proactor loop has no readiness callbacks
                self.wanted.set()
            await self.wanted.wait()
        await self.serve()

    async def serve(self) -> None:
        """Import the REST stack off the event loop, build the app, serve on the socket."""
        if self._sock is None:
            return
        # The importing thread holds the GIL between the event loop's system calls, and
        # the loop waits up to one switch interval to get it back after each one (every
        # datagram read or sent): with the default 5 ms a busy seed fell seconds behind
        # on probes while importing. A shorter interval, for the import only.
        switch = sys.getswitchinterval()
        sys.setswitchinterval(min(switch, IMPORT_SWITCH_INTERVAL_S))
        try:
            await asyncio.to_thread(import_rest_stack, self._tls)
        finally:
            sys.setswitchinterval(switch)
        app = self._build_app()
        sock, self._sock = self._sock, None
        self.server = ApiServer(app, host=self._host, sock=sock)
        await self.server.start()
        log.info("API serving on %s", self.server.url)

    async def aclose(self) -> None:
        """Stop the server, or close the socket if it never served. Idempotent."""
        if self.server is not None:
            await self.server.stop()
            self.server = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    @contextlib.contextmanager
    def _watching_socket(self, on_client: Callable[[], None]) -> Iterator[bool]:
        """Call ``on_client`` when a client connects to the not yet served socket (the
        connection waits in the backlog); yields False where the event loop cannot watch
        a socket (Windows' proactor) or there is none."""
        sock = self._sock
        loop = asyncio.get_running_loop()
        if sock is None:
            yield False
            return
        try:
            loop.add_reader(sock.fileno(), on_client)
        except NotImplementedError:
            yield False
            return
        try:
            yield True
        finally:
            loop.remove_reader(sock.fileno())
