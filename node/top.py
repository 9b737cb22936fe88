"""``claw-node top``: the dashboard in a terminal. A cluster summary (counts by status,
health, coordinator and term, suspects) above the ``members`` table (``node.members``),
redrawn by ``members.watch`` whenever it changes.

Pure formatting over the JSON of ``GET /api/v1/cluster/health`` and ``GET /api/v1/nodes``;
the CLI polls them (``--interval``).
"""

from __future__ import annotations

from typing import Any

from .members import format_members

__all__ = ["format_summary", "format_top"]


def format_summary(health: dict[str, Any]) -> str:
    """Two lines: the counts and health; the coordinator, its term and the suspects."""
    counts = health.get("counts") or {}
    coordinator = health.get("coordinator") or {}
    shown = [f"online {counts.get('online', 0)}", f"busy {counts.get('busy', 0)}",
             f"offline {counts.get('offline', 0)}"]
    shown += [f"{k} {v}" for k in ("maintenance", "error") if (v := counts.get(k))]
    tasks = f"tasks {health.get('running_tasks', 0)}/{health.get('total_capacity', 0)}"
    suspects = ", ".join(health.get("suspect_nodes") or []) or "none"
    return (f"cluster {health.get('status', '?')}: {health.get('total_nodes', 0)} node(s), "
            f"{', '.join(shown)}; {tasks}\n"
            f"coordinator {coordinator.get('node_id', 'none')} (term "
            f"{coordinator.get('term', 0)}); suspect: {suspects}")


def format_top(health: dict[str, Any], nodes: list[dict[str, Any]], *,
               detailed: bool = False) -> str:
    """The summary, a blank line, the members table."""
    return f"{format_summary(health)}\n\n{format_members(nodes, detailed=detailed)}"
