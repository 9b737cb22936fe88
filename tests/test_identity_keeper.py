"""``node.identity_keeper.IdentityKeeper``: the guard's decisions carried out through gossip
(``node.identity`` has the rule, ``tests/test_node_identity.py`` its cases)."""

from __future__ import annotations

from gossip.events import AddressChecked, Member, NameConflict
from gossip.types import MemberState
from node.identity_keeper import IdentityKeeper
from node.metadata import NodeMeta, encode_meta
from tests.test_gossip_link import linked

U1, U2 = b"u" * 16, b"v" * 16
OTHER = ("10.0.0.2", 7946)


class Kept:
    def __init__(self, *, joining: bool) -> None:
        self.link, self.transport, self.saved, _ = linked()
        self.outbids: list[int] = []
        self.gave_up = 0
        self.keeper = IdentityKeeper(
            link=self.link, uuid=lambda: U1, started_at=lambda: 100.0,
            joining=lambda: joining, outbid=self.outbids.append, give_up=self.give_up)
        self.keeper.identify("pi")

    def give_up(self) -> None:
        self.gave_up += 1

    def claim(self, uuid: bytes, started_at: float, incarnation: int = 500) -> None:
        me = Member(name="pi", address=("10.0.0.1", 7946), meta=b"", incarnation=1,
                    state=MemberState.ALIVE, state_since=0.0, vsn=b"", is_claw=True)
        meta = encode_meta(NodeMeta(uuid=uuid, started_at=started_at))
        self.keeper.on_conflict(NameConflict(existing=me, claimed_by=OTHER, claimed_meta=meta,
                                             claimed_incarnation=incarnation))


async def test_yielding_the_id_silences_gossip_before_the_agent_is_told() -> None:
    k = Kept(joining=True)
    k.claim(U2, 50.0)  # another data dir, started earlier, while we join: yield at once
    assert k.gave_up == 1 and k.keeper.gave_up and k.keeper.in_doubt
    await k.link.stop(leave=True, timeout_s=1.0)  # waits for the silencing
    assert k.transport.stopped and not k.transport.left


async def test_keeping_the_id_outbids_through_gossip_and_reports_the_new_incarnation() -> None:
    k = Kept(joining=False)
    k.claim(U2, 200.0, incarnation=900)  # started after us: probe its address first
    assert k.transport.core.commands == ["check pi"]
    k.keeper.on_address_checked(AddressChecked("pi", OTHER, True))
    assert k.transport.core.commands == ["check pi", "outbid"]
    assert k.outbids == [901] and k.saved == [901] and k.gave_up == 0
    k.keeper.close()
