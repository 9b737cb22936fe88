"""The seed's 13 integration scenarios, plus route order, 404/401/413/422, CORS and list
filters, against a real aiohttp server on loopback (``MemoryClusterView``, fake clock)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from api import create_app
from api.memory_view import MemoryClusterView

T0 = 1_800_000_000.0


class FakeClock:
    """Wall clock the tests move by hand (Unix seconds)."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, s: float) -> None:
        self.t += s


WORKER: dict[str, Any] = {
    "hostname": "worker-01", "platform": "linux", "arch": "x64",
    "available_skills": ["python", "fastapi"], "max_concurrent_tasks": 5, "tags": ["gpu"],
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def view(clock: FakeClock) -> MemoryClusterView:
    return MemoryClusterView(node_id="coord-1", api_url="http://127.0.0.1:1", clock=clock)


async def _client(view: MemoryClusterView, clock: FakeClock, **cfg: Any) -> TestClient:
    app = create_app(view, clock=clock, run_monitor=False, **cfg)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def client(view: MemoryClusterView, clock: FakeClock):
    c = await _client(view, clock)
    yield c
    await c.close()


async def register(client: TestClient, **over: Any) -> dict[str, Any]:
    resp = await client.post("/api/v1/nodes/register", json={**WORKER, **over})
    body = await resp.json()
    assert resp.status == 200, body
    return body


# --- 1-3: registration -----------------------------------------------------------------


async def test_register_node(client: TestClient) -> None:
    body = await register(client)
    assert body["success"] is True and body["created"] is True
    assert body["node_id"].startswith("node-")
    assert body["node_id"] in body["message"]
    node = body["node"]
    assert node["hostname"] == "worker-01" and node["status"] == "online"
    assert node["available_skills"] == ["python", "fastapi"] and node["tags"] == ["gpu"]
    assert node["registered_at"] == node["last_heartbeat"] == "2027-01-15T08:00:00Z"
    other = await register(client, hostname="worker-02")
    assert other["node_id"] != body["node_id"]


async def test_reregister_updates_in_place(client: TestClient, clock: FakeClock) -> None:
    first = await register(client)
    node_id = first["node_id"]
    r = await client.post(f"/api/v1/nodes/{node_id}/heartbeat",
                          json={"total_tasks_processed": 7, "successful_tasks": 6,
                                "failed_tasks": 1})
    assert r.status == 200
    clock.advance(100)
    again = await register(client, node_id=node_id, available_skills=["rust"], port=9000)
    assert again["created"] is False and again["node_id"] == node_id
    assert "re-registered" in again["message"]
    node = again["node"]
    assert node["registered_at"] == first["node"]["registered_at"]
    assert node["last_heartbeat"] != first["node"]["last_heartbeat"]
    assert (node["available_skills"], node["port"]) == (["rust"], 9000)
    assert (node["total_tasks_processed"], node["successful_tasks"], node["failed_tasks"]) == (7, 6, 1)
    listing = await (await client.get("/api/v1/nodes")).json()
    assert listing["count"] == 1
    # A client-chosen id that is new is created with that id.
    chosen = await register(client, node_id="worker-001")
    assert chosen["node_id"] == "worker-001" and chosen["created"] is True


@pytest.mark.parametrize("field,value", [
    ("hostname", ""), ("hostname", "   "), ("platform", "solaris"), ("arch", "mips"),
    ("available_skills", []), ("port", 0), ("port", 70000), ("max_concurrent_tasks", 0),
    ("max_concurrent_tasks", True), ("available_skills", ["x" * 65]), ("tags", [""]),
    ("node_id", "a/b"), ("hostname", 5), ("unknown_field", 1),
])
async def test_invalid_registration_names_the_field(client: TestClient, field: str, value: Any) -> None:
    resp = await client.post("/api/v1/nodes/register", json={**WORKER, field: value})
    body = await resp.json()
    assert resp.status == 422, body
    assert body["success"] is False
    assert field in body["error"]
    assert any(d["field"].split(".")[0] == field for d in body["details"])
    assert (await (await client.get("/api/v1/nodes")).json())["count"] == 0


@pytest.mark.parametrize("missing", ["hostname", "platform", "arch", "available_skills"])
async def test_missing_required_field(client: TestClient, missing: str) -> None:
    payload = {k: v for k, v in WORKER.items() if k != missing}
    resp = await client.post("/api/v1/nodes/register", json=payload)
    body = await resp.json()
    assert resp.status == 422 and missing in body["error"]


@pytest.mark.parametrize("raw,status", [
    (b"", 400), (b"not json", 400), (b"[1, 2]", 400), (b'"x"', 400),
    ((b'{"hostname": "h", "platform": "linux", "arch": "x64", "available_skills": ["a"], '
      b'"port": NaN}'), 422),
])
async def test_malformed_bodies(client: TestClient, raw: bytes, status: int) -> None:
    resp = await client.post("/api/v1/nodes/register", data=raw,
                             headers={"Content-Type": "application/json"})
    body = await resp.json()
    assert resp.status == status, body
    assert body["success"] is False and body["details"]


async def test_body_size_limit(view: MemoryClusterView, clock: FakeClock) -> None:
    c = await _client(view, clock, max_body_bytes=2048)
    try:
        resp = await c.post("/api/v1/nodes/register", data=b"{" + b" " * 5000 + b"}",
                            headers={"Content-Type": "application/json"})
        body = await resp.json()
        assert resp.status == 413 and body["success"] is False
        assert body["error"] == "body: larger than the 2048 bytes (2 KiB) limit"
    finally:
        await c.close()


# --- 4-5: queries ----------------------------------------------------------------------


async def test_list_nodes_and_status_filter(client: TestClient) -> None:
    a = (await register(client, hostname="a"))["node_id"]
    b = (await register(client, hostname="b"))["node_id"]
    await client.post(f"/api/v1/nodes/{b}/shutdown")
    body = await (await client.get("/api/v1/nodes")).json()
    assert body["success"] is True and body["count"] == 2 == len(body["nodes"])
    online = await (await client.get("/api/v1/nodes", params={"status": "online"})).json()
    assert [n["node_id"] for n in online["nodes"]] == [a]
    offline = await (await client.get("/api/v1/nodes", params={"status": "offline"})).json()
    assert [n["node_id"] for n in offline["nodes"]] == [b]
    busy = await (await client.get("/api/v1/nodes", params={"status": "busy"})).json()
    assert busy == {"success": True, "count": 0, "nodes": []}


async def test_find_nodes_by_skill(client: TestClient) -> None:
    py = (await register(client, hostname="py", available_skills=["python"]))["node_id"]
    both = (await register(client, hostname="both", available_skills=["python", "go"]))["node_id"]
    await register(client, hostname="go", available_skills=["go"])
    body = await (await client.get("/api/v1/nodes/skills/python")).json()
    assert body["success"] is True and sorted(n["node_id"] for n in body["nodes"]) == sorted([py, both])
    assert body["count"] == 2
    none = await (await client.get("/api/v1/nodes/skills/cobol")).json()
    assert none == {"success": True, "count": 0, "nodes": []}


# --- 6-9: heartbeats and health --------------------------------------------------------


async def test_heartbeat_update(client: TestClient, clock: FakeClock) -> None:
    node_id = (await register(client))["node_id"]
    clock.advance(10)
    resp = await client.post(f"/api/v1/nodes/{node_id}/heartbeat", json={
        "cpu_usage": 45.5, "memory_usage": 60.2, "disk_usage": 70.0, "running_tasks": 2})
    body = await resp.json()
    assert resp.status == 200 and body["success"] is True and body["message"]
    node = body["node"]
    assert (node["cpu_usage"], node["memory_usage"], node["disk_usage"], node["running_tasks"]) == (45.5, 60.2, 70.0, 2)
    assert node["last_heartbeat"] == "2027-01-15T08:00:10Z"
    # Every field is optional: omitted fields keep their values, an empty body is a ping.
    clock.advance(5)
    resp = await client.post(f"/api/v1/nodes/{node_id}/heartbeat", json={"cpu_usage": 10})
    node = (await resp.json())["node"]
    assert (node["cpu_usage"], node["memory_usage"], node["running_tasks"]) == (10.0, 60.2, 2)
    resp = await client.post(f"/api/v1/nodes/{node_id}/heartbeat")
    assert resp.status == 200
    assert (await resp.json())["node"]["last_heartbeat"] == "2027-01-15T08:00:15Z"
    # Full slots → busy; freeing one → online.
    node = (await (await client.post(f"/api/v1/nodes/{node_id}/heartbeat",
                                      json={"running_tasks": 5})).json())["node"]
    assert node["status"] == "busy"
    node = (await (await client.post(f"/api/v1/nodes/{node_id}/heartbeat",
                                      json={"running_tasks": 4})).json())["node"]
    assert node["status"] == "online"


@pytest.mark.parametrize("beat,field", [
    ({"cpu_usage": 101}, "cpu_usage"), ({"memory_usage": -1}, "memory_usage"),
    ({"running_tasks": -1}, "running_tasks"), ({"running_tasks": 1.5}, "running_tasks"),
    ({"disk_usage": True}, "disk_usage"), ({"cpu_usage": "high"}, "cpu_usage"),
    ({"status": "online"}, "status"),
])
async def test_invalid_heartbeat(client: TestClient, beat: dict[str, Any], field: str) -> None:
    node_id = (await register(client))["node_id"]
    resp = await client.post(f"/api/v1/nodes/{node_id}/heartbeat", json=beat)
    body = await resp.json()
    assert resp.status == 422 and field in body["error"], body


async def test_node_health(client: TestClient, clock: FakeClock) -> None:
    node_id = (await register(client))["node_id"]
    clock.advance(12.5)
    body = await (await client.get(f"/api/v1/nodes/{node_id}/health")).json()
    assert body["success"] is True and body["healthy"] is True and body["reasons"] == []
    assert body["seconds_since_heartbeat"] == 12.5 and body["heartbeat_timeout_s"] == 90.0
    await client.post(f"/api/v1/nodes/{node_id}/heartbeat", json={"disk_usage": 95.5})
    body = await (await client.get(f"/api/v1/nodes/{node_id}/health")).json()
    assert body["healthy"] is True
    assert any("disk" in w and "95.5" in w for w in body["warnings"])
    clock.advance(91)
    body = await (await client.get(f"/api/v1/nodes/{node_id}/health")).json()
    assert body["healthy"] is False
    assert any("no heartbeat for 91.0 s" in r for r in body["reasons"])


async def test_cluster_health_summary(client: TestClient) -> None:
    empty = await (await client.get("/api/v1/cluster/health")).json()
    assert empty["total_nodes"] == 0 and empty["average_cpu_usage"] is None
    a = (await register(client, hostname="a", max_concurrent_tasks=4))["node_id"]
    b = (await register(client, hostname="b", max_concurrent_tasks=6))["node_id"]
    c = (await register(client, hostname="c"))["node_id"]
    await client.post(f"/api/v1/nodes/{a}/heartbeat", json={"cpu_usage": 20, "memory_usage": 40,
                                                           "disk_usage": 10, "running_tasks": 1})
    await client.post(f"/api/v1/nodes/{b}/heartbeat", json={"cpu_usage": 40, "memory_usage": 60,
                                                           "disk_usage": 30, "running_tasks": 6})
    await client.post(f"/api/v1/nodes/{c}/shutdown")
    body = await (await client.get("/api/v1/cluster/health")).json()
    assert body["success"] is True and body["total_nodes"] == 3
    assert body["counts"] == {"online": 1, "offline": 1, "busy": 1, "maintenance": 0, "error": 0}
    assert (body["average_cpu_usage"], body["average_memory_usage"], body["average_disk_usage"]) == (30.0, 50.0, 20.0)
    assert (body["running_tasks"], body["total_capacity"]) == (7, 10)
    assert body["status"] == "degraded"
    assert body["coordinator"] == {"node_id": "coord-1", "api_url": "http://127.0.0.1:1", "term": 1}
    await register(client, node_id=c, hostname="c")
    assert (await (await client.get("/api/v1/cluster/health")).json())["status"] == "healthy"


async def test_cluster_health_is_stamped_per_request_and_follows_every_change(
        client: TestClient, clock: FakeClock) -> None:
    a = (await register(client, hostname="a"))["node_id"]
    await client.post(f"/api/v1/nodes/{a}/heartbeat", json={"cpu_usage": 20})
    first = await (await client.get("/api/v1/cluster/health")).json()
    clock.advance(5)
    second = await (await client.get("/api/v1/cluster/health")).json()
    assert first.pop("checked_at") != second.pop("checked_at") and first == second
    await client.post(f"/api/v1/nodes/{a}/heartbeat", json={"cpu_usage": 60})
    assert (await (await client.get("/api/v1/cluster/health")).json())["average_cpu_usage"] == 60.0
    await register(client, hostname="b")
    assert (await (await client.get("/api/v1/cluster/health")).json())["total_nodes"] == 2


async def test_timeout_detection(client: TestClient, clock: FakeClock, view: MemoryClusterView) -> None:
    transitions: list[tuple[str, str, str]] = []
    view.add_transition_listener(lambda t: transitions.append((t.node_id, t.from_state, t.to_state)))
    quiet = (await register(client, hostname="quiet"))["node_id"]
    chatty = (await register(client, hostname="chatty"))["node_id"]
    clock.advance(59)
    await client.post(f"/api/v1/nodes/{chatty}/heartbeat")
    first = await (await client.post("/api/v1/cluster/check-heartbeat")).json()
    assert first["success"] is True and first["checked"] == 2 and first["changed"] == []
    clock.advance(2)  # quiet: 61 s > 60 s (2/3 of 90) → suspect
    second = await (await client.post("/api/v1/cluster/check-heartbeat")).json()
    assert [(c["node_id"], c["new_status"], c["suspect"]) for c in second["changed"]] == [(quiet, "online", True)]
    node = (await (await client.get(f"/api/v1/nodes/{quiet}")).json())["node"]
    assert node["status"] == "online" and node["suspect"] is True
    clock.advance(30)  # quiet: 91 s → offline; chatty: 32 s, fine
    third = await (await client.post("/api/v1/cluster/check-heartbeat")).json()
    changed = [(c["node_id"], c["old_status"], c["new_status"]) for c in third["changed"]]
    assert changed == [(quiet, "online", "offline")]
    assert "91.0 s" in third["changed"][0]["reason"]
    assert (await (await client.get(f"/api/v1/nodes/{chatty}")).json())["node"]["status"] == "online"
    # Checking again changes nothing; a heartbeat brings it back.
    assert (await (await client.post("/api/v1/cluster/check-heartbeat")).json())["changed"] == []
    node = (await (await client.post(f"/api/v1/nodes/{quiet}/heartbeat")).json())["node"]
    assert node["status"] == "online" and node["suspect"] is False
    assert transitions == [(quiet, "online", "suspect"), (quiet, "suspect", "offline"),
                           (quiet, "offline", "online")]


# --- 10-12: the seed's API examples ----------------------------------------------------


async def test_api_register_seed_example(client: TestClient) -> None:
    # The seed's httpx example, byte for byte.
    resp = await client.post("/api/v1/nodes/register", json={
        "hostname": "worker-01", "platform": "linux", "arch": "x64",
        "available_skills": ["python", "fastapi"], "max_concurrent_tasks": 5, "tags": ["gpu"]})
    result = await resp.json()
    assert result["success"]
    node_id = result["node_id"]
    resp = await client.post(f"/api/v1/nodes/{node_id}/heartbeat", json={
        "cpu_usage": 45.5, "memory_usage": 60.2, "disk_usage": 70.0, "running_tasks": 2})
    assert (await resp.json())["message"] == f"heartbeat recorded for {node_id}"


async def test_api_query_seed_example(client: TestClient) -> None:
    node_id = (await register(client))["node_id"]
    nodes = await (await client.get("/api/v1/nodes")).json()
    online_nodes = await (await client.get("/api/v1/nodes/online")).json()
    python_nodes = await (await client.get("/api/v1/nodes/skills/python")).json()
    for body in (nodes, online_nodes, python_nodes):
        assert body["success"] is True and body["count"] == 1
        assert body["nodes"][0]["node_id"] == node_id
    detail = await (await client.get(f"/api/v1/nodes/{node_id}")).json()
    assert detail["success"] is True and detail["node"] == nodes["nodes"][0]


async def test_api_health(client: TestClient) -> None:
    resp = await client.get("/health")
    body = await resp.json()
    assert resp.status == 200
    assert body["success"] is True and body["status"] == "ok" and body["node_id"] == "coord-1"
    assert body["is_coordinator"] is True and body["coordinator"]["node_id"] == "coord-1"
    assert resp.headers["X-Claw-Coordinator"] == "coord-1"


# --- 13: the full lifecycle ------------------------------------------------------------


async def test_full_lifecycle(client: TestClient, clock: FakeClock) -> None:
    node_id = (await register(client))["node_id"]
    for i in range(3):
        clock.advance(30)
        r = await client.post(f"/api/v1/nodes/{node_id}/heartbeat",
                              json={"cpu_usage": 10 * i, "running_tasks": i})
        assert r.status == 200
    r = await client.post(f"/api/v1/nodes/{node_id}/maintenance", json={"enabled": True})
    assert (await r.json())["node"]["status"] == "maintenance"
    # A heartbeat does not end maintenance.
    r = await client.post(f"/api/v1/nodes/{node_id}/heartbeat", json={"running_tasks": 0})
    assert (await r.json())["node"]["status"] == "maintenance"
    r = await client.post(f"/api/v1/nodes/{node_id}/maintenance", json={"enabled": False})
    assert (await r.json())["node"]["status"] == "online"
    r = await client.post(f"/api/v1/nodes/{node_id}/shutdown")
    body = await r.json()
    assert r.status == 200 and body["success"] is True and body["node"]["status"] == "offline"
    assert node_id in body["message"]
    health = await (await client.get(f"/api/v1/nodes/{node_id}/health")).json()
    assert health["healthy"] is False and "status is offline" in health["reasons"]
    clock.advance(3600)
    again = await register(client, node_id=node_id)
    assert again["created"] is False and again["node"]["status"] == "online"
    assert (await (await client.get(f"/api/v1/nodes/{node_id}/health")).json())["healthy"] is True


# --- route order, 404s, filters --------------------------------------------------------


async def test_route_order_online_is_not_a_node_id(client: TestClient) -> None:
    a = (await register(client, hostname="a"))["node_id"]
    b = (await register(client, hostname="b"))["node_id"]
    await client.post(f"/api/v1/nodes/{b}/shutdown")
    body = await (await client.get("/api/v1/nodes/online")).json()
    assert body["success"] is True and [n["node_id"] for n in body["nodes"]] == [a]
    body = await (await client.get("/api/v1/nodes/skills/python")).json()
    assert body["count"] == 2
    # GET /nodes/register is a node lookup (404), not the registration route.
    reg = await client.get("/api/v1/nodes/register")
    assert reg.status == 404
    # Ids that fixed routes would shadow cannot be chosen.
    for reserved in ("online", "skills", "register"):
        resp = await client.post("/api/v1/nodes/register", json={**WORKER, "node_id": reserved})
        body = await resp.json()
        assert resp.status == 422 and "node_id" in body["error"] and "reserved" in body["error"]


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/v1/nodes/ghost"), ("GET", "/api/v1/nodes/ghost/health"),
    ("POST", "/api/v1/nodes/ghost/heartbeat"), ("POST", "/api/v1/nodes/ghost/shutdown"),
])
async def test_unknown_node_is_404(client: TestClient, method: str, path: str) -> None:
    resp = await client.request(method, path)
    body = await resp.json()
    assert resp.status == 404
    assert body == {"success": False, "error": "node_id: no node 'ghost'",
                    "details": [{"field": "path.node_id", "message": "unknown node",
                                 "type": "not_found"}]}


