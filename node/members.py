"""``claw-node members``: the cluster's nodes as an operator reads them (filters, table,
``--watch``), from the JSON of ``GET /api/v1/nodes``.

A node has two states here:

* ``STATUS``, the seed's status (``online``, ``busy``, ``maintenance``, ``error``,
  ``offline``), what schedulers look at;
* ``STATE``, its membership, in Serf's words (``NodeInfo.member_state``): ``alive``,
  ``suspect``, ``failed`` (SWIM declared it dead; an HTTP worker whose heartbeats
  stopped) or ``left`` (it left gracefully; an HTTP worker that sent a shutdown notice).
  Both of the last two are ``offline`` in ``STATUS``. ``offline`` appears as a STATE only
  for an HTTP worker listed by an older agent that does not send ``member_state``.

Pure functions over dicts, no I/O but ``watch``'s output, so the CLI stays thin.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TextIO

__all__ = [
    "MEMBER_STATES",
    "STATUSES",
    "filter_members",
    "format_members",
    "member_state",
    "percent",
    "watch",
]

MEMBER_STATES = ("alive", "suspect", "failed", "left", "offline")
"""Values of the STATE column (``offline``: an HTTP worker that stopped)."""
STATUSES = ("online", "offline", "busy", "maintenance", "error")
"""The seed's statuses (the STATUS column)."""

_GOSSIP_STATES = {"alive": "alive", "suspect": "suspect", "dead": "failed", "left": "left"}
_CLEAR = "\x1b[H\x1b[2J"
"""Cursor home, clear screen (ANSI; every terminal emulator in use understands it)."""


def member_state(node: dict[str, Any]) -> str:
    """The STATE of one node (module docstring): the API's ``member_state``, or derived
    from older fields when talking to an agent that does not send it."""
    if node.get("member_state") in MEMBER_STATES:
        return str(node["member_state"])
    gossip = node.get("gossip_state")
    if gossip in _GOSSIP_STATES:
        return _GOSSIP_STATES[gossip]
    if node.get("status") == "offline":
        return "offline"
    return "suspect" if node.get("suspect") else "alive"


def filter_members(nodes: Iterable[dict[str, Any]], *, statuses: Sequence[str] = (),
                   tags: Sequence[str] = (), skills: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Nodes matching every filter.

    Args:
        statuses: keep a node whose STATUS or STATE is one of these (``failed``,
            ``left``, ``online``, ...); empty keeps all.
        tags: labels the node must all carry (``role=web`` is a label like ``gpu``).
        skills: skills the node must all offer.
    """
    wanted = set(statuses)
    return [
        n for n in nodes
        if (not wanted or n.get("status") in wanted or member_state(n) in wanted)
        and set(tags) <= set(n.get("tags") or ())
        and set(skills) <= set(n.get("available_skills") or ())
    ]


def percent(value: Any) -> str:
    """``12%`` for a number, ``-`` for anything else (unknown)."""
    return f"{float(value):.0f}%" if isinstance(value, (int, float)) else "-"


def _address(node: dict[str, Any]) -> str:
    if node.get("gossip_address"):
        return str(node["gossip_address"])
    ip = node.get("ip_address")
    if not ip:
        return "- (http)" if node.get("source") == "http" else "-"
    if node.get("source") == "http" and node.get("port"):
        # A worker's service port: several workers on one host differ by it.
        return f"{ip}:{node['port']} (http)"
    return f"{ip} (http)" if node.get("source") == "http" else str(ip)


def _row(node: dict[str, Any], detailed: bool) -> tuple[str, ...]:
    node_id = str(node.get("node_id", "?")) + (" *" if node.get("is_coordinator") else "")
    # No heartbeat yet (or a plain Serf agent): unknown load, not 0 %.
    known = node.get("last_heartbeat") is not None or "last_heartbeat" not in node
    load = [percent(node.get(k)) if known else "-" for k in ("cpu_usage", "memory_usage", "disk_usage")]
    row = (
        node_id, _address(node), member_state(node), str(node.get("status", "?")), *load,
        f"{node.get('running_tasks', 0)}/{node.get('max_concurrent_tasks', 0)}",
        ",".join(node.get("available_skills") or []) or "-",
        ",".join(node.get("tags") or []) or "-",
    )
    if not detailed:
        return row
    return (*row,
            f"{node.get('platform', '?')}/{node.get('arch', '?')}",
            str(node.get("api_url") or "-"),
            str(node.get("tailscale_ip") or "-"),
            str(node.get("incarnation") if node.get("incarnation") is not None else "-"),
            str(node.get("last_heartbeat") or "-"))


_HEADER = ("ID", "ADDRESS", "STATE", "STATUS", "CPU", "MEM", "DISK", "TASKS", "SKILLS", "TAGS")
_DETAILED = ("PLATFORM", "API", "TAILSCALE", "INC", "LAST HEARTBEAT")


def format_members(nodes: list[dict[str, Any]], *, detailed: bool = False) -> str:
    """The ``members`` table, sorted by id; ``*`` marks the coordinator."""
    header = _HEADER + (_DETAILED if detailed else ())
    rows = [header] + [_row(n, detailed) for n in sorted(nodes, key=lambda n: str(n.get("node_id")))]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.append(f"{len(nodes)} node(s); * = coordinator")
    return "\n".join(lines)


def watch(render: Callable[[], str], interval_s: float, *, out: TextIO | None = None,
          sleep: Callable[[float], None] = time.sleep, rounds: int | None = None) -> int:
    """Redraw ``render()`` whenever its text changes, polling every ``interval_s``,
    until Ctrl-C (or ``rounds`` polls, for tests).

    Returns:
        0 (Ctrl-C is how a watch ends).
    """
    out = out or sys.stdout
    last: str | None = None
    done = 0
    try:
        while rounds is None or done < rounds:
            text = render()
            if text != last:
                out.write(f"{_CLEAR}{text}\n(every {interval_s:g} s; Ctrl-C to stop)\n")
                out.flush()
                last = text
            done += 1
            sleep(interval_s)
    except KeyboardInterrupt:
        out.write("\n")
    return 0
