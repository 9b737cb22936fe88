"""The unit tests' in-memory cluster: ``simulations.sim.cluster.Cluster`` (a face of the
simulator's ``SimWorld``, the one discrete-event driver) plus a converged one."""

from __future__ import annotations

from gossip.config import GossipConfig
from simulations.sim.cluster import Cluster, claw_meta

__all__ = ["Cluster", "claw_meta", "converged_cluster"]


def converged_cluster(names: list[str], seed: int = 1) -> Cluster:
    """``names`` joined and converged on memberlist's LAN profile, every odd-numbered
    node tagged ``role=gpu``, the others ``role=cpu`` (for tag filters).

    The LAN profile (4 retransmits x log N): the local profile's 2 can leave a member
    of 5 unreached by one broadcast (as it does Serf agents), which is not what tests
    of queries and events are about.
    """
    c = Cluster(GossipConfig.lan(), seed=seed)
    for i, name in enumerate(names):
        c.add_node(name, meta=claw_meta(role="gpu" if i % 2 else "cpu"))
    c.join_all()
    c.run(10.0, until=c.converged)
    assert c.converged()
    return c
