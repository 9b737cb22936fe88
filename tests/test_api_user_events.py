"""The user event and query routes over the in-memory control, and the node's control
over a fake gossip side (Serf's limits as 422 naming the field)."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer

from api import create_app
from api.errors import ValidationFailed
from api.keys import USER_EVENT_CONTROL
from api.memory_user_events import MemoryUserEventControl
from api.memory_view import MemoryClusterView
from api.user_events import EventIn, QueryIn
from gossip.serf_query import OutboundQuery, QueryError
from gossip.user_events import UserEventError
from node.event_handlers import HandlerRunner
from node.query_report import format_query
from node.user_event_api import ClusterUserEventControl
from node.user_events import UserEvents

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def client():  # type: ignore[no-untyped-def]
    app = create_app(MemoryClusterView(), run_monitor=False)
    app[USER_EVENT_CONTROL] = MemoryUserEventControl("n1", answer="pong")
    async with TestClient(TestServer(app)) as c:
        yield c


async def test_event_and_query_routes(client: TestClient) -> None:
    r = await client.post("/api/v1/user-events", json={"name": "deploy", "payload": "v2"})
    assert r.status == 200 and (await r.json())["payload_bytes"] == 2
    r = await client.post("/api/v1/queries", json={"name": "ping", "timeout": 1})
    answer = await r.json()
    assert answer["acks"] == ["n1"] and answer["responses"][0]["payload"] == "pong"
    assert format_query(answer).splitlines() == [
        "Query 'ping' dispatched", "Ack from 'n1'", "Response from 'n1': pong",
        "Total Acks: 1", "Total Responses: 1"]


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/v1/user-events", {"name": "e", "payload": "x" * 600}, "payload"),
    ("/api/v1/user-events", {"name": "", "payload": ""}, "name"),
    ("/api/v1/user-events", {"name": "e", "coalesce": 1}, "coalesce"),
    ("/api/v1/queries", {"name": "q", "timeout": 0}, "timeout"),
    ("/api/v1/queries", {"name": "q", "relay_factor": True}, "relay_factor"),
])
async def test_bad_bodies_are_422_naming_the_field(client: TestClient, path: str,
                                                   body: dict[str, object], field: str) -> None:
    r = await client.post(path, json=body)
    assert r.status == 422
    assert field in {d["field"] for d in (await r.json())["details"]}


async def test_without_control_503() -> None:
    async with TestClient(TestServer(create_app(MemoryClusterView(), run_monitor=False))) as c:
        assert (await c.post("/api/v1/user-events", json={"name": "e"})).status == 503


class FakePort:
    """The gossip side: records what is sent; queries close when the test says so."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bool]] = []
        self.responses: list[bytes] = []
        self.query: OutboundQuery | None = None
        self.fail: Exception | None = None

    def send_event(self, name: str, payload: bytes, coalesce: bool) -> None:
        if self.fail:
            raise self.fail
        self.sent.append((name, payload, coalesce))

    def start_query(self, name, payload, params):  # type: ignore[no-untyped-def]
        if self.fail:
            raise self.fail
        loop = asyncio.get_running_loop()
        self.query = OutboundQuery(ltime=3, id=7, name=name, deadline=loop.time() + 5,
                                   request_ack=params.request_ack)
        return self.query

    def respond(self, query, payload: bytes) -> None:  # type: ignore[no-untyped-def]
        self.responses.append(payload)

    def close_query(self, query) -> None:  # type: ignore[no-untyped-def]
        query.closed = True


def _events(port: FakePort, specs: list[str] | None = None) -> tuple[UserEvents, list]:  # type: ignore[type-arg]
    published: list = []  # type: ignore[type-arg]
    runner = HandlerRunner.from_specs(specs or [], "n1", {"role": "gpu"})
    return UserEvents(port, runner, publish=published.append, wall_clock=lambda: 1000.0,
                      member_tags=lambda name: {}), published


