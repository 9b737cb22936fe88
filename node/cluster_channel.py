"""``ClusterChannel``: the agent's requests to other claw nodes, over the gossip port.

One path for node-to-node requests (``gossip.channel`` frames, carried by
``GossipTransport.request``; the wire kinds and bodies are in ``node.peer_requests``):

* ``forward_write``: a write that reached this node while it is not the coordinator goes
  to the coordinator's gossip address, so it works with every API on its loopback;
* ``serve_write``: on the coordinator, a relayed write is replayed on its own API (over
  loopback, so the token check, validation and handlers are the ones a direct client
  gets) and the answer goes back unchanged;
* ``send_directive`` / ``serve_directive``: the coordinator's directives to a member,
  acknowledged by the member and retried (``DirectiveRetry``); an unacknowledged one
  raises ``DirectiveNotAcknowledged`` for the HTTP caller to see;
* ``send_replica``: the coordinator hands a member a record it wrote and waits for the
  member's confirmation that it is stored (served by the agent, ``node.write_replicas``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from api.errors import Unavailable
from api.relay import ForwardedAnswer, ForwardedWrite
from gossip.channel import ChannelCall
from gossip.types import MemberState
from gossip.udp import ChannelError, GossipTransport

from .app_messages import APP_DIRECTIVE, Directive, decode_app, decode_directive
from .directives import Verdict
from .peer_requests import (
    KIND_DIRECTIVE,
    KIND_REPLICA,
    KIND_WRITE,
    REPLICA_CONFIRMED,
    DirectiveRetry,
    decode_answer,
    decode_write,
    encode_answer,
    encode_write,
)

if TYPE_CHECKING:
    import aiohttp

__all__ = ["ClusterChannel", "DirectiveNotAcknowledged"]

log = logging.getLogger(__name__)

_REACHABLE = (MemberState.ALIVE, MemberState.SUSPECT)


class DirectiveNotAcknowledged(Exception):
    """A directive's target never acknowledged it; the message says after what."""


