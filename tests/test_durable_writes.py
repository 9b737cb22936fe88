"""``node.write_replicas.DurableWrites``: the member's side of a replicated write (merge,
gossip on, answer once stored) and the coordinator's candidates."""

from __future__ import annotations

from typing import cast

import pytest

from api.registry import HttpNodeRecord
from gossip.channel import ChannelCall
from gossip.events import Member
from gossip.types import MemberState
from node.peer_requests import REPLICA_CONFIRMED
from node.store_writer import StoreWriter
from node.write_replicas import DurableWrites, NotReplicated
from tests.test_registry_feed import record


class FakeWriter:
    def __init__(self, fails: bool = False) -> None:
        self.fails = fails
        self.settled_calls = 0

    async def settled(self) -> None:
        self.settled_calls += 1
        if self.fails:
            raise OSError("disk full")


def member(name: str, state: MemberState = MemberState.ALIVE, claw: bool = True) -> Member:
    return Member(name=name, address=("127.0.0.1", 7946), meta=b"", incarnation=1,
                  state=state, state_since=0.0, vsn=b"", is_claw=claw)


class Durable:
    def __init__(self, writer: FakeWriter | None, merges: bool = True,
                 others: bool = True, configured: int | None = None) -> None:
        self.gossiped: list[HttpNodeRecord] = []
        self.merged: list[HttpNodeRecord] = []
        self.writer = writer

        self.sent: list[str] = []

        async def send(name: str, body: bytes, timeout_s: float) -> None:
            self.sent.append(name)

        def merge(rec: HttpNodeRecord) -> bool:
            self.merged.append(rec)
            return merges

        self.durable = DurableWrites(
            send=send, node_id=lambda: "me", configured=configured,
            members=lambda: [member("me")] + ([member("b"), member("c", MemberState.SUSPECT),
                                               member("serf", claw=False)] if others else []),
            writer=lambda: cast(StoreWriter | None, self.writer), merge=merge,
            gossip=self.gossiped.append)


def call(body: bytes) -> ChannelCall:
    return ChannelCall(kind="replica", body=body, ttl_s=2.0, peer=("127.0.0.1", 7946))


def test_candidates_are_the_other_live_claw_members() -> None:
    assert Durable(FakeWriter()).durable.candidates() == ["b"]


async def test_a_replica_is_merged_gossiped_on_and_confirmed_once_stored() -> None:
    d = Durable(FakeWriter())
    rec = record()
    assert await d.durable.serve_replica(call(rec.to_bytes())) == REPLICA_CONFIRMED
    assert d.merged == [rec] and d.gossiped == [rec]
    assert d.writer is not None and d.writer.settled_calls == 1


async def test_a_replica_already_held_is_confirmed_without_gossip() -> None:
    d = Durable(FakeWriter(), merges=False)
    assert await d.durable.serve_replica(call(record().to_bytes())) == REPLICA_CONFIRMED
    assert d.gossiped == []


async def test_garbage_or_no_store_is_an_error_not_a_confirmation() -> None:
    with pytest.raises(ValueError):
        await Durable(FakeWriter()).durable.serve_replica(call(b"\xc1garbage"))
    with pytest.raises(RuntimeError):
        await Durable(None).durable.serve_replica(call(record().to_bytes()))


async def test_a_failed_own_store_write_is_not_durable() -> None:
    with pytest.raises(NotReplicated, match="disk full"):
        await Durable(FakeWriter(fails=True)).durable.make_durable(record())
    d = Durable(FakeWriter())
    assert await d.durable.make_durable(record()) == ["b"]  # one other live member: 1 copy


async def test_alone_a_write_is_durable_once_in_its_own_store() -> None:
    d = Durable(FakeWriter(), others=False)
    assert await d.durable.make_durable(record()) == []
    assert d.writer is not None and d.writer.settled_calls == 1 and d.sent == []
    with pytest.raises(NotReplicated, match="only 0 other live member"):
        await Durable(FakeWriter(), others=False, configured=1).durable.make_durable(record())
