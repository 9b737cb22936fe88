"""Coordinator directives without sockets or sleeps: the outbox's re-send plan on a fake
clock, the inbox's rule "only the newest per origin and action is applied", and the
agent acting on what the inbox lets through."""

from __future__ import annotations

from pathlib import Path

from gossip.events import AppMessage
from node.agent import Agent
from node.app_messages import (
    APP_DIRECTIVE,
    Directive,
    decode_app,
    decode_directive,
    encode_directive,
)
from node.config import NodeConfig
from node.directives import (
    DIRECTIVE_RESEND_S,
    DirectiveInbox,
    DirectiveOutbox,
    Verdict,
    task_values,
)


def run_outbox(outbox: DirectiveOutbox, until: float) -> list[tuple[float, str]]:
    """Fire the outbox's deadlines in order up to ``until``, as the agent's timer does;
    returns (time, key) of every re-send."""
    sent = []
    while (deadline := outbox.next_deadline()) is not None and deadline <= until:
        sent += [(deadline, s.key) for s in outbox.due(deadline)]
    return sent


def test_directive_is_sent_once_then_resent_at_the_planned_delays() -> None:
    outbox = DirectiveOutbox("coord:5")
    directive, first = outbox.send("w1", "maintenance", True, now=100.0)
    assert DIRECTIVE_RESEND_S == (1.0, 3.0, 7.0)
    assert outbox.next_deadline() == 101.0
    assert outbox.due(100.5) == []  # nothing before its time
    resends = run_outbox(outbox, until=1000.0)
    assert resends == [(101.0, first.key), (103.0, first.key), (107.0, first.key)]
    assert outbox.next_deadline() is None

    kind, payload = decode_app(first.body)
    assert kind == APP_DIRECTIVE and decode_directive(payload) == directive
    assert (directive.target, directive.action, directive.value) == ("w1", "maintenance", True)
    assert directive.id == "coord:5:1" and first.key == "dir:coord:5:1" and first.target == "w1"


def test_each_directive_has_its_own_id_and_its_own_resends() -> None:
    outbox = DirectiveOutbox("coord:5", resend_s=(1.0, 3.0))
    a, first_a = outbox.send("w1", "maintenance", True, now=0.0)
    b, first_b = outbox.send("w2", "tasks", {"running_tasks": 1}, now=2.0)
    assert (a.id, b.id) == ("coord:5:1", "coord:5:2")
    assert run_outbox(outbox, until=10.0) == [
        (1.0, first_a.key), (3.0, first_a.key), (3.0, first_b.key), (5.0, first_b.key)]
    # A due call late for several deadlines returns them all, in plan order.
    outbox.send("w1", "shutdown", None, now=20.0)
    assert [s.key for s in outbox.due(100.0)] == ["dir:coord:5:3", "dir:coord:5:3"]


def test_inbox_applies_only_the_newest_per_origin_and_action() -> None:
    inbox = DirectiveInbox("w1")
    # The coordinator (started at epoch 5) sent maintenance on (#1), tasks (#2), then
    # maintenance off (#3); #3 arrives first, the re-send of #1 afterwards: #1 is stale.
    assert inbox.receive(Directive("w1", "maintenance", False, "coord:5:3")) is Verdict.APPLY
    assert inbox.receive(Directive("w1", "maintenance", True, "coord:5:1")) is Verdict.STALE
    # Repeats of an applied directive are repeats.
    assert inbox.receive(Directive("w1", "maintenance", False, "coord:5:3")) is Verdict.REPEAT
    # Another action of the same origin has its own order: the older #2 still applies.
    assert inbox.receive(Directive("w1", "tasks", {}, "coord:5:2")) is Verdict.APPLY
    # A restarted coordinator (new epoch) counts from 1 again: a different origin.
    assert inbox.receive(Directive("w1", "maintenance", True, "coord:6:1")) is Verdict.APPLY
    assert inbox.receive(Directive("w2", "maintenance", False, "coord:6:2")) is Verdict.NOT_OURS
    # Ids without a number carry no order: applied once each.
    assert inbox.receive(Directive("w1", "maintenance", True, "odd")) is Verdict.APPLY
    assert inbox.receive(Directive("w1", "maintenance", True, "odd")) is Verdict.REPEAT


