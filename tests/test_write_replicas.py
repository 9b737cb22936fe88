"""ReplicaConfirmer: how many members confirm a write, replacements for failures, the bound.

Members are fakes answering through asyncio events; no network, no store.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from node.write_replicas import (
    REPLICA_FANOUT,
    NotReplicated,
    ReplicaConfirmer,
    replicas_needed,
)


@pytest.mark.parametrize("configured, live_others, needed", [
    (None, 0, 0), (None, 1, 1), (None, 2, 2), (None, 29, 2), (0, 5, 0), (3, 5, 3), (3, 1, 3),
])
def test_replicas_needed(configured: int | None, live_others: int, needed: int) -> None:
    assert replicas_needed(configured, live_others) == needed


class Members:
    """Fake members: ``ok`` confirm at once, ``broken`` fail, ``silent`` never answer."""

    def __init__(self, ok: set[str], broken: set[str] = frozenset(),
                 silent: set[str] = frozenset()) -> None:
        self.ok, self.broken, self.silent = ok, broken, silent
        self.asked: list[tuple[str, bytes]] = []

    async def send(self, name: str, body: bytes, timeout_s: float) -> None:
        self.asked.append((name, body))
        assert timeout_s > 0
        if name in self.broken:
            raise ConnectionError("refused")
        if name in self.silent:
            await asyncio.Event().wait()

    def names(self) -> list[str]:
        return sorted(self.ok | self.broken | self.silent)


def confirmer(members: Members, configured: int | None = None,
              timeout_s: float = 5.0) -> ReplicaConfirmer:
    return ReplicaConfirmer(send=members.send, candidates=members.names,
                            configured=lambda: configured, timeout_s=timeout_s,
                            rng=random.Random(7))


async def test_alone_nothing_to_confirm() -> None:
    members = Members(set())
    assert await confirmer(members).confirm(b"rec") == []
    assert members.asked == []


async def test_default_waits_for_two_and_sends_up_to_the_fanout() -> None:
    members = Members({f"n{i}" for i in range(10)})
    replicas = confirmer(members)
    confirmed = await replicas.confirm(b"rec")
    assert len(confirmed) >= 2  # the answer came once two had confirmed
    # Every copy was started at once (a small cluster's members all get it directly),
    # at most REPLICA_FANOUT of them; none waits for gossip.
    assert len(members.asked) == REPLICA_FANOUT
    assert len({name for name, _ in members.asked}) == REPLICA_FANOUT
    assert all(body == b"rec" for _, body in members.asked)
    await replicas.aclose()


async def test_a_slow_extra_copy_does_not_delay_the_answer_and_is_closed() -> None:
    members = Members({"a", "b"}, silent={"s"})
    replicas = confirmer(members)
    confirmed = await asyncio.wait_for(replicas.confirm(b"rec"), 30)
    assert sorted(confirmed) == ["a", "b"] and {n for n, _ in members.asked} == {"a", "b", "s"}
    assert len(replicas._copies) == 1  # s: still in flight after the answer
    await replicas.aclose()
    assert not replicas._copies


async def test_failed_member_is_replaced_by_the_next() -> None:
    members = Members({"a", "b", "c"}, broken={"x", "y"})
    confirmed = await confirmer(members).confirm(b"rec")
    assert len(confirmed) >= 2 and set(confirmed) <= {"a", "b", "c"}


async def test_too_few_confirmations_name_each_failure() -> None:
    members = Members({"a"}, broken={"x"})
    with pytest.raises(NotReplicated, match=r"1 of 2 replica\(s\) confirmed \(x: refused\)"):
        await confirmer(members).confirm(b"rec")


async def test_silent_members_hit_the_bound() -> None:
    members = Members({"a"}, silent={"s"})
    with pytest.raises(NotReplicated, match="s: no confirmation within 0.05 s"):
        await asyncio.wait_for(confirmer(members, timeout_s=0.05).confirm(b"rec"), 30)


async def test_explicit_count_beyond_the_live_members_fails_at_once() -> None:
    members = Members({"a"})
    with pytest.raises(NotReplicated, match="needs 3 replica"):
        await confirmer(members, configured=3).confirm(b"rec")
    assert members.asked == []