async def test_unknown_route_and_method_are_json(client: TestClient) -> None:
    resp = await client.get("/api/v1/nope")
    assert resp.status == 404 and (await resp.json())["success"] is False
    resp = await client.delete("/api/v1/nodes")
    assert resp.status == 405 and "GET" in resp.headers["Allow"]
    assert (await resp.json())["success"] is False


async def test_list_filters_combine(client: TestClient) -> None:
    async def add(name: str, skills: list[str], tags: list[str], platform: str, arch: str,
                  running: int, cpu: float) -> str:
        nid = (await register(client, node_id=name, hostname=name, available_skills=skills,
                              tags=tags, platform=platform, arch=arch,
                              max_concurrent_tasks=4))["node_id"]
        await client.post(f"/api/v1/nodes/{nid}/heartbeat",
                          json={"running_tasks": running, "cpu_usage": cpu})
        return nid

    await add("a", ["python", "cuda"], ["gpu"], "linux", "x64", 3, 10)
    await add("b", ["python", "cuda"], ["gpu", "big"], "linux", "x64", 1, 50)
    await add("c", ["python"], ["gpu"], "macos", "arm64", 0, 5)
    await add("d", ["python", "cuda"], ["gpu"], "linux", "x64", 4, 1)  # full → busy
    await add("e", ["python", "cuda"], ["gpu"], "linux", "x64", 0, 0)
    await client.post("/api/v1/nodes/e/maintenance", json={"enabled": True})

    async def ids(params: list[tuple[str, str]]) -> list[str]:
        resp = await client.get("/api/v1/nodes", params=params)
        body = await resp.json()
        assert resp.status == 200 and body["count"] == len(body["nodes"])
        return [n["node_id"] for n in body["nodes"]]

    assert await ids([("skill", "python"), ("skill", "cuda")]) == ["a", "b", "d", "e"]
    assert await ids([("skill", "cuda"), ("available", "true")]) == ["a", "b"]
    assert await ids([("skill", "cuda"), ("available", "true"), ("sort", "load")]) == ["b", "a"]
    assert await ids([("tag", "gpu"), ("tag", "big")]) == ["b"]
    assert await ids([("platform", "macos")]) == ["c"]
    assert await ids([("arch", "x64"), ("status", "busy")]) == ["d"]
    assert await ids([("available", "false")]) == ["d", "e"]
    assert await ids([("sort", "load")]) == ["e", "c", "b", "a", "d"]
    assert await ids([("skill", "fortran")]) == []
    resp = await client.get("/api/v1/nodes", params={"sort": "random"})
    assert resp.status == 422 and "query.sort" in (await resp.json())["error"]
    resp = await client.get("/api/v1/nodes", params={"available": "maybe"})
    assert resp.status == 422 and "query.available" in (await resp.json())["error"]


