"""Alerts (Python hook + webhook with retries, coordinator only) and the periodic
heartbeat monitor, with a fake wall clock and a real webhook receiver on loopback."""

from __future__ import annotations


import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api import create_app
from api.keys import ALERTS
from api.memory_view import MemoryClusterView

from tests.conftest import eventually_async

pytestmark = pytest.mark.slow  # waits on real time (sockets, an event loop, agents)

T0 = 1_800_000_000.0
WORKER = {"hostname": "w", "platform": "linux", "arch": "x64", "available_skills": ["a"]}


class FakeClock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
async def webhook():
    """A receiver that fails the first ``state['fail']`` POSTs with 500."""
    state: dict = {"fail": 0, "bodies": [], "attempts": 0}

    async def receive(request: web.Request) -> web.Response:
        state["attempts"] += 1
        if state["fail"] > 0:
            state["fail"] -= 1
            return web.Response(status=500)
        state["bodies"].append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state["url"] = str(server.make_url("/hook"))
    yield state
    await server.close()


async def _client(view, clock, **cfg) -> TestClient:
    c = TestClient(TestServer(create_app(view, clock=clock, **cfg), host="127.0.0.1"))
    await c.start_server()
    return c


async def test_webhook_and_hook_once_per_transition_with_retries(webhook) -> None:
    clock = FakeClock()
    view = MemoryClusterView(node_id="coord", clock=clock)
    hooked: list[tuple[str, str]] = []

    async def hook(t) -> None:
        hooked.append((t.from_state, t.to_state))

    webhook["fail"] = 2  # the first alert needs two retries
    c = await _client(view, clock, run_monitor=False, alert_webhook=webhook["url"],
                      alert_hook=hook, alert_backoff_s=0.01)
    try:
        node_id = (await (await c.post("/api/v1/nodes/register", json=WORKER)).json())["node_id"]
        clock.t += 61
        await c.post("/api/v1/cluster/check-heartbeat")
        clock.t += 30
        await c.post("/api/v1/cluster/check-heartbeat")
        await c.post("/api/v1/cluster/check-heartbeat")  # nothing new
        await c.post(f"/api/v1/nodes/{node_id}/heartbeat")
        dispatcher = c.app[ALERTS]
        await eventually_async(lambda: len(webhook["bodies"]) == 3)
        await dispatcher.drain()
        got = [(b["node_id"], b["from_state"], b["to_state"]) for b in webhook["bodies"]]
        assert got == [(node_id, "online", "suspect"), (node_id, "suspect", "offline"),
                       (node_id, "offline", "online")]
        assert webhook["attempts"] == 5 and dispatcher.sent == 3 and dispatcher.failed == 0
        assert hooked == [("online", "suspect"), ("suspect", "offline"), ("offline", "online")]
        first = webhook["bodies"][0]
        assert first["event"] == "node_transition" and first["coordinator"] == "coord"
        assert first["hostname"] == "w" and first["at"].endswith("Z") and "reason" in first
    finally:
        await c.close()


async def test_webhook_gives_up_after_retries_without_blocking(webhook) -> None:
    clock = FakeClock()
    view = MemoryClusterView(clock=clock)
    webhook["fail"] = 100
    c = await _client(view, clock, run_monitor=False, alert_webhook=webhook["url"],
                      alert_retries=3, alert_backoff_s=0.01)
    try:
        await c.post("/api/v1/nodes/register", json=WORKER)
        clock.t += 61
        resp = await c.post("/api/v1/cluster/check-heartbeat")
        assert resp.status == 200  # answered while the webhook keeps failing
        dispatcher = c.app[ALERTS]
        await eventually_async(lambda: dispatcher.failed == 1)
        assert webhook["attempts"] == 3 and dispatcher.sent == 0
    finally:
        await c.close()


async def test_only_the_coordinator_alerts(webhook) -> None:
    clock = FakeClock()
    view = MemoryClusterView(clock=clock)
    c = await _client(view, clock, run_monitor=False, alert_webhook=webhook["url"])
    try:
        await c.post("/api/v1/nodes/register", json=WORKER)
        view.coordinating = False  # lost the election; the view still sees transitions
        clock.t += 61
        await view.check_heartbeats()
        dispatcher = c.app[ALERTS]
        await eventually_async(lambda: dispatcher.skipped == 1)
        assert webhook["attempts"] == 0
    finally:
        await c.close()


async def test_monitor_checks_every_interval_on_the_coordinator_only() -> None:
    clock = FakeClock()
    view = MemoryClusterView(clock=clock)
    c = await _client(view, clock, check_interval_s=0.01)
    try:
        node_id = (await (await c.post("/api/v1/nodes/register", json=WORKER)).json())["node_id"]
        view.coordinating = False
        rounds = [0]  # monitor rounds that asked whether this node coordinates
        asks = view.is_coordinator

        async def counted() -> bool:
            rounds[0] += 1
            return await asks()

        view.is_coordinator = counted  # type: ignore[method-assign]
        clock.t += 91
        await eventually_async(lambda: rounds[0] >= 3)  # three rounds as a follower ran...
        assert view.registry.get(node_id).status == "online"  # ...and none judged
        view.coordinating = True
        await eventually_async(lambda: view.registry.get(node_id).status == "offline")
    finally:
        await c.close()


async def test_a_reload_changes_the_token_and_webhook_of_a_running_app(webhook) -> None:
    from api.app import reconfigure

    clock = FakeClock()
    view = MemoryClusterView(node_id="coord", clock=clock)
    c = await _client(view, clock, run_monitor=False, api_token="old", alert_backoff_s=0.01)
    try:
        old, new = ({"Authorization": f"Bearer {t}"} for t in ("old", "new"))
        assert (await c.get("/api/v1/nodes", headers=old)).status == 200
        reconfigure(c.app, api_token="new", alert_webhook=webhook["url"])
        assert (await c.get("/api/v1/nodes", headers=old)).status == 401
        answer = await c.post("/api/v1/nodes/register", json=WORKER, headers=new)
        node_id = (await answer.json())["node_id"]
        clock.t += 91  # past the heartbeat timeout: one transition to offline
        await c.post("/api/v1/cluster/check-heartbeat", headers=new)
        await eventually_async(lambda: len(webhook["bodies"]) == 1)
        assert webhook["bodies"][0]["node_id"] == node_id
        reconfigure(c.app, api_token=None, alert_webhook=None)
        assert (await c.get("/api/v1/nodes")).status == 200
    finally:
        await c.close()
