"""The OpenAPI examples (api/examples.py) agree with the rules they illustrate."""

from __future__ import annotations

from api import examples
from api.models import NodeCoordinate, NodeOut
from gossip.coordinate import Coordinate
from gossip.nearest import estimated_rtt


def _core(c: NodeCoordinate) -> Coordinate:
    return Coordinate(tuple(c.vec), c.error, c.adjustment, c.height)


def test_the_example_rtt_is_the_vivaldi_distance_from_the_answering_node() -> None:
    # api/ does not compute distances (the view does), so the example states a figure.
    node = NodeOut.model_validate(examples.example_of(NodeOut)).node
    assert node.coordinate is not None
    rtt = estimated_rtt(_core(examples._ANSWERING_COORDINATE), _core(node.coordinate))
    assert rtt is not None
    assert node.estimated_rtt_ms == round(rtt * 1e3, 3) == 1.157