# --- access: token and CORS ------------------------------------------------------------


async def test_bearer_token(view: MemoryClusterView, clock: FakeClock) -> None:
    c = await _client(view, clock, api_token="s3cret")
    try:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"},
                        {"Authorization": "Basic s3cret"}):
            resp = await c.get("/api/v1/nodes", headers=headers)
            body = await resp.json()
            assert resp.status == 401 and body["success"] is False
            assert "Authorization" in body["error"] and resp.headers["WWW-Authenticate"] == "Bearer"
            resp = await c.post("/api/v1/nodes/register", json=WORKER, headers=headers)
            assert resp.status == 401
        assert len(view.registry) == 0
        ok = {"Authorization": "Bearer s3cret"}
        assert (await c.post("/api/v1/nodes/register", json=WORKER, headers=ok)).status == 200
        assert (await c.get("/api/v1/nodes", headers=ok)).status == 200
        # /health, the spec and the docs stay open.
        for path in ("/health", "/openapi.json", "/docs"):
            assert (await c.get(path)).status == 200, path
        spec = await (await c.get("/openapi.json")).json()
        assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    finally:
        await c.close()


async def test_cors(view: MemoryClusterView, clock: FakeClock) -> None:
    c = await _client(view, clock, cors_origins=("https://ui.example",))
    try:
        evil, good = {"Origin": "https://evil.example"}, {"Origin": "https://ui.example"}
        # Any origin may read.
        resp = await c.get("/api/v1/nodes", headers=evil)
        assert resp.status == 200 and resp.headers["Access-Control-Allow-Origin"] == "*"
        pre = await c.options("/api/v1/nodes", headers={**evil, "Access-Control-Request-Method": "GET"})
        assert pre.status == 204 and pre.headers["Access-Control-Allow-Origin"] == "*"
        # Writes from an unlisted origin are refused before they run (a simple POST
        # needs no preflight, so CORS headers alone would not stop it).
        pre = await c.options("/api/v1/nodes/register",
                              headers={**evil, "Access-Control-Request-Method": "POST"})
        assert pre.status == 403 and "Access-Control-Allow-Origin" not in pre.headers
        resp = await c.post("/api/v1/nodes/register", json=WORKER, headers=evil)
        body = await resp.json()
        assert resp.status == 403 and "Origin" in body["error"]
        assert "Access-Control-Allow-Origin" not in resp.headers
        assert len(view.registry) == 0
        # Listed origins may write.
        pre = await c.options("/api/v1/nodes/register",
                              headers={**good, "Access-Control-Request-Method": "POST",
                                       "Access-Control-Request-Headers": "content-type"})
        assert pre.status == 204 and pre.headers["Access-Control-Allow-Origin"] == "https://ui.example"
        assert "POST" in pre.headers["Access-Control-Allow-Methods"]
        resp = await c.post("/api/v1/nodes/register", json=WORKER, headers=good)
        assert resp.status == 200 and resp.headers["Access-Control-Allow-Origin"] == "https://ui.example"
        # No Origin header (curl, scripts, the HeartbeatClient): not a browser, allowed.
        assert (await c.post("/api/v1/nodes/register", json=WORKER)).status == 200
        # Same origin as the server itself: allowed.
        own = {"Origin": f"http://127.0.0.1:{c.port}"}
        assert (await c.post("/api/v1/nodes/register", json=WORKER, headers=own)).status == 200
        # DNS rebinding: a hostile name re-pointed to 127.0.0.1 sends matching Origin and
        # Host headers; a name is never taken as "same origin".
        rebound = {"Origin": f"http://evil.example:{c.port}", "Host": f"evil.example:{c.port}"}
        resp = await c.post("/api/v1/nodes/register", json=WORKER, headers=rebound)
        assert resp.status == 403
    finally:
        await c.close()


