"""``node.sd_notify`` against a real AF_UNIX datagram socket, as systemd listens."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.sd_notify import (
    notify,
    notify_ready,
    notify_reloading,
    notify_status,
    notify_stopping,
)

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no AF_UNIX")


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, dict[str, str]]]:
    """A bound datagram socket (a file path, like systemd's) and the environment naming it."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.settimeout(10.0)  # generous: a hang fails the test
    path = tmp_path / "notify"
    sock.bind(str(path))
    yield sock, {"NOTIFY_SOCKET": str(path)}
    sock.close()


def fields(sock: socket.socket) -> dict[str, str]:
    return dict(line.split("=", 1) for line in sock.recv(4096).decode().split("\n"))


def test_ready_stopping_status(listener: tuple[socket.socket, dict[str, str]]) -> None:
    sock, env = listener
    assert notify_ready("serving 3 members", environ=env)
    assert fields(sock) == {"READY": "1", "STATUS": "serving 3 members"}
    assert notify_stopping(environ=env)
    assert fields(sock) == {"STOPPING": "1"}
    assert notify_status("leaving", environ=env)
    assert fields(sock) == {"STATUS": "leaving"}


def test_reloading_carries_the_monotonic_clock_in_microseconds(
        listener: tuple[socket.socket, dict[str, str]]) -> None:
    sock, env = listener
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert notify_reloading(environ=env)
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    got = fields(sock)
    assert got["RELOADING"] == "1"
    assert before <= int(got["MONOTONIC_USEC"]) <= after


def test_a_newline_in_a_value_cannot_forge_a_field(
        listener: tuple[socket.socket, dict[str, str]]) -> None:
    sock, env = listener
    assert notify({"STATUS": "ok\nREADY=1"}, environ=env)
    assert fields(sock) == {"STATUS": "ok READY=1"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract namespace is Linux's")
def test_abstract_namespace_socket() -> None:
    name = f"claw-node-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.settimeout(10.0)
        sock.bind("\0" + name)
        assert notify_ready(environ={"NOTIFY_SOCKET": "@" + name})
        assert fields(sock) == {"READY": "1"}


def test_without_notify_socket_nothing_is_sent() -> None:
    assert notify_ready(environ={}) is False
    assert notify_stopping(environ={"NOTIFY_SOCKET": ""}) is False
    assert notify_ready(environ={"NOTIFY_SOCKET": "vsock:2:1234"}) is False  # unsupported kind


def test_a_dead_socket_is_a_warning_not_a_crash(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="node.sd_notify"):
        assert notify_ready(environ={"NOTIFY_SOCKET": str(tmp_path / "gone")}) is False
    assert "NOTIFY_SOCKET" in caplog.text and "READY" in caplog.text


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP")
def test_a_real_agent_notifies_ready_reloading_and_stopping(
        listener: tuple[socket.socket, dict[str, str]], tmp_path: Path) -> None:
    sock, env = listener
    sock.settimeout(60.0)  # an agent start on a loaded CI box; a hang fails the test
    argv = [sys.executable, "-m", "node.cli", "--node-id", "notified", "--bind",
            "127.0.0.1:0", "--api-bind", "127.0.0.1:0", "--data-dir", str(tmp_path / "data"),
            "--profile", "local"]
    environ = {k: v for k, v in os.environ.items() if not k.upper().startswith("CLAW_")}
    proc = subprocess.Popen(argv, env={**environ, **env}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        ready = fields(sock)  # gossip listens and the first join attempt ended (no seeds)
        assert ready["READY"] == "1" and "member(s) alive" in ready["STATUS"]
        proc.send_signal(signal.SIGHUP)
        assert "RELOADING" in fields(sock)
        assert fields(sock) == {"READY": "1", "STATUS": "reloaded"}
        proc.send_signal(signal.SIGTERM)
        assert fields(sock) == {"STOPPING": "1"}
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        assert proc.stderr is not None
        stderr = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
    assert "reloaded: no setting changed" in stderr  # the same flags, read again
