"""Headless Debian chromium for the page benchmarks and browser tests, through Playwright
(no browser download: ``/usr/bin/chromium``), with every request that leaves loopback
aborted and recorded.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

__all__ = ["CHROMIUM", "Watched", "launch_chromium", "loopback_only", "open_page"]

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


@dataclass
class Watched:
    """A page and what it did wrong: requests aborted for leaving loopback, console
    errors and uncaught exceptions."""

    page: Any
    outside: list[str]
    errors: list[str] = field(default_factory=list)


async def open_page(browser: Any, *, console_errors: bool = True,
                    **context_options: Any) -> Watched:
    """A new page in a new loopback-only context of ``browser``, its errors recorded
    (console errors too unless ``console_errors`` is False)."""
    context = await browser.new_context(**context_options)
    outside = await loopback_only(context)
    page = await context.new_page()
    watched = Watched(page, outside)
    if console_errors:
        page.on("console",
                lambda m: watched.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: watched.errors.append(str(e)))
    return watched
