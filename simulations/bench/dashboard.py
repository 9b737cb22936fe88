"""Dashboard benchmark with 500 members (a script, not a test): headless chromium (Debian's
``chromium``, driven by Playwright) against the API over an in-memory view.

Prints, per round, the page's first render (from navigation start to all rows drawn, as
``performance.now()`` in the page measures it) and how long a burst of 100 node updates
took to be applied (from the first update of the burst reaching the page to the end of
the animation frame that applied the last one). Targets: first render <= 1 s, burst
<= 250 ms.

    python -m simulations.bench.dashboard [--members 500] [--burst 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys

from ..realproc.browser import CHROMIUM, launch_chromium, open_page

FIRST_RENDER_TARGET_MS = 1000.0
BURST_TARGET_MS = 250.0
_SKILLS = ("python", "cuda", "rust", "ffmpeg", "playwright", "llm", "sql", "docker")


async def _cluster(members: int):  # type: ignore[no-untyped-def]
    from api import ApiServer, create_app
    from api.memory_view import MemoryClusterView
    from api.models import HeartbeatIn, RegisterIn

    view = MemoryClusterView(node_id="bench-coordinator", max_nodes=members + 10)
    rng = random.Random(7)
    for i in range(members):
        await view.register(RegisterIn(
            hostname=f"host-{i:03d}", platform="linux", arch="x64", node_id=f"node-{i:03d}",
            available_skills=rng.sample(_SKILLS, 3), tags=[f"rack-{i % 12}"],
            ip_address=f"10.0.{i // 250}.{i % 250 + 1}", max_concurrent_tasks=8))
        await view.heartbeat(f"node-{i:03d}", HeartbeatIn(
            cpu_usage=rng.uniform(0, 100), memory_usage=rng.uniform(0, 100),
            disk_usage=rng.uniform(0, 100), running_tasks=rng.randrange(9)))
    server = ApiServer(create_app(view, run_monitor=False), port=0)
    await server.start()
    return view, server


async def _round(browser, url: str, view, burst: int, members: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    from api.models import HeartbeatIn

    watched = await open_page(browser)
    page, outside, errors = watched.page, watched.outside, watched.errors
    await page.goto(url)
    await page.wait_for_function(
        f"window.__dash && __dash.stats.firstRenderMs !== null && __dash.rows.size === {members}",
        timeout=60_000)
    first = await page.evaluate("__dash.stats.firstRenderMs")
    build = await page.evaluate("__dash.stats.lastSnapshotMs")
    print(f"  (of which drawing the snapshot's rows: {build:.0f} ms)", flush=True)
    before = await page.evaluate("__dash.stats.applied")
    await page.evaluate("__dash.stats.maxApplyMs = 0")
    rng = random.Random()
    for i in rng.sample(range(members), burst):  # one poll of the view picks them all up
        await view.heartbeat(f"node-{i:03d}", HeartbeatIn(cpu_usage=rng.uniform(0, 100)))
    await page.wait_for_function(f"__dash.stats.applied >= {before + burst}", timeout=60_000)
    applied = await page.evaluate("__dash.stats.maxApplyMs")
    await page.context.close()
    if outside or errors:
        raise SystemExit(f"requests outside the cluster {outside} / console errors {errors}")
    return float(first), float(applied)


async def main(members: int, burst: int, rounds: int) -> int:
    from playwright.async_api import async_playwright

    if CHROMIUM is None:
        print("chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 2
    view, server = await _cluster(members)
    firsts, bursts = [], []
    try:
        async with async_playwright() as p:
            browser = await launch_chromium(p)
            for n in range(rounds):
                first, applied = await _round(browser, f"{server.url}/", view, burst, members)
                firsts.append(first)
                bursts.append(applied)
                print(f"round {n + 1}: first render {first:.0f} ms, burst of {burst} "
                      f"updates applied in {applied:.1f} ms", flush=True)
            await browser.close()
    finally:
        await server.stop()
    print(f"{members} members: first render median {statistics.median(firsts):.0f} ms, "
          f"max {max(firsts):.0f} ms (target <= {FIRST_RENDER_TARGET_MS:.0f}); burst of "
          f"{burst} median {statistics.median(bursts):.1f} ms, max {max(bursts):.1f} ms "
          f"(target <= {BURST_TARGET_MS:.0f})")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=500, help="nodes in the view (count)")
    parser.add_argument("--burst", type=int, default=100, help="updates in the burst (count)")
    parser.add_argument("--rounds", type=int, default=3, help="page loads measured (count)")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.members, args.burst, args.rounds)))