async def test_docs_are_offline(client: TestClient) -> None:
    html = await (await client.get("/docs")).text()
    assert "/docs/assets/swagger-ui-bundle.js" in html and "http" not in html.split("<body>")[1]
    js = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert js.status == 200 and len(await js.read()) > 100_000
    assert (await client.get("/docs/assets/swagger-ui.css")).status == 200
    redoc = await client.get("/redoc")
    assert redoc.status == 200
    if "redoc.standalone.js" in await redoc.text():  # after `python -m api.redoc_assets`
        assert (await client.get("/redoc/assets/redoc.standalone.js")).status == 200


async def test_list_body_matches_the_model_serialisation(client: TestClient, view: MemoryClusterView) -> None:
    from api.models import NodeListOut
    for i in range(3):
        await register(client, hostname=f"h{i}", node_id=f"n{i}")
    for _ in range(2):  # second read comes from the JSON cache
        raw = await (await client.get("/api/v1/nodes")).read()
        expected = NodeListOut(count=3, nodes=sorted(await view.list_nodes(), key=lambda n: n.node_id))
        assert raw.decode() == expected.model_dump_json()
    await client.post("/api/v1/nodes/n1/heartbeat", json={"cpu_usage": 99})
    body = await (await client.get("/api/v1/nodes")).json()
    assert [n["cpu_usage"] for n in body["nodes"]] == [0.0, 99.0, 0.0]


async def test_non_utf8_body_is_400(client: TestClient) -> None:
    resp = await client.post("/api/v1/nodes/register", data=b"\xff\xfe{}",
                             headers={"Content-Type": "application/json"})
    assert resp.status == 400 and (await resp.json())["details"][0]["field"] == "body"
