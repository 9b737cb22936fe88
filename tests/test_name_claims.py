"""The core's part when two processes claim one name (``node.identity`` decides).

The core keeps memberlist's rule (a live name never moves to another address) and gives
the application what it needs: the other holder's metadata and incarnation in
``NameConflict``, ``check_address`` (does an address answer a ping for the name?) and
``outbid`` (announce ourselves above the other's incarnation). On the fake-clock
harness: a clone joining through a third node or through the original, a third node
that took the clone's address, and the clone killed afterwards.
"""

from __future__ import annotations

import pytest

from gossip.config import GossipConfig
from gossip.events import (
    AddressChecked,
    MemberFailed,
    MemberLeft,
    MemberSuspected,
    NameConflict,
)
from gossip.types import MemberState
from tests.core_harness import Cluster, claw_meta

pytestmark = pytest.mark.usefixtures("strict_core")  # a bug the core survives fails the test

ORIGINAL_META = claw_meta(id="original")
CLONE_META = claw_meta(id="clone")
CLONE_ADDRESS = ("10.9.9.9", 7946)
CLONE_INCARNATION = 1_000_000
"""Above the original's: a clone starts later, and its start incarnation is the time."""


def cluster() -> Cluster:
    """n0, pi, n2 converged; pi is the original holder of the name."""
    c = Cluster(GossipConfig.local(), seed=7)
    for name in ("n0", "pi", "n2"):
        c.add_node(name, meta=ORIGINAL_META if name == "pi" else None, incarnation=100)
    c.join_all()
    c.run(30.0, until=c.converged)
    assert c.converged()
    return c


def add_clone(c: Cluster) -> None:
    c.add_node("pi", label="clone", address=CLONE_ADDRESS, meta=CLONE_META,
               incarnation=CLONE_INCARNATION)


def accusations_of_pi(c: Cluster, observer: str, since: int) -> list[object]:
    return [e for e in c.events(observer)[since:]
            if isinstance(e, (MemberSuspected, MemberFailed, MemberLeft))
            and e.member.name == "pi"]


def test_a_clone_joining_through_a_third_node_learns_the_live_holder() -> None:
    c = cluster()
    original = c.nodes["pi"].address
    marks = {o: len(c.events(o)) for o in ("n0", "n2")}
    add_clone(c)
    c.join("clone", ["n0"])
    c.run(5.0)
    # The clone learns from its join's answer who holds its name, with what metadata.
    conflicts = c.events_of("clone", NameConflict)
    assert conflicts and conflicts[0].existing.name == "pi"
    assert conflicts[0].claimed_by == original
    assert conflicts[0].claimed_meta == ORIGINAL_META
    assert conflicts[0].claimed_incarnation == c.core("pi").incarnation
    assert c.core("n0").stats["name_conflicts"] >= 1  # its claims reached the cluster
    for o in ("n0", "n2"):  # ... and were refused: nobody moved the name
        m = c.core(o).member("pi")
        assert (m.address, m.state, m.meta) == (original, MemberState.ALIVE, ORIGINAL_META)

    c.crash("clone")  # killed -9 (an agent gives the name up without leaving)
    c.run(60.0)
    for o in ("n0", "n2"):
        assert c.core(o).member("pi").state is MemberState.ALIVE
        assert accusations_of_pi(c, o, marks[o]) == []


def test_the_original_hears_a_clone_joining_through_it_and_outbids_it() -> None:
    c = cluster()
    add_clone(c)
    c.join("clone", ["pi"])
    c.run(1.0)
    [conflict, *_] = c.events_of("pi", NameConflict)
    assert conflict.existing.name == "pi" and conflict.claimed_by == CLONE_ADDRESS
    assert conflict.claimed_meta == CLONE_META
    assert conflict.claimed_incarnation == CLONE_INCARNATION

    pi = c.core("pi")
    pi.outbid(CLONE_INCARNATION, c.now)
    assert pi.incarnation == CLONE_INCARNATION + 1
    heard = len(c.events_of("clone", NameConflict))
    pi.outbid(CLONE_INCARNATION - 5, c.now, tell=CLONE_ADDRESS)  # already above
    assert pi.incarnation == CLONE_INCARNATION + 1
    c.flush("pi")
    c.run(0.1)  # ... but the clone is told who keeps the name, whatever the others relay
    told = c.events_of("clone", NameConflict)[heard:]
    assert told and told[-1].claimed_by == c.nodes["pi"].address
    assert told[-1].claimed_incarnation == CLONE_INCARNATION + 1
    c.crash("clone")
    c.run(10.0)
    for o in ("n0", "n2"):
        m = c.core(o).member("pi")
        assert m.incarnation == CLONE_INCARNATION + 1
        assert m.address == c.nodes["pi"].address and m.state is MemberState.ALIVE


@pytest.mark.parametrize("outbid", [True, False])
def test_a_node_that_took_the_clones_address_cannot_mark_the_original_down(outbid: bool) -> None:
    # z meets the clone before the original (it joins through the clone, cut off from
    # the others), so it holds the name at the clone's address. When the clone is killed
    # z suspects the name at the clone's incarnation: the original's outbid makes that
    # old news for everyone else.
    c = cluster()
    c.add_node("z")
    add_clone(c)
    c.partition(["z"], ["n0", "pi", "n2"])
    c.join("clone", ["n0"])
    c.run(1.0)
    c.join("z", ["clone"])
    c.run(1.0)
    assert c.core("z").member("pi").address == CLONE_ADDRESS
    if outbid:
        c.core("pi").outbid(CLONE_INCARNATION, c.now)
    c.heal()
    c.run(1.0)
    marks = {o: len(c.events(o)) for o in ("n0", "n2")}
    c.crash("clone")
    original = c.nodes["pi"].address
    c.run(120.0, until=lambda: c.core("z").member("pi").address == original
          and c.core("z").member("pi").state is MemberState.ALIVE)
    z_view = c.core("z").member("pi")
    assert (z_view.address, z_view.state) == (original, MemberState.ALIVE)  # z came back
    accused = [e for o in ("n0", "n2") for e in accusations_of_pi(c, o, marks[o])]
    if outbid:
        assert accused == []
    else:  # why the keeper outbids: without it the clone's death lands on the original
        assert accused


def test_check_address_says_whether_an_address_answers_for_a_name() -> None:
    c = cluster()
    n0 = c.core("n0")
    pi_address = c.nodes["pi"].address
    n0.check_address("pi", pi_address, c.now)
    n0.check_address("someone-else", pi_address, c.now)  # it answers only for "pi"
    n0.check_address("pi", ("10.99.0.1", 7946), c.now)  # nobody there: refused
    c.flush("n0")
    c.run(1.0)
    checked = c.events_of("n0", AddressChecked)
    assert {(e.name, e.address, e.answered) for e in checked} == {
        ("pi", pi_address, True), ("someone-else", pi_address, False),
        ("pi", ("10.99.0.1", 7946), False)}
    c.crash("pi")  # silent: no answer before the deadline
    n0.check_address("pi", pi_address, c.now)
    c.flush("n0")
    c.run(c.config.tcp_timeout_s + 1.0)
    assert c.events_of("n0", AddressChecked)[-1] == AddressChecked("pi", pi_address, False)
    assert n0.stats["address_checks"] == 4
