"""Coordinator directives without sockets: the outbox's numbering, the inbox's rule "only
the newest per origin and action is applied", and the agent acting on what the inbox lets
through (from gossip, as an older coordinator sends them, and from the request channel).
Delivery, acknowledgement and retries are in ``test_cluster_channel.py``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gossip.channel import ChannelCall
from gossip.events import AppMessage
from node.agent import Agent
from node.app_messages import (
    APP_DIRECTIVE,
    Directive,
    decode_app,
    decode_directive,
    encode_directive,
    heartbeat_message,
)
from node.config import NodeConfig
from node.directives import (
    DirectiveInbox,
    DirectiveOutbox,
    Verdict,
    task_values,
)
from node.heartbeat import HeartbeatRecord


def test_directives_are_numbered_per_origin_and_encoded_as_app_messages() -> None:
    outbox = DirectiveOutbox("coord:5")
    a, body = outbox.new("w1", "maintenance", True)
    b, _ = outbox.new("w2", "tasks", {"running_tasks": 1})
    assert (a.id, b.id) == ("coord:5:1", "coord:5:2")
    kind, payload = decode_app(body)
    assert kind == APP_DIRECTIVE and decode_directive(payload) == a
    assert (a.target, a.action, a.value) == ("w1", "maintenance", True)


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


async def test_the_agent_acts_on_what_the_inbox_lets_through(tmp_path: Path) -> None:
    worker = make_agent(tmp_path, "w1")
    assert not worker.advert.meta.maintenance
    deliver(worker, Directive("w1", "maintenance", False, "coord:5:3"))
    deliver(worker, Directive("w1", "maintenance", True, "coord:5:1"))
    assert not worker.advert.meta.maintenance
    assert worker.stats["directives_applied"] == 1 and worker.stats["directives_stale"] == 1
    deliver(worker, Directive("w1", "maintenance", False, "coord:5:3"))  # a repeat: not counted
    assert worker.stats["directives_applied"] == 1 and worker.stats["directives_stale"] == 1
    deliver(worker, Directive("w1", "tasks", {"running_tasks": 3, "bogus": 1}, "coord:5:2"))
    assert worker.publisher.tasks["running_tasks"] == 3 and "bogus" not in worker.publisher.tasks
    # Over the request channel: the verdict is the acknowledgement.
    assert await serve(worker, Directive("w1", "maintenance", True, "coord:6:1")) == b"apply"
    assert worker.advert.meta.maintenance and worker.stats["directives_applied"] == 3
    assert await serve(worker, Directive("w1", "maintenance", True, "coord:6:1")) == b"repeat"
    assert await serve(worker, Directive("w2", "maintenance", False, "coord:6:2")) == b"not_ours"
    assert worker.advert.meta.maintenance and worker.stats["directives_applied"] == 3
    # Shutdown: acknowledged first, then the agent leaves.
    assert await serve(worker, Directive("w1", "shutdown", None, "coord:6:3")) == b"apply"
    await asyncio.wait_for(worker._stop.wait(), timeout=10)  # request_leave
    with pytest.raises(ValueError):  # a heartbeat is not a directive
        await worker.channel.serve_directive(call(heartbeat_message(HeartbeatRecord(node="w1", epoch=1, seq=1, sampled_at=1.0))))


def call(body: bytes) -> ChannelCall:
    return ChannelCall(kind="directive", body=body, ttl_s=2.0, peer=("127.0.0.1", 7946))


async def serve(agent: Agent, directive: Directive) -> bytes:
    return await agent.channel.serve_directive(call(encode_directive(directive)))
