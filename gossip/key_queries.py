"""Serf's key-management queries: payloads, one node's answer, the cluster's summary.

``serf keys -list/-install/-use/-remove`` (``serf/keymanager.go``) runs the internal
queries ``_serf_list-keys``, ``_serf_install-key``, ``_serf_use-key`` and
``_serf_remove-key`` (``serf/internal_query.go``):

* the query payload is ``0x07`` (``messageKeyRequestType``) + msgpack
  ``keyRequest{Key []byte}`` (raw key bytes; empty for a list);
* every node answers with ``0x08`` (``messageKeyResponseType``) + msgpack
  ``nodeKeyResponse{Keys []string, Message string, PrimaryKey string, Result bool}``
  (wire order), keys as standard base64; a list that would not fit the response size
  limit is cut with "truncated key list response, showing first N of M keys".

Nothing in these payloads is encrypted separately: with encryption on, memberlist seals
the whole datagram that carries them.

Serf obeys a key change from any packet memberlist accepts, so while
``gossip_verify_incoming`` is off (the middle of a migration to encryption) anyone who
can send a plaintext datagram could rotate its keys. Here a change is obeyed only if its
query arrived encrypted under a key we hold (``IncomingQuery.encrypted``); a plaintext
one is answered with ``UNENCRYPTED_CHANGE``. It is passed on, as Serf passes on every
query, unless we seal what we send (``passes_on``): passing it on under our key would
launder it into one the next node obeys. Lists are answered either way, as Serf does.
The answers to our own key queries get the same rule (``gossip.query_router``): with a
keyring, only answers that arrived sealed are counted.

The answer is planned here without touching anything (``plan_answer`` works on a copy
of the keyring); the node persists ``KeyPlan.keys`` and only then applies them and
sends ``KeyPlan.response``. ``summarize`` folds the answers into Serf's
``KeyResponse`` figures plus what claw adds: which live nodes lack a key or use it as
primary, so a ``use``/``remove`` that would lock a node out can be refused first.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from .errors import KeyringError, LocalProtocolError, MalformedPacket
from .keyring import Keyring
from .msgpack_fields import as_map, get_bool, get_bytes, get_str, go_bytes, go_str, pack, to_str, unpack_one

__all__ = [
    "INSTALL_KEY", "KEY_CHANGES", "KEY_QUERIES", "LIST_KEYS", "REMOVE_KEY", "UNENCRYPTED_CHANGE",
    "USE_KEY",
    "KeyPlan", "KeySummary", "NodeKeyResponse",
    "decode_key_request", "decode_key_response", "encode_key_request", "encode_key_response",
    "passes_on", "plan_answer", "summarize",
]

LIST_KEYS = "_serf_list-keys"
INSTALL_KEY = "_serf_install-key"
USE_KEY = "_serf_use-key"
REMOVE_KEY = "_serf_remove-key"
KEY_QUERIES = (LIST_KEYS, INSTALL_KEY, USE_KEY, REMOVE_KEY)
"""The internal query names of Serf's key manager."""
KEY_CHANGES = (INSTALL_KEY, USE_KEY, REMOVE_KEY)
"""The key queries that change a keyring (obeyed only when they arrived encrypted)."""
UNENCRYPTED_CHANGE = "Key change refused: the query arrived unencrypted"
"""claw's answer to a key change that did not arrive sealed under one of our keys."""

_KEY_REQUEST, _KEY_RESPONSE = 7, 8
_MIN_ENCODED_KEY_BYTES = 25
"""Serf ``minEncodedKeyLength``: bounds the keys tried in a list response (1024/25)."""
_NO_KEYRING = "No keyring to modify (encryption not enabled)"
_EMPTY_KEYRING = "Keyring is empty (encryption not enabled)"


class NodeKeyResponse(NamedTuple):
    """Serf ``nodeKeyResponse``: one node's answer to a key query."""

    result: bool
    message: str = ""
    keys: tuple[str, ...] | None = None
    """Base64 keys (list queries only; None is Go's nil slice)."""
    primary_key: str = ""


def encode_key_request(key: bytes) -> bytes:
    """The payload of a key query: ``0x07`` + ``{"Key": raw bytes}``."""
    return bytes((_KEY_REQUEST,)) + pack({"Key": go_bytes(key, "key")})


