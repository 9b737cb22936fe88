"""The ``claw-node`` subcommands that talk to a running agent over its REST API
(``members``, ``top``, ``info``, ``leave``, ``reload``, ``maintenance``, ``force-leave``,
``rtt``, ``keys``, ``event``, ``query``): one small HTTP client and one function per
subcommand, each printing its answer and returning the exit status.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from .cli_flags import PROG
from .members import percent

__all__ = ["CLIENT_COMMANDS", "ApiError", "request"]


class ApiError(Exception):
    """The agent could not be reached, refused, or the command was misused: one line
    for the user, exit status 1."""


def request(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    """``method path`` on the agent at ``args.api``: its JSON answer.

    Raises:
        ApiError: an HTTP error (its ``error`` message) or the agent unreachable.
    """
    import urllib.error  # here: the agent never needs it (ssl and ~2 MiB of RSS)
    import urllib.request

    url = args.api.rstrip("/") + path
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if args.api_token:
        req.add_header("Authorization", f"Bearer {args.api_token}")
    try:
        with urllib.request.urlopen(req, timeout=args.timeout) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error", exc.reason)
        except (ValueError, AttributeError):
            message = exc.reason
        raise ApiError(f"{method} {path}: HTTP {exc.code}: {message}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ApiError(f"cannot reach the agent at {args.api} ({reason}); is claw-node "
                        f"running? (--api URL)") from None


def _show(render: Callable[[], str], *, watching: bool, interval_s: float) -> int:
    """Print ``render()`` once, or redraw it on change until Ctrl-C (``members.watch``)."""
    from .members import watch

    if not watching:
        print(render())
        return 0

    def render_or_error() -> str:  # the agent restarting must not end the watch
        try:
            return render()
        except ApiError as exc:
            return f"{PROG}: {exc}"
    return watch(render_or_error, interval_s)


def _cmd_members(args: argparse.Namespace) -> int:
    from .members import filter_members, format_members

    as_json = args.json or args.format == "json"
    statuses = [w for group in args.status for w in group]

    def render() -> str:
        listing = request(args, "GET", "/api/v1/nodes")
        nodes = listing.get("nodes", []) if isinstance(listing, dict) else []
        nodes = filter_members(nodes, statuses=statuses, tags=args.tag, skills=args.skill)
        if as_json:
            return json.dumps(nodes, indent=2)
        return format_members(nodes, detailed=args.detailed)

    return _show(render, watching=args.watch, interval_s=args.interval)


def _cmd_top(args: argparse.Namespace) -> int:
    from .members import filter_members
    from .top import format_top

    statuses = [w for group in args.status for w in group]

    def render() -> str:
        health = request(args, "GET", "/api/v1/cluster/health")
        listing = request(args, "GET", "/api/v1/nodes")
        nodes = listing.get("nodes", []) if isinstance(listing, dict) else []
        nodes = filter_members(nodes, statuses=statuses, skills=args.skill)
        return format_top(health if isinstance(health, dict) else {}, nodes,
                          detailed=args.detailed)

    return _show(render, watching=not args.once, interval_s=args.interval)


def _cmd_info(args: argparse.Namespace) -> int:
    health = request(args, "GET", "/health")
    node_id = health.get("node_id", "")
    node = request(args, "GET", f"/api/v1/nodes/{node_id}").get("node", {})
    cluster = request(args, "GET", "/api/v1/cluster/health")
    if args.json:
        print(json.dumps({"health": health, "node": node, "cluster": cluster}, indent=2))
        return 0
    coordinator = health.get("coordinator") or {}
    counts = cluster.get("counts", {})
    lines = [
        (f"node:        {node_id} ({node.get('status', '?')}, {node.get('platform', '?')}/"
         f"{node.get('arch', '?')}, {node.get('ip_address', '?')}, "
         f"version {health.get('version', '?')})"),
        (f"load:        cpu {percent(node.get('cpu_usage'))}, mem {percent(node.get('memory_usage'))}, "
         f"disk {percent(node.get('disk_usage'))}, tasks {node.get('running_tasks', 0)}/"
         f"{node.get('max_concurrent_tasks', 0)}"),
        f"skills:      {','.join(node.get('available_skills') or []) or '-'}",
        f"coordinator: {coordinator.get('node_id', 'none')} (term {coordinator.get('term', 0)})"
        + (" - this node" if health.get("is_coordinator") else ""),
        f"cluster:     {cluster.get('status', '?')}, {cluster.get('total_nodes', 0)} node(s): "
        + ", ".join(f"{k} {v}" for k, v in counts.items() if v)
        + (f"; suspect: {', '.join(cluster['suspect_nodes'])}" if cluster.get("suspect_nodes") else ""),
    ]
    print("\n".join(lines))
    return 0


def _cmd_rtt(args: argparse.Namespace) -> int:
    from urllib.parse import quote

    from .rtt import RttError, estimate_rtt_line

    node_b = args.node_b or request(args, "GET", "/health").get("node_id", "")
    try:
        print(estimate_rtt_line(args.node_a, node_b, lambda name: request(
            args, "GET", f"/api/v1/nodes/{quote(name, safe='')}").get("node", {})))
    except RttError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    return 0


def _cmd_leave(args: argparse.Namespace) -> int:
    answer = request(args, "POST", "/api/v1/agent/leave", {})
    node_id = answer.get("node_id", "?") if isinstance(answer, dict) else "?"
    print(f"{node_id}: leaving the cluster")
    if args.no_wait:
        return 0
    deadline = time.monotonic() + 15.0
    while time.monotonic() < deadline:
        time.sleep(0.3)
        try:
            request(args, "GET", "/health")
        except ApiError:
            print(f"{node_id}: left; the agent has stopped")
            return 0
    print(f"{node_id}: the agent is still answering after 15 s", file=sys.stderr)
    return 1


def _cmd_reload(args: argparse.Namespace) -> int:
    answer = request(args, "POST", "/api/v1/agent/reload", {})
    if not isinstance(answer, dict):
        raise ApiError(f"unexpected answer {answer!r}")
    print(f"{answer.get('node_id', '?')}: {answer.get('message', 'reloaded')}")
    waiting = answer.get("restart_needed") or []
    if waiting:
        print(f"only at a restart: {', '.join(waiting)}")
    return 0


def _cmd_maintenance(args: argparse.Namespace) -> int:
    node_id = args.node or request(args, "GET", "/health").get("node_id", "")
    answer = request(args, "POST", f"/api/v1/nodes/{node_id}/maintenance",
                      {"enabled": args.state == "on"})
    node = answer.get("node") or {}
    print(f"{node_id}: maintenance {args.state} (status {node.get('status', '?')})")
    return 0


def _cmd_force_leave(args: argparse.Namespace) -> int:
    from urllib.parse import quote

    prune = "true" if args.prune else "false"
    answer = request(args, "DELETE", f"/api/v1/nodes/{quote(args.node, safe='')}?prune={prune}")
    print(f"{answer.get('node_id', args.node)}: {answer.get('message', 'removed')}")
    return 0


def _cmd_keys(args: argparse.Namespace) -> int:
    from .key_report import format_keys

    if args.key_action == "list":
        if args.key is not None:
            raise ApiError("keys list takes no KEY")
        answer = request(args, "GET", "/api/v1/keys")
    else:
        if not args.key:
            raise ApiError(f"keys {args.key_action} needs a KEY (base64, as 'claw-node keygen' prints)")
        answer = request(args, "POST", f"/api/v1/keys/{args.key_action}", {"key": args.key})
    print(format_keys(answer))
    return 0 if answer.get("success") else 1


def _cmd_event(args: argparse.Namespace) -> int:
    from .query_report import format_event_sent
    request(args, "POST", "/api/v1/user-events",
             {"name": args.event_name, "payload": args.payload, "coalesce": args.coalesce})
    print(format_event_sent(args.event_name, args.coalesce))
    return 0


_QUERY_HTTP_MARGIN_S = 15.0
"""Seconds the HTTP request may outlast the query (the agent's answer after its deadline)."""
_QUERY_HTTP_DEFAULT_S = 75.0
"""HTTP timeout when the agent picks the query's timeout (Serf's default is a few seconds
even for thousands of nodes)."""


def _cmd_query(args: argparse.Namespace) -> int:
    from .query_report import format_query
    body: dict[str, Any] = {"name": args.query_name, "payload": args.payload,
                            "nodes": args.nodes, "tags": dict(args.tag_filters),
                            "request_ack": not args.no_ack}
    args.timeout = _QUERY_HTTP_DEFAULT_S
    if args.query_timeout is not None:
        body["timeout"] = args.query_timeout
        args.timeout = args.query_timeout + _QUERY_HTTP_MARGIN_S
    print(format_query(request(args, "POST", "/api/v1/queries", body)))
    return 0



CLIENT_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "members": _cmd_members, "top": _cmd_top, "info": _cmd_info, "leave": _cmd_leave,
    "reload": _cmd_reload, "maintenance": _cmd_maintenance, "keys": _cmd_keys,
    "rtt": _cmd_rtt, "force-leave": _cmd_force_leave, "event": _cmd_event,
    "query": _cmd_query}
"""The subcommands that talk to a running agent over its REST API, by name."""
