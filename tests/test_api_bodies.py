"""Response bodies made once and reused: the registry's list of ``NodeInfo``, the record's
plain dict, a heartbeat's ``MessageOut`` bytes, and the gzip of a large list body (also
over HTTP: gzip only when asked, identical JSON either way)."""

from __future__ import annotations

import dataclasses
import gzip
import zlib

import pytest
from aiohttp.test_utils import TestClient, TestServer

from api import create_app
from api.gzip_bodies import GZIP_MIN_BYTES, MAX_GZIPPED_BODIES, GzipBodies, accepts_gzip
from api.json_cache import NodeJsonCache
from api.memory_view import MemoryClusterView
from api.models import HeartbeatIn, MessageOut, RegisterIn
from api.registry import HttpNodeRegistry

T0 = 1_800_000_000.0


def _registered(n: int) -> HttpNodeRegistry:
    reg = HttpNodeRegistry()
    for i in range(n):
        reg.register(RegisterIn(node_id=f"n{i:04d}", hostname=f"host-{i}", platform="linux",
                                arch="x64", available_skills=["python"], tags=["gpu"]), T0)
    return reg


def test_the_registry_hands_out_one_list_until_a_record_changes() -> None:
    reg = _registered(3)
    first = reg.node_infos()
    assert reg.node_infos() is first and [n.node_id for n in first] == ["n0000", "n0001", "n0002"]
    reg.heartbeat("n0001", HeartbeatIn(cpu_usage=42), T0 + 1)
    second = reg.node_infos()
    assert second is not first and second[1].cpu_usage == 42 and second[0] is first[0]
    reg.delete("n0000", T0 + 2)
    assert [n.node_id for n in reg.node_infos()] == ["n0001", "n0002"]
    reg.remove("n0001")
    assert [n.node_id for n in reg.node_infos()] == ["n0002"]


def test_a_record_dict_is_what_asdict_gave_in_the_same_order() -> None:
    reg = _registered(1)
    reg.heartbeat("n0000", HeartbeatIn(cpu_usage=5.0, running_tasks=1), T0 + 1)
    rec = reg.get("n0000")
    assert rec is not None
    expected = dataclasses.asdict(rec)
    del expected["removed"]
    expected["available_skills"] = list(rec.available_skills)
    expected["tags"] = list(rec.tags)
    assert list(rec.to_dict().items()) == list(expected.items())
    tomb = dataclasses.replace(rec, removed=True)
    assert tomb.to_dict()["removed"] is True


def test_a_heartbeat_answer_is_the_models_json_with_the_cached_node() -> None:
    reg, cache = _registered(2), NodeJsonCache()
    node = reg.node_info("n0001")
    assert node is not None
    for message in ("heartbeat recorded for n0001", 'quotes " and \\ and ünïcode'):
        body = cache.message("n0001", message, node)
        assert body.decode() == MessageOut(node_id="n0001", message=message,
                                           node=node).model_dump_json()
    assert cache.encode(node) is cache.encode(node)  # the list reuses it


def test_accept_encoding_is_read_like_http_says() -> None:
    assert accepts_gzip("gzip, deflate")
    assert accepts_gzip("br;q=1.0, GZIP;q=0.5")
    assert accepts_gzip("*")
    assert not accepts_gzip("gzip;q=0")
    assert not accepts_gzip("gzip;q=0.000")
    assert not accepts_gzip("gzip;q=zz")  # garbage: plain body
    assert not accepts_gzip("identity")
    assert not accepts_gzip("")
    assert not accepts_gzip("x" * 8000 + ",;;,")


def test_a_body_is_compressed_once_and_only_when_long() -> None:
    bodies = GzipBodies()
    assert bodies.gzipped(b"{}") is None
    long = b'{"nodes":[' + b",".join(b'{"n":%d}' % i for i in range(2000)) + b"]}"
    assert len(long) >= GZIP_MIN_BYTES
    packed = bodies.gzipped(long)
    assert packed is not None and gzip.decompress(packed) == long
    assert bodies.gzipped(long) is packed
    for k in range(MAX_GZIPPED_BODIES + 2):  # other bodies push the oldest out
        bodies.gzipped(long + b" " * (k + 1))
    assert len(bodies) == MAX_GZIPPED_BODIES
    assert bodies.gzipped(long) is not packed and gzip.decompress(bodies.gzipped(long)) == long


@pytest.fixture
async def client():
    view = MemoryClusterView(node_id="coord-1", api_url="http://127.0.0.1:1", clock=lambda: T0)
    c = TestClient(TestServer(create_app(view, clock=lambda: T0, run_monitor=False),
                              host="127.0.0.1"))
    await c.start_server()
    for i in range(40):  # ~28 KB of JSON: over GZIP_MIN_BYTES
        r = await c.post("/api/v1/nodes/register", json={
            "hostname": f"worker-{i}", "platform": "linux", "arch": "x64",
            "available_skills": ["python"]})
        assert r.status == 200
    yield c
    await c.close()


async def _raw(client: TestClient, path: str, accept: str) -> tuple[dict[str, str], bytes]:
    async with client.get(path, headers={"Accept-Encoding": accept},
                          auto_decompress=False) as r:
        assert r.status == 200
        return dict(r.headers), await r.read()


async def test_a_large_list_is_sent_gzipped_only_to_clients_that_accept_it(
        client: TestClient) -> None:
    plain_headers, plain = await _raw(client, "/api/v1/nodes", "identity")
    assert "Content-Encoding" not in plain_headers and len(plain) >= GZIP_MIN_BYTES
    assert plain_headers["Vary"] == "Accept-Encoding"
    gz_headers, packed = await _raw(client, "/api/v1/nodes", "gzip, deflate")
    assert gz_headers["Content-Encoding"] == "gzip" and gz_headers["Vary"] == "Accept-Encoding"
    assert len(packed) < len(plain) / 5
    assert zlib.decompress(packed, 31) == plain
    r = await client.get("/api/v1/nodes")  # aiohttp's client asks for gzip and inflates
    assert (await r.json())["count"] == 40


async def test_a_short_list_is_sent_plain(client: TestClient) -> None:
    headers, body = await _raw(client, "/api/v1/nodes?skill=none-has-it", "gzip")
    assert "Content-Encoding" not in headers and b'"count":0' in body
