"""How this node announces itself: its alive message, incarnation and metadata.

``SelfAnnouncement`` is one facet of ``SwimProtocol`` (its base class): the commands that
give this node a new life in everyone's table (``set_meta``, ``reannounce``, and the
application's identity checks ``check_address`` and ``outbid``), and the helpers the
core's refutation uses (``_bump_incarnation``, ``_self_alive``). A new incarnation is
broadcast as our alive message; a leaving node announces no new life.
"""

from __future__ import annotations

from . import codec
from .config import GossipConfig
from .errors import LocalProtocolError
from .leave import Leave
from .addresses import ip_to_bytes
from .membership import MemberRecord, meta_is_claw
from .messages import VSN_SERF, Alive
from .outbox import Outbox
from .probe import Prober
from .push_pull import Exchanges
from .stats import CoreStats
from .types import Address, MemberState

__all__ = ["MAX_INCARNATION", "SelfAnnouncement", "own_record"]

MAX_INCARNATION = (1 << 32) - 1
"""Incarnations are a Go uint32 on the wire (memberlist); we never go above it."""


def own_record(config: GossipConfig, *, name: str, address: Address, meta: bytes,
               incarnation: int, now: float) -> MemberRecord:
    """This node's own member record, alive since ``now``: what it announces.

    Raises:
        LocalProtocolError: an empty name, an incarnation outside 1..``MAX_INCARNATION``,
            meta over ``config.meta_max_bytes``, or an address that is no (ip, port).
    """
    if not isinstance(name, str) or not name:
        raise LocalProtocolError("name must be a non-empty string")
    if not isinstance(incarnation, int) or not 1 <= incarnation <= MAX_INCARNATION:
        raise LocalProtocolError(f"incarnation must be in 1..{MAX_INCARNATION}, got {incarnation!r}")
    meta = SelfAnnouncement._check_meta(meta, config)
    try:
        ip, port = address
        ip_bytes = ip_to_bytes(ip)
    except (TypeError, ValueError) as exc:
        raise LocalProtocolError(f"address must be (ip, port), got {address!r}") from exc
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise LocalProtocolError(f"port must be in 1..65535, got {port!r}")
    return MemberRecord(
        name=name, ip=str(ip), port=port, meta=meta, incarnation=incarnation,
        state=MemberState.ALIVE, state_since=now, vsn=VSN_SERF, is_claw=meta_is_claw(meta),
        ip_bytes=ip_bytes,
    )


class SelfAnnouncement:
    """This node's announcements of itself; the state they use is set up by
    ``SwimProtocol.__init__`` (declared here for the type checker)."""

    _now: float
    _cfg: GossipConfig
    _self: MemberRecord
    _ip_bytes: bytes
    _leave: Leave
    _outbox: Outbox
    _stats: CoreStats
    _prober: Prober
    _exchanges: Exchanges

    @staticmethod
    def _check_meta(meta: bytes, config: GossipConfig) -> bytes:
        if not isinstance(meta, (bytes, bytearray)):
            raise LocalProtocolError("meta must be bytes")
        if len(meta) > config.meta_max_bytes:
            raise LocalProtocolError(
                f"meta is {len(meta)} bytes, more than meta_max_bytes={config.meta_max_bytes}")
        return bytes(meta)

    def set_meta(self, meta: bytes, now: float) -> None:
        """Replace node metadata; bumps incarnation and broadcasts alive (not once
        ``leave`` was called: like memberlist, a leaving node announces no new life)."""
        self._now = now
        meta = self._check_meta(meta, self._cfg)
        if self._leave.phase:
            # An alive at a higher incarnation than our dead message would make those who
            # saw the dead take us back as alive, then declare us failed, not left.
            return
        self._self.meta = meta
        self._self.is_claw = meta_is_claw(meta)
        self._bump_incarnation(self._self.incarnation + 1)
        self._broadcast_self_alive()

    def reannounce(self, now: float) -> None:
        """After a clock jump (sleep/wake): higher incarnation, alive broadcast, and an
        immediate push-pull with a random live peer."""
        self._now = now
        if self._leave.phase:
            return
        self._bump_incarnation(self._self.incarnation + 1)
        self._broadcast_self_alive()
        if self._prober.abandon():  # its timing spans the jump: no verdict from it
            self._stats.probes_abandoned += 1
        prober = self._prober
        prober.next_probe = min(prober.next_probe, now + self._cfg.probe_interval_s)
        self._exchanges.push_pull_random(now)

    def check_address(self, name: str, address: Address, now: float) -> None:
        """Ask whether ``address`` answers a ping for member ``name`` (memberlist's TCP
        ping: a stream ping naming its target, which only that member acks). An
        ``AddressChecked`` event follows within ``tcp_timeout_s`` (plus the stream grace).
        The core draws no conclusion from it; the application's identity check does."""
        self._now = now
        self._exchanges.open_address_check(name, address, now)

    def outbid(self, incarnation: int, now: float, *, tell: Address | None = None) -> None:
        """Announce ourselves above ``incarnation``, another holder's of our name that the
        application decided we keep: a suspicion or death gossiped about that holder's
        life then no longer applies to our record anywhere. ``tell``: the other holder's
        address, sent our alive directly: the members that refuse our claim never relay
        it, so this is how a holder that is a member too learns of us. Nothing when we
        are leaving; no new incarnation when we are above ``incarnation`` already."""
        self._now = now
        if self._leave.phase:
            return
        if self._self.incarnation <= incarnation:
            self._bump_incarnation(incarnation + 1)
            self._broadcast_self_alive()
            self._stats.outbids += 1
        if tell is not None:
            self._outbox.emit(tell, self._self_alive(), crc=False)

    def _bump_incarnation(self, inc: int) -> None:
        # Incarnation is a Go uint32; a hostile accusation at the top cannot be beaten.
        self._self.incarnation = min(inc, MAX_INCARNATION)

    def _self_alive(self) -> bytes:
        """Our own alive message, encoded (for broadcasts and direct answers)."""
        s = self._self
        return codec.encode_message(
            Alive(s.incarnation, s.name, self._ip_bytes, s.port, s.meta, VSN_SERF))

    def _broadcast_self_alive(self) -> None:
        self._outbox.memberlist.push(self._self_alive(), self._self.name)
