"""``claw-node``: run the agent, or talk to a running one.

    claw-node [agent flags]                 run the agent (no flags: a new one-node cluster)
    claw-node members [--status S] [--tag L] [--skill K] [--detailed] [--format json] [--watch]
    claw-node top [--status S] [--skill K] [--interval S] [--once]
    claw-node info [--json]                 this node, the coordinator and its term, health
    claw-node leave                         graceful leave, then the agent exits
    claw-node reload                        the agent re-reads its settings (as SIGHUP)
    claw-node maintenance on|off [--node ID]
    claw-node force-leave NODE [--prune]    mark a failed member left (or forget a worker)
    claw-node rtt A [B]                     estimated RTT between two nodes (B: this node)
    claw-node event NAME [PAYLOAD] [--coalesce=false]   broadcast a user event (serf event)
    claw-node query NAME [PAYLOAD] [--node N] [--tag K=RE] [--timeout S] [--no-ack]
    claw-node keygen                        print a new gossip encryption key
    claw-node service install [--user] [--output DIR] [agent flags]
    claw-node [COMMAND] --version

Bad flags or values print one line naming the flag and exit with status 2; any other
error is one line too (never a traceback), with status 1.

The parser and its flags live in ``node.cli_flags``, the subcommands that talk to a
running agent in ``node.cli_client``; this module runs the agent, ``keygen`` and
``service``, and dispatches the rest.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .cli_client import CLIENT_COMMANDS, ApiError
from .cli_flags import PROG, api_base_url, build_parser

__all__ = ["api_base_url", "build_parser", "main"]


def _run_agent(args: argparse.Namespace) -> int:
    """Run the agent with the parsed flags (and ``--config``/``CLAW_CONFIG``) until it
    stops; its exit status."""
    # Imported here: the client subcommands need none of it. ``node.agent`` does not
    # import aiohttp either (the agent imports the REST stack once gossip runs).
    from .config import NodeConfig, NodeConfigError
    from .logs import configure_logging
    from .ssl_free import ssl_hidden
    from .store import StoreError

    flags = {k: v for k, v in vars(args).items() if k not in ("command", "config")}
    config_file = getattr(args, "config", None) or _env_path("CLAW_CONFIG")

    def load_config() -> NodeConfig:  # at start, and again on each reload
        return NodeConfig.load(flags, config_file)

    try:
        config = load_config()
    except NodeConfigError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_level, config.log_format)
    with ssl_hidden(not config.needs_tls):  # asyncio imports ssl at once
        import asyncio
    from .agent import Agent

    try:
        agent = Agent(config, load_config=load_config)
        return asyncio.run(agent.run())
    except NodeConfigError as exc:  # e.g. --advertise: named as the user wrote it
        print(f"{PROG}: error: {config.renamed(exc)}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{PROG}: error: cannot listen ({exc}); check --bind and --api-bind",
              file=sys.stderr)
        return 1
    except ValueError as exc:  # e.g. api.server.InsecureBindError
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def _cmd_keygen(args: argparse.Namespace) -> int:
    from .keyring_file import new_key
    print(new_key())
    return 0



def _cmd_service(args: argparse.Namespace) -> int:
    from .service import run_install  # here: an agent's start needs none of it

    return run_install(args, args.flag_actions)


_COMMANDS = {**CLIENT_COMMANDS, "service": _cmd_service, "keygen": _cmd_keygen}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``claw-node``; returns the exit status.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).
    """
    args = build_parser().parse_args(argv)
    command = getattr(args, "command", None)
    if command is None:
        return _run_agent(args)
    try:
        return _COMMANDS[command](args)
    except ApiError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - an answer of an unexpected shape, say: one line
        print(f"{PROG}: error: {command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