def decode_key_request(payload: bytes) -> bytes:
    """The key of a key query's payload (b"" for none).

    Raises:
        MalformedPacket: not a key request.
    """
    if not payload or payload[0] != _KEY_REQUEST:
        raise MalformedPacket("key request: wrong type byte")
    d = as_map(unpack_one(payload[1:], "key request")[0], "key request")
    return get_bytes(d, b"Key", "key request") or b""


def encode_key_response(resp: NodeKeyResponse) -> bytes:
    """``0x08`` + msgpack ``nodeKeyResponse`` with Go's field order."""
    return bytes((_KEY_RESPONSE,)) + pack({
        "Keys": None if resp.keys is None else [go_str(k) for k in resp.keys],
        "Message": go_str(resp.message), "PrimaryKey": go_str(resp.primary_key),
        "Result": bool(resp.result),
    })


def decode_key_response(payload: bytes) -> NodeKeyResponse:
    """A node's answer to a key query.

    Raises:
        MalformedPacket: not a key response (Serf: "Invalid key query response type").
    """
    if not payload or payload[0] != _KEY_RESPONSE:
        raise MalformedPacket("key response: wrong type byte")
    what = "key response"
    d = as_map(unpack_one(payload[1:], what)[0], what)
    keys = d.get(b"Keys")
    if keys is not None:
        if not isinstance(keys, list):
            raise MalformedPacket(f"{what}.Keys: not an array")
        keys = tuple(to_str(k, f"{what}.Keys[]") for k in keys)
    return NodeKeyResponse(
        result=get_bool(d, b"Result", what), message=get_str(d, b"Message", what),
        keys=keys, primary_key=get_str(d, b"PrimaryKey", what),
    )


class KeyPlan(NamedTuple):
    """How this node answers one key query."""

    response: bytes
    """The response payload (``encode_key_response``) to send."""
    keys: tuple[bytes, ...] | None = None
    """The keyring after the change, primary first, to persist then apply (None:
    nothing changes, e.g. a list or a refused change)."""
    change: tuple[str, bytes] | None = None
    """(query name, key) of the change ``apply`` makes (None with ``keys``)."""

    def apply(self, keyring: Keyring) -> None:
        """Make the planned change on the live ``keyring`` (after ``keys`` was persisted).

        Raises:
            KeyringError: ``keyring`` changed since it was planned and refuses it now.
        """
        if self.change is not None:
            _change(keyring, *self.change)


def passes_on(name: str, encrypted: bool, sealing: bool) -> bool:
    """Whether a query that arrived (``encrypted`` or not) may be re-broadcast by a node
    that seals what it sends (``sealing``) or not: every query may, except a key change
    that arrived in plaintext and would leave sealed. (Left in plaintext it reaches the
    next node as it reached us, so that node refuses it too; not passing it on at all
    made a claw node that got Serf's only copies keep the query from the others.)"""
    return encrypted or not sealing or name not in KEY_CHANGES


def plan_answer(name: str, payload: bytes, keyring: Keyring,
                fits: Callable[[bytes], bool] = lambda _: True, *, encrypted: bool) -> KeyPlan:
    """Serf ``handleInstallKey`` / ``handleUseKey`` / ``handleRemoveKey`` /
    ``handleListKeys``, deciding on a copy of ``keyring`` (which is not changed).

    Args:
        name: one of ``KEY_QUERIES``.
        payload: the query payload.
        encrypted: the query arrived sealed under one of our keys (or is ours); a change
            that did not is refused with ``UNENCRYPTED_CHANGE``.
        fits: whether a response payload fits the response size limit (lists are cut
            to fit, as Serf does).
    Raises:
        LocalProtocolError: ``name`` is not a key query.
    """
    if name == LIST_KEYS:
        return KeyPlan(_list_response(keyring, fits))
    if name not in KEY_QUERIES:
        raise LocalProtocolError(f"not a key query: {name!r}")
    try:
        key = decode_key_request(payload)
    except MalformedPacket:
        return _refused("")  # Serf answers an undecodable request with an empty failure
    if not keyring.enabled:
        return _refused(_NO_KEYRING)  # never turn encryption on: it would cut us off
    if not encrypted:
        return _refused(UNENCRYPTED_CHANGE)
    after = keyring.copy()
    try:
        _change(after, name, key)
    except KeyringError as exc:
        return _refused(str(exc))
    return KeyPlan(encode_key_response(NodeKeyResponse(result=True)), keys=after.keys,
                   change=(name, key))


