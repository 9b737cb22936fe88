"""Serf's force-leave in the core: a failed member becomes left everywhere, ``prune``
erases it, a live member refutes. Cores on the fake network of ``core_harness``."""

from __future__ import annotations

import pytest

from gossip import serf_codec
from gossip.config import GossipConfig
from gossip.errors import LocalProtocolError
from gossip.events import MemberLeft
from gossip.messages import SerfLeave, UserMsg
from gossip.types import MemberState

from .core_harness import Cluster
from .test_protocol import advance, feed, make_core, with_peers

pytestmark = pytest.mark.usefixtures("strict_core")  # a bug the core survives fails the test


def _cluster_with_failed(n: int = 4) -> Cluster:
    c = Cluster(GossipConfig.local(), seed=7)
    for i in range(n):
        c.add_node(f"n{i}")
    c.join_all()
    c.run(10.0, until=c.converged)
    assert c.converged()
    c.run(20.0)  # probe rounds: every node learns the others' network coordinates
    c.crash(f"n{n - 1}")
    c.run(60.0, until=lambda: c.all_see(f"n{n - 1}", MemberState.DEAD, c.live()))
    assert c.all_see(f"n{n - 1}", MemberState.DEAD, c.live())
    return c


def test_force_leave_of_a_failed_member_makes_it_left_on_every_node() -> None:
    c = _cluster_with_failed()
    assert c.core("n0").force_leave("n3", c.now) is MemberState.LEFT
    c.run(10.0, until=lambda: c.all_see("n3", MemberState.LEFT, c.live()))
    assert c.all_see("n3", MemberState.LEFT, c.live())
    for name in c.live():
        assert [e.member.name for e in c.events_of(name, MemberLeft)] == ["n3"]


def test_force_leave_with_prune_erases_the_member_everywhere() -> None:
    c = _cluster_with_failed()
    assert c.core("n0").coordinate_of("n3") is not None  # learnt from its acks
    assert c.core("n0").force_leave("n3", c.now, prune=True) is None
    assert c.core("n0").coordinate_of("n3") is None  # Serf's eraseNode forgets it too
    c.run(10.0, until=lambda: all(c.state_of(n, "n3") is None for n in c.live()))
    assert all(c.state_of(n, "n3") is None for n in c.live())
    assert all(c.core(n).stats["pruned"] == 1 for n in c.live())


def test_force_leave_of_a_live_member_is_refuted() -> None:
    c = Cluster(GossipConfig.local(), seed=3)
    for i in range(3):
        c.add_node(f"n{i}")
    c.join_all()
    # Past a push-pull round, so n0's Lamport clock has witnessed n2's join intent (an
    # intent no newer than what a receiver applied last is ignored, as in Serf).
    c.run(60.0)
    c.core("n0").force_leave("n2", c.now)
    c.run(10.0)
    assert c.all_see("n2", MemberState.ALIVE, c.live())
    # n2 answered with a newer join intent, which cancelled the leave everywhere: when
    # it crashes later it is failed, not left.
    c.crash("n2")
    down = ("n0", "n1")
    c.run(60.0, until=lambda: all(c.state_of(n, "n2") in (MemberState.DEAD, MemberState.LEFT)
                                  for n in down))
    assert c.all_see("n2", MemberState.DEAD, down)


def test_force_leave_of_self_is_refused() -> None:
    core = make_core()
    with pytest.raises(LocalProtocolError, match="itself"):
        core.force_leave("me", 1.0)


def test_force_leave_broadcasts_a_serf_leave_intent_with_prune() -> None:
    core = make_core()
    with_peers(core, 3)
    core.force_leave("p1", 1.0, prune=True)
    out = advance(core, 2.0)
    intents = [serf_codec.decode_serf(m.payload) for _, ms in out for m in ms
               if isinstance(m, UserMsg)]
    assert any(isinstance(i, SerfLeave) and i.node == "p1" and i.prune for i in intents)


def test_a_received_pruning_intent_for_a_live_member_keeps_it() -> None:
    core = make_core()
    with_peers(core, 3)
    feed(core, UserMsg(serf_codec.encode_serf(SerfLeave(5, "p1", prune=True))), now=1.0)
    assert core.member_state("p1") is MemberState.ALIVE and core.stats["pruned"] == 0
