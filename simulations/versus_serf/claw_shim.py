"""Run the ``claw-node`` agent with one stderr line per membership event.

Measurement aid for ``versus_serf`` and ``chaos``: the agent logs no line per member
change, so the harness would have to poll every node's API (hundreds of requests per
second at N=30, which would load the very CPUs being measured). This wrapper adds the
equivalent of Serf's ``EventMemberJoin/Failed/Leave`` log lines and then runs the
unmodified CLI: ``python -m simulations.versus_serf.claw_shim [claw-node args]``.
"""

from __future__ import annotations

import sys

from node import agent as _agent
from node import cli as _cli

_original = _agent.Agent._on_event


def _on_event(self, event):  # type: ignore[no-untyped-def]
    kind = type(event).__name__
    member = getattr(event, "member", None)
    if kind.startswith("Member") and member is not None:
        print(f"claw-member {kind} {member.name}", file=sys.stderr, flush=True)
    return _original(self, event)


_agent.Agent._on_event = _on_event  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(_cli.main(sys.argv[1:]))
