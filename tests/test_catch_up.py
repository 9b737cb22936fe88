"""Catch-up anti-entropy (``gossip.catch_up``, knobs ``catch_up_burst`` and
``catch_up_window_s``): a burst of members first heard of through gossip starts one
standard push-pull with one of them; a single join, members learned from a push-pull, or
a recent push-pull do not. Once started (or after our own join) it follows through, one
push-pull per window while the view grows, and stops after a window without news.
Off in ``GossipConfig.memberlist()``. Fake clock, crafted packets."""

from __future__ import annotations

import math
import random

import pytest

from gossip import codec
from gossip.addresses import ip_to_bytes
from gossip.catch_up import ANY_PEER, MAX_NEWCOMERS, CatchUp
from gossip.config import GossipConfig
from gossip.errors import ConfigError
from gossip.messages import VSN_SERF, Alive, PushNodeState, PushPull
from gossip.protocol import SwimProtocol
from gossip.types import Address, MemberState
from tests.test_suspicion_protocol import feed, make_core, paddr

LAN = GossipConfig.lan()
"""The default: catch-up on, a burst of 8 within 2 s."""
BURST = LAN.catch_up_burst


def newcomer(i: int) -> Alive:
    """The alive of a member the core has never heard of (addresses beyond make_core's)."""
    return Alive(1, f"n{i}", ip_to_bytes(paddr(100 + i)[0]), 7946, b"", VSN_SERF)


def push_pulls_opened(core: SwimProtocol) -> list[tuple[Address, PushPull]]:
    out = []
    for request in core.streams_to_open():
        msg = codec.decode_stream(request.data, max_size=1 << 22)
        if isinstance(msg, PushPull):
            out.append((request.address, msg))
    return out


def test_defaults_on_and_memberlist_turns_it_off() -> None:
    assert (LAN.catch_up_burst, LAN.catch_up_window_s) == (8, 2.0)
    assert LAN.memberlist().catch_up_burst == 0


def test_a_burst_of_new_members_from_gossip_starts_one_push_pull_with_one_of_them() -> None:
    core = make_core(LAN)
    push_pulls_opened(core)
    feed(core, *[newcomer(i) for i in range(BURST - 1)], now=10.0)
    assert push_pulls_opened(core) == []  # one short of the burst
    feed(core, newcomer(BURST - 1), now=10.5)
    [(address, pp)] = push_pulls_opened(core)
    assert address in {paddr(100 + i) for i in range(BURST)}
    assert pp.join is False  # a standard (periodic-style) push-pull
    assert {ns.name for ns in pp.nodes} >= {f"n{i}" for i in range(BURST)}
    assert core.stats["catch_ups"] == 1
    feed(core, *[newcomer(i) for i in range(BURST, 2 * BURST)], now=11.0)
    assert push_pulls_opened(core) == []  # not again while ours is at most a window old


def test_new_members_spread_over_more_than_the_window_never_fire() -> None:
    core = make_core(LAN)
    push_pulls_opened(core)
    for i in range(4 * BURST):  # a steady trickle of joins, one per window
        feed(core, newcomer(i), now=10.0 + i * (LAN.catch_up_window_s + 0.1))
    assert push_pulls_opened(core) == []
    assert core.stats["catch_ups"] == 0


def test_members_learned_from_a_push_pull_do_not_count() -> None:
    core = make_core(LAN)
    nodes = tuple(PushNodeState(name=f"n{i}", addr=ip_to_bytes(paddr(100 + i)[0]), port=7946,
                                meta=b"", incarnation=1, state=int(MemberState.ALIVE))
                  for i in range(3 * BURST))
    core.handle_stream(codec.encode_stream(PushPull(join=False, nodes=nodes)), paddr(1), 10.0)
    assert core.member_state(f"n{3 * BURST - 1}") == MemberState.ALIVE
    assert push_pulls_opened(core) == []


def test_no_catch_up_within_the_window_after_a_push_pull() -> None:
    core = make_core(LAN)
    peer = make_core(LAN)
    core.handle_stream(codec.encode_stream(peer._exchanges.local_push_pull(join=False)),
                       paddr(1), 10.0)
    push_pulls_opened(core)
    feed(core, *[newcomer(i) for i in range(BURST)], now=10.0 + LAN.catch_up_window_s / 2)
    assert push_pulls_opened(core) == []
    feed(core, *[newcomer(i) for i in range(BURST, 2 * BURST)], now=10.0 + LAN.catch_up_window_s)
    assert len(push_pulls_opened(core)) == 1


