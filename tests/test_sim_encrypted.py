"""The simulator with gossip encryption (``WorldOptions.encrypt_key``): an encrypted world
converges, detects a crash, and is as reproducible as a plaintext one."""

from __future__ import annotations

import pytest

from gossip.config import GossipConfig
from gossip.types import MemberState
from simulations.sim.world import SimWorld, WorldOptions

pytestmark = pytest.mark.usefixtures("strict_core")  # a bug the core survives fails the test

KEY = bytes(range(16))


def world(seed: int, key: bytes | None) -> SimWorld:
    w = SimWorld(GossipConfig.lan(), seed, options=WorldOptions(encrypt_key=key))
    seed_node = w.add_node()
    for _ in range(7):
        w.add_node(seeds=[seed_node.address])
    w.run_until(20.0)
    return w


def views_agree(w: SimWorld) -> bool:
    names = [n.name for n in w.live_nodes()]
    return all(n.core.member_state(m) == MemberState.ALIVE
               for n in w.live_nodes() for m in names)


def test_an_encrypted_world_converges_detects_a_crash_and_is_reproducible() -> None:
    a, b = world(7, KEY), world(7, KEY)
    assert views_agree(a)
    assert a.trace_hash() == b.trace_hash()
    plain = world(7, None)
    assert plain.trace_hash() != a.trace_hash()
    a.crash("node-00003")
    a.run_until(60.0)
    assert all(n.core.member_state("node-00003") == MemberState.DEAD for n in a.live_nodes())
