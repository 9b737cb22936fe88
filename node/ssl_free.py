"""Importing modules as on a Python built without ``ssl``, for an agent that needs no TLS.

``import ssl`` maps libssl and libcrypto and builds its enums: ~4.5 MiB of RSS and a few
ms of CPU per agent here, paid by asyncio (which imports it at once) and by aiohttp (two
SSL contexts, each parsing the system CA bundle: ~2.5 MB and 0.08 s). Both support a
Python without ``ssl``: a module imported while it is hidden keeps ``ssl = None`` and
refuses TLS ("SSL is not supported", "stdlib ssl module not available") for the life of
the process. An agent hides it only when its settings ask for no HTTPS
(``NodeConfig.needs_tls``); plain HTTP, the API server and gossip are unaffected.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["ssl_hidden"]


@contextmanager
def ssl_hidden(hide: bool = True) -> Iterator[None]:
    """While active (and ``hide``), ``import ssl`` raises ImportError, even if ``ssl`` was
    imported before (modules imported meanwhile see none); afterwards it is as it was."""
    if not hide:
        yield
        return
    saved = sys.modules.get("ssl")
    sys.modules["ssl"] = None  # type: ignore[assignment]  # "import ssl" raises ImportError
    try:
        yield
    finally:
        if saved is None:
            del sys.modules["ssl"]
        else:
            sys.modules["ssl"] = saved
