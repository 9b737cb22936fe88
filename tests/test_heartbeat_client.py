"""The seed's ``HeartbeatClient`` against a real API server on loopback."""

from __future__ import annotations


import pytest

from api import ApiServer, create_app
from api.client import (
    HeartbeatClient,
    HeartbeatClientError,
    detect_arch,
    detect_platform,
)
from api.errors import Unavailable
from api.memory_view import MemoryClusterView

from tests.conftest import eventually_async

FIGURES = {"cpu_usage": 12.5, "memory_usage": 40.0, "disk_usage": 55.0}


@pytest.fixture
async def served():
    view = MemoryClusterView()
    server = ApiServer(create_app(view, run_monitor=False, api_token="tok"), port=0)
    await server.start()
    yield view, server
    await server.stop()


@pytest.mark.slow
async def test_seed_usage_register_heartbeat_shutdown(served) -> None:
    view, server = served
    client = HeartbeatClient(coordinator_url=server.url, node_id="worker-001",
                             available_skills=["python", "fastapi"], api_token="tok",
                             heartbeat_interval_s=0.02, sampler=lambda: dict(FIGURES),
                             running_tasks=lambda: 2)
    await client.start()
    rec = view.registry.get("worker-001")
    assert rec is not None and rec.available_skills == ("python", "fastapi")
    assert (rec.platform, rec.arch) == (detect_platform(), detect_arch())
    await eventually_async(lambda: client.heartbeats_sent >= 3)
    rec = view.registry.get("worker-001")
    assert (rec.cpu_usage, rec.memory_usage, rec.disk_usage, rec.running_tasks) == (12.5, 40.0, 55.0, 2)
    await client.stop()
    assert view.registry.get("worker-001").status == "offline"


@pytest.mark.slow
async def test_assigned_id_and_psutil_figures(served) -> None:
    view, server = served
    async with HeartbeatClient(coordinator_url=server.url, available_skills=["go"],
                               api_token="tok", heartbeat_interval_s=0.02) as client:
        assert client.node_id is not None and client.node_id in view.registry
        await eventually_async(lambda: client.heartbeats_sent >= 1)
        rec = view.registry.get(client.node_id)
        assert 0 < rec.memory_usage <= 100 and 0 < rec.disk_usage <= 100


@pytest.mark.slow
async def test_reregisters_when_the_cluster_forgot_it(served) -> None:
    view, server = served
    client = HeartbeatClient(coordinator_url=server.url, node_id="w", available_skills=["x"],
                             api_token="tok", heartbeat_interval_s=0.02,
                             sampler=lambda: dict(FIGURES))
    await client.start()
    view.registry.remove("w")  # e.g. a new coordinator that never saw the record
    await eventually_async(lambda: "w" in view.registry)
    await client.stop()


async def test_registration_retries_with_backoff(served) -> None:
    view, server = served
    real = view.register
    calls = 0

    async def flaky(request):
        nonlocal calls
        calls += 1
        if calls < 3:
            raise Unavailable("coordinator: failing over")
        return await real(request)

    view.register = flaky  # type: ignore[method-assign]
    client = HeartbeatClient(coordinator_url=server.url, available_skills=["x"], api_token="tok",
                             retry_backoff_s=0.01, sampler=lambda: dict(FIGURES))
    await client.start()
    assert calls == 3 and client.failures == 2 and client.node_id in view.registry
    await client.stop()


async def test_rejections_and_exhausted_retries_raise(served) -> None:
    view, server = served
    bad = HeartbeatClient(coordinator_url=server.url, available_skills=["x"], api_token="tok",
                          platform="amiga", sampler=lambda: dict(FIGURES))
    with pytest.raises(HeartbeatClientError, match="platform"):
        await bad.start()
    unauthorised = HeartbeatClient(coordinator_url=server.url, available_skills=["x"],
                                   sampler=lambda: dict(FIGURES))
    with pytest.raises(HeartbeatClientError, match="401"):
        await unauthorised.start()
    await server.stop()  # nobody listening any more
    gone = HeartbeatClient(coordinator_url=server.url, available_skills=["x"],
                           register_attempts=2, retry_backoff_s=0.01, sampler=lambda: dict(FIGURES))
    with pytest.raises(HeartbeatClientError, match="after 2 attempts"):
        await gone.start()
    with pytest.raises(ValueError):
        HeartbeatClient(coordinator_url=server.url, available_skills=[])
