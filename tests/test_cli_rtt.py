"""``claw-node rtt A [B]`` against a real API server on loopback: Serf's output line,
B defaulting to the agent's node, one-line errors for nodes without a coordinate."""

from __future__ import annotations

import asyncio

import pytest

from api import ApiServer, create_app
from api.registry import HttpNodeRegistry
from gossip.coordinate import Coordinate
from node.cli import main
from node.rtt import RttError, coordinate_from_api, estimate_rtt_line
from node.view import GossipClusterView
from tests.test_node_view import FakeAgent, member

pytestmark = pytest.mark.timeout(60)

ME = Coordinate((0.001, 0.0), 0.3, 0.0, 0.0001)
PEER = Coordinate((0.0, 0.004), 0.3, 0.0002, 0.0003)


@pytest.fixture
async def server():
    agent = FakeAgent()  # "me" and "peer"; "ghost" is a member never probed
    agent.table.append(member("ghost"))
    agent.coordinates = {"me": ME, "peer": PEER}
    api = ApiServer(create_app(GossipClusterView(agent, HttpNodeRegistry()), run_monitor=False),
                    port=0)
    await api.start()
    yield api
    await api.stop()


async def rtt(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, ["rtt", *argv])
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


async def test_serf_line_and_b_defaults_to_this_node(server: ApiServer, capsys) -> None:
    expected_ms = ME.distance_to(PEER) * 1e3  # sqrt(1+16) + 0.1 + 0.3 + 0.2 ms
    assert abs(expected_ms - 4.723) < 0.001
    assert await rtt(capsys, "peer", "--api", server.url) == (
        0, "Estimated peer <-> me rtt: 4.723 ms", "")
    assert await rtt(capsys, "me", "peer", "--api", server.url) == (
        0, "Estimated me <-> peer rtt: 4.723 ms", "")


@pytest.mark.parametrize("argv, error", [
    (["ghost"], "Could not find a coordinate for node 'ghost'"),
    (["nobody", "me"], "HTTP 404: node_id: no node 'nobody'"),
])
async def test_errors_are_one_line(server: ApiServer, capsys, argv: list[str], error: str) -> None:
    code, out, err = await rtt(capsys, *argv, "--api", server.url)
    assert code == 1 and out == "" and error in err and len(err.splitlines()) == 1


def test_malformed_or_incompatible_coordinates_are_errors() -> None:
    with pytest.raises(RttError, match="malformed coordinate"):
        coordinate_from_api({"node_id": "x", "coordinate": {"vec": "abc"}})
    nodes = {"a": {"coordinate": {"vec": [0.0], "error": 1, "adjustment": 0, "height": 0}},
             "b": {"coordinate": {"vec": [0.0, 0.0], "error": 1, "adjustment": 0, "height": 0}}}
    with pytest.raises(RttError, match="different dimensions"):
        estimate_rtt_line("a", "b", nodes.__getitem__)
