"""``node.logs``: ``--log-format text|json``."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from node.config import NodeConfig, NodeConfigError
from node.logs import JsonFormatter, configure_logging


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def test_json_line_has_the_fields_and_the_extras(restore_root: None) -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    logging.getLogger("node.events").info("EventMemberJoin: %s %s", "n2", "10.0.0.2:7946",
                                          extra={"node": "n2", "port": 7946, "tags": ["a"]})
    logging.getLogger("node.events").debug("below the level")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line.pop("time"))
    assert line == {"level": "INFO", "logger": "node.events",
                    "message": "EventMemberJoin: n2 10.0.0.2:7946",
                    "node": "n2", "port": 7946, "tags": ["a"]}


def test_json_carries_the_traceback_and_values_json_cannot_hold() -> None:
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "failed", (), exc_info=__import__("sys").exc_info(),
            extra={"path": __import__("pathlib").Path("/tmp/a")})
    text = JsonFormatter().format(record)
    assert "\n" not in text  # one line per record
    line = json.loads(text)
    assert "RuntimeError: boom" in line["exception"] and line["path"] == "/tmp/a"


def test_text_format_and_reconfiguring_replaces_the_handler(restore_root: None) -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("INFO", "json", stream=first)
    configure_logging("DEBUG", "text", stream=second)  # a reload changing level and format
    logging.getLogger("node.agent").debug("now at debug")
    assert first.getvalue() == ""
    assert re.fullmatch(r"\S+ \S+ DEBUG node\.agent: now at debug\n", second.getvalue())


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="json"):
        configure_logging("INFO", "xml")  # type: ignore[arg-type]


def test_log_format_setting_defaults_to_text_and_is_checked(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert NodeConfig().log_format == "text"
    monkeypatch.setenv("CLAW_LOG_FORMAT", "json")
    assert NodeConfig.load({}).log_format == "json"
    with pytest.raises(NodeConfigError, match="--log-format"):
        NodeConfig.load({"log_format": "xml"})
