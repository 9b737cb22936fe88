"""Headless Debian chromium for the page benchmarks and browser tests, through Playwright
(no browser download: ``/usr/bin/chromium``), with every request that leaves loopback
aborted and recorded.
"""

from __future__ import annotations

import os
import shutil
from typing import Any
from urllib.parse import urlsplit

__all__ = ["CHROMIUM", "launch_chromium", "loopback_only"]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
"""Debian's chromium, or None when it is not installed."""


async def launch_chromium(playwright: Any) -> Any:
    """A headless browser on ``CHROMIUM`` (``--no-sandbox`` when running as root)."""
    return await playwright.chromium.launch(
        executable_path=CHROMIUM, args=["--no-sandbox"] if os.geteuid() == 0 else [])


async def loopback_only(context: Any) -> list[str]:
    """Abort every request of ``context`` outside 127.0.0.0/8 (``data:``/``blob:`` URLs
    pass); returns the list the aborted URLs are appended to."""
    outside: list[str] = []

    async def guard(route: Any) -> None:
        url = route.request.url
        host = urlsplit(url).hostname or ""
        if url.startswith(("data:", "blob:")) or host.startswith("127."):
            await route.continue_()
        else:
            outside.append(url)
            await route.abort()

    await context.route("**/*", guard)
    return outside
