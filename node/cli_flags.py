"""The ``claw-node`` command line: its parser, the agent's flags and the client
subcommands' flags, each value checked where it is parsed.

Bad flags or values print one line naming the flag and exit with status 2
(``build_parser``); ``node.cli`` runs what was parsed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, NoReturn

from .members import MEMBER_STATES, STATUSES

__all__ = ["DEFAULT_API", "PLATFORMS", "PROG", "Platform", "api_base_url", "build_parser",
           "service_install_flags"]

DEFAULT_API = "http://127.0.0.1:8888"
"""The agent's API the client subcommands talk to, unless ``--api``/``CLAW_API`` say."""
PROG = "claw-node"
"""The program name in messages."""
Platform = Literal["systemd", "launchd", "windows"]
PLATFORMS: tuple[Platform, ...] = ("systemd", "launchd", "windows")
"""Service managers ``service install`` writes for (``node.service``)."""


def _terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``, which argparse's help formatter asks for
    on every ``add_argument``, without importing shutil (and bz2, lzma) at each start."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, its width found by ``_terminal_columns``."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position,
                         _terminal_columns() - 2 if width is None else width)


class _DescriptionFormatter(_Formatter, argparse.RawDescriptionHelpFormatter):
    """The top-level help: the description and examples as written."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (no usage dump) and exits 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)  # `members --api` must not match --api-bind
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)
        self.add_argument("--version", action=_VersionAction)  # on every (sub)command

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message}\n")


class _VersionAction(argparse.Action):
    """``--version``: the installed version, looked up only when asked (see node.version)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                         nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        from .version import installed_version
        print(f"{PROG} {installed_version()}")
        parser.exit(0)


