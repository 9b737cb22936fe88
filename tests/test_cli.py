"""The ``claw-node`` command line: help, one-line errors with exit 2, client commands."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from node.cli import build_parser, main
from node.members import format_members

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.slow
def test_help_lists_every_flag_and_command() -> None:
    out = run("--help")
    assert out.returncode == 0
    for flag in ("--node-id", "--bind", "--advertise", "--join", "--api-bind", "--skills",
                 "--tags", "--port", "--max-concurrent-tasks", "--data-dir", "--profile",
                 "--heartbeat-timeout", "--check-interval", "--no-coordinator",
                 "--resource-interval", "--log-level", "--config", "--api-token"):
        assert flag in out.stdout, flag
    for command in ("members", "info", "leave", "force-leave"):
        assert command in out.stdout


@pytest.mark.parametrize("args, flag", [
    (["--port", "eighty"], "--port"),
    (["--bogus"], "--bogus"),
    (["--bind", "nohost"], "--bind"),
    (["--profile", "fast"], "--profile"),
    (["--join", "h:p"], "--join"),
    (["--resource-interval", "0"], "--resource-interval"),
    (["members", "--timeout", "x"], "--timeout"),
])
def test_bad_flag_is_one_line_and_exit_2(args: list[str], flag: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        rc = main(args)
        raise SystemExit(rc)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and flag in err, err


@pytest.mark.slow
def test_bad_flag_in_a_real_process() -> None:
    out = run("--max-concurrent-tasks", "-3")
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "--max-concurrent-tasks" in out.stderr


@pytest.mark.slow
def test_corrupt_store_refuses_to_start(tmp_path: Path) -> None:
    (tmp_path / "node.db").write_bytes(b"garbage" * 100)
    out = run("--data-dir", str(tmp_path), "--bind", "127.0.0.1:0", "--api-bind", "127.0.0.1:0")
    assert out.returncode == 1
    assert "refusing to start with a new identity" in out.stderr


def test_subcommand_api_flag_is_not_an_abbreviation() -> None:
    args = build_parser().parse_args(["members", "--api", "http://x:1"])
    assert args.command == "members" and args.api == "http://x:1"


def test_members_table_is_readable() -> None:
    table = format_members([
        {"node_id": "b", "ip_address": "10.0.0.2", "status": "busy", "suspect": True,
         "cpu_usage": 91.2, "memory_usage": 40, "disk_usage": 12.5, "running_tasks": 5,
         "max_concurrent_tasks": 5, "available_skills": ["python", "gpu"], "source": "gossip"},
        {"node_id": "a", "ip_address": "10.0.0.1", "status": "online", "cpu_usage": 1.0,
         "memory_usage": 2.0, "disk_usage": 3.0, "running_tasks": 0, "max_concurrent_tasks": 5,
         "available_skills": [], "is_coordinator": True, "source": "gossip"},
    ])
    lines = table.splitlines()
    assert lines[0].split() == ["ID", "ADDRESS", "STATE", "STATUS", "CPU", "MEM", "DISK",
                                "TASKS", "SKILLS", "TAGS"]
    assert lines[1].startswith("a *") and "online" in lines[1]
    assert "suspect  busy" in lines[2] and "91%" in lines[2] and "5/5" in lines[2]
    assert "python,gpu" in lines[2]
    assert lines[-1] == "2 node(s); * = coordinator"


class _FakeAgent(BaseHTTPRequestHandler):
    posted: ClassVar[list[str]] = []
    reload_error: ClassVar[str] = ""

    def log_message(self, *args: Any) -> None:
        pass

    def _json(self, body: Any, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        node = {"node_id": "me", "status": "online", "platform": "linux", "arch": "x64",
                "ip_address": "10.0.0.9", "cpu_usage": 5.0, "memory_usage": 6.0,
                "disk_usage": 7.0, "running_tasks": 1, "max_concurrent_tasks": 5,
                "available_skills": ["py"], "is_coordinator": True, "source": "gossip"}
        if self.path == "/health":
            self._json({"node_id": "me", "is_coordinator": True, "version": "0.1.0",
                        "coordinator": {"node_id": "me", "term": 4}})
        elif self.path == "/api/v1/nodes":
            self._json({"success": True, "count": 1, "nodes": [node]})
        elif self.path == "/api/v1/nodes/me":
            self._json({"success": True, "node": node})
        elif self.path == "/api/v1/cluster/health":
            self._json({"status": "healthy", "total_nodes": 1, "counts": {"online": 1},
                        "suspect_nodes": []})
        else:
            self._json({"success": False, "error": "node_id: no node"}, 404)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        _FakeAgent.posted.append(self.path)
        if self.path == "/api/v1/nodes/me/maintenance":
            self._json({"success": True, "node": {"status": "maintenance"}})
        elif self.path == "/api/v1/agent/reload" and _FakeAgent.reload_error:
            self._json({"success": False, "error": _FakeAgent.reload_error}, 422)
        elif self.path == "/api/v1/agent/reload":
            self._json({"success": True, "node_id": "me", "message": "reloaded: --tags applied",
                        "applied": ["tags"], "restart_needed": ["bind"]})
        else:
            self._json({"success": True, "node_id": "me"}, 202)


    def do_DELETE(self) -> None:
        _FakeAgent.posted.append(f"DELETE {self.path}")
        if self.path.startswith("/api/v1/nodes/me?"):
            self._json({"success": False, "error": "node_id: 'me' is this node, which is "
                                                   "alive; stop it with `claw-node leave`"}, 409)
        else:
            self._json({"success": True, "node_id": "old box", "source": "gossip",
                        "message": "old box was failed; force-left and removed"})


@pytest.fixture
def fake_agent() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _FakeAgent)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_members_info_maintenance_against_an_api(fake_agent: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["members", "--api", fake_agent]) == 0
    out = capsys.readouterr().out
    assert "me *" in out and "10.0.0.9" in out
    assert main(["members", "--api", fake_agent, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["node_id"] == "me"
    assert main(["info", "--api", fake_agent]) == 0
    out = capsys.readouterr().out
    assert "coordinator: me (term 4) - this node" in out and "healthy" in out
    assert main(["maintenance", "on", "--api", fake_agent]) == 0
    assert "/api/v1/nodes/me/maintenance" in _FakeAgent.posted


def test_leave_posts_to_the_local_agent(fake_agent: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["leave", "--no-wait", "--api", fake_agent]) == 0
    assert "/api/v1/agent/leave" in _FakeAgent.posted
    assert "leaving" in capsys.readouterr().out


def test_force_leave_deletes_through_the_local_api(
        fake_agent: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["force-leave", "old box", "--prune", "--api", fake_agent]) == 0
    assert _FakeAgent.posted[-1] == "DELETE /api/v1/nodes/old%20box?prune=true"
    assert capsys.readouterr().out == "old box: old box was failed; force-left and removed\n"
    assert main(["force-leave", "old box", "--api", fake_agent]) == 0
    assert _FakeAgent.posted[-1].endswith("?prune=false")


def test_force_leave_of_a_live_node_is_one_line_naming_why(
        fake_agent: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["force-leave", "me", "--api", fake_agent]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "HTTP 409" in err and "claw-node leave" in err


def test_reload_says_what_changed_or_why_not(fake_agent: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reload", "--api", fake_agent]) == 0
    assert capsys.readouterr().out == ("me: reloaded: --tags applied\n"
                                       "only at a restart: bind\n")
    _FakeAgent.reload_error = "reload refused, the running settings stay: --port: bad"
    try:
        assert main(["reload", "--api", fake_agent]) == 1
    finally:
        _FakeAgent.reload_error = ""
    assert "HTTP 422: reload refused" in capsys.readouterr().err


def test_client_without_agent_fails_clearly(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--api", "http://127.0.0.1:9", "--timeout", "2"]) == 1
    assert "cannot reach the agent" in capsys.readouterr().err


_TLS_PROBE = """
import asyncio, sys
from node.agent import Agent as agent_class
from node.lazy_api import import_rest_stack
from node.config import NodeConfig
config = NodeConfig.load({"alert_webhook": sys.argv[1]} if sys.argv[1] else {})
assert "aiohttp" not in sys.modules  # imported once gossip runs, as the agent does:
import_rest_stack(config.needs_tls)
import aiohttp.connector, ssl
print(agent_class.__name__, aiohttp.connector.ssl is None, ssl.create_default_context() is not None)
"""


@pytest.mark.slow
@pytest.mark.parametrize("webhook, without_tls", [
    ("", True), ("http://127.0.0.1:9/alerts", True), ("HTTPS://hooks.example/x", False)])
def test_agent_imports_aiohttp_without_tls_unless_a_webhook_needs_it(
        webhook: str, without_tls: bool) -> None:
    # A fresh process: this one has aiohttp imported already (then nothing changes).
    out = subprocess.run([sys.executable, "-c", _TLS_PROBE, webhook], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    # The ssl module itself stays importable for everything else.
    assert out.stdout.split() == ["Agent", str(without_tls), "True"]


@pytest.mark.parametrize("command", [[], ["members"], ["info"], ["leave"],
                                     ["maintenance"], ["service"], ["service", "install"]])
def test_version_on_every_command(command: list[str],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    from node.version import installed_version

    with pytest.raises(SystemExit) as info:
        main([*command, "--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"claw-node {installed_version()}\n"


def test_version_falls_back_to_the_source_tree_when_not_installed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    import node
    from node.version import installed_version

    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert installed_version() == node.__version__


@pytest.mark.slow
def test_version_in_a_real_process() -> None:
    out = run("--version")
    assert out.returncode == 0 and out.stdout.startswith("claw-node ")


@pytest.mark.parametrize("columns", ["57", "0", "junk", None])
def test_help_width_is_what_shutil_would_say(monkeypatch: pytest.MonkeyPatch,
                                             columns: str | None) -> None:
    import shutil

    from node.cli_flags import _terminal_columns

    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert _terminal_columns() == shutil.get_terminal_size().columns
