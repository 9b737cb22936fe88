"""The exit statuses of ``claw-node``: one table that the CLI, the agent and the service
files (``node.service``: systemd's ``RestartPreventExitStatus=``, the Windows runner's
restart rule) all read, so a service manager can tell "restart me" from "don't".

Values follow the BSD ``sysexits.h`` convention where one fits; systemd reserves 200-242
for its own failures to start a process, so none of ours is in that range.
"""

from __future__ import annotations

__all__ = ["FAILURE", "IDENTITY_CONFLICT", "NO_RESTART", "OK", "USAGE"]

OK = 0
"""Clean stop: after a graceful leave (SIGINT, SIGTERM, ``claw-node leave``)."""

FAILURE = 1
"""A run-time failure that may pass (cannot listen yet, data dir unreadable): a service
manager should restart the agent."""

USAGE = 2
"""A bad flag, environment variable or config-file value (argparse's status too). The
same config fails the same way on every restart, so services do not restart on it."""

IDENTITY_CONFLICT = 78
"""Another live member already uses this node id (sysexits ``EX_CONFIG``: the fix is a
different ``--node-id`` or data dir). Restarting would only fight the other node for the
name, so services do not restart on it. ``node.identity`` says when: the node that joined
later gives the id up, with one line naming the live node's address and ``--node-id``."""

NO_RESTART = (USAGE, IDENTITY_CONFLICT)
"""Statuses that a restart cannot cure: ``RestartPreventExitStatus=`` of the unit."""
