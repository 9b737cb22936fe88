"""SwimProtocol driven through the in-memory harness (fake clock, fake network)."""

from __future__ import annotations

from gossip.config import GossipConfig
from gossip.events import MemberFailed, MemberJoined
from gossip.types import MemberState
from tests.core_harness import Cluster


def make_cluster(n: int, *, seed: int = 1, config: GossipConfig | None = None) -> Cluster:
    c = Cluster(config or GossipConfig.lan(), seed=seed)
    for i in range(n):
        c.add_node(f"n{i}")
    c.join_all()
    return c


def test_five_nodes_converge_and_detect_a_crash() -> None:
    c = make_cluster(5)
    c.run(30.0, until=c.converged)
    assert c.converged()
    for name in c.live():
        assert len(c.events_of(name, MemberJoined)) == 4
    c.crash("n3")
    crashed_at = c.now
    c.run(60.0, until=lambda: c.all_see("n3", MemberState.DEAD))
    assert c.all_see("n3", MemberState.DEAD)
    # LAN, n=5: suspicion min 4 s, max 24 s; one probe round is 1 s.
    assert c.now - crashed_at < 1.0 + 24.0 + 1.0
    for name in c.live():
        assert [e.member.name for e in c.events_of(name, MemberFailed)] == ["n3"]
    assert c.internal_errors() == {}
