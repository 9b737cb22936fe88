"""What claw nodes ask each other over the cluster request channel, and how it is packed.

Three kinds of request travel on the channel (``gossip.channel``, carried by
``GossipTransport.request``):

* ``KIND_WRITE``: a member relays an HTTP write it received to the coordinator
  (``api.forwarding.ForwardedWrite``); the coordinator answers with the HTTP answer of
  its own API (``ForwardedAnswer``).
* ``KIND_DIRECTIVE``: the coordinator asks a member to act (maintenance, task counters,
  shutdown); the member answers with its verdict (``node.directives.Verdict``), which is
  the acknowledgement. ``DirectiveRetry`` is the sender's plan: a few attempts, each with
  its own deadline, then a failure the HTTP caller sees.
* ``KIND_REPLICA``: the coordinator hands a member an HTTP-registered record it just
  wrote (``HttpNodeRecord.to_bytes``); the member answers ``REPLICA_CONFIRMED`` once the
  record is in its own store (``node.write_replicas``).

Everything here is pure: bodies are msgpack, decoded as untrusted input (``ValueError``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from api.relay import MAX_RELAY_BYTES, ForwardedAnswer, ForwardedWrite

__all__ = [
    "DIRECTIVE_ATTEMPT_TIMEOUT_S",
    "DIRECTIVE_RETRY_DELAYS_S",
    "KIND_DIRECTIVE",
    "KIND_REPLICA",
    "KIND_WRITE",
    "MAX_WRITE_BODY_BYTES",
    "REPLICA_CONFIRMED",
    "WRITE_METHODS",
    "DirectiveRetry",
    "decode_answer",
    "decode_write",
    "encode_answer",
    "encode_write",
]

KIND_WRITE = "write"
KIND_DIRECTIVE = "directive"
KIND_REPLICA = "replica"
REPLICA_CONFIRMED = b"stored"
"""A member's answer to ``KIND_REPLICA``: the record is committed to its store."""

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
"""HTTP methods a relayed write may use."""
MAX_WRITE_BODY_BYTES = 128 * 1024
"""Largest relayed request body (bytes); the API's own limit is 64 KiB."""
_MAX_HEADER_CHARS = 8192

DIRECTIVE_ATTEMPT_TIMEOUT_S = 2.0
"""Seconds one directive attempt may take (dial, send, the member's acknowledgement)."""
DIRECTIVE_RETRY_DELAYS_S = (0.25, 1.0)
"""Pauses before the 2nd and 3rd attempts (seconds): three attempts, at most ~7.3 s."""


def encode_write(write: ForwardedWrite) -> bytes:
    return msgpack.packb({"M": write.method, "P": write.path, "H": [list(h) for h in write.headers],
                          "B": write.body, "R": write.relayed_by}, use_bin_type=True)


def decode_write(data: bytes) -> ForwardedWrite:
    """A relayed write from the network (untrusted). Raises ValueError naming the field."""
    d = _map(data, MAX_WRITE_BODY_BYTES, "write")
    method, path, headers, body, relayed_by = (d.get(k) for k in ("M", "P", "H", "B", "R"))
    if method not in WRITE_METHODS:
        raise ValueError("write: method must be one of " + ", ".join(sorted(WRITE_METHODS)))
    if not isinstance(path, str) or not path.startswith("/") or len(path) > _MAX_HEADER_CHARS:
        raise ValueError("write: path must be an absolute path")
    if not isinstance(body, bytes) or len(body) > MAX_WRITE_BODY_BYTES:
        raise ValueError("write: bad body")
    if not isinstance(relayed_by, str) or len(relayed_by) > 256:
        raise ValueError("write: bad relaying node id")
    if not isinstance(headers, list) or not all(
            isinstance(h, list) and len(h) == 2 and all(isinstance(x, str) for x in h)
            and len(h[0]) + len(h[1]) <= _MAX_HEADER_CHARS for h in headers):
        raise ValueError("write: bad headers")
    return ForwardedWrite(method, path, tuple((k, v) for k, v in headers), body, relayed_by)


def encode_answer(answer: ForwardedAnswer) -> bytes:
    return msgpack.packb({"S": answer.status, "C": answer.content_type, "B": answer.body},
                         use_bin_type=True)


def decode_answer(data: bytes) -> ForwardedAnswer:
    """The coordinator's answer (untrusted). Raises ValueError naming the field."""
    d = _map(data, MAX_RELAY_BYTES, "answer")
    status, content_type, body = d.get("S"), d.get("C"), d.get("B")
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError("answer: bad status")
    if not isinstance(content_type, str) or len(content_type) > 200:
        raise ValueError("answer: bad content type")
    if not isinstance(body, bytes):
        raise ValueError("answer: bad body")
    return ForwardedAnswer(status, content_type, body)


def _map(data: bytes, max_bin: int, what: str) -> dict[str, Any]:
    try:
        d = msgpack.unpackb(data, raw=False, strict_map_key=True, max_bin_len=max_bin,
                            max_str_len=_MAX_HEADER_CHARS, max_array_len=64, max_map_len=16,
                            max_ext_len=0)
    except Exception:  # msgpack raises many types on garbage
        raise ValueError(f"{what}: undecodable msgpack") from None
    if not isinstance(d, dict):
        raise ValueError(f"{what}: not a map")
    return d


@dataclass(slots=True)
class DirectiveRetry:
    """The sender's plan for one directive: attempts, the pause before each, and why
    the last one failed (for the caller's error message).

        retry = DirectiveRetry()
        while (pause := retry.next_pause()) is not None:
            await asyncio.sleep(pause)
            try: ack = await send(timeout=retry.attempt_timeout_s); break
            except ChannelError as exc: retry.failed(str(exc))
    """

    delays_s: tuple[float, ...] = DIRECTIVE_RETRY_DELAYS_S
    attempt_timeout_s: float = DIRECTIVE_ATTEMPT_TIMEOUT_S
    attempts: int = 0
    last_error: str = ""

    def next_pause(self) -> float | None:
        """Seconds to wait before the next attempt (0 for the first), None when spent."""
        if self.attempts == 0:
            pause: float | None = 0.0
        elif self.attempts <= len(self.delays_s):
            pause = self.delays_s[self.attempts - 1]
        else:
            pause = None
        if pause is not None:
            self.attempts += 1
        return pause

    def failed(self, reason: str) -> None:
        self.last_error = reason

    @property
    def worst_case_s(self) -> float:
        """The longest a directive can take before it is reported failed."""
        return sum(self.delays_s) + (len(self.delays_s) + 1) * self.attempt_timeout_s