def _agent_flags(p: argparse.ArgumentParser) -> None:
    s = argparse.SUPPRESS  # only flags actually given reach NodeConfig (env/file fill the rest)
    g = p.add_argument_group("agent (also settable as CLAW_* env vars or in --config FILE.toml)")
    g.add_argument("--config", metavar="FILE.toml", type=Path, default=s,
                   help="TOML file with the settings below (keys: flag names with _)")
    g.add_argument("--node-id", metavar="ID", default=s,
                   help="node id (default: kept in the data dir; first start: host name)")
    g.add_argument("--bind", metavar="HOST:PORT", default=s,
                   help="gossip UDP+TCP listen address (default 0.0.0.0:7946)")
    g.add_argument("--advertise", metavar="HOST:PORT|tailscale", default=s,
                   help="address peers dial (default: the default-route address; "
                        "'tailscale': this machine's Tailscale IP)")
    g.add_argument("--join", metavar="HOST:PORT", action="append", default=s,
                   help="seed to join, repeatable; retried with backoff until one answers "
                        "(default: peers remembered in the data dir)")
    g.add_argument("--api-bind", metavar="HOST:PORT", default=s,
                   help="REST API listen address (default 127.0.0.1:8888)")
    g.add_argument("--skills", metavar="A,B", default=s, help="skills this node offers")
    g.add_argument("--tags", metavar="X,Y", default=s, help="free-form labels")
    g.add_argument("--port", type=int, metavar="PORT", default=s,
                   help="local OpenClaw service port (default 18789)")
    g.add_argument("--max-concurrent-tasks", type=int, metavar="N", default=s,
                   help="task slots; busy when all are used (default 5)")
    g.add_argument("--data-dir", type=Path, metavar="DIR", default=s,
                   help="identity, incarnation, peers, registry (default: per-user data dir)")
    g.add_argument("--profile", choices=("lan", "wan", "local"), default=s,
                   help="gossip timing preset (default lan)")
    g.add_argument("--heartbeat-timeout", type=float, metavar="S", default=s,
                   help="seconds before an HTTP-registered node goes offline (default 90)")
    g.add_argument("--check-interval", type=float, metavar="S", default=s,
                   help="seconds between HTTP heartbeat checks (default 30)")
    g.add_argument("--write-replicas", type=int, metavar="N", default=s,
                   help="members that must confirm a write before it is answered "
                        "(default: min(2, live members - 1))")
    g.add_argument("--no-coordinator", action="store_true", default=s,
                   help="never elect this node coordinator")
    g.add_argument("--disable-coordinates", action="store_true", default=s,
                   help="keep no network coordinates (no rtt estimates; default: kept, as Serf)")
    g.add_argument("--event-handler", metavar="[FILTER=]SCRIPT", action="append", default=s,
                   help="run SCRIPT on events, as serf agent -event-handler (FILTER: "
                        "member-join,member-leave,member-failed,member-update,user[:NAME],"
                        "query[:NAME]; repeatable; a query's answer is the script's stdout)")
    g.add_argument("--maintenance", action="store_true", default=s,
                   help="start in maintenance (no new tasks); a reload applies a change")
    g.add_argument("--resource-interval", type=float, metavar="S", default=s,
                   help="seconds between resource samples (default 5)")
    g.add_argument("--log-level", metavar="LEVEL", default=s,
                   help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    g.add_argument("--log-format", choices=("text", "json"), default=s,
                   help="log lines as text, or one JSON object per line (default text)")
    g.add_argument("--tailscale-ip", metavar="IP", default=s,
                   help="Tailscale IP to report (default: detected)")
    g.add_argument("--api-token", metavar="TOKEN", default=s,
                   help="bearer token required by the API (default: none)")
    g.add_argument("--insecure-api", action="store_true", default=s,
                   help="allow a non-loopback --api-bind without --api-token")
    g.add_argument("--api-eager", action="store_true", default=s,
                   help="load the REST stack at start, not on the first API connection")
    g.add_argument("--cors-origins", metavar="URL,URL", default=s,
                   help="origins allowed to write through the API from a browser")
    g.add_argument("--alert-webhook", metavar="URL", default=s,
                   help="URL that receives a JSON POST per node status change")
    g.add_argument("--encrypt", metavar="KEY", default=s,
                   help="gossip encryption key, base64 (claw-node keygen); kept in the "
                        "data dir's keyring file")
    g.add_argument("--gossip-verify-incoming", action=argparse.BooleanOptionalAction,
                   default=s, help="with encryption, drop gossip not encrypted with an "
                                   "installed key (default on; off only while migrating)")
    g.add_argument("--gossip-verify-outgoing", action=argparse.BooleanOptionalAction,
                   default=s, help="with encryption, encrypt all gossip sent (default on; "
                                   "off only while migrating)")


def api_base_url(text: str) -> str:
    """``--api``: a base URL; ``HOST:PORT`` without a scheme means ``http://HOST:PORT``.

    Raises:
        argparse.ArgumentTypeError: not an http(s) URL with a host (argparse prints it
            as one line naming ``--api``).
    """
    from urllib.parse import urlsplit

    value = text.strip()
    bare = "://" not in value
    url = f"http://{value}" if bare else value
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (parts is None or parts.scheme not in ("http", "https") or not parts.hostname
            or (bare and port is None) or parts.query or parts.fragment):
        raise argparse.ArgumentTypeError(
            f"expected http://HOST:PORT or HOST:PORT (e.g. 127.0.0.1:8888), got {text!r}"
            " (from --api or CLAW_API)")
    return url.rstrip("/")


def _client_flags(p: argparse.ArgumentParser, *, http_timeout: bool = True) -> None:
    p.add_argument("--api", metavar="URL", type=api_base_url,
                   default=os.environ.get("CLAW_API", DEFAULT_API),
                   help=f"the agent's API, URL or HOST:PORT (default {DEFAULT_API}, env "
                        "CLAW_API)")
    p.add_argument("--api-token", metavar="TOKEN", default=os.environ.get("CLAW_API_TOKEN"),
                   help="bearer token (env CLAW_API_TOKEN)")
    if not http_timeout:  # the command's own --timeout decides how long it waits
        return
    p.add_argument("--timeout", type=float, default=15.0, metavar="S",
                   help="HTTP timeout in seconds (default 15: a member loads its API "
                        "stack on the first request, ~0.5 s here, longer on a small board)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="claw-node: membership and health for OpenClaw machines. Without a "
                    "command it runs the agent; with one it talks to a running agent.",
        epilog="examples:\n"
               "  claw-node                                  start a new one-node cluster\n"
               "  claw-node --join 10.0.0.5:7946 --skills python,gpu\n"
               "  claw-node members                          list the cluster\n"
               "  claw-node top                              the cluster live in a terminal\n"
               "  claw-node leave                            leave gracefully and stop",
        formatter_class=_DescriptionFormatter)
    _agent_flags(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    members = sub.add_parser(
        "members", help="list the cluster's nodes",
        description="STATE is the membership as Serf says it (alive, suspect, failed, "
                    "left), STATUS the seed's status. Filters combine.")
    members.add_argument("--status", metavar="S", action="append", default=[],
                         type=_status_choice,
                         help="only nodes in this STATE or STATUS, repeatable or a,b "
                              f"({', '.join(_member_words())})")
    members.add_argument("--tag", metavar="LABEL", action="append", default=[],
                         help="only nodes carrying this tag (gpu, role=web), repeatable")
    members.add_argument("--skill", metavar="SKILL", action="append", default=[],
                         help="only nodes offering this skill, repeatable")
    members.add_argument("--detailed", action="store_true",
                         help="more columns: platform, API URL, Tailscale IP, incarnation, "
                              "last heartbeat")
    members.add_argument("--format", choices=("table", "json"), default="table",
                         help="table (default) or json (the filtered node records)")
    members.add_argument("--json", action="store_true", help="same as --format json")
    members.add_argument("--watch", action="store_true",
                         help="redraw whenever the list changes, until Ctrl-C")
    members.add_argument("--interval", type=_positive_seconds, default=2.0, metavar="S",
                         help="seconds between two polls with --watch (default 2)")
    _client_flags(members)
    top = sub.add_parser(
        "top", help="the cluster live in the terminal: summary and members, redrawn on change",
        description="The dashboard's terminal version (the page is at the API's /). Polls "
                    "the API every --interval seconds; Ctrl-C to stop.")
    top.add_argument("--status", metavar="S", action="append", default=[],
                     type=_status_choice, help="only nodes with this STATE or STATUS")
    top.add_argument("--skill", metavar="SKILL", action="append", default=[],
                     help="only nodes offering this skill (repeatable)")
    top.add_argument("--detailed", action="store_true", help="more columns")
    top.add_argument("--interval", type=_positive_seconds, default=2.0, metavar="S",
                     help="seconds between two polls (default 2)")
    top.add_argument("--once", action="store_true", help="print once and exit")
    _client_flags(top)
    info = sub.add_parser("info", help="this node, the coordinator and its term, cluster health")
    info.add_argument("--json", action="store_true", help="print raw JSON")
    _client_flags(info)
    leave = sub.add_parser("leave", help="leave the cluster gracefully; the agent then exits")
    leave.add_argument("--no-wait", action="store_true", help="don't wait for the agent to exit")
    _client_flags(leave)
    reload = sub.add_parser(
        "reload", help="the agent re-reads its settings and keeps its membership (as SIGHUP)",
        description="The agent re-reads its --config file and CLAW_* variables (its "
                    "command-line flags still win) and applies log level and format, "
                    "skills, tags, task slots, maintenance, API token and alert webhook. "
                    "Other changed settings are named and wait for a restart; an invalid "
                    "configuration changes nothing and is reported here.")
    _client_flags(reload)
    maint = sub.add_parser("maintenance", help="put a node into maintenance, or take it out")
    maint.add_argument("state", choices=("on", "off"))
    maint.add_argument("--node", metavar="ID", help="node id (default: the agent's own node)")
    _client_flags(maint)
    force = sub.add_parser(
        "force-leave", help="mark a failed member left on every node (as serf force-leave), "
                            "or delete an HTTP-registered worker",
        description="A failed gossip member becomes left on every claw and Serf node "
                    "(DELETE /api/v1/nodes/NODE). A live member cannot be forced out: "
                    "run `claw-node leave` on its machine. An HTTP-registered worker is "
                    "deleted on every node.")
    force.add_argument("node", metavar="NODE", help="node id, as `claw-node members` shows it")
    force.add_argument("--prune", action="store_true",
                       help="also erase it from every node's member list at once (default: "
                            "listed as left until the reaper drops it)")
    _client_flags(force)
    rtt = sub.add_parser("rtt", help="estimated round-trip time between two nodes (as serf rtt)",
                         description="Estimated from the network coordinates the local agent "
                                     "knows; no packet is sent to either node.")
    rtt.add_argument("node_a", metavar="A")
    rtt.add_argument("node_b", metavar="B", nargs="?", help="default: the agent's own node")
    _client_flags(rtt)
    event = sub.add_parser("event", help="broadcast a user event (as serf event)",
                           description="Every node's handlers for user:NAME run; Serf agents' "
                                       "too. NAME + PAYLOAD: at most 512 bytes.")
    event.add_argument("event_name", metavar="NAME")
    event.add_argument("payload", metavar="PAYLOAD", nargs="?", default="")
    event.add_argument("--coalesce", type=_bool_word, default=True, metavar="true|false",
                       help="handlers may coalesce events of this name (default true)")
    _client_flags(event)
    query = sub.add_parser("query", help="query every node and print acks and responses "
                                         "(as serf query)",
                           description="Serf agents answer too; a claw node's answer is its "
                                       "query handler's stdout. The query (name, payload, "
                                       "filters) must fit in 1,024 bytes.")
    query.add_argument("query_name", metavar="NAME")
    query.add_argument("payload", metavar="PAYLOAD", nargs="?", default="")
    query.add_argument("--node", dest="nodes", metavar="N", action="append", default=[],
                       help="only this node answers; repeatable")
    query.add_argument("--tag", dest="tag_filters", metavar="KEY=REGEXP", action="append",
                       default=[], type=_tag_filter, help="only nodes whose tag matches; repeatable")
    query.add_argument("--timeout", dest="query_timeout", type=float, metavar="S",
                       help="seconds to collect answers (default: Serf's, from the cluster size)")
    query.add_argument("--no-ack", action="store_true", help="do not ask nodes to ack")
    _client_flags(query, http_timeout=False)
    sub.add_parser("keygen", help="print a new gossip encryption key (base64, as serf keygen)")
    keys = sub.add_parser(
        "keys", help="list or rotate the gossip keys of every live node (as serf keys)",
        description="Runs Serf's key-management queries from the agent: every live node "
                    "answers, Serf agents included. Rotate with install NEW, use NEW, "
                    "remove OLD; use and remove are refused, naming the nodes, while they "
                    "would lock a live node out.")
    keys.add_argument("key_action", choices=("list", "install", "use", "remove"), metavar="ACTION",
                      help="list | install KEY | use KEY | remove KEY")
    keys.add_argument("key", nargs="?", metavar="KEY", help="base64 key (install, use, remove)")
    _client_flags(keys)
    service = sub.add_parser("service", help="run claw-node as a system service")
    actions = service.add_subparsers(dest="service_action", metavar="ACTION", required=True,
                                     parser_class=_Parser)
    install = actions.add_parser(
        "install", help="write a systemd unit, launchd plist or Windows task runner and "
                        "print the commands that enable it; agent flags go into the service")
    service_install_flags(install)
    _agent_flags(install)
    install.set_defaults(flag_actions=install._actions)
    return parser


def service_install_flags(parser: argparse.ArgumentParser) -> None:
    """The options of ``claw-node service install`` (``node.service`` runs it; the agent
    flags are added by ``build_parser``, which owns them)."""
    parser.add_argument("--user", action="store_true",
                        help="a per-user service (systemd --user unit, LaunchAgent, task at "
                             "logon) instead of a system one started at boot")
    parser.add_argument("--output", type=Path, metavar="DIR",
                        help="write the file into DIR instead of the service manager's "
                             "directory")
    parser.add_argument("--platform", choices=PLATFORMS,
                        help="service manager (default: this OS's: systemd, launchd, windows)")
    parser.add_argument("--executable", metavar="PATH",
                        help="the claw-node the service runs (default: the one installed "
                             "next to this Python)")
    parser.add_argument("--run-as", metavar="USER",
                        help="systemd system unit: run as this user, who owns --data-dir "
                             "(default: a dynamic user with its state in /var/lib/claw-node)")


def _member_words() -> tuple[str, ...]:
    return tuple(dict.fromkeys(MEMBER_STATES + STATUSES))


def _status_choice(text: str) -> list[str]:
    words = [w.strip().lower() for w in text.split(",") if w.strip()]
    bad = [w for w in words if w not in _member_words()]
    if bad or not words:
        raise argparse.ArgumentTypeError(
            f"unknown status {(bad or [text])[0]!r} (one of {', '.join(_member_words())})")
    return words


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0.05 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"expected seconds in 0.05..3600, got {text!r}")
    return value


def _bool_word(text: str) -> bool:
    word = text.strip().lower()
    if word in ("true", "1", "yes", "on"):
        return True
    if word in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _tag_filter(text: str) -> tuple[str, str]:
    from .query_report import parse_tag_filter
    try:
        return parse_tag_filter(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
