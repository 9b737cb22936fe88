"""claw-node gossip: memberlist 0.2.2's SWIM + Lifeguard as a sans-I/O core.

The asyncio driver lives in ``gossip.udp`` and is deliberately not imported here, so
``import gossip`` never pulls in asyncio or sockets.
"""

from .config import PROFILES, GossipConfig
from .errors import (
    ConfigError, GossipError, LocalProtocolError, MalformedPacket, RemoteProtocolError,
)
from .events import (
    AppMessage, AppState, Event, JoinResult, Member, MemberFailed, MemberJoined, MemberLeft,
    MemberRecovered, MemberSuspected, MemberUpdated, NameConflict, Refuted,
)
from .protocol import StreamRequest, SwimProtocol, push_pull_scale
from .types import Address, MemberState

__all__ = [
    "GossipConfig", "PROFILES",
    "GossipError", "ConfigError", "LocalProtocolError", "RemoteProtocolError", "MalformedPacket",
    "Event", "Member", "MemberJoined", "MemberUpdated", "MemberSuspected", "MemberRecovered",
    "MemberFailed", "MemberLeft", "NameConflict", "Refuted", "JoinResult", "AppMessage",
    "AppState",
    "SwimProtocol", "StreamRequest", "push_pull_scale",
    "Address", "MemberState",
]
