"""``claw-node keys``: the answer of a cluster-wide key command as text (like ``serf keys``)."""

from __future__ import annotations

from typing import Any

__all__ = ["format_keys"]


def format_keys(answer: dict[str, Any]) -> str:
    """Render a ``KeysOut`` answer: the keys with how many live nodes hold them (list),
    the nodes lacking the primary, the nodes that did not answer, per-node messages."""
    action = answer.get("action", "?")
    total = answer.get("num_nodes", 0)
    lines: list[str] = []
    if action == "list":
        primary = answer.get("primary_key")
        width = max((len(k.get("key", "")) for k in answer.get("keys", [])), default=3)
        lines.append(f"{'KEY':<{width}}  NODES  PRIMARY ON")
        for k in answer.get("keys", []):
            mark = "  (this node's primary)" if k.get("key") == primary else ""
            lines.append(f"{k.get('key', ''):<{width}}  {k.get('nodes', 0)}/{total:<3}  "
                         f"{k.get('primary_nodes', 0)}{mark}")
        lacking = answer.get("lacking_primary") or []
        if lacking:
            lines.append(f"nodes lacking the primary key: {', '.join(lacking)}")
    else:
        lines.append(f"{action}: {answer.get('num_responses', 0)}/{total} nodes answered, "
                     f"{answer.get('num_errors', 0)} failed")
    missing = answer.get("missing") or []
    if missing:
        lines.append(f"no answer from: {', '.join(missing)}")
    for node, message in sorted((answer.get("messages") or {}).items()):
        lines.append(f"  {node}: {message}")
    if not answer.get("success"):
        lines.append(f"{action}: not every live node succeeded")
    return "\n".join(lines)
