"""Serf-style event handler scripts: filters, environment, stdin, bounds (real /bin/sh
processes; each run takes milliseconds)."""

from __future__ import annotations

import asyncio

import pytest

from node.event_handlers import (
    HandlerEvent,
    HandlerRunner,
    member_line,
    parse_handler,
    payload_stdin,
)

pytestmark = pytest.mark.timeout(60)


def test_filters_parse_as_serfs() -> None:
    assert [(h.event, h.name) for h in parse_handler("x.sh")] == [("*", "")]
    specs = parse_handler("member-join,user:deploy,query=handle.sh")
    assert [(h.event, h.name, h.script) for h in specs] == [
        ("member-join", "", "handle.sh"), ("user", "deploy", "handle.sh"), ("query", "", "handle.sh")]
    deploy = specs[1]
    assert deploy.matches(HandlerEvent("user", "deploy"))
    assert not deploy.matches(HandlerEvent("user", "other"))
    assert not deploy.matches(HandlerEvent("query", "deploy"))
    assert specs[2].matches(HandlerEvent("query", "anything"))
    with pytest.raises(ValueError, match="unknown event 'member-jion'"):
        parse_handler("member-jion=x.sh")
    with pytest.raises(ValueError, match="no script"):
        parse_handler("user=")


def test_stdin_lines_are_serfs() -> None:
    assert payload_stdin(b"v1") == b"v1\n" and payload_stdin(b"v1\n") == b"v1\n"
    assert payload_stdin(b"") == b""
    assert member_line("n\t1", "10.0.0.2", {"role": "gpu", "dc": "home"}) == \
        b"n\\t1\t10.0.0.2\tgpu\trole=gpu,dc=home\n"
    # A binary tag (claw's ``id``: 16 raw bytes, decoded with surrogate escapes) must not
    # break the line (it raised UnicodeEncodeError on every member event).
    binary = bytes(range(250, 256)).decode("utf-8", "surrogateescape")
    line = member_line("n1", "10.0.0.2", {"id": binary})
    assert line == b"n1\t10.0.0.2\t\tid=" + bytes(range(250, 256)) + b"\n"
    assert member_line("n1", "h", {"x": "\ud800"}) == b"n1\th\t\tx=\\ud800\n"


async def test_a_user_event_script_sees_serfs_environment_and_payload() -> None:
    runner = HandlerRunner.from_specs(
        [('user:deploy=echo "$SERF_EVENT|$SERF_USER_EVENT|$SERF_USER_LTIME|$SERF_SELF_NAME|'
          '$SERF_SELF_ROLE|$SERF_TAG_RACK_ID|$(cat)"')], "n1", {"role": "gpu", "rack-id": "r7"})
    out = await runner.run_all(HandlerEvent("user", "deploy", 42, payload_stdin(b"v1.2")))
    assert out == [b"user|deploy|42|n1|gpu|r7|v1.2\n"]
    assert await runner.run_all(HandlerEvent("user", "other", 43)) == []  # filtered out


async def test_a_query_script_sees_the_query_variables() -> None:
    runner = HandlerRunner.from_specs(['query:uptime=printf "%s %s" "$SERF_QUERY_NAME" "$SERF_QUERY_LTIME"'],
                                      "n1", {})
    assert await runner.run_all(HandlerEvent("query", "uptime", 9)) == [b"uptime 9"]


async def test_failures_timeouts_and_floods_are_bounded_and_counted() -> None:
    runner = HandlerRunner.from_specs(["exit 3"], "n1", {})
    assert await runner.run_all(HandlerEvent("user", "x")) == []
    assert runner.stats.failed == 1
    slow = HandlerRunner.from_specs(["sleep 30"], "n1", {})
    slow.timeout_s = 0.3
    assert await slow.run_all(HandlerEvent("user", "x")) == []
    assert slow.stats.timed_out == 1
    chatty = HandlerRunner.from_specs(["head -c 100000 /dev/zero"], "n1", {})
    (out,) = await chatty.run_all(HandlerEvent("user", "x"))
    assert len(out) == 8192 and chatty.stats.truncated == 1


async def test_runs_beyond_the_pending_bound_are_dropped() -> None:
    runner = HandlerRunner.from_specs(["cat >/dev/null"], "n1", {})
    runner.max_concurrent, runner.max_pending = 1, 2
    results = await asyncio.gather(*(runner.run("cat >/dev/null", HandlerEvent("user", "x"))
                                     for _ in range(5)))
    assert results.count(None) == 3 and runner.stats.dropped == 3 and runner.stats.runs == 2
