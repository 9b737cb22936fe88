"""Serf's query filters: which nodes a query is for (``serf/query.go``, ``messages.go``).

A query carries ``Filters [][]byte``; each filter is one type byte then a msgpack body:

* ``0`` node filter: an array of node names; this node must be one of them;
* ``1`` tag filter: ``{"Tag": name, "Expr": regex}``; the node's value for that tag
  (empty when it has none) must match the regular expression *somewhere* (Go's
  ``regexp.MatchString`` is unanchored: ``"gpu"`` matches ``"gpu,cuda"``).

All filters must pass. A filter that cannot be decoded, an unknown filter type or a
pattern that does not compile makes the node skip the query, as Serf does (it still
re-broadcasts it). Go's RE2 runs in linear time whatever the pattern; Python's
backtracking engines do not, so a hostile pattern such as ``(a+)+$`` could pin the
CPU. Patterns are therefore matched with the ``regex`` package under a time budget
(``TAG_MATCH_BUDGET_S``); one that runs out counts as "does not match". ``regex`` is
imported on first use: it costs an agent ~15 ms of start-up that only a query with a tag
filter needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from .errors import LocalProtocolError, MalformedPacket
from .msgpack_fields import as_map, get_str, go_str, pack, to_str, unpack_one

__all__ = [
    "TAG_MATCH_BUDGET_S",
    "NodeFilter",
    "QueryFilter",
    "TagFilter",
    "decode_filter",
    "encode_filters",
    "filters_match",
]

TAG_MATCH_BUDGET_S = 0.05
"""Seconds one tag pattern may spend matching before it counts as no match (RE2 is
linear; Python's engines may backtrack exponentially on hostile patterns)."""

_NODE_FILTER, _TAG_FILTER = 0, 1


class NodeFilter(NamedTuple):
    """Only the named nodes process the query."""

    names: tuple[str, ...]


class TagFilter(NamedTuple):
    """Only nodes whose ``tag`` value matches ``expr`` (unanchored) process the query."""

    tag: str
    expr: str


QueryFilter = NodeFilter | TagFilter


def encode_filters(nodes: Iterable[str] = (), tags: Mapping[str, str] | None = None) -> tuple[bytes, ...] | None:
    """Serf ``QueryParam.encodeFilters``: one node filter (if any names), then one tag
    filter per tag. None (Go's nil slice) when there are no filters.

    Raises:
        LocalProtocolError: a pattern that does not compile (the querier's mistake,
            reported before anything is sent).
    """
    import regex

    out: list[bytes] = []
    names = [go_str(n) for n in nodes]
    if names:
        out.append(bytes((_NODE_FILTER,)) + pack(names))
    for tag, expr in (tags or {}).items():
        try:
            regex.compile(expr)
        except (regex.error, TypeError) as exc:
            raise LocalProtocolError(f"tag filter {tag!r}: bad regular expression: {exc}") from None
        out.append(bytes((_TAG_FILTER,)) + pack({"Expr": go_str(expr), "Tag": go_str(tag)}))
    return tuple(out) or None


def decode_filter(raw: bytes) -> QueryFilter:
    """One wire filter → ``NodeFilter`` / ``TagFilter``.

    Raises:
        MalformedPacket: empty, unknown type, or a body that is not what the type says.
    """
    if not raw:
        raise MalformedPacket("query filter: empty")
    kind, body = raw[0], raw[1:]
    if kind == _NODE_FILTER:
        names, _ = unpack_one(body, "node filter")
        if names is None:
            return NodeFilter(())
        if not isinstance(names, list):
            raise MalformedPacket("node filter: not an array")
        return NodeFilter(tuple(to_str(n, "node filter[]") for n in names))
    if kind == _TAG_FILTER:
        d = as_map(unpack_one(body, "tag filter")[0], "tag filter")
        return TagFilter(tag=get_str(d, b"Tag", "tag filter"), expr=get_str(d, b"Expr", "tag filter"))
    raise MalformedPacket(f"query filter: unknown type {kind}")


def filters_match(filters: Iterable[bytes] | None, node_name: str, tags: Mapping[str, str]) -> bool:
    """Serf ``shouldProcessQuery``: whether this node passes every filter.

    Never raises: an undecodable filter, a bad pattern or a pattern over its time
    budget means False (the query is skipped, not an error).
    """
    for raw in filters or ():
        try:
            flt = decode_filter(raw)
        except MalformedPacket:
            return False
        if isinstance(flt, NodeFilter):
            if node_name not in flt.names:
                return False
        elif not _tag_matches(flt, tags.get(flt.tag, "")):
            return False
    return True


def _tag_matches(flt: TagFilter, value: str) -> bool:
    import regex

    try:
        return regex.search(flt.expr, value, timeout=TAG_MATCH_BUDGET_S) is not None
    except (regex.error, TimeoutError, RecursionError, OverflowError, ValueError):
        return False
