"""``claw-node members`` against a real API server on loopback: filters, failed and left
told apart, addresses with ports, ``--format json``, ``--watch`` in a pty; ``--api``
forms; one-line errors."""

from __future__ import annotations

import asyncio
import io
import json
import os
import pty
import select
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from api import ApiServer, create_app
from api.memory_view import MemoryClusterView
from api.models import NodeInfo, NodeStatus, RegisterIn
from node.cli import main
from node.members import watch

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parent.parent


def gossip(node_id: str, port: int, state: str, **extra: Any) -> NodeInfo:
    offline = state in ("dead", "left")
    return NodeInfo(node_id=node_id, hostname="box", platform="linux", arch="x64",
                    status=NodeStatus.OFFLINE if offline else NodeStatus.ONLINE,
                    source="gossip", gossip_state=state,  # type: ignore[arg-type]
                    member_state="failed" if state == "dead" else state,  # type: ignore[arg-type]
                    ip_address="127.0.0.1", gossip_address=f"127.0.0.1:{port}",
                    api_url=f"http://127.0.0.1:{port + 1000}", incarnation=1,
                    registered_at=datetime.now(UTC), **extra)


class ClusterOnOneHost(MemoryClusterView):
    """Three gossip members on one host (one failed, one left) next to HTTP workers."""

    def __init__(self) -> None:
        super().__init__(node_id="n1")
        self.members = [
            gossip("n1", 7946, "alive", tags=["role=web"], available_skills=["python"],
                   is_coordinator=True),
            gossip("n2", 7947, "dead", tags=["role=db"]),
            gossip("n3", 7948, "left", tags=["role=web"]),
        ]

    async def list_nodes(self) -> list[NodeInfo]:
        return [*self.members, *await super().list_nodes()]


@pytest.fixture
async def api():
    view = ClusterOnOneHost()
    await view.register(RegisterIn(hostname="w", platform="linux", arch="x64", port=9001,
                                   ip_address="10.0.0.21",
                                   available_skills=["gpu", "python"], node_id="w1",
                                   tags=["role=web"]))
    server = ApiServer(create_app(view, run_monitor=False), port=0)
    await server.start()
    yield view, server
    await server.stop()


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def ids(table: str) -> list[str]:
    return [line.split()[0] for line in table.splitlines()[1:-1]]


async def test_table_tells_failed_from_left_and_shows_ports(api, capsys) -> None:
    _, server = api
    code, out, _ = await cli(capsys, "members", "--api", server.url)
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:-1]}
    assert rows["n1"][1:4] == ["*", "127.0.0.1:7946", "alive"]
    assert rows["n2"][1:4] == ["127.0.0.1:7947", "failed", "offline"]
    assert rows["n3"][1:4] == ["127.0.0.1:7948", "left", "offline"]
    assert rows["w1"][1:4] == ["10.0.0.21:9001", "(http)", "alive"]
    assert "role=db" in rows["n2"]


@pytest.mark.parametrize(("flags", "expected"), [
    (["--status", "failed"], ["n2"]),
    (["--status", "left,failed"], ["n2", "n3"]),
    (["--status", "alive"], ["n1", "w1"]),
    (["--status", "offline"], ["n2", "n3"]),
    (["--tag", "role=web"], ["n1", "n3", "w1"]),
    (["--tag", "role=web", "--status", "alive"], ["n1", "w1"]),
    (["--skill", "python", "--skill", "gpu"], ["w1"]),
    (["--tag", "role=nothing"], []),
])
async def test_filters(api, capsys, flags: list[str], expected: list[str]) -> None:
    _, server = api
    code, out, _ = await cli(capsys, "members", "--api", server.url, *flags)
    assert code == 0 and ids(out) == expected


async def test_http_workers_that_stopped_or_said_goodbye_are_failed_or_left(api, capsys) -> None:
    view, server = api
    for node_id in ("gone", "bye"):
        await view.register(RegisterIn(hostname=node_id, platform="linux", arch="x64",
                                       available_skills=["go"], node_id=node_id))
    await view.shutdown("bye")  # a shutdown notice: left
    rec = view.registry.get("gone")
    view.registry.check(rec.last_heartbeat + view.registry.heartbeat_timeout_s + 1)  # failed
    code, out, _ = await cli(capsys, "members", "--api", server.url, "--status", "failed,left")
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:-1]}
    assert code == 0 and set(rows) == {"n2", "n3", "gone", "bye", "w1"}  # w1 went silent too
    assert rows["gone"][3:5] == ["failed", "offline"] and rows["bye"][3:5] == ["left", "offline"]


