"""API edges a new user hits first: a misspelt query parameter, ``platform=Linux``, the
body limit, ``/redoc`` before its bundle was fetched, deleting a gone worker."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from api import create_app
from api.examples import PARAMETER_EXAMPLES
from api.memory_view import MemoryClusterView
from api.models import RegisterIn
from api.routes import registry


@pytest.fixture
async def client():
    view = MemoryClusterView()
    await view.register(RegisterIn(hostname="w1", platform="linux", arch="x64",
                                   available_skills=["gpu"], node_id="w1"))
    await view.register(RegisterIn(hostname="m1", platform="macos", arch="arm64",
                                   available_skills=["python"], node_id="m1"))
    c = TestClient(TestServer(create_app(view, run_monitor=False), host="127.0.0.1"))
    await c.start_server()
    yield c
    await c.close()


async def test_an_unknown_query_parameter_is_422_naming_it(client: TestClient) -> None:
    resp = await client.get("/api/v1/nodes", params=[("skils", "gpu"), ("status", "online")])
    body = await resp.json()
    assert resp.status == 422
    assert body["error"].startswith("query: unknown parameter 'skils' (known: status, skill,")
    assert body["details"] == [{"field": "query.skils", "message": "unknown query parameter",
                                "type": "unknown_parameter"}]


async def test_every_route_with_query_parameters_rejects_unknown_ones(client: TestClient) -> None:
    with_query = [op for op in registry.operations if op.query is not None]
    assert with_query, "no route declares query parameters"
    for op in with_query:
        path = op.path.format(**{name: PARAMETER_EXAMPLES[name] for name in op.path_params})
        resp = await client.request(op.method, path, params={"skils": "gpu"})
        assert resp.status == 422, (op.method, op.path)
        assert "'skils'" in (await resp.json())["error"]


async def test_the_known_parameters_still_work(client: TestClient) -> None:
    resp = await client.get("/api/v1/nodes", params=[("skill", "gpu")])
    assert resp.status == 200 and [n["node_id"] for n in (await resp.json())["nodes"]] == ["w1"]


@pytest.mark.parametrize(("param", "value", "expected"), [
    ("platform", "Linux", ["w1"]), ("platform", "MACOS", ["m1"]),
    ("arch", "ARM64", ["m1"]), ("arch", "x64", ["w1"]),
])
async def test_platform_and_arch_filters_ignore_case(client: TestClient, param: str, value: str,
                                                     expected: list[str]) -> None:
    resp = await client.get("/api/v1/nodes", params={param: value})
    assert resp.status == 200
    assert [n["node_id"] for n in (await resp.json())["nodes"]] == expected


async def test_the_413_names_the_limit() -> None:
    c = TestClient(TestServer(create_app(MemoryClusterView(), run_monitor=False),
                              host="127.0.0.1"))
    await c.start_server()
    try:
        resp = await c.post("/api/v1/nodes/register", data=b"{" + b" " * 70_000 + b"}",
                            headers={"Content-Type": "application/json"})
        body = await resp.json()
        assert resp.status == 413
        assert body["error"] == "body: larger than the 65536 bytes (64 KiB) limit"
        spec = await (await c.get("/openapi.json")).json()
        assert "65536 bytes (64 KiB)" in spec["info"]["description"]
        op = spec["paths"]["/api/v1/nodes/register"]["post"]
        assert "65536 bytes (64 KiB)" in op["responses"]["413"]["description"]
        assert "65536 bytes (64 KiB)" in op["requestBody"]["description"]
    finally:
        await c.close()


async def test_redoc_without_its_bundle_says_how_to_fetch_it(tmp_path: Path) -> None:
    empty = tmp_path / "redoc"
    empty.mkdir()
    app = create_app(MemoryClusterView(), run_monitor=False, redoc_dir=empty)
    c = TestClient(TestServer(app, host="127.0.0.1"))
    await c.start_server()
    try:
        resp = await c.get("/redoc")
        text = await resp.text()
        assert resp.status == 200 and resp.content_type == "text/html"
        assert "python -m api.redoc_assets" in text and 'href="/openapi.json"' in text
        assert (await c.get("/redoc/assets/redoc.standalone.js")).status == 404
    finally:
        await c.close()


async def test_deleting_a_worker_removes_it(client: TestClient) -> None:
    resp = await client.delete("/api/v1/nodes/w1")
    assert resp.status == 200
    assert await resp.json() == {"success": True, "node_id": "w1", "source": "http",
                                 "member_state": None,
                                 "message": "worker w1 (online) deleted on every node"}
    assert (await client.get("/api/v1/nodes/w1")).status == 404
    assert (await client.delete("/api/v1/nodes/w1")).status == 404


async def test_a_bad_prune_value_is_422_naming_it(client: TestClient) -> None:
    resp = await client.delete("/api/v1/nodes/w1", params={"prune": "maybe"})
    assert resp.status == 422 and "prune" in (await resp.json())["error"]
    assert (await client.get("/api/v1/nodes/w1")).status == 200
