"""The dashboard page in headless chromium over an in-memory view (fast; the real
cluster is ``test_dashboard_cluster.py``): rows from the snapshot, updates applied
without a reload, filters, the summary; nothing fetched outside loopback, no console
error."""

from __future__ import annotations

import pytest

import api.sse
from api import ApiServer, create_app
from api.memory_view import MemoryClusterView
from api.models import HeartbeatIn, RegisterIn
from simulations.realproc.browser import CHROMIUM, launch_chromium, open_page

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed"),
              pytest.mark.timeout(120)]


async def test_the_page_draws_updates_and_filters_live(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api.sse, "POLL_INTERVAL_S", 0.05)
    view = MemoryClusterView(node_id="coord")
    for node_id, skills in (("w1", ["python"]), ("w2", ["gpu", "python"]), ("w3", ["gpu"])):
        await view.register(RegisterIn(hostname=node_id, platform="linux", arch="x64",
                                       available_skills=skills, node_id=node_id,
                                       tags=["rack-1"]))
    server = ApiServer(create_app(view, run_monitor=False), port=0)
    await server.start()
    try:
        async with playwright_api.async_playwright() as p:
            browser = await launch_chromium(p)
            watched = await open_page(browser)
            page = watched.page
            await page.goto(f"{server.url}/")
            await page.wait_for_selector("tr[data-node=w3].s-online", timeout=30_000)
            assert await page.inner_text("#sum-online") == "3"
            assert await page.inner_text("#sum-coordinator") == "coord"

            await view.heartbeat("w2", HeartbeatIn(cpu_usage=95.0, running_tasks=5))
            await page.wait_for_selector("tr[data-node=w2].s-busy .cpu .bar.crit",
                                         timeout=30_000)
            assert "5 / 5" in await page.inner_text("tr[data-node=w2] .tasks")
            await view.shutdown("w1")
            await page.wait_for_selector("tr[data-node=w1].s-offline", timeout=30_000)
            assert await page.inner_text("#sum-health") == "degraded"

            await page.select_option("#filter-skill", "gpu")
            visible = await page.eval_on_selector_all(
                "#rows tr:not([hidden])", "rows => rows.map(r => r.dataset.node)")
            assert visible == ["w2", "w3"]
            await page.select_option("#filter-skill", "")
            await page.select_option("#filter-status", "offline")
            visible = await page.eval_on_selector_all(
                "#rows tr:not([hidden])", "rows => rows.map(r => r.dataset.node)")
            assert visible == ["w1"]
            assert await page.evaluate(
                "performance.getEntriesByType('navigation').length") == 1
            assert watched.outside == [] and watched.errors == [], watched
            await browser.close()
    finally:
        await server.stop()
