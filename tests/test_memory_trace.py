"""``node.memory_trace``: the opt-in heap-growth report (CLAW_TRACEMALLOC)."""

from __future__ import annotations

import logging
import re
import tracemalloc

import pytest

from node.memory_trace import MAX_FRAMES, MemoryTrace, from_environment


def test_off_unless_the_variable_is_set() -> None:
    assert from_environment({}) is None
    assert from_environment({"CLAW_TRACEMALLOC": "0"}) is None
    assert from_environment({"CLAW_TRACEMALLOC": ""}) is None


def test_frames_come_from_the_variable_and_are_bounded() -> None:
    assert from_environment({"CLAW_TRACEMALLOC": "yes"}).frames == 1  # type: ignore[union-attr]
    assert from_environment({"CLAW_TRACEMALLOC": "5"}).frames == 5  # type: ignore[union-attr]
    assert from_environment({"CLAW_TRACEMALLOC": "9999"}).frames == MAX_FRAMES  # type: ignore[union-attr]


def _grew_kib(line: str) -> float:
    m = re.match(r"memory growth ([+-][0-9.]+) KiB", line)
    return float(m.group(1)) if m else 0.0


@pytest.fixture
def untraced() -> None:
    was = tracemalloc.is_tracing()
    yield
    if not was:
        tracemalloc.stop()


def test_a_report_names_the_site_that_grew_since_the_previous_one(
        untraced: None, caplog: pytest.LogCaptureFixture) -> None:
    trace = MemoryTrace(frames=1, top=5)
    trace.start()
    kept = [bytearray(64 * 1024) for _ in range(16)]  # 1 MiB that stays alive
    with caplog.at_level(logging.WARNING, logger="node.memory_trace"):
        lines = trace.report()
    assert lines[0].startswith("memory growth: traced")
    assert any("test_memory_trace.py" in line and _grew_kib(line) >= 1024 for line in lines[1:]), lines
    assert caplog.messages == lines
    # The next report compares with this one: the same blocks are no growth any more.
    again = trace.report()
    assert not any(_grew_kib(line) >= 1024 for line in again[1:]), again
    del kept
