"""The key routes (``/api/v1/keys``) over the in-memory ``KeyControl``."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from api import create_app
from api.keys import KEY_CONTROL
from api.memory_keys import MemoryKeyControl
from api.memory_view import MemoryClusterView

K1 = "HvY8ubRZMgafUOWvrOadwOckVa1wN3QWAo46FVKbVN8="
K2 = "mRvW5zGkXx2yVd8mB9cQ3nT7pL1sA4eF6hJ0kZ2uW8o="


@pytest.fixture
async def client():  # type: ignore[no-untyped-def]
    app = create_app(MemoryClusterView(), run_monitor=False, api_token="s3cret")
    app[KEY_CONTROL] = MemoryKeyControl("n1", [K1])
    async with TestClient(TestServer(app)) as c:
        yield c


AUTH = {"Authorization": "Bearer s3cret"}


async def test_rotation_through_the_routes(client: TestClient) -> None:
    listed = await (await client.get("/api/v1/keys", headers=AUTH)).json()
    assert listed["keys"] == [{"key": K1, "nodes": 1, "primary_nodes": 1}]
    assert listed["primary_key"] == K1 and listed["success"]
    for action in ("install", "use", "remove"):
        key = K1 if action == "remove" else K2
        r = await client.post(f"/api/v1/keys/{action}", json={"key": key}, headers=AUTH)
        assert r.status == 200, await r.text()
        assert (await r.json())["action"] == action
    listed = await (await client.get("/api/v1/keys", headers=AUTH)).json()
    assert listed["primary_key"] == K2 and [k["key"] for k in listed["keys"]] == [K2]


async def test_refusals_name_the_nodes(client: TestClient) -> None:
    r = await client.post("/api/v1/keys/use", json={"key": K2}, headers=AUTH)
    assert r.status == 409
    body = await r.json()
    assert "n1" in body["error"] and body["details"][0]["field"] == "body.key"
    r = await client.post("/api/v1/keys/remove", json={"key": K1}, headers=AUTH)
    assert r.status == 409 and "primary key of 1 live node(s)" in (await r.json())["error"]


@pytest.mark.parametrize("body", [{"key": "not base64!"}, {"key": "YWJj"}, {}, {"key": K1, "x": 1}])
async def test_bad_bodies_are_422_naming_the_field(client: TestClient, body: dict[str, object]) -> None:
    r = await client.post("/api/v1/keys/install", json=body, headers=AUTH)
    assert r.status == 422
    assert (await r.json())["details"][0]["field"] in ("key", "x")


async def test_token_required(client: TestClient) -> None:
    assert (await client.get("/api/v1/keys")).status == 401
    assert (await client.post("/api/v1/keys/install", json={"key": K2})).status == 401


async def test_without_key_control_503() -> None:
    async with TestClient(TestServer(create_app(MemoryClusterView(), run_monitor=False))) as c:
        r = await c.get("/api/v1/keys")
        assert r.status == 503 and "keys" in (await r.json())["error"]