async def test_json_detailed_and_an_api_without_scheme(api, capsys) -> None:
    _, server = api
    host_port = server.url.removeprefix("http://")
    code, out, _ = await cli(capsys, "members", "--api", host_port, "--format", "json",
                             "--status", "left")
    assert code == 0 and [n["node_id"] for n in json.loads(out)] == ["n3"]
    code, out, _ = await cli(capsys, "members", "--api", host_port, "--detailed")
    header = out.splitlines()[0].split()
    assert header[-6:] == ["PLATFORM", "API", "TAILSCALE", "INC", "LAST", "HEARTBEAT"]
    assert "http://127.0.0.1:8946" in out and "linux/x64" in out


@pytest.mark.parametrize("value", ["notaurl", "ftp://x:1", "http://", "127.0.0.1:99999",
                                   "http://h:1/?q=1"])
async def test_bad_api_values_are_one_line(capsys, value: str) -> None:
    with pytest.raises(SystemExit) as exc:
        await cli(capsys, "members", "--api", value)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "--api" in err
    assert "Traceback" not in err


async def test_an_answer_of_the_wrong_shape_is_one_line(capsys) -> None:
    async def odd(request: web.Request) -> web.Response:
        return web.json_response([1, 2, 3])

    app = web.Application()
    app.router.add_get("/{tail:.*}", odd)
    server = ApiServer(app, port=0)
    await server.start()
    try:
        code, _, err = await cli(capsys, "info", "--api", server.url)
    finally:
        await server.stop()
    assert code == 1 and err.count("\n") == 1 and err.startswith("claw-node: error: info:")


def test_watch_redraws_only_on_change() -> None:
    texts = iter(["a", "a", "b", "b", "b", "a"])
    out = io.StringIO()
    assert watch(lambda: next(texts), 0.5, out=out, sleep=lambda s: None, rounds=6) == 0
    frames = out.getvalue().split("\x1b[H\x1b[2J")[1:]
    assert [f.splitlines()[0] for f in frames] == ["a", "b", "a"]


def _read_until(fd: int, needle: bytes, seen: bytearray, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while needle not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"{needle!r} never shown; got {bytes(seen[-1500:])!r}"
        ready, _, _ = select.select([fd], [], [], min(left, 0.5))
        if ready:
            seen += os.read(fd, 65536)


@pytest.mark.slow
async def test_watch_in_a_terminal_redraws_on_change_until_ctrl_c(api) -> None:
    view, server = api
    argv = [sys.executable, "-m", "node.cli", "members", "--watch", "--interval", "0.1",
            "--api", server.url]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its controlling terminal
        os.chdir(ROOT)
        os.execve(sys.executable, argv, env)
    try:
        seen = bytearray()
        await asyncio.to_thread(_read_until, fd, b"Ctrl-C to stop", seen)
        assert b"w1" in seen and b"w2" not in seen
        await view.register(RegisterIn(hostname="w", platform="linux", arch="x64",
                                       available_skills=["go"], node_id="w2"))
        after = bytearray()
        await asyncio.to_thread(_read_until, fd, b"w2", after)
        assert b"\x1b[H\x1b[2J" in after  # a redraw, not a scroll
        os.write(fd, b"\x03")  # Ctrl-C, through the terminal
        _, status = await asyncio.wait_for(asyncio.to_thread(os.waitpid, pid, 0), 30)
        pid = 0
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            await asyncio.to_thread(os.waitpid, pid, 0)
        os.close(fd)


async def test_top_prints_the_summary_above_the_members_table(api, capsys) -> None:
    _, server = api
    code, out, _ = await cli(capsys, "top", "--once", "--api", server.url)
    assert code == 0
    summary, table = out.split("\n\n", 1)
    assert summary.startswith("cluster ") and "online 2" in summary and "offline 2" in summary
    assert "coordinator n1 (term 1)" in summary
    assert ids(table.rstrip("\n")) == ["n1", "n2", "n3", "w1"]
    code, out, _ = await cli(capsys, "top", "--once", "--skill", "gpu", "--api", server.url)
    assert ids(out.split("\n\n", 1)[1].rstrip("\n")) == ["w1"]
