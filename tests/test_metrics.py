"""``GET /metrics``: the core's histograms and view digest, the API's own metrics parsed
with ``prometheus_client.parser``, the token, and the lazy import (an agent imports
``prometheus_client`` only with its REST stack)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from api import create_app
from api.memory_view import MemoryClusterView
from gossip.events import Member
from gossip.histogram import Histogram
from gossip.types import MemberState
from gossip.view_digest import view_digest

ROOT = Path(__file__).resolve().parent.parent


def test_histogram_counts_cumulatively_and_ignores_clock_hiccups() -> None:
    h = Histogram((0.01, 0.1))
    for value in (0.005, 0.01, 0.05, 3.0, -1.0, math.nan, math.inf):
        h.observe(value)
    assert h.cumulative() == [(0.01, 2), (0.1, 3), (math.inf, 4)]
    assert h.count == 4 and h.sum == pytest.approx(3.065)
    with pytest.raises(ValueError):
        Histogram((0.1, 0.01))


def _member(name: str, incarnation: int = 1, state: MemberState = MemberState.ALIVE) -> Member:
    return Member(name=name, address=("10.0.0.1", 7946), meta=b"", incarnation=incarnation,
                  state=state, state_since=0.0, vsn=b"", is_claw=True)


def test_view_digest_is_order_free_and_sees_incarnation_and_state() -> None:
    view = [_member("a"), _member("b", 3), _member("c")]
    digest = view_digest(view)
    assert 0 <= digest < 2**32
    assert view_digest(list(reversed(view))) == digest
    assert view_digest([_member("a"), _member("b", 4), _member("c")]) != digest
    assert view_digest([_member("a"), _member("b", 3, MemberState.SUSPECT), _member("c")]) != digest
    assert view_digest([_member("a"), _member("b", 3)]) != digest


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_api_metrics_parse_and_time_requests_by_route_template() -> None:
    client = TestClient(TestServer(create_app(MemoryClusterView(), run_monitor=False)))
    await client.start_server()
    try:
        assert (await client.get("/api/v1/nodes/nobody")).status == 404
        assert (await client.get("/api/v1/nodes")).status == 200
        resp = await client.get("/metrics")
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
        samples = _samples(await resp.text())
    finally:
        await client.close()
    route = (("method", "GET"), ("route", "/api/v1/nodes/{node_id}"), ("status", "404"))
    assert samples[("claw_api_request_duration_seconds_count", route)] == 1
    assert samples[("claw_coordinator_term", ())] == 1
    assert samples[("claw_api_event_streams", ())] == 0
    # Node ids never become label values.
    assert not any("nobody" in str(labels) for _, labels in samples)


async def test_metrics_need_the_token_when_one_is_set() -> None:
    app = create_app(MemoryClusterView(), run_monitor=False, api_token="s3cret")
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        assert (await client.get("/metrics")).status == 401
        ok = await client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
        assert ok.status == 200 and "claw_coordinator_term" in await ok.text()
    finally:
        await client.close()


_LAZY_PROBE = """
import sys
import node.agent, node.cli
assert "prometheus_client" not in sys.modules, "imported before the REST stack"
from node.lazy_api import import_rest_stack
import_rest_stack(False)
import urllib.request
print("prometheus_client" in sys.modules, hasattr(urllib.request, "HTTPSHandler"))
"""


@pytest.mark.slow
def test_an_agent_imports_prometheus_client_with_its_rest_stack_only() -> None:
    out = subprocess.run([sys.executable, "-c", _LAZY_PROBE], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True"]


def test_the_core_times_direct_probes_and_push_pulls_on_its_own_clock() -> None:
    from gossip.config import GossipConfig
    from tests.core_harness import Cluster

    c = Cluster(GossipConfig.local(), seed=3, latency_s=0.004)
    for i in range(3):
        c.add_node(f"n{i}")
    c.join_all()
    c.run(10.0)
    assert c.converged()
    for name in ("n0", "n1", "n2"):
        rtt = c.core(name).probe_rtt
        assert rtt.count > 0
        assert rtt.sum / rtt.count == pytest.approx(0.008)  # two one-way latencies
    joined = c.core("n1").push_pull_durations  # n1 joined n0 with a push-pull
    # the TCP handshake's round trip, the request's one-way trip and the reply's
    assert joined.count >= 1 and joined.sum / joined.count == pytest.approx(4 * 0.004)


async def test_the_agents_bus_events_reach_the_stream() -> None:
    from api.event_stream import CLUSTER_KINDS
    from api.keys import EVENTS
    from node.api_observers import _forward, stream_kind
    from node.events import ClusterEvent, EventBus, EventKind

    assert {stream_kind(ClusterEvent(k, "n", "", 0.0)) for k in EventKind} == set(CLUSTER_KINDS)
    app = create_app(MemoryClusterView(), run_monitor=False)
    bus = EventBus()
    _forward(bus, app)
    bus.publish(ClusterEvent(EventKind.MEMBER_FAILED, "n2", "10.0.0.2:7946", 5.0,
                             {"accuser": "n1"}))
    (event,) = app[EVENTS].since(f"{app[EVENTS].epoch}-0")
    assert event.kind == "member_failed" and event.node == "n2"
    assert b'"details":{"accuser":"n1"}' in event.frame and b'"time":5.0' in event.frame


async def test_the_cores_plaintext_query_drops_reach_metrics() -> None:
    """Both counters of ``gossip.query_router`` appear on ``/metrics`` with their help."""
    from types import SimpleNamespace

    from api.metrics import METRICS
    from gossip.config import GossipConfig
    from gossip.key_queries import LIST_KEYS, encode_key_request
    from gossip.serf_query import QueryParams
    from node.metrics import AgentCollector
    from tests.test_encrypted_core import FORGER, _answer, _relay_to_n0, encrypted_cluster

    # n0 drops a plaintext answer to its key query, n1 a plaintext relay of one.
    c = encrypted_cluster(config=GossipConfig.local().replace(gossip_verify_incoming=False))
    query = c.core("n0").start_query(LIST_KEYS, encode_key_request(b""), QueryParams(), c.now)
    c.inject("n0", _answer(query.ltime, query.id, "forger"), FORGER)
    c.inject("n1", _relay_to_n0(c, _answer(query.ltime, query.id, "relayed")), FORGER)
    c.run(1.0)
    scraped = ["n0"]
    app = create_app(MemoryClusterView(), run_monitor=False)
    app[METRICS].registry.register(AgentCollector(
        transport=lambda: SimpleNamespace(core=c.core(scraped[0]), running=True, stats={}),
        members=list, events_published=lambda: 0))
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        n0_text = await (await client.get("/metrics")).text()
        scraped[0] = "n1"
        n1_text = await (await client.get("/metrics")).text()
    finally:
        await client.close()
    answers, relays = ("claw_query_plaintext_answers_dropped_total",
                       "claw_query_plaintext_relays_dropped_total")
    assert f"# HELP {answers} Answers to this node's key queries dropped" in n0_text
    assert f"# HELP {relays} Query relays dropped" in n0_text
    n0, n1 = _samples(n0_text), _samples(n1_text)
    assert (n0[(answers, ())], n0[(relays, ())]) == (1, 0)
    assert (n1[(answers, ())], n1[(relays, ())]) == (0, 1)
