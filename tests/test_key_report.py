"""``claw-node keys`` output (node.key_report) and its exit status (node.cli, node.cli_client)."""

from __future__ import annotations

from typing import Any

import pytest

from node import cli, cli_client
from node.key_report import format_keys

K1 = "HvY8ubRZMgafUOWvrOadwOckVa1wN3QWAo46FVKbVN8="
K2 = "mRvW5zGkXx2yVd8mB9cQ3nT7pL1sA4eF6hJ0kZ2uW8o="
LISTED = {"success": False, "action": "list", "num_nodes": 3, "num_responses": 3, "num_errors": 1,
          "primary_key": K1, "keys": [{"key": K1, "nodes": 2, "primary_nodes": 2},
                                      {"key": K2, "nodes": 1, "primary_nodes": 0}],
          "lacking_primary": ["serf-1"], "missing": [],
          "messages": {"serf-1": "Keyring is empty (encryption not enabled)"}}


def test_list_output_counts_nodes_and_names_those_lacking_the_primary() -> None:
    text = format_keys(LISTED)
    assert f"{K1}  2/3    2  (this node's primary)" in text
    assert f"{K2}  1/3    0" in text
    assert "nodes lacking the primary key: serf-1" in text
    assert "serf-1: Keyring is empty" in text and "not every live node succeeded" in text


def test_cli_keys_exit_status_and_requests(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[tuple[str, str, Any]] = []

    def fake(args: Any, method: str, path: str, body: Any = None) -> Any:
        calls.append((method, path, body))
        if path == "/api/v1/keys":
            return LISTED
        return {**LISTED, "success": True, "action": "install", "messages": {}}

    monkeypatch.setattr(cli_client, "request", fake)
    assert cli.main(["keys", "list"]) == 1  # a node failed
    assert cli.main(["keys", "install", K2]) == 0
    assert "install: 3/3 nodes answered, 1 failed" in capsys.readouterr().out
    assert calls[1] == ("POST", "/api/v1/keys/install", {"key": K2})
    assert cli.main(["keys", "use"]) == 1
    assert "needs a KEY" in capsys.readouterr().err
