"""``HeartbeatClient`` failover between real API servers on loopback: the node it uses
dies, a node answers 503, a node it only learned about from ``/api/v1/nodes``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api import ApiServer, create_app
from api.client import HeartbeatClient, NoLiveNode
from api.memory_view import MemoryClusterView
from api.models import NodeInfo, NodeStatus

pytestmark = pytest.mark.timeout(60)

FIGURES = {"cpu_usage": 12.5, "memory_usage": 40.0, "disk_usage": 55.0}


async def serve(view: MemoryClusterView) -> ApiServer:
    server = ApiServer(create_app(view, run_monitor=False), port=0)
    await server.start()
    return server


def worker(urls: str | list[str], **extra: object) -> HeartbeatClient:
    return HeartbeatClient(coordinator_url=urls, node_id="worker-001",
                           available_skills=["python"], sampler=lambda: dict(FIGURES),
                           retry_backoff_s=0.01, **extra)  # type: ignore[arg-type]


async def test_the_node_in_use_dies_and_the_next_one_takes_the_heartbeats() -> None:
    view_a, view_b = MemoryClusterView(node_id="a"), MemoryClusterView(node_id="b")
    a, b = await serve(view_a), await serve(view_b)
    client = worker([a.url, b.url], discover=False)
    try:
        await client.start()  # the heartbeat loop runs every 30 s: the test drives it
        assert "worker-001" in view_a.registry and client.coordinator_url == a.url
        await a.stop()  # the node in use dies (connections now refused)
        await client.send_heartbeat()
        # b never saw the worker: its 404 made the client register again, same id.
        assert client.coordinator_url == b.url and client.failovers == 1
        assert view_b.registry.get("worker-001") is not None
        await client.send_heartbeat()
        assert client.heartbeats_sent == 1 and client.failovers == 1
        assert view_b.registry.get("worker-001").cpu_usage == 12.5
    finally:
        await client.stop()
        await b.stop()
    assert view_b.registry.get("worker-001").status == "offline"  # shutdown reached b


async def test_a_503_moves_on_to_the_next_node() -> None:
    # A node that knows no coordinator answers every write with 503.
    lost = MemoryClusterView(node_id="lost", coordinating=False)
    good = MemoryClusterView(node_id="good")
    a, b = await serve(lost), await serve(good)
    client = worker([a.url, b.url], discover=False)
    try:
        await client.start()
        assert client.coordinator_url == b.url and "worker-001" in good.registry
        assert "worker-001" not in lost.registry
    finally:
        await client.stop()
        await a.stop()
        await b.stop()


async def test_every_node_down_is_an_error_naming_each() -> None:
    a, b = await serve(MemoryClusterView()), await serve(MemoryClusterView())
    client = worker([a.url, b.url], discover=False)
    await client.start()
    await a.stop()
    await b.stop()
    try:
        with pytest.raises(NoLiveNode) as exc:
            await client.send_heartbeat()
        assert a.url in str(exc.value) and b.url in str(exc.value)
    finally:
        await client.stop()  # the shutdown notice fails too: logged, not raised


class _Counting(MemoryClusterView):
    list_calls = 0

    async def list_nodes(self) -> list[NodeInfo]:
        self.list_calls += 1
        return await super().list_nodes()


class _Members(MemoryClusterView):
    """A node whose list also holds gossip members (as an agent's does)."""

    def __init__(self, members: list[NodeInfo], **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.members = members

    async def list_nodes(self) -> list[NodeInfo]:
        return [*self.members, *await super().list_nodes()]


def member(node_id: str, api_url: str, state: str) -> NodeInfo:
    return NodeInfo(node_id=node_id, hostname=node_id, platform="linux", arch="x64",
                    status=NodeStatus.ONLINE if state == "alive" else NodeStatus.OFFLINE,
                    source="gossip", gossip_state=state, api_url=api_url,  # type: ignore[arg-type]
                    registered_at=datetime.now(UTC))


async def test_one_url_is_enough_the_others_are_learned() -> None:
    view_b = _Counting(node_id="b")
    b = await serve(view_b)
    view_a = _Members([member("b", b.url, "alive"),
                       member("c", "http://127.0.0.1:9", "left"),  # gone: not learned
                       member("d", "file:///etc/passwd", "alive")], node_id="a")
    a = await serve(view_a)
    client = worker(a.url)
    try:
        await client.start()
        assert client.urls == [a.url, b.url]
        await a.stop()
        await client.send_heartbeat()  # a refused: b, which re-registers the worker
        assert client.coordinator_url == b.url and "worker-001" in view_b.registry
        await client.send_heartbeat()  # accepted; then the list is refreshed from b
        assert client.heartbeats_sent == 1 and view_b.list_calls > 0
        # b lists no member: the given URL stays (it may come back), b stays in use.
        assert client.urls == [a.url, b.url] and client.coordinator_url == b.url
    finally:
        await client.stop()
        await b.stop()


@pytest.mark.slow
@pytest.mark.slow  # ~6 s: failure detection and a new election on loopback
async def test_with_real_agents_the_worker_outlives_the_node_it_used(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two claw-node agents on loopback; the worker knows only the coordinator's URL,
    learns the other, and keeps heartbeating under its id after the coordinator dies."""
    from node.agent import Agent
    from tests.conftest import eventually_async
    from tests.test_node_agent import config, fake_sampler

    a = Agent(config(tmp_path / "a", node_id="a", api_eager=True), sampler=fake_sampler)
    await a.start()
    b = None
    client = None
    try:
        await eventually_async(lambda: a.coordinator_state()[0] == "a" and a.api is not None)
        seed = f"127.0.0.1:{a.transport.address[1]}"  # type: ignore[union-attr]
        b = Agent(config(tmp_path / "b", node_id="b", join=[seed], api_eager=True),
                  sampler=fake_sampler)
        await b.start()
        await eventually_async(lambda: len(b.members()) == 2 and b.api is not None)  # type: ignore[union-attr]
        a_url, b_url = a.api.url, b.api.url  # type: ignore[union-attr]
        client = HeartbeatClient(coordinator_url=a_url, node_id="worker-001",
                                 available_skills=["python"], sampler=lambda: dict(FIGURES),
                                 heartbeat_interval_s=0.05, retry_backoff_s=0.05,
                                 max_backoff_s=0.2)
        await client.start()
        assert client.urls == [a_url, b_url]  # b's API learned from a's node list
        await a.stop(leave=False)  # the coordinator dies without a word
        sent = client.heartbeats_sent
        await eventually_async(lambda: client.coordinator_url == b_url
                       and client.heartbeats_sent >= sent + 3, timeout=45.0)
        node = await b.view.get_node("worker-001")  # type: ignore[union-attr]
        assert node is not None and node.status == NodeStatus.ONLINE
        assert b.coordinator_state()[0] == "b"  # type: ignore[union-attr]
    finally:
        if client is not None:
            await client.stop()
        if b is not None:
            await b.stop(leave=True)
        await a.stop(leave=True)
