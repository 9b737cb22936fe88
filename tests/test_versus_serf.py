"""versus_serf: parsers on real log lines, the summary table, and a tiny real run of each kind."""

from __future__ import annotations

import argparse
import os
import random
import shutil

import pytest

from node.event_log import format_event
from node.events import ClusterEvent, EventKind
from simulations.realproc.agents import ClawKind, SerfKind, parse_claw_line
from simulations.realproc.monitor import ALIVE, FAILED, LEFT, REFUTE, SUSPECT
from simulations.versus_serf.phases import Settings, run_loopback
from simulations.versus_serf.report import render_table, summarize


def require_serf() -> None:
    if shutil.which("serf") is None:
        if os.environ.get("CI"):
            pytest.fail("serf is not installed but CI is set (apt-get install -y serf)")
        pytest.skip("serf is not installed (apt-get install -y serf)")


def _event_line(kind: EventKind, node: str, **details: object) -> str:
    """The agent's log line for an event, as the text format writes it."""
    event = ClusterEvent(kind, node, "127.0.0.1:7946", 0.0, details)
    return f"2026-11-27 18:46:52,519 INFO node.event_log: {format_event(event)}"


@pytest.mark.parametrize("line, kind, subject", [
    (_event_line(EventKind.MEMBER_JOIN, "c4", incarnation=1), ALIVE, "c4"),
    (_event_line(EventKind.MEMBER_ALIVE, "c4", incarnation=3), ALIVE, "c4"),
    (_event_line(EventKind.MEMBER_SUSPECT, "c2", accuser="c1"), SUSPECT, "c2"),
    (_event_line(EventKind.MEMBER_FAILED, "c2", accuser="c1"), FAILED, "c2"),
    (_event_line(EventKind.MEMBER_LEFT, "c5"), LEFT, "c5"),
    ("2026-11-27 18:46:52,519 INFO node.agent: node c0 started: gossip ('127.0.0.1', 1)",
     ALIVE, "c0"),
    ("2026-11-27 18:46:52,519 INFO node.agent: refuted a rumour by c1 at incarnation 7",
     REFUTE, "me"),
])
def test_claw_lines(line, kind, subject):
    [obs] = parse_claw_line("me", line, 2.0)
    assert (obs.kind, obs.subject) == (kind, subject)


def test_claw_updates_and_other_lines_are_ignored():
    assert parse_claw_line("me", _event_line(EventKind.MEMBER_ADDRESS, "c1",
                                             previous="127.0.0.2:7946"), 1.0) == []
    assert parse_claw_line("me", _event_line(EventKind.COORDINATOR, "c0", term=1), 1.0) == []


def test_summary_gives_min_median_max_and_paired_ratios():
    results = [
        {"kind": "serf", "run": 0, "figures": {"kill_all_s": 6.0, "cpu_pct": 0.2}},
        {"kind": "claw", "run": 0, "figures": {"kill_all_s": 3.0, "cpu_pct": None}},
        {"kind": "serf", "run": 1, "figures": {"kill_all_s": 8.0, "cpu_pct": 0.2}},
        {"kind": "claw", "run": 1, "figures": {"kill_all_s": 6.0, "cpu_pct": 0.3}},
        {"kind": "serf", "run": 2, "figures": {"kill_all_s": 7.0}},
        {"kind": "claw", "run": 2, "figures": {"kill_all_s": 7.0}},
    ]
    summary = summarize(results, ["serf", "claw"])
    kill = summary["kill_all_s"]
    assert kill["serf"] == {"min": 6.0, "median": 7.0, "max": 8.0, "n": 3}
    assert kill["ratio"] == {"min": 0.5, "median": 0.75, "max": 1.0, "n": 3}
    assert summary["cpu_pct"]["ratio"]["median"] == pytest.approx(1.5)  # run 1 only
    args = argparse.Namespace(nodes=10, profile="lan", runs=3, idle=60.0, loss=0.0,
                              loss_window=60.0)
    table = render_table(summary, args, "python -m simulations.versus_serf --nodes 10")
    assert "| kill -9 -> all mark failed, median (s) | 7 [6–8] | 6 [3–7] | 0.750 [0.500–1] |" in table


def _tiny(kind) -> dict:
    settings = Settings(nodes=3, profile="lan", kills=1, idle_s=2.0, verbose=False)
    return run_loopback(kind, settings, random.Random(3))


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_tiny_serf_run_measures_every_figure():
    require_serf()
    m = _tiny(SerfKind())
    assert m["notes"] == [] or all("traffic counters" in n for n in m["notes"]), m["notes"]
    for key in ("join_all_s", "newcomer_all_s", "kill_first_s", "kill_all_s", "leave_all_s",
                "cpu_pct", "rss_mib"):
        assert isinstance(m[key], float) and m[key] >= 0, (key, m)
    assert m["kill_first_s"] <= m["kill_all_s"]
    assert m["false_failures"] == 0


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_tiny_claw_run_measures_every_figure():
    kind = ClawKind()
    assert kind.available() is None, kind.available()
    m = _tiny(kind)
    for key in ("join_all_s", "newcomer_all_s", "kill_first_s", "kill_all_s", "leave_all_s",
                "cpu_pct", "rss_mib"):
        assert isinstance(m[key], float) and m[key] >= 0, (key, m)
    assert m["false_failures"] == 0


def test_a_late_suspect_line_does_not_resurrect_a_failed_member():
    from simulations.realproc.monitor import MembershipBook, Obs
    book = MembershipBook()
    book.add([Obs(1.0, "a", ALIVE, "b"), Obs(2.0, "a", FAILED, "b"), Obs(2.1, "a", SUSPECT, "b")])
    assert book.state("a", "b") == FAILED
    book.add([Obs(3.0, "a", ALIVE, "b"), Obs(4.0, "a", SUSPECT, "b")])
    assert book.state("a", "b") == SUSPECT
    assert len(book.observations) == 5