async def test_query_returns_what_arrived_at_the_deadline() -> None:
    from gossip.events import QueryFinished
    port = FakePort()
    events, _ = _events(port)
    control = ClusterUserEventControl(events)
    task = asyncio.create_task(control.query(QueryIn(name="uptime", tags={"role": "^gpu"})))
    while port.query is None:
        await asyncio.sleep(0)
    port.query.acks["n2"] = None
    port.query.responses["n2"] = b"\xff up 3 days"
    events.on_event(QueryFinished(port.query))
    out = await asyncio.wait_for(task, 10)
    assert out.acks == ["n2"] and out.responses[0].payload == "\ufffd up 3 days"
    assert out.responses[0].payload_base64 == "/yB1cCAzIGRheXM=" and port.query.closed


async def test_limits_and_bad_filters_are_422() -> None:
    port = FakePort()
    control = ClusterUserEventControl(_events(port)[0])
    port.fail = UserEventError("user event exceeds limit of 512 bytes")
    with pytest.raises(ValidationFailed, match="512"):
        await control.send_event(EventIn(name="e", payload="x"))
    port.fail = QueryError("query exceeds limit of 1024 bytes")
    with pytest.raises(ValidationFailed, match="1024") as exc:
        await control.query(QueryIn(name="q"))
    assert exc.value.details[0]["field"] == "payload"
    port.fail = None
    with pytest.raises(ValidationFailed) as exc:
        await control.query(QueryIn(name="q", tags={"role": "(unclosed"}))
    assert exc.value.details[0]["field"] == "tags.role"


async def test_received_events_and_queries_reach_the_bus_and_handlers() -> None:
    from gossip.events import QueryReceived, UserEventReceived
    from gossip.serf_query import IncomingQuery
    from node.events import EventKind
    port = FakePort()
    events, published = _events(port, ['query:uptime=echo "up $(cat)"', "user=cat >/dev/null"])
    events.on_event(UserEventReceived(ltime=4, name="deploy", payload=b"v2", coalesce=True))
    query = IncomingQuery(ltime=5, id=1, name="uptime", payload=b"fast", source_node="n2",
                          reply_to=("127.0.0.1", 1), relay_factor=0, deadline=1e9)
    events.on_event(QueryReceived(query))
    internal = IncomingQuery(ltime=6, id=2, name="_serf_list-keys", payload=b"", source_node="n2",
                             reply_to=("127.0.0.1", 1), relay_factor=0, deadline=1e9)
    events.on_event(QueryReceived(internal))  # Serf's own: never for users
    assert [(e.kind, e.node, e.details["name"]) for e in published] == [
        (EventKind.USER_EVENT, "", "deploy"), (EventKind.QUERY, "n2", "uptime")]
    await asyncio.wait_for(events.aclose_when_idle(), 20)
    assert port.responses == [b"up fast\n"] and events.runner.stats.runs == 2


async def test_member_events_run_member_scripts_with_serfs_stdin(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from node.events import ClusterEvent, EventKind
    out = tmp_path / "joined"
    port = FakePort()
    published: list = []  # type: ignore[type-arg]
    runner = HandlerRunner.from_specs([f"member-join=cat > {out}"], "n1", {})
    events = UserEvents(port, runner, publish=published.append, wall_clock=lambda: 0.0,
                        member_tags=lambda name: {"role": "gpu"})
    events.on_cluster_event(ClusterEvent(EventKind.MEMBER_JOIN, "n2", "10.0.0.2:7946", 0.0))
    events.on_cluster_event(ClusterEvent(EventKind.MEMBER_SUSPECT, "n3", "10.0.0.3:7946", 0.0))
    await asyncio.wait_for(events.aclose_when_idle(), 20)
    assert out.read_text() == "n2\t10.0.0.2\tgpu\trole=gpu\n" and runner.stats.runs == 1


def test_log_lines() -> None:
    from node.event_log import format_event
    from node.events import ClusterEvent, EventKind
    assert format_event(ClusterEvent(EventKind.USER_EVENT, "", "", 0.0, {
        "name": "deploy", "ltime": 7, "payload": "v1.2"})) == "user event: deploy (ltime 7, 4 chars)"
    assert format_event(ClusterEvent(EventKind.QUERY, "n2", "", 0.0, {
        "name": "uptime", "ltime": 3, "payload": ""})) == "query: uptime from n2 (ltime 3, 0 chars)"
