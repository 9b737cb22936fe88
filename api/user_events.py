"""Serf user events and queries over REST: the models and the control the agent provides.

``POST /api/v1/user-events`` is ``serf event``, ``POST /api/v1/queries`` is ``serf query``.
``api/`` knows nothing of gossip: ``node/`` implements ``UserEventControl`` (the gossip
core's user events and queries) and puts it in the app under
``api.keys.USER_EVENT_CONTROL``; without it the routes answer 503. Both are answered by
the node asked, never forwarded: any node can send an event or a query. Payloads are
UTF-8 text in JSON (Serf's are bytes; a response that is not UTF-8 is also given in
base64).

Serf's size limits are enforced by the node, which knows the encoding: a user event's
name + payload (and its encoded message) at most 512 bytes, a query at most 1,024 bytes
encoded; beyond them the answer is 422 naming ``payload``.
"""

from __future__ import annotations

from typing import Annotated, Protocol, runtime_checkable

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

__all__ = [
    "MAX_QUERY_TIMEOUT_S",
    "EventIn",
    "EventOut",
    "QueryIn",
    "QueryOut",
    "QueryResponseOut",
    "UserEventControl",
]

MAX_QUERY_TIMEOUT_S = 300.0
"""Longest query the API runs (seconds): the request stays open until the deadline."""

_IN = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, defer_build=True)
_OUT = ConfigDict(frozen=True, extra="forbid", defer_build=True)

def _reject_bool(value: object) -> object:
    # pydantic's lax mode takes ``true`` as 1 (as ``api.models`` does for its numbers).
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


_Flag = Annotated[bool, Field(strict=True)]
_Name = Annotated[str, Field(min_length=1, max_length=512, description="Event or query name.")]
_Payload = Annotated[str, Field(max_length=1024, description="Payload (UTF-8 text).")]


class EventIn(BaseModel):
    """``POST /api/v1/user-events`` body (``serf event [-coalesce=false] NAME [PAYLOAD]``)."""

    model_config = _IN

    name: _Name
    payload: _Payload = ""
    coalesce: _Flag = Field(True, description="Handlers may coalesce events of this name "
                                             "(Serf's -coalesce; default true).")


class EventOut(BaseModel):
    """The event was broadcast (and handed to this node's handlers)."""

    model_config = _OUT

    name: str
    payload_bytes: int = Field(description="Size of the payload sent.")
    message: str


class QueryIn(BaseModel):
    """``POST /api/v1/queries`` body (``serf query [-node N] [-tag k=re] [-timeout]``)."""

    model_config = _IN

    name: _Name
    payload: _Payload = ""
    nodes: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        default_factory=list, max_length=64, description="Only these nodes answer (empty: all).")
    tags: dict[Annotated[str, Field(min_length=1, max_length=128)],
               Annotated[str, Field(max_length=256)]] = Field(
        default_factory=dict, max_length=32,
        description="Tag name -> regular expression the node's tag must match.")
    timeout: Annotated[float | None, BeforeValidator(_reject_bool)] = Field(
        None, gt=0, le=MAX_QUERY_TIMEOUT_S,
        description="Seconds to collect answers (null: Serf's default, 16 gossip intervals "
                    "x ceil(log10(N+1))).")
    request_ack: _Flag = Field(True, description="Ask each node to ack on receipt "
                                                "(Serf's default; -no-ack turns it off).")
    relay_factor: Annotated[int, BeforeValidator(_reject_bool)] = Field(
        0, ge=0, le=5, description="Copies of each answer relayed through other members (Serf's -relay-factor).")


class QueryResponseOut(BaseModel):
    """One node's response."""

    model_config = _OUT

    node: str
    payload: str = Field(description="The response as UTF-8 text (invalid bytes replaced).")
    payload_base64: str = Field(description="The response's exact bytes, base64.")


class QueryOut(BaseModel):
    """What came back before the query's deadline, in arrival order (like ``serf query``)."""

    model_config = _OUT

    name: str
    request_ack: bool
    acks: list[str] = Field(description="Nodes that acked (empty unless request_ack).")
    responses: list[QueryResponseOut]


@runtime_checkable
class UserEventControl(Protocol):
    async def send_event(self, body: EventIn) -> EventOut:
        """Broadcast a user event. Raises ``ValidationFailed`` over Serf's limit."""
        ...

    async def query(self, body: QueryIn) -> QueryOut:
        """Run a query until its deadline. Raises ``ValidationFailed`` over Serf's limit
        or for a filter that is not a valid regular expression."""
        ...
