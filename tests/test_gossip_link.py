"""``node.gossip_link.GossipLink``: answers in every phase of the transport, and saves the
incarnation after every command that raises it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import pytest

from gossip.app_relay import AppVersion
from gossip.errors import LocalProtocolError
from gossip.udp import GossipTransport
from node.gossip_link import GossipLink


class FakeCore:
    def __init__(self) -> None:
        self.incarnation = 3
        self.commands: list[str] = []

    def members(self) -> list[Any]:
        return []

    def member(self, name: str) -> None:
        return None

    def check_address(self, name: str, address: Any, now: float) -> None:
        self.commands.append(f"check {name}")

    def outbid(self, incarnation: int, now: float, *, tell: Any) -> None:
        self.commands.append("outbid")
        self.incarnation = incarnation + 1


class FakeTransport:
    """The part of ``GossipTransport`` the link uses."""

    def __init__(self) -> None:
        self.running = True
        self.core = FakeCore()
        self.sent: list[tuple[bytes, str | None, bool]] = []
        self.stopped = False
        self.left = False

    def broadcast_app(self, body: bytes, *, key: str | None = None, urgent: bool = False,
                      version: AppVersion | None = None) -> None:
        if len(body) > 100:
            raise LocalProtocolError("bigger than a datagram")
        self.sent.append((body, key, urgent))

    def set_meta(self, meta: bytes) -> None:
        self.core.incarnation += 1

    def reannounce(self) -> None:
        self.core.incarnation += 1

    def invoke(self, command: Callable[[FakeCore, float], Any]) -> Any:
        return command(self.core, 0.0)

    async def leave(self, timeout: float) -> bool:
        self.left = True
        return True

    async def stop(self) -> None:
        self.running = False
        self.stopped = True


def linked() -> tuple[GossipLink, FakeTransport, list[int], dict[str, int]]:
    saved: list[int] = []
    stats = {"app_too_large": 0}
    link = GossipLink(stats, save_incarnation=saved.append)
    transport = FakeTransport()
    link.transport = cast(GossipTransport, transport)
    return link, transport, saved, stats


async def test_before_start_every_read_is_empty_and_every_command_a_no_op() -> None:
    saved: list[int] = []
    link = GossipLink({"app_too_large": 0}, save_incarnation=saved.append)
    assert not link.running
    assert link.members() == [] and link.member("a") is None and link.incarnation() == 0
    assert link.table_member("a") is None
    assert link.coordinate_of("a") is None and link.member_tags("a") == {}
    link.broadcast(b"x", "k")
    link.set_meta(b"meta")
    link.check_address("a", ("127.0.0.1", 1))
    link.reannounce()
    link.persist_incarnation()
    link.silence()
    assert not link.outbid(5, ("127.0.0.1", 1))
    assert not link.force_leave("a", prune=False)
    await link.stop(leave=True, timeout_s=1.0)
    assert saved == []


def test_a_broadcast_too_big_for_a_datagram_is_counted_not_raised() -> None:
    link, transport, _, stats = linked()
    link.broadcast(b"small", "hb:a", True)
    link.broadcast(b"x" * 200, "reg:b")
    assert transport.sent == [(b"small", "hb:a", True)]
    assert stats["app_too_large"] == 1


def test_each_incarnation_bump_is_saved() -> None:
    link, transport, saved, _ = linked()
    link.set_meta(b"meta")
    link.reannounce()
    assert link.outbid(10, ("127.0.0.1", 2))
    assert transport.core.commands == ["outbid"]
    assert saved == [4, 5, 11]


@pytest.mark.parametrize("leave", [True, False])
async def test_stop_leaves_only_when_asked_and_saves_the_incarnation(leave: bool) -> None:
    link, transport, saved, _ = linked()
    await link.stop(leave=leave, timeout_s=1.0)
    assert transport.stopped and transport.left is leave
    assert saved == [3]
    await link.stop(leave=leave, timeout_s=1.0)  # idempotent
    assert saved == [3]


async def test_a_silenced_link_stops_without_leaving() -> None:
    link, transport, _, _ = linked()
    link.silence()
    await link.stop(leave=True, timeout_s=1.0)
    assert transport.stopped and not transport.left