class ClusterChannel:
    """The agent's end of the request channel.

    Args:
        transport: the running gossip transport (None before start / after stop).
        node_id: this node's id.
        coordinator: the coordinator's node id as this node sees it (None: unknown).
        local_api_url: ``http://host:port`` of this node's own API (loopback when it
            listens on a wildcard), or None when it serves none.
        apply_directive: judges and applies a directive addressed to this node.
        retry: makes the attempt plan of each directive sent.
    """

    def __init__(self, *, transport: Callable[[], GossipTransport | None],
                 node_id: Callable[[], str], coordinator: Callable[[], str | None],
                 local_api_url: Callable[[], str | None],
                 apply_directive: Callable[[Directive], Verdict],
                 retry: Callable[[], DirectiveRetry] = DirectiveRetry) -> None:
        self._transport = transport
        self._node_id = node_id
        self._coordinator = coordinator
        self._local_api_url = local_api_url
        self._apply_directive = apply_directive
        self._retry = retry
        self._session: aiohttp.ClientSession | None = None

    def install(self, transport: GossipTransport) -> None:
        """Serve this node's request kinds on ``transport``."""
        transport.set_request_handler(KIND_WRITE, self.serve_write)
        transport.set_request_handler(KIND_DIRECTIVE, self.serve_directive)

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # --- writes ---------------------------------------------------------------------

    async def forward_write(self, write: ForwardedWrite, timeout_s: float) -> ForwardedAnswer:
        """Carry ``write`` to the coordinator and return its answer (``WriteForwarder``).

        Raises:
            Unavailable: no coordinator known, it is not a reachable claw member, or it
                did not answer over the gossip port within ``timeout_s``.
        """
        name = self._coordinator()
        if name is None:
            raise Unavailable("coordinator: no coordinator is known, writes are unavailable "
                              "(reads still work); retry shortly")
        if name == self._node_id():  # became coordinator after the API looked
            return await self._replay(write, timeout_s)
        transport, address = self._claw_member(name, "coordinator")
        try:
            data = await transport.request(address, KIND_WRITE, encode_write(write),
                                           timeout_s=timeout_s)
            return decode_answer(data)
        except (ChannelError, ValueError) as exc:
            raise Unavailable(
                f"coordinator: {name} at {address[0]}:{address[1]} (gossip port) did not "
                f"answer the relayed write: {exc}; writes are unavailable, reads still "
                "work") from None

    async def serve_write(self, call: ChannelCall) -> bytes:
        """A write relayed to this node: replay it on the own API, answer its answer."""
        write = decode_write(call.body)
        return encode_answer(await self._replay(write, call.ttl_s))

    async def _replay(self, write: ForwardedWrite, timeout_s: float) -> ForwardedAnswer:
        from api.forwarding import execute_write

        base_url = self._local_api_url()
        if base_url is None:
            raise Unavailable(f"coordinator: {self._node_id()} serves no API, so it cannot "
                              "apply writes")
        return await execute_write(self._http(), base_url, write, timeout_s)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            import aiohttp

            self._session = aiohttp.ClientSession()
        return self._session

    # --- directives -------------------------------------------------------------------

    async def send_directive(self, directive: Directive, body: bytes) -> Verdict:
        """Deliver ``directive`` (encoded as ``body``) to its target until acknowledged.

        Returns the target's verdict (``APPLY``, or ``REPEAT``/``STALE`` when a retry
        crossed an earlier delivery).

        Raises:
            DirectiveNotAcknowledged: every attempt failed (the reason of the last one).
        """
        retry = self._retry()
        while (pause := retry.next_pause()) is not None:
            if pause:
                await asyncio.sleep(pause)
            try:
                transport, address = self._claw_member(directive.target, "member")
                ack = await transport.request(address, KIND_DIRECTIVE, body,
                                              timeout_s=retry.attempt_timeout_s)
                verdict = Verdict(ack.decode("ascii", "replace"))
            except (Unavailable, ChannelError) as exc:
                retry.failed(str(exc))
                log.info("directive %s to %s: attempt %d failed: %s", directive.id,
                         directive.target, retry.attempts, exc)
                continue
            except ValueError:
                retry.failed("the member answered with an unknown acknowledgement")
                continue
            if verdict is Verdict.NOT_OURS:
                retry.failed(f"the node at that address is not {directive.target}")
                continue
            return verdict
        raise DirectiveNotAcknowledged(
            f"{directive.action} directive to {directive.target} was not acknowledged after "
            f"{retry.attempts} attempts ({retry.last_error}); it may not have been applied")

    async def serve_directive(self, call: ChannelCall) -> bytes:
        """A directive from the coordinator: apply it (once) and acknowledge."""
        kind, payload = decode_app(call.body)
        if kind != APP_DIRECTIVE:
            raise ValueError("not a directive")
        return self._apply_directive(decode_directive(payload)).value.encode("ascii")

    # --- replicas ---------------------------------------------------------------------

    async def send_replica(self, name: str, body: bytes, timeout_s: float) -> None:
        """Hand member ``name`` an encoded record; return once it confirmed storing it.

        Raises:
            Unavailable: ``name`` is not a live claw member.
            ChannelError: it did not confirm within ``timeout_s``.
            ValueError: it answered something else than a confirmation.
        """
        transport, address = self._claw_member(name, "member")
        answer = await transport.request(address, KIND_REPLICA, body, timeout_s=timeout_s)
        if answer != REPLICA_CONFIRMED:
            raise ValueError("the member answered without confirming")

    # --- helpers ----------------------------------------------------------------------

    def _claw_member(self, name: str, role: str) -> tuple[GossipTransport, Any]:
        transport = self._transport()
        if transport is None or not transport.running:
            raise Unavailable("coordinator: this node is not running gossip")
        member = transport.core.member(name)
        if member is None or member.state not in _REACHABLE:
            raise Unavailable(f"{role} {name} is not a live member of the cluster")
        if not member.is_claw:
            raise Unavailable(f"{role} {name} is not a claw node")
        return transport, member.address