def _change(keyring: Keyring, name: str, key: bytes) -> None:
    """The keyring operation a key query asks for (raises ``KeyringError``)."""
    if name == INSTALL_KEY:
        keyring.install(key)
    elif name == USE_KEY:
        keyring.use(key)
    else:
        keyring.remove(key)


def _refused(message: str) -> KeyPlan:
    return KeyPlan(encode_key_response(NodeKeyResponse(result=False, message=message)))


def _list_response(keyring: Keyring, fits: Callable[[bytes], bool]) -> bytes:
    if not keyring.enabled:
        return encode_key_response(NodeKeyResponse(result=False, message=_EMPTY_KEYRING))
    keys = tuple(_b64(k) for k in keyring.keys)
    primary = _b64(keyring.primary or b"")
    message = ""
    for shown in range(min(len(keys), 1024 // _MIN_ENCODED_KEY_BYTES), -1, -1):
        raw = encode_key_response(NodeKeyResponse(True, message, keys[:shown], primary))
        if fits(raw):
            return raw
        message = f"truncated key list response, showing first {shown - 1} of {len(keys)} keys"
    return encode_key_response(NodeKeyResponse(True, message, None, primary))


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


@dataclass(frozen=True, slots=True)
class KeySummary:
    """Serf ``KeyResponse`` for one key query, plus the per-node facts claw uses.

    Keys are base64 text, as in the answers.
    """

    num_nodes: int
    """Live members asked (us included)."""
    num_resp: int
    num_err: int
    messages: Mapping[str, str]
    """Node -> its error or warning message."""
    keys: Mapping[str, int]
    """Key -> how many answering nodes hold it."""
    primary_keys: Mapping[str, int]
    """Key -> how many answering nodes use it as primary."""
    holders: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Key -> names of the nodes that hold it."""
    primaries: Mapping[str, str] = field(default_factory=dict)
    """Node -> its primary key."""
    missing: tuple[str, ...] = ()
    """Live nodes that did not answer (sorted)."""

    def lacking(self, key: str) -> tuple[str, ...]:
        """Live nodes that cannot decrypt under ``key``: answered without it, or did
        not answer (sorted)."""
        have = self.holders.get(key, frozenset())
        answered = set(self.primaries) | set(self.messages)
        return tuple(sorted((answered - have) | set(self.missing)))

    def using_as_primary(self, key: str) -> tuple[str, ...]:
        """Nodes whose primary key is ``key`` (sorted)."""
        return tuple(sorted(n for n, k in self.primaries.items() if k == key))

    @property
    def ok(self) -> bool:
        """Every live node answered, none with a failure (Serf's success condition)."""
        return self.num_err == 0 and self.num_resp >= self.num_nodes


def summarize(responses: Mapping[str, bytes], live: Iterable[str]) -> KeySummary:
    """Serf ``streamKeyResp`` over the collected responses (node -> payload).

    Answers from nodes that are not in ``live`` still count (Serf counts every answer);
    undecodable answers count as errors with Serf's message.
    """
    live_names = set(live)
    messages: dict[str, str] = {}
    keys: dict[str, int] = {}
    primary_keys: dict[str, int] = {}
    holders: dict[str, set[str]] = {}
    primaries: dict[str, str] = {}
    num_err = 0
    for node, payload in responses.items():
        try:
            resp = decode_key_response(payload)
        except MalformedPacket:
            messages[node] = f"Invalid key query response type: {payload!r}"
            num_err += 1
            continue
        if not resp.result:
            messages[node] = resp.message
            num_err += 1
        elif resp.message:
            messages[node] = resp.message
        for key in resp.keys or ():
            keys[key] = keys.get(key, 0) + 1
            holders.setdefault(key, set()).add(node)
        primary_keys[resp.primary_key] = primary_keys.get(resp.primary_key, 0) + 1
        if resp.primary_key:
            primaries[node] = resp.primary_key
    return KeySummary(
        num_nodes=len(live_names), num_resp=len(responses), num_err=num_err,
        messages=messages, keys=keys, primary_keys=primary_keys,
        holders={k: frozenset(v) for k, v in holders.items()}, primaries=primaries,
        missing=tuple(sorted(live_names - set(responses))),
    )

