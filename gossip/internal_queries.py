"""Serf's internal ``_serf_ping`` and ``_serf_conflict`` queries, answered as Serf does.

``serf/internal_query.go``: ``_serf_ping`` needs nothing beyond the ack the querier asked
for (the query machinery sends it). ``_serf_conflict`` names a node (the payload): a node
other than the one named answers with its view of that member, a
``messageConflictResponseType`` (6) message whose body is Serf's ``Member`` struct in
msgpack (nil when the member is unknown). Serf's name-conflict resolution counts these
answers to decide which of two nodes claiming one name keeps it. (Key-management
queries are ``node.cluster_keys``'.)
"""

from __future__ import annotations

from .addresses import ip_to_bytes
from .errors import MalformedPacket
from .membership import MemberRecord
from .msgpack_fields import U8, U16MAX, go_str, go_uint, pack
from .tags import decode_tags
from .types import MemberState

__all__ = ["CONFLICT_QUERY", "PING_QUERY", "conflict_response", "handled_here"]

PING_QUERY = "_serf_ping"
CONFLICT_QUERY = "_serf_conflict"
_CONFLICT_RESPONSE = 6
"""Serf ``messageConflictResponseType``."""

# Serf's MemberStatus values.
_ALIVE, _LEAVING, _LEFT, _FAILED = 1, 2, 3, 4


def handled_here(name: str) -> bool:
    """Whether the core answers this internal query itself."""
    return name in (PING_QUERY, CONFLICT_QUERY)


def serf_status(record: MemberRecord) -> int:
    """Serf's ``MemberStatus`` for a memberlist state (suspect is still alive to Serf)."""
    if record.state in (MemberState.ALIVE, MemberState.SUSPECT):
        return _LEAVING if record.leaving else _ALIVE
    return _LEFT if record.state is MemberState.LEFT else _FAILED


def conflict_response(record: MemberRecord | None) -> bytes:
    """The answer to ``_serf_conflict`` about ``record`` (None: a member we do not know)."""
    if record is None:
        return bytes((_CONFLICT_RESPONSE,)) + pack(None)
    vsn = (record.vsn + bytes(6))[:6]
    try:
        tags = decode_tags(record.meta)
    except MalformedPacket:
        tags = {}
    # Go's codec writes struct fields in declaration order (serf.Member).
    body = {
        "Name": go_str(record.name), "Addr": record.ip_bytes or ip_to_bytes(record.ip),
        "Port": go_uint(record.port, U16MAX, "port"),
        "Tags": {go_str(k): go_str(v) for k, v in tags.items()},
        "Status": serf_status(record),
        "ProtocolMin": go_uint(vsn[0], U8, "vsn"), "ProtocolMax": vsn[1], "ProtocolCur": vsn[2],
        "DelegateMin": vsn[3], "DelegateMax": vsn[4], "DelegateCur": vsn[5],
    }
    return bytes((_CONFLICT_RESPONSE,)) + pack(body)