def test_inbox_memory_is_bounded() -> None:
    inbox = DirectiveInbox("w1", memory=2)
    for n in (1, 2, 3):
        assert inbox.remember(f"x:{n}")
    assert inbox.remember("x:1")  # forgotten, oldest first
    assert not inbox.remember("x:3")


def test_task_values_keeps_only_valid_counters() -> None:
    assert task_values({"running_tasks": 3, "failed_tasks": True, "bogus": 1,
                        "successful_tasks": -1, "total_tasks_processed": 2_000_000,
                        "average_execution_time": 1.5}) == {
        "running_tasks": 3, "average_execution_time": 1.5}


def make_agent(tmp_path: Path, node_id: str) -> Agent:
    config = NodeConfig.load({"node_id": node_id, "bind": "127.0.0.1:0",
                              "api_bind": "127.0.0.1:0", "data_dir": tmp_path / node_id,
                              "profile": "local"})
    agent = Agent(config)
    agent._identify(node_id, epoch=1)  # what start() does once the store is open
    return agent


def deliver(agent: Agent, directive: Directive) -> None:
    agent._on_event(AppMessage(encode_directive(directive)))  # as gossip hands it over


def test_the_agent_acts_on_what_the_inbox_lets_through(tmp_path: Path) -> None:
    worker = make_agent(tmp_path, "w1")
    assert not worker._meta.maintenance
    deliver(worker, Directive("w1", "maintenance", False, "coord:5:3"))
    deliver(worker, Directive("w1", "maintenance", True, "coord:5:1"))
    assert not worker._meta.maintenance
    assert worker.stats["directives_applied"] == 1 and worker.stats["directives_stale"] == 1
    deliver(worker, Directive("w1", "maintenance", False, "coord:5:3"))  # a repeat: not counted
    assert worker.stats["directives_applied"] == 1 and worker.stats["directives_stale"] == 1
    deliver(worker, Directive("w1", "tasks", {"running_tasks": 3, "bogus": 1}, "coord:5:2"))
    assert worker.publisher.tasks["running_tasks"] == 3 and "bogus" not in worker.publisher.tasks
    deliver(worker, Directive("w1", "maintenance", True, "coord:6:1"))
    assert worker._meta.maintenance and worker.stats["directives_applied"] == 3
    deliver(worker, Directive("w2", "maintenance", False, "coord:6:2"))
    assert worker._meta.maintenance and worker.stats["directives_applied"] == 3
    deliver(worker, Directive("w1", "shutdown", None, "coord:6:3"))
    assert worker._stop.is_set()  # request_leave


class FakeTransport:
    """Records the agent's app broadcasts and direct sends."""

    running = True

    def __init__(self) -> None:
        self.broadcasts: list[tuple[bytes, str, bool]] = []
        self.direct: list[tuple[str, bytes]] = []

    def broadcast_app(self, body: bytes, *, key: str, urgent: bool = False) -> None:
        self.broadcasts.append((body, key, urgent))

    def send_app_to(self, name: str, body: bytes) -> bool:
        self.direct.append((name, body))
        return True


async def test_the_agent_gossips_each_send_urgently_and_straight_to_the_target(
        tmp_path: Path) -> None:
    coordinator = make_agent(tmp_path, "coord")
    transport = FakeTransport()
    coordinator.transport = transport  # type: ignore[assignment]
    coordinator.send_directive("w1", "maintenance", True)
    (body, key, urgent), = transport.broadcasts
    # Urgent: its own gossip rounds (directives are not repaired by push-pull), and
    # straight to the target too (an epidemic can miss it).
    assert urgent and transport.direct == [("w1", body)]
    assert decode_directive(decode_app(body)[1]).id == "coord:1:1" == key.removeprefix("dir:")
    timer = coordinator._directive_timer
    assert timer is not None and timer.when() == coordinator._outbox.next_deadline()
    coordinator._cancel_timers()  # what stop() does
    assert timer.cancelled() and coordinator._directive_timer is None

    transport.running = False  # type: ignore[misc]  # gossip stopped: nothing goes out
    coordinator._send_directive(coordinator._outbox.due(float("inf"))[0])
    assert len(transport.broadcasts) == 1 and len(transport.direct) == 1
