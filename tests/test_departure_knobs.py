"""Two claw-node departures from memberlist's ``aliveNode``, each behind its own knob
(fake clock, crafted packets): a dead member's stale alive is re-accused
(``reaccuse_stale_alives``), and an alive refused as a name conflict is replayed when the
life it conflicted with dies (``replay_refused_claims``). Both on by default, both off in
``GossipConfig.memberlist()``."""

from __future__ import annotations

from gossip import codec
from gossip.addresses import ip_to_bytes
from gossip.config import GossipConfig
from gossip.events import NameConflict
from gossip.messages import VSN_SERF, Alive, Dead
from gossip.protocol import SwimProtocol
from gossip.types import Address, MemberState
from tests.test_suspicion_protocol import feed, make_core, paddr

LAN = GossipConfig.lan()
ELSEWHERE = ("10.5.5.5", 7946)


def alive(name: str, incarnation: int, address: Address) -> Alive:
    return Alive(incarnation, name, ip_to_bytes(address[0]), address[1], b"", VSN_SERF)


def sent_messages(core: SwimProtocol) -> list[tuple[Address, object]]:
    return [(addr, msg) for addr, data in core.datagrams_to_send()
            for msg in codec.decode_packet(data)[0]]


def test_memberlist_turns_both_knobs_off() -> None:
    assert (LAN.reaccuse_stale_alives, LAN.replay_refused_claims) == (True, True)
    exact = LAN.memberlist()
    assert (exact.reaccuse_stale_alives, exact.replay_refused_claims) == (False, False)


def test_a_dead_members_alive_at_its_death_incarnation_is_reaccused_unless_memberlist() -> None:
    for cfg, reaccused in ((LAN, True), (LAN.replace(reaccuse_stale_alives=False), False),
                           (LAN.memberlist(), False)):
        core = make_core(cfg)
        feed(core, Dead(3, "p1", "p2"), now=1.0)
        core.datagrams_to_send()
        feed(core, alive("p1", 3, paddr(1)), now=2.0)  # cut off, unaware of its death
        accusations = [(addr, m) for addr, m in sent_messages(core)
                       if isinstance(m, Dead) and m.from_ == "me"]  # not the relayed gossip
        assert accusations == ([(paddr(1), Dead(3, "p1", "me"))] if reaccused else []), cfg
        assert core.stats["reaccusations"] == int(reaccused)
        assert core.member_state("p1") == MemberState.DEAD
        feed(core, alive("p1", 4, paddr(1)), now=3.0)  # its refutation: accepted either way
        assert core.member_state("p1") == MemberState.ALIVE


def test_a_refused_claim_is_replayed_when_the_old_life_dies_unless_turned_off() -> None:
    for cfg, replayed in ((LAN, True), (LAN.replace(replay_refused_claims=False), False)):
        core = make_core(cfg)
        feed(core, alive("p1", 5, ELSEWHERE), now=1.0)  # restarted elsewhere, old life alive
        conflicts = []
        while (event := core.next_event()) is not None:
            conflicts += [event] if isinstance(event, NameConflict) else []
        assert len(conflicts) == 1 and core.member("p1").address == paddr(1)
        feed(core, Dead(1, "p1", "p2"), now=2.0)  # the old life is declared dead
        p1 = core.member("p1")
        assert core.stats["claims_applied"] == int(replayed), cfg
        if replayed:
            assert (p1.state, p1.address, p1.incarnation) == (MemberState.ALIVE, ELSEWHERE, 5)
        else:
            assert (p1.state, p1.address) == (MemberState.DEAD, paddr(1))
