"""Coordinator directives without sockets or sleeps: the sender's re-sends at
DIRECTIVE_RESEND_S (on a fake event loop clock) and the target's rule "only the newest
per origin and action is applied"."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from node import agent as agent_module
from node.agent import DIRECTIVE_RESEND_S, Agent
from node.app_messages import (
    APP_DIRECTIVE,
    Directive,
    decode_app,
    decode_directive,
    encode_directive,
)
from node.config import NodeConfig


class FakeLoop:
    """``call_later`` on a virtual clock; ``run_until`` fires due callbacks in time order."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, Callable[[], Any]]] = []

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], Any]) -> None:
        self._timers.append((self.now + delay, len(self._timers), callback))

    def run_until(self, t: float) -> None:
        while True:
            due = sorted(x for x in self._timers if x[0] <= t)
            if not due:
                break
            self._timers.remove(due[0])
            self.now = due[0][0]
            due[0][2]()
        self.now = t


class FakeTransport:
    """Records app broadcasts with the loop's time (and which were urgent)."""

    running = True

    def __init__(self, loop: FakeLoop) -> None:
        self.loop = loop
        self.sent: list[tuple[float, bytes, str]] = []
        self.urgent: list[bool] = []
        self.direct: list[tuple[float, str, bytes]] = []

    def broadcast_app(self, body: bytes, *, key: str, urgent: bool = False) -> None:
        self.sent.append((self.loop.now, body, key))
        self.urgent.append(urgent)

    def send_app_to(self, name: str, body: bytes) -> bool:
        self.direct.append((self.loop.now, name, body))
        return True


def make_agent(tmp_path: Path, node_id: str) -> Agent:
    config = NodeConfig.load({"node_id": node_id, "bind": "127.0.0.1:0",
                              "api_bind": "127.0.0.1:0", "data_dir": tmp_path / node_id,
                              "profile": "local"})
    agent = Agent(config)
    agent.node_id = node_id  # what start() sets
    return agent


def test_directive_is_sent_once_then_resent_at_the_planned_delays(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loop = FakeLoop()
    monkeypatch.setattr(agent_module.asyncio, "get_running_loop", lambda: loop)
    coordinator = make_agent(tmp_path, "coord")
    transport = FakeTransport(loop)
    coordinator.transport = transport  # type: ignore[assignment]

    coordinator.send_directive("w1", "maintenance", True)
    assert [t for t, _, _ in transport.sent] == [0.0]
    loop.run_until(100.0)

    assert DIRECTIVE_RESEND_S == (1.0, 3.0, 7.0)
    assert [t for t, _, _ in transport.sent] == [0.0, 1.0, 3.0, 7.0]
    bodies = {body for _, body, _ in transport.sent}
    keys = {key for _, _, key in transport.sent}
    assert len(bodies) == 1 and len(keys) == 1  # the very same message: receivers drop repeats
    assert transport.urgent == [True] * 4       # its own gossip rounds (not repaired by push-pull)
    # ... and each send also goes straight to the target (an epidemic can miss it).
    assert transport.direct == [(t, "w1", body) for t, body, _ in transport.sent]
    kind, payload = decode_app(bodies.pop())
    assert kind == APP_DIRECTIVE
    directive = decode_directive(payload)
    assert (directive.target, directive.action, directive.value) == ("w1", "maintenance", True)

    # A second directive gets its own id (a higher sequence) and its own re-sends.
    coordinator.send_directive("w1", "maintenance", False)
    loop.run_until(200.0)
    later = [decode_directive(decode_app(body)[1]) for t, body, _ in transport.sent if t >= 100.0]
    assert [t - 100.0 for t, _, _ in transport.sent if t >= 100.0] == [0.0, 1.0, 3.0, 7.0]
    assert {d.id for d in later} == {later[0].id} and later[0].id != directive.id
    assert int(later[0].id.rsplit(":", 1)[1]) > int(directive.id.rsplit(":", 1)[1])


def test_directive_stops_being_resent_once_the_transport_is_gone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loop = FakeLoop()
    monkeypatch.setattr(agent_module.asyncio, "get_running_loop", lambda: loop)
    coordinator = make_agent(tmp_path, "coord")
    transport = FakeTransport(loop)
    coordinator.transport = transport  # type: ignore[assignment]
    coordinator.send_directive("w1", "shutdown", None)
    loop.run_until(2.0)
    transport.running = False  # type: ignore[misc]  # the agent stopped
    loop.run_until(100.0)
    assert [t for t, _, _ in transport.sent] == [0.0, 1.0]
    assert [t for t, _, _ in transport.direct] == [0.0, 1.0]


def deliver(agent: Agent, directive: Directive) -> None:
    agent._on_app_message(encode_directive(directive))  # as the gossip core hands it over


def test_only_the_newest_directive_per_origin_and_action_is_applied(tmp_path: Path) -> None:
    worker = make_agent(tmp_path, "w1")
    assert not worker._meta.maintenance

    # The coordinator (started at epoch 5) sent maintenance on (#1), tasks (#2), then
    # maintenance off (#3); #3 arrives first, the re-send of #1 afterwards: #1 is stale.
    deliver(worker, Directive("w1", "maintenance", False, "coord:5:3"))
    deliver(worker, Directive("w1", "maintenance", True, "coord:5:1"))
    assert not worker._meta.maintenance
    assert worker.stats["directives_applied"] == 1 and worker.stats["directives_stale"] == 1

    # Repeats of an applied directive are dropped without counting.
    deliver(worker, Directive("w1", "maintenance", False, "coord:5:3"))
    assert worker.stats["directives_applied"] == 1 and worker.stats["directives_stale"] == 1

    # Another action of the same origin has its own order: the older #2 still applies.
    deliver(worker, Directive("w1", "tasks", {"running_tasks": 3}, "coord:5:2"))
    assert worker._tasks["running_tasks"] == 3 and worker.stats["directives_applied"] == 2

    # A restarted coordinator (new epoch) counts from 1 again: a different origin.
    deliver(worker, Directive("w1", "maintenance", True, "coord:6:1"))
    assert worker._meta.maintenance and worker.stats["directives_applied"] == 3

    # A directive for another member is not ours.
    deliver(worker, Directive("w2", "maintenance", False, "coord:6:2"))
    assert worker._meta.maintenance and worker.stats["directives_applied"] == 3