def test_switched_off_nothing_fires() -> None:
    for cfg in (LAN.memberlist(), LAN.replace(catch_up_burst=0)):
        core = make_core(cfg)
        push_pulls_opened(core)
        feed(core, *[newcomer(i) for i in range(3 * BURST)], now=10.0)
        assert push_pulls_opened(core) == [], cfg
        assert core.stats["catch_ups"] == 0


def test_catch_up_rule_alone() -> None:
    rule = CatchUp(LAN.replace(catch_up_burst=3, catch_up_window_s=1.0), random.Random(1))
    a, b, c, d = (("10.0.0.1", 1), ("10.0.0.2", 1), ("10.0.0.3", 1), ("10.0.0.4", 1))
    assert rule.learned(a, 5.0, last_push_pull=0.0) is None
    assert rule.learned(b, 5.5, last_push_pull=0.0) is None
    assert rule.deadline(last_push_pull=0.0) == math.inf  # idle until a burst
    assert rule.learned(c, 5.9, last_push_pull=0.0) in {a, b, c}
    assert rule.active
    assert rule.due(6.9) is None  # a window without news: stop
    assert not rule.active and rule.deadline(last_push_pull=5.95) == math.inf
    # The window restarts after 1 s without firing: a, then b and c too late.
    assert rule.learned(a, 10.0, last_push_pull=0.0) is None
    assert rule.learned(b, 11.1, last_push_pull=0.0) is None
    assert rule.learned(c, 11.2, last_push_pull=0.0) is None
    assert rule.learned(d, 11.3, last_push_pull=0.0) in {b, c, d}
    assert rule.due(12.3) is None
    # A push-pull 0.5 s ago holds it back; the burst keeps counting.
    for when, addr in ((20.0, a), (20.1, b), (20.2, c)):
        assert rule.learned(addr, when, last_push_pull=19.7) is None
    assert rule.learned(d, 20.8, last_push_pull=19.7) in {a, b, c, d}


def test_rule_follows_through_while_the_view_grows_then_stops() -> None:
    rule = CatchUp(LAN.replace(catch_up_burst=2, catch_up_window_s=1.0), random.Random(1))
    a, b, c = (("10.0.0.1", 1), ("10.0.0.2", 1), ("10.0.0.3", 1))
    assert rule.learned(a, 5.0, last_push_pull=0.0) is None
    assert rule.learned(b, 5.1, last_push_pull=0.0) in {a, b}
    # One newcomer by gossip during the cooldown: no burst needed any more, it is the
    # next partner when the window ends.
    assert rule.learned(c, 5.5, last_push_pull=5.12) is None
    assert rule.deadline(last_push_pull=5.12) == 6.12  # a window after the merge
    assert rule.due(6.12) == c
    # Only the push-pull taught something: confirm with any live member.
    rule.taught()
    assert rule.deadline(last_push_pull=6.13) == 7.13
    assert rule.due(7.13) == ANY_PEER
    # A learned member after the window fires at once, with it.
    assert rule.learned(a, 8.5, last_push_pull=7.14) == a
    assert rule.due(9.5) is None  # nothing new: stable
    assert not rule.active


def test_our_join_starts_the_follow_through_without_a_push_pull_of_its_own() -> None:
    rule = CatchUp(LAN.replace(catch_up_burst=8, catch_up_window_s=2.0), random.Random(1))
    rule.joined(3.0)
    assert rule.deadline(last_push_pull=3.0) == 5.0
    assert rule.due(5.0) is None  # a lone join: nobody new by gossip, no push-pull
    rule.joined(10.0)
    newcomer_address = ("10.0.0.9", 1)
    assert rule.learned(newcomer_address, 10.5, last_push_pull=10.0) is None  # cooldown
    assert rule.due(12.0) == newcomer_address  # others joined with us: catch up
    off = CatchUp(LAN.replace(catch_up_burst=0), random.Random(1))
    off.joined(3.0)
    assert off.deadline(last_push_pull=3.0) == math.inf


def test_newcomers_kept_are_bounded() -> None:
    rule = CatchUp(LAN.replace(catch_up_burst=1, catch_up_window_s=1.0), random.Random(1))
    rule.learned(("10.0.0.1", 1), 1.0, last_push_pull=0.0)
    for i in range(10 * MAX_NEWCOMERS):
        assert rule.learned((f"10.1.{i // 250}.{i % 250}", 1), 1.5, last_push_pull=1.0) is None
    partner = rule.due(2.0)
    assert partner is not None and partner[0].startswith("10.1.")
    assert len(rule._newcomers) == 0


