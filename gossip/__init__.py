"""claw-node gossip: memberlist 0.2.2's SWIM + Lifeguard as a sans-I/O core.

The asyncio driver lives in ``gossip.udp`` and is deliberately not imported here, so
``import gossip`` never pulls in asyncio or sockets.
"""

from .config import PROFILES, Compression, GossipConfig
from .errors import (
    ConfigError,
    DecryptionFailed,
    GossipError,
    KeyringError,
    LocalProtocolError,
    MalformedPacket,
    RemoteProtocolError,
)
from .events import (
    AddressChecked,
    AppMessage,
    AppState,
    Event,
    JoinResult,
    Member,
    MemberFailed,
    MemberJoined,
    MemberLeft,
    MemberRecovered,
    MemberSuspected,
    MemberUpdated,
    NameConflict,
    QueryAnswered,
    QueryFinished,
    QueryReceived,
    Refuted,
)
from .keyring import Keyring
from .protocol import SwimProtocol
from .push_pull import StreamRequest, push_pull_scale
from .serf_query import IncomingQuery, OutboundQuery, QueryError, QueryParams
from .types import Address, MemberState

__all__ = [
    "PROFILES",
    "Address",
    "AddressChecked",
    "AppMessage",
    "AppState",
    "Compression",
    "ConfigError",
    "DecryptionFailed",
    "Event",
    "GossipConfig",
    "GossipError",
    "IncomingQuery",
    "JoinResult",
    "Keyring",
    "KeyringError",
    "LocalProtocolError",
    "MalformedPacket",
    "Member",
    "MemberFailed",
    "MemberJoined",
    "MemberLeft",
    "MemberRecovered",
    "MemberState",
    "MemberSuspected",
    "MemberUpdated",
    "NameConflict",
    "OutboundQuery",
    "QueryAnswered",
    "QueryError",
    "QueryFinished",
    "QueryParams",
    "QueryReceived",
    "Refuted",
    "RemoteProtocolError",
    "StreamRequest",
    "SwimProtocol",
    "push_pull_scale",
]
