"""Run the ``claw-node`` agent with one stderr line per membership event.

Measurement aid for ``versus_serf`` and ``chaos``: the agent logs no line per member
change, so the harness would have to poll every node's API (hundreds of requests per
second at N=30, which would load the very CPUs being measured). This wrapper adds the
equivalent of Serf's ``EventMemberJoin/Failed/Leave`` log lines and then runs the
unmodified CLI: ``python -m simulations.versus_serf.claw_shim [claw-node args]``.
"""

from __future__ import annotations

import sys

from node import cli as _cli

_load_agent_class = _cli.load_agent_class


def _load_with_member_lines(config):  # type: ignore[no-untyped-def]
    # Patch after the CLI imported the agent its own way (see node.cli.load_agent_class).
    agent_class = _load_agent_class(config)
    original = agent_class._on_event
    if getattr(original, "_claw_shim", False):
        return agent_class

    def _on_event(self, event):  # type: ignore[no-untyped-def]
        kind = type(event).__name__
        member = getattr(event, "member", None)
        if kind.startswith("Member") and member is not None:
            print(f"claw-member {kind} {member.name}", file=sys.stderr, flush=True)
        return original(self, event)

    _on_event._claw_shim = True  # type: ignore[attr-defined]
    agent_class._on_event = _on_event
    return agent_class


_cli.load_agent_class = _load_with_member_lines

if __name__ == "__main__":
    sys.exit(_cli.main(sys.argv[1:]))