def run_core(core: SwimProtocol, until: float) -> list[tuple[Address, PushPull]]:
    """Run the core's timers to ``until``; the standard push-pulls it opened meanwhile
    (each answered by nothing: it fails). Serf's reconnects to the members that died
    for want of acks are join push-pulls, left out."""
    opened = []
    while (deadline := core.next_deadline()) is not None and deadline < until:
        core.handle_timer(deadline)
        core.datagrams_to_send()
        for request in core.streams_to_open():
            msg = codec.decode_stream(request.data, max_size=1 << 22)
            if isinstance(msg, PushPull) and not msg.join:
                opened.append((request.address, msg))
            core.stream_done(request.stream_id, None, deadline)
    return opened


def test_core_pulls_again_with_a_late_newcomer_then_confirms_then_stops() -> None:
    cfg = LAN.replace(push_pull_interval_s=0.0)  # no periodic push-pull in the way
    core = make_core(cfg)
    push_pulls_opened(core)
    feed(core, *[newcomer(i) for i in range(BURST)], now=10.0)
    assert len(push_pulls_opened(core)) == 1
    feed(core, newcomer(BURST), now=10.5)  # one straggler: no burst, but we are catching up
    assert push_pulls_opened(core) == []
    [(address, pp)] = run_core(core, until=12.5)
    assert address == paddr(100 + BURST) and pp.join is False
    # That push-pull failed and nothing else came: the rule stops, for good.
    assert run_core(core, until=60.0) == []
    assert core.stats["catch_ups"] == 2


def test_a_push_pull_that_teaches_starts_a_confirmation_with_a_random_member() -> None:
    cfg = LAN.replace(push_pull_interval_s=0.0)
    core = make_core(cfg)
    feed(core, *[newcomer(i) for i in range(BURST)], now=10.0)
    push_pulls_opened(core)
    taught = (PushNodeState(name="late", addr=ip_to_bytes(paddr(200)[0]), port=7946, meta=b"",
                            incarnation=1, state=int(MemberState.ALIVE)),)
    core.handle_stream(codec.encode_stream(PushPull(join=False, nodes=taught)), paddr(1), 10.2)
    assert core.member_state("late") == MemberState.ALIVE
    opened = run_core(core, until=12.3)
    assert len(opened) == 1 and opened[0][0] != paddr(200)  # a random live member
    assert run_core(core, until=60.0) == []


def test_steady_cluster_never_schedules_a_catch_up() -> None:
    core = make_core(LAN.replace(push_pull_interval_s=0.0))
    feed(core, newcomer(0), now=10.0)  # a single join
    assert core._catch_up.deadline(core._exchanges.last_merge) == math.inf
    assert run_core(core, until=120.0) == []
    assert core.stats["catch_ups"] == 0


def gossiped_alives(core: SwimProtocol, name: str, until: float) -> int:
    """Run the core's timers to ``until``; count the alives about ``name`` it sent."""
    count = 0
    while (deadline := core.next_deadline()) is not None and deadline < until:
        core.handle_timer(deadline)
        for _, data in core.datagrams_to_send():
            msgs, _ = codec.decode_packet(data)
            count += sum(1 for m in msgs if isinstance(m, Alive) and m.node == name)
        core.streams_to_open()
    return count


def test_members_from_a_push_pull_get_only_the_last_transmits_with_catch_up_on() -> None:
    nodes = tuple(PushNodeState(name=f"n{i}", addr=ip_to_bytes(paddr(100 + i)[0]), port=7946,
                                meta=b"", incarnation=1, state=int(MemberState.ALIVE))
                  for i in range(12))  # 18 members: 8 transmits each (LAN)
    for cfg, expected in ((LAN, LAN.retransmit_mult), (LAN.memberlist(), 8)):
        core = make_core(cfg.replace(probe_interval_s=1000.0, probe_timeout_s=1.0))
        core.handle_stream(codec.encode_stream(PushPull(join=False, nodes=nodes)), paddr(1), 1.0)
        assert gossiped_alives(core, "n3", until=30.0) == expected, cfg


def test_a_zero_window_is_refused_while_the_rule_is_on() -> None:
    with pytest.raises(ConfigError, match="catch_up_window_s"):
        LAN.replace(catch_up_window_s=0.0)
    assert LAN.replace(catch_up_burst=0, catch_up_window_s=0.0).catch_up_window_s == 0.0
