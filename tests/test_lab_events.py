"""Cluster event lines and reloads on real agents in the multi-host lab.

Four hosts with default flags, each with its own ``--config`` file. Every agent's log
must show the others joining; SIGHUP and ``claw-node reload`` change a running node's
tags and log level without anyone recording it as failed or left; an invalid
configuration is refused with its reason and changes nothing; the other nodes log a
``kill -9`` as failed, a graceful stop as left, and the coordinator change that follows.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from simulations.realproc.netns import NetnsLab
from tests.lab import CLAW_NODE, lab_eventually, nodes_of

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]


def log_of(lab: NetnsLab, i: int) -> str:
    return lab.log_path(i).read_text(errors="replace")


def logged_everywhere(lab: NetnsLab, hosts: list[int], line: str) -> bool:
    return all(line in log_of(lab, i) for i in hosts)


def write_config(lab: NetnsLab, i: int, text: str) -> Path:
    path = lab.host_dir(i) / "claw.toml"
    path.write_text(text)
    return path


def tags_seen_by(lab: NetnsLab, observer: int, subject: str) -> list[str] | None:
    return nodes_of(lab, observer).get(subject, {}).get("tags")


def test_event_lines_and_reload_on_four_hosts(make_lab):
    lab = make_lab(4)
    every = [0, 1, 2, 3]
    names = [h.hostname for h in lab.hosts]
    configs = [write_config(lab, i, 'tags = ["before"]\nlog_level = "INFO"\n') for i in every]
    lab.start_agent(0, "--config", str(configs[0]))
    lab_eventually(lambda: lab.request(0, "GET", "/health").status == 200,
                   what="host0 serves its API")
    for i in every[1:]:
        lab.start_agent(i, "--config", str(configs[i]), "--join", lab.gossip_address(0))

    # Joins: every node logs every other joining; host0 is everyone's coordinator.
    for i in every:
        for j in every:
            if i != j:
                lab_eventually(lambda i=i, j=j: logged_everywhere(
                    lab, [i], f"member join: {names[j]} {lab.hosts[j].ip}:7946"),
                    what=f"host{i} logs host{j} joining")
    lab_eventually(lambda: logged_everywhere(lab, every, f"coordinator: {names[0]} "),
                   what="every node logs host0 as coordinator")

    # SIGHUP with a changed file: new tags seen by the others, DEBUG lines from now on.
    write_config(lab, 1, 'tags = ["after-hup"]\nlog_level = "DEBUG"\n')
    lab.agent(1).send_signal(signal.SIGHUP)  # type: ignore[union-attr]
    lab_eventually(lambda: "reloaded: --tags, --log-level applied"
         in log_of(lab, 1), what="host1 logs the reload")
    lab_eventually(lambda: tags_seen_by(lab, 0, names[1]) == ["after-hup"],
                   what="host0 sees host1's new tags")
    assert "DEBUG node.reload: reload: running with log level DEBUG" in log_of(lab, 1)

    # `claw-node reload` on host2 (through its local API), then an invalid file.
    write_config(lab, 2, 'tags = ["after-cli"]\nlog_level = "INFO"\nbind = "0.0.0.0:7000"\n')
    result = lab.run(2, CLAW_NODE + ["reload"], env=lab.agent_env())
    assert result.returncode == 0, result.stderr
    assert "reloaded: --tags applied" in result.stdout
    assert "only at a restart: bind" in result.stdout
    lab_eventually(lambda: tags_seen_by(lab, 3, names[2]) == ["after-cli"],
                   what="host3 sees host2's new tags")
    write_config(lab, 2, 'tags = ["never"]\nmax_concurrent_tasks = "many"\n')
    result = lab.run(2, CLAW_NODE + ["reload"], env=lab.agent_env())
    assert result.returncode == 1
    assert "HTTP 422" in result.stderr and "max_concurrent_tasks" in result.stderr
    assert tags_seen_by(lab, 2, names[2]) == ["after-cli"]

    # Reloads kept the membership: nobody recorded host1 or host2 as failed or left.
    for subject in (1, 2):
        for verb in ("suspect", "failed", "left"):
            for i in every:
                assert f"member {verb}: {names[subject]} " not in log_of(lab, i), (i, verb)
    assert lab.agent(1).poll() is None and lab.agent(2).poll() is None  # type: ignore[union-attr]

    # kill -9 host3: the others log it failed.
    lab.kill_agent(3)
    lab_eventually(lambda: logged_everywhere(lab, [0, 1, 2], f"member failed: {names[3]} "),
                   what="hosts 0-2 log host3 failed")
    # The coordinator leaves gracefully: the others log it left, and the new coordinator.
    assert lab.stop_agent(0) == 0, lab.log_tail(0)
    lab_eventually(lambda: logged_everywhere(lab, [1, 2], f"member left: {names[0]} "),
                   what="hosts 1-2 log host0 left")
    # The successor is the survivor that started first: host1's process was spawned
    # first, but on a busy host host2's may reach its start first (started_at).
    lab_eventually(lambda: any(
        logged_everywhere(lab, [1, 2], f"coordinator: {names[k]} {lab.hosts[k].ip}:7946 (term 2")
        for k in (1, 2)), what="hosts 1-2 log the same new coordinator, host1 or host2")
    for i in (1, 2):
        assert lab.stop_agent(i) == 0, lab.log_tail(i)
