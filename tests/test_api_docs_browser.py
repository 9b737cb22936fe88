"""Swagger UI (/docs) and ReDoc (/redoc) render the live spec in a real headless browser
with every non-loopback request aborted (the "works offline" check). Skipped without
playwright + Debian chromium, or (ReDoc) before ``python -m api.redoc_assets`` ran."""

from __future__ import annotations

import pytest

from api import ApiServer, create_app
from api.docs import redoc_dir
from api.memory_view import MemoryClusterView
from simulations.realproc.browser import CHROMIUM, launch_chromium, open_page

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed"),
              pytest.mark.timeout(120)]


@pytest.fixture
async def page_and_server():
    server = ApiServer(create_app(MemoryClusterView(), run_monitor=False), port=0)
    await server.start()
    async with playwright_api.async_playwright() as p:
        browser = await launch_chromium(p)
        # Page errors only: ReDoc's logo from its CDN, blocked by our CSP, logs one.
        watched = await open_page(browser, console_errors=False)
        page, outside, errors = watched.page, watched.outside, watched.errors
        yield page, server, outside, errors
        await browser.close()
    await server.stop()


async def test_swagger_ui_renders_offline(page_and_server) -> None:
    page, server, outside, errors = page_and_server
    await page.goto(f"{server.url}/docs")
    await page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
    assert "claw-node API" in await page.inner_text(".swagger-ui .info .title")
    await page.wait_for_selector(".opblock", timeout=30_000)
    paths = await page.eval_on_selector_all(".opblock-summary-path", "els => els.map(e => e.textContent)")
    assert any("/api/v1/nodes/register" in p for p in paths)
    assert "Unable to render" not in await page.content()
    assert outside == [] and errors == []


@pytest.mark.skipif(redoc_dir() is None, reason="ReDoc not fetched (python -m api.redoc_assets)")
async def test_redoc_renders_offline(page_and_server) -> None:
    page, server, outside, errors = page_and_server
    await page.goto(f"{server.url}/redoc")
    await page.wait_for_selector("h1", timeout=30_000)
    assert "claw-node API" in await page.inner_text("h1")
    await page.wait_for_selector("h2:has-text('Register (or re-register) a node')", timeout=30_000)
    assert outside == [] and errors == []
