"""How the agent's log lines look: ``--log-format text`` (the default, for a terminal
and the journal) or ``json`` (one JSON object per line, for log shippers and tools).

A JSON line holds ``time`` (UTC, ISO 8601 with milliseconds), ``level``, ``logger``,
``message``, every field passed as ``extra={...}`` to the logging call (so an event line
can carry ``node``, ``address`` … as fields, not only in its text), and ``exception``
when the record has a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Literal, TextIO

__all__ = ["LOG_FORMATS", "JsonFormatter", "LogFormat", "configure_logging"]

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
"""The ``text`` line: local time, level, logger, message."""

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside values are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                    + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in line:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        # default=str: an extra field that JSON cannot hold (a Path, an enum) still logs.
        return json.dumps(line, default=str, ensure_ascii=False)


_HANDLER_MARK = "_claw_node_handler"


def configure_logging(level: str, log_format: LogFormat = "text",
                      stream: TextIO | None = None) -> logging.Handler:
    """Send every log record at ``level`` or above to ``stream`` in ``log_format``.

    Calling it again (a reload that changes the level or format) replaces the handler it
    installed before; handlers installed by others are left alone.

    Args:
        level: ``DEBUG``, ``INFO``, ``WARNING`` or ``ERROR``.
        log_format: ``text`` or ``json``.
        stream: where lines go (default: ``sys.stderr``, read at call time).
    Returns:
        The installed handler (on the root logger).
    Raises:
        ValueError: an unknown ``log_format`` or ``level``.
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be 'text' or 'json', got {log_format!r}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
        old.close()
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(JsonFormatter() if log_format == "json"
                         else logging.Formatter(TEXT_FORMAT))
    root.setLevel(level)
    root.addHandler(handler)
    return handler
