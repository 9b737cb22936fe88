"""What the gossip core tells the layers above (immutable, app-facing).

Drain them with ``SwimProtocol.next_event()`` after every input.

Named tuples, as the wire messages (``gossip.messages``): the core builds these classes
at every start, and a ``NamedTuple`` class costs a fraction of a frozen dataclass's
exec-compiled methods. Several kinds share a shape (``MemberJoined(member)``,
``MemberLeft(member)``) and compare as tuples: dispatch on the type, never on equality.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from .types import Address, MemberState

if TYPE_CHECKING:
    from .serf_query import IncomingQuery, OutboundQuery

__all__ = [
    "Member", "MemberJoined", "MemberUpdated", "MemberSuspected", "MemberRecovered",
    "MemberFailed", "MemberLeft", "NameConflict", "AddressChecked", "Refuted", "JoinResult",
    "AppMessage", "AppState", "QueryReceived", "QueryAnswered", "QueryFinished",
    "UserEventReceived", "Event",
]


class Member(NamedTuple):
    """A snapshot of one member as this node knows it."""

    name: str
    address: Address
    """(ip, port) peers dial for gossip; ip is text ("127.0.0.1")."""
    meta: bytes
    """Node metadata (Serf tag encoding for claw and Serf nodes), at most 512 bytes."""
    incarnation: int
    state: MemberState
    state_since: float
    """Core time (the ``now`` it was fed) of the last state change."""
    vsn: bytes
    """memberlist ``Vsn`` (6 bytes) or b"" if the peer sent none."""
    is_claw: bool
    """True when its Serf tags carry the ``claw`` tag (a claw-node, not a plain Serf agent)."""


class MemberJoined(NamedTuple):
    """A member became alive: new, or back from dead/left (then with a higher incarnation)."""

    member: Member


class MemberUpdated(NamedTuple):
    """An alive member changed its metadata or address."""

    member: Member


class MemberSuspected(NamedTuple):
    """A member is suspected; ``accuser`` is the node whose suspect message started it."""

    member: Member
    accuser: str


class MemberRecovered(NamedTuple):
    """A suspect member refuted the suspicion (alive with a higher incarnation)."""

    member: Member


class MemberFailed(NamedTuple):
    """A member was declared dead (suspicion timed out, or we learned of its death)."""

    member: Member
    accuser: str


class MemberLeft(NamedTuple):
    """A member left gracefully (it declared itself dead)."""

    member: Member


class NameConflict(NamedTuple):
    """Someone at ``claimed_by`` claims the name of a live member at another address.

    The claim was refused; the existing record is unchanged. When the name is our own,
    ``existing`` is ourselves and the ``claimed_*`` fields describe the other holder
    (who may be us, restarted elsewhere, or a clone); the core does not interpret the
    metadata, the application decides (``node.identity``).
    """

    existing: Member
    claimed_by: Address
    claimed_meta: bytes = b""
    """The other holder's metadata, as its alive message carried it."""
    claimed_incarnation: int = 0


class AddressChecked(NamedTuple):
    """Outcome of ``SwimProtocol.check_address``: whether ``address`` answered a TCP
    ping for the member name ``name`` before the deadline."""

    name: str
    address: Address
    answered: bool


class Refuted(NamedTuple):
    """We heard ourselves suspected or declared dead and re-announced at ``incarnation``.

    The agent persists the incarnation so a restart never goes backwards.
    """

    incarnation: int
    accuser: str


class JoinResult(NamedTuple):
    """Outcome of one join attempt (a push-pull with ``seed``)."""

    seed: Address
    ok: bool
    error: str = ""


class AppMessage(NamedTuple):
    """A claw application message piggybacked by gossip (``SwimProtocol.broadcast_app``)."""

    body: bytes


class AppState(NamedTuple):
    """claw application state received in a push-pull (anti-entropy)."""

    body: bytes
    join: bool
    sender: Address


class QueryReceived(NamedTuple):
    """A Serf query passed our filters (``gossip.serf_query``): for a handler, which may
    answer it once with ``SwimProtocol.respond_query`` before ``query.deadline``.
    Serf's internal queries (``query.internal``) are for the node itself."""

    query: IncomingQuery


class QueryAnswered(NamedTuple):
    """An ack (``ack``) or a response from ``node`` arrived for our ``query``
    (already recorded in ``query.acks`` / ``query.responses``)."""

    query: OutboundQuery
    node: str
    ack: bool


class QueryFinished(NamedTuple):
    """Our ``query`` reached its deadline: its acks and responses are final."""

    query: OutboundQuery


class UserEventReceived(NamedTuple):
    """A Serf user event new to this node (``serf event``; ``gossip.user_events``),
    ours included: for the node's event handlers."""

    ltime: int
    name: str
    payload: bytes
    coalesce: bool


Event = (
    MemberJoined | MemberUpdated | MemberSuspected | MemberRecovered | MemberFailed
    | MemberLeft | NameConflict | AddressChecked | Refuted | JoinResult | AppMessage | AppState
    | QueryReceived | QueryAnswered | QueryFinished | UserEventReceived
)
