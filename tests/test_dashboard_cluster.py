"""The dashboard and ``/metrics`` against a real three-node cluster.

Three ``claw-node`` processes on loopback with distinct ports (not the netns lab: the
browser would have to run inside one host's namespace to reach its page, and the lab's
hosts are reachable only from their own namespaces and the bridge). Headless chromium
(Playwright, Debian's ``chromium``) opens node 0's page with every request outside
127.0.0.0/8 aborted and recorded; a console error fails the test.

* The page lists the three nodes; ``/metrics`` parses with ``prometheus_client.parser``
  on every node and ``claw_view_digest`` is equal on all of them once converged.
* A node killed with SIGKILL turns offline on the page without a reload (waited for up
  to the detection time and more), and the survivors' counters moved (suspicions, probe
  failures, a dead member).
* A new node appears on the page. A screenshot is saved (``CLAW_TEST_ARTIFACTS``, default
  ``$TMPDIR/claw-test-artifacts``).
* The page's own node is killed: the page says so, lists another node's dashboard and
  follows that node's stream (the browser logs its failed connections as console errors
  here, the only ones allowed).
"""

from __future__ import annotations

import os
import tempfile
import urllib.request
from pathlib import Path

import pytest

from simulations.realproc.browser import CHROMIUM, launch_chromium, open_page
from simulations.realproc.agents import ClawKind, Cluster
from tests.conftest import eventually

playwright_api = pytest.importorskip("playwright.async_api")
parser = pytest.importorskip("prometheus_client.parser")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300),
              pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")]

ARTIFACTS = Path(os.environ.get("CLAW_TEST_ARTIFACTS",
                                os.path.join(tempfile.gettempdir(), "claw-test-artifacts")))
DETECTION_WAIT_MS = 60_000
"""Longest wait for the page to show a killed node offline (the local profile detects a
failure in a few seconds; this is generous so a slow machine fails only on a hang)."""


def _url(agent) -> str:  # type: ignore[no-untyped-def]
    return f"http://127.0.0.1:{agent.api_port}"


def _scrape(agent) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """``name{labels}`` → value for every sample of the node's ``/metrics``."""
    with urllib.request.urlopen(f"{_url(agent)}/metrics", timeout=30) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for family in parser.text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


@pytest.fixture
def cluster():
    kind = ClawKind()
    reason = kind.available()
    if reason:
        pytest.skip(reason)
    with Cluster(kind, None, "local") as c:
        seed = c.start(0, None)
        assert c.wait_ready(seed, 60), c.tail(seed.name)
        for i in (1, 2):
            agent = c.start(i, seed)
            assert c.wait_ready(agent, 60), c.tail(agent.name)
        yield c


async def test_dashboard_and_metrics_on_a_live_cluster(cluster) -> None:
    c0, c1, c2 = (cluster.agents[f"c{i}"] for i in range(3))

    def digests() -> set[float] | None:
        values = {_scrape(a)["claw_view_digest"] for a in (c0, c1, c2)}
        members = [_scrape(a)['claw_members{state="alive"}'] for a in (c0, c1, c2)]
        return values if len(values) == 1 and members == [3, 3, 3] else None

    eventually(digests, 60.0, 0.25, what="the nodes' view digests agree")
    before = _scrape(c0)
    assert before['claw_members{state="dead"}'] == 0
    assert before["claw_probes_total"] > 0 and before["claw_acks_total"] > 0
    assert before["claw_probe_rtt_seconds_count"] > 0
    assert _scrape(c1)["claw_push_pull_duration_seconds_count"] > 0  # its join

    async with playwright_api.async_playwright() as p:
        browser = await launch_chromium(p)
        watched = await open_page(browser, viewport={"width": 1600, "height": 600})
        page, outside, errors = watched.page, watched.outside, watched.errors
        await page.goto(f"{_url(c0)}/")
        await page.wait_for_function(
            "['c0','c1','c2'].every(id => document.querySelector(`tr[data-node=${id}].s-online`))",
            timeout=60_000)
        assert await page.inner_text("#sum-online") == "3"
        # c0 probes c1 within seconds: the page shows its estimated round trip.
        await page.wait_for_function(
            "document.querySelector('tr[data-node=c1] .rtt').textContent.endsWith(' ms')",
            timeout=60_000)

        cluster.kill9(c2)
        await page.wait_for_function(
            "document.querySelector('tr[data-node=c2]').classList.contains('s-offline')",
            timeout=DETECTION_WAIT_MS)
        assert await page.inner_text("#sum-offline") == "1"
        assert await page.evaluate("performance.getEntriesByType('navigation').length") == 1

        eventually(lambda: _scrape(c0)['claw_members{state="dead"}'] == 1, 60.0, 0.25,
                   what="c0 counts c2 dead")
        after = _scrape(c0)
        assert after["claw_suspicions_raised_total"] > before["claw_suspicions_raised_total"]
        assert after["claw_members_failed_total"] > before["claw_members_failed_total"]
        assert after["claw_probes_total"] > before["claw_probes_total"]

        c3 = cluster.start(3, c0)
        assert cluster.wait_ready(c3, 60), cluster.tail("c3")
        await page.wait_for_selector("tr[data-node=c3].s-online", timeout=60_000)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "dashboard-three-nodes.png"
        await page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 0
        assert outside == [] and errors == [], (outside, errors)

        # The page's own node dies: it says so, lists the others, follows one of them.
        cluster.kill9(c0)
        await page.wait_for_selector("#down:not([hidden])", timeout=60_000)
        await page.wait_for_function(
            "document.querySelector('#connection').textContent.startsWith('live via')",
            timeout=60_000)
        links = await page.eval_on_selector_all("#down-links a", "as => as.map(a => a.href)")
        assert links and all(u.startswith("http://127.0.0.1:") for u in links)
        assert outside == [], outside
        assert all("Failed to load resource" in e or "ERR_CONNECTION" in e for e in errors), errors
        await browser.close()
