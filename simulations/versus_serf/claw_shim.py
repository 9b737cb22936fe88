"""Run the ``claw-node`` agent with one stderr line per membership event.

Measurement aid for ``versus_serf`` and ``chaos``: the agent logs no line per member
change, so the harness would have to poll every node's API (hundreds of requests per
second at N=30, which would load the very CPUs being measured). This wrapper adds the
equivalent of Serf's ``EventMemberJoin/Failed/Leave`` log lines through the agent's
member observer hook and otherwise runs the unmodified CLI:
``python -m simulations.versus_serf.claw_shim [claw-node args]``.
"""

from __future__ import annotations

import sys

from node import cli
from node.agent import MemberEvent


def print_member_line(event: MemberEvent) -> None:
    """``claw-member <EventType> <name>`` on stderr (parsed by ``agents.parse_claw_line``)."""
    print(f"claw-member {type(event).__name__} {event.member.name}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:], member_observers=(print_member_line,)))
