"""``claw-node rtt A [B]``: the estimated round-trip time between two nodes, as ``serf rtt``.

No packet goes to A or B: the local agent's API gives both nodes' network coordinates
(the ones it learnt from probe acks; its own for itself) and the distance is computed
here, as Serf's command computes it client-side from its agent's RPC answers. B defaults
to the local agent's node. The output line is Serf's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gossip.coordinate import Coordinate

__all__ = ["RttError", "coordinate_from_api", "estimate_rtt_line"]


class RttError(Exception):
    """The estimate cannot be made (one line for the user, as Serf prints it)."""


def coordinate_from_api(node: dict[str, Any]) -> Coordinate | None:
    """The ``Coordinate`` in a node record of the API, or ``None`` if it has none.

    Raises:
        RttError: the record's coordinate is not of the documented shape.
    """
    raw = node.get("coordinate")
    if raw is None:
        return None
    try:
        return Coordinate(tuple(float(x) for x in raw["vec"]), float(raw["error"]),
                          float(raw["adjustment"]), float(raw["height"]))
    except (KeyError, TypeError, ValueError):
        raise RttError(f"node {node.get('node_id')!r}: malformed coordinate in the API answer") from None


def estimate_rtt_line(a: str, b: str, node_of: Callable[[str], dict[str, Any]]) -> str:
    """Serf's line ``Estimated A <-> B rtt: 0.123 ms``; ``node_of`` fetches a node record.

    Raises:
        RttError: a node has no coordinate, or the two are of different dimensionality.
    """
    coords = []
    for name in (a, b):
        coord = coordinate_from_api(node_of(name))
        if coord is None:
            raise RttError(f"Could not find a coordinate for node {name!r}")
        coords.append(coord)
    first, second = coords
    if not first.is_compatible_with(second):
        raise RttError(f"coordinates of {a!r} and {b!r} have different dimensions")
    return f"Estimated {a} <-> {b} rtt: {first.distance_to(second) * 1e3:.3f} ms"
