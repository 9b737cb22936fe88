"""Which claw app messages a core has already seen, so it delivers and relays each once.

Every claw member relays each new app message it receives (``UserMessages``), so a
message spreads epidemically; what stops it is that a member seeing it a second time
does nothing. Most app messages are the latest state of one record (a node's heartbeat,
an HTTP-registered record): the application names that record and its version through
an ``AppVersionOf`` function, and the core then keeps, per record, only the newest
version seen. An older or equal version arriving later is a duplicate; a newer one
replaces the queued relay of the older (the relay queue's key is the record's), the way
memberlist's ``TransmitLimitedQueue`` invalidates a broadcast by the node it names. The
version memory and the relay queue thus hold one entry per record, not one per message.

Messages the function does not name (directives, or every message when no function is
given, as in a bare core or a Serf-only simulation) are remembered by a digest of their
body. The digests of named bodies are remembered too, apart: most arrivals are copies
of a body already seen (each member relays each message), and the digest recognises
them before the version function decodes the body. That memory is only a short cut:
a body it has forgotten is named and compared as before. All three memories are
bounded by the cluster: ``capacity`` entries each, grown with the member count,
dropping the least recently changed entry first.

Nothing of this reaches the wire: the body is relayed as received, and a member without
a version function (or an older claw node) still deduplicates by digest.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

# hashlib's own blake2b: ``import hashlib`` would also load OpenSSL's libcrypto (~3.4 MiB
# of RSS) for constructors this module never uses.
try:
    from _blake2 import blake2b
except ImportError:  # an interpreter built without the module
    from hashlib import blake2b

__all__ = [
    "MIN_REMEMBERED", "REMEMBERED_PER_MEMBER", "AppVersion", "AppVersionOf", "SeenAppMessages",
]

AppVersion = tuple[str, tuple[int | float, ...]]
"""(record key, version): the record an app message carries the state of, and how new
that state is (tuples compare element by element; larger is newer)."""
AppVersionOf = Callable[[bytes], AppVersion | None]
"""Names the record and version in an app message body (untrusted: returns None for a
body it cannot read, never raises)."""

MIN_REMEMBERED = 1024
"""Entries each memory keeps whatever the cluster size (records or digests)."""
REMEMBERED_PER_MEMBER = 8
"""Entries each memory keeps per member: a node's heartbeat and a few registered
records or directives per node in flight at once."""

_DIGEST_BYTES = 16


class SeenAppMessages:
    """The app messages seen: newest version per record, digests of the others.

    Args:
        version_of: names the record and version of a body (None: use digests only).
        member_count: members in the table now (sizes the memories).
    """

    def __init__(self, version_of: AppVersionOf | None, member_count: Callable[[], int]) -> None:
        self._version_of = version_of
        self._member_count = member_count
        self._versions: OrderedDict[str, tuple[tuple[int | float, ...], bytes]] = OrderedDict()
        self._digests: OrderedDict[bytes, None] = OrderedDict()
        """Digests of the unnamed bodies seen."""
        self._named_digests: OrderedDict[bytes, None] = OrderedDict()
        """Digests of the named bodies seen (new or not): their copies skip the decode."""

    def capacity(self) -> int:
        """Entries each memory keeps (records, and digests), from the member count."""
        return max(MIN_REMEMBERED, REMEMBERED_PER_MEMBER * self._member_count())

    def __len__(self) -> int:
        """Records and unnamed digests remembered (the digests of named bodies, a
        short cut, are not counted)."""
        return len(self._versions) + len(self._digests)

    def admit(self, body: bytes, version: AppVersion | None = None) -> tuple[bool, str | None]:
        """Record ``body`` as seen. Returns whether it is new and, if it is, the record
        key it carries (None: unnamed, or not new); a body not new must be neither
        delivered nor relayed.

        ``version``: what the version function returns for ``body``, when the caller
        already knows it (this node's own broadcast of a record it has just encoded): the
        body is then not decoded again. Ignored without a version function, so a bare
        core still remembers every body by digest.

        A body seen before is not new, whatever it names: its digest is checked first,
        and only a body not seen before is named by the version function. A named
        record's body is new if (version, digest) is larger than the one remembered:
        the digest breaks ties between two different bodies of one version, so every
        member settles on the same one and no pair of bodies can alternate.
        """
        digest = blake2b(body, digest_size=_DIGEST_BYTES).digest()
        if digest in self._named_digests or digest in self._digests:
            return False, None
        if self._version_of is None:
            named = None
        else:
            named = version if version is not None else self._version_of(body)
        if named is None:
            self._digests[digest] = None
            _trim(self._digests, self.capacity())
            return True, None
        self._named_digests[digest] = None
        _trim(self._named_digests, self.capacity())
        key, record_version = named
        known = self._versions.get(key)
        if known is not None and (record_version, digest) <= known:
            return False, None
        self._versions[key] = (record_version, digest)
        self._versions.move_to_end(key)
        _trim(self._versions, self.capacity())
        return True, key


def _trim(memory: OrderedDict[bytes, None] | OrderedDict[str, tuple[tuple[int | float, ...], bytes]],
          capacity: int) -> None:
    while len(memory) > capacity:
        memory.popitem(last=False)
