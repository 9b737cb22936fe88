"""``node.directives.DirectiveDesk``: the agent's directives both ways, with no event loop
patched and no agent built: its actions and its sender are plain callables."""

from __future__ import annotations

from typing import Any

from node.app_messages import Directive
from node.directives import DirectiveDesk, Verdict


class Actions:
    def __init__(self) -> None:
        self.stats = {"directives_applied": 0, "directives_stale": 0}
        self.maintenance: list[bool] = []
        self.tasks: list[dict[str, Any]] = []
        self.shutdowns = 0

    def desk(self, node_id: str = "w1", epoch: int = 4) -> DirectiveDesk:
        desk = DirectiveDesk(stats=self.stats, maintenance=self.maintenance.append,
                             tasks=self.tasks.append, shutdown=self.shutdown)
        desk.identify(node_id, epoch)
        return desk

    def shutdown(self) -> None:
        self.shutdowns += 1


def test_received_directives_are_carried_out_once_and_in_order() -> None:
    actions = Actions()
    desk = actions.desk()
    assert desk.receive(Directive("w1", "maintenance", True, "c:1:2")) is Verdict.APPLY
    assert desk.receive(Directive("w1", "maintenance", False, "c:1:1")) is Verdict.STALE
    assert desk.receive(Directive("w1", "maintenance", True, "c:1:2")) is Verdict.REPEAT
    assert desk.receive(Directive("w2", "maintenance", False, "c:1:3")) is Verdict.NOT_OURS
    assert actions.maintenance == [True]
    assert actions.stats == {"directives_applied": 1, "directives_stale": 1}


def test_each_action_reaches_its_callable_with_valid_values_only() -> None:
    actions = Actions()
    desk = actions.desk()
    desk.receive(Directive("w1", "tasks", {"running_tasks": 2, "bogus": 1}, "c:1:1"))
    desk.receive(Directive("w1", "maintenance", "yes", "c:1:2"))  # not a bool: ignored
    desk.receive(Directive("w1", "shutdown", None, "c:1:3"))
    assert actions.tasks == [{"running_tasks": 2}]
    assert actions.maintenance == []
    assert actions.shutdowns == 1
    assert actions.stats["directives_applied"] == 3


async def test_sent_directives_are_numbered_per_run_and_never_applied_here() -> None:
    actions = Actions()
    desk = actions.desk("coord", epoch=7)
    delivered: list[tuple[Directive, bytes]] = []

    async def deliver(directive: Directive, body: bytes) -> Verdict:
        delivered.append((directive, body))
        return Verdict.APPLY

    assert await desk.send("coord", "maintenance", True, deliver) is Verdict.APPLY
    assert await desk.send("w1", "shutdown", None, deliver) is Verdict.APPLY
    assert [d.id for d, _ in delivered] == ["coord:7:1", "coord:7:2"]
    # Our own directive coming back (relayed by gossip) is a repeat, not an order to us.
    assert desk.receive(delivered[0][0]) is Verdict.REPEAT
    assert actions.maintenance == [] and actions.stats["directives_applied"] == 0
