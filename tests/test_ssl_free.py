"""An agent that needs no HTTPS imports asyncio (and later aiohttp) without ``ssl``."""

from __future__ import annotations

import importlib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from node.ssl_free import ssl_hidden

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 60.0
"""Longest wait for an agent to listen (start-up is CPU-bound on a shared host)."""


def test_ssl_is_hidden_inside_and_restored_after() -> None:
    before = sys.modules.get("ssl")
    with ssl_hidden(), pytest.raises(ImportError):
        importlib.import_module("ssl")
    assert sys.modules.get("ssl") is before
    with ssl_hidden(False):
        assert importlib.import_module("ssl") is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ssl_mapped_once_listening(extra: list[str]) -> bool:
    """Start an agent, wait until its gossip port accepts (asyncio is imported by then),
    and say whether CPython's ``_ssl`` extension is mapped into it."""
    port = _free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        proc = subprocess.Popen(
            [sys.executable, "-m", "node.cli", "--node-id", "t", "--bind", f"127.0.0.1:{port}",
             "--api-bind", f"127.0.0.1:{_free_port()}", "--data-dir", data_dir,
             "--log-level", "WARNING", *extra],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                assert proc.poll() is None, "the agent exited"
                assert time.monotonic() < deadline, "the agent never listened"
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            with open(f"/proc/{proc.pid}/maps") as f:
                return "/_ssl." in f.read()
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/maps")
@pytest.mark.parametrize("extra, mapped", [
    ([], False), (["--alert-webhook", "https://hooks.example/x"], True)])
def test_the_agent_loads_ssl_only_for_an_https_webhook(extra: list[str], mapped: bool) -> None:
    assert _ssl_mapped_once_listening(extra) is mapped
