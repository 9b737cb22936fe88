"""claw-node's suspicion extensions inside SwimProtocol (fake clock, crafted packets):
confirmation probes, the floor below memberlist's minimum, the restart of a suspicion
of a newer incarnation, and ``GossipConfig.memberlist()`` that turns all of them off."""

from __future__ import annotations

import random

import pytest

from gossip import codec
from gossip.addresses import ip_to_bytes
from gossip.config import Compression, GossipConfig
from gossip.errors import ConfigError
from gossip.events import MemberFailed
from gossip.messages import VSN_SERF, Ack, Alive, Dead, Ping, Suspect
from gossip.protocol import SwimProtocol
from gossip.types import MemberState
from tests.core_harness import Cluster, claw_meta

pytestmark = pytest.mark.usefixtures("strict_core")  # a bug the core survives fails the test

LAN = GossipConfig.lan()
ML = LAN.memberlist()
ME = ("10.0.0.1", 7946)


def make_core(cfg: GossipConfig = LAN, peers: int = 5) -> SwimProtocol:
    core = SwimProtocol(cfg, name="me", address=ME, meta=claw_meta(), rng=random.Random(3),
                        now=0.0, strict=True)
    for i in range(1, peers + 1):
        feed(core, Alive(1, f"p{i}", ip_to_bytes(paddr(i)[0]), 7946, claw_meta(), VSN_SERF),
             now=0.0)
    core.datagrams_to_send()
    while core.next_event() is not None:
        pass
    return core


def paddr(i: int) -> tuple[str, int]:
    return (f"10.0.{i // 250}.{i % 250 + 1}", 7946)


def feed(core: SwimProtocol, *msgs: object, now: float) -> None:
    parts = [codec.encode_message(m) for m in msgs]  # type: ignore[arg-type]
    core.receive_datagram(parts[0] if len(parts) == 1 else codec.encode_compound(parts),
                          ("10.9.9.9", 7946), now)


def pings(core: SwimProtocol) -> list[tuple[Ping, list[object]]]:
    out = []
    for _, data in core.datagrams_to_send():
        msgs, _ = codec.decode_packet(data)
        if isinstance(msgs[0], Ping):
            out.append((msgs[0], msgs[1:]))
    return out


def run_timers(core: SwimProtocol, until: float) -> None:
    while (d := core.next_deadline()) is not None and d <= until:
        core.handle_timer(d)


def probe_time(core: SwimProtocol, target: str, until: float) -> tuple[float, list[object]]:
    """Run timers until a ping to ``target`` goes out; its time and piggybacked parts."""
    while (d := core.next_deadline()) is not None and d <= until:
        core.handle_timer(d)
        for ping, rest in pings(core):
            if ping.node == target:
                return d, rest
    raise AssertionError(f"no probe of {target} by {until}")


def run_acked(core: SwimProtocol, until: float) -> Ping:
    """Run timers to ``until`` with every probe acked at once (health stays 0), then up
    to the next probe; return that probe's ping, its round left in flight."""
    while (d := core.next_deadline()) is not None and d <= until:
        core.handle_timer(d)
        for ping, _ in pings(core):
            feed(core, Ack(ping.seq_no, None), now=d)
    assert core.health_score == 0 and core._prober.round is None
    for _ in range(1000):
        core.handle_timer(core.next_deadline())
        sent = pings(core)
        if sent:
            return sent[0][0]
    raise AssertionError("no probe")


def test_someone_elses_suspicion_is_probed_at_once_with_the_buddy_warning() -> None:
    core = make_core()
    ping = run_acked(core, 5.0)
    start = core._prober.round.start
    feed(core, Ack(ping.seq_no, None), now=start + 0.01)
    feed(core, Suspect(1, "p3", "p1"), now=start + 0.7)
    when, rest = probe_time(core, "p3", start + 1.0)
    assert when == pytest.approx(start + 0.7)     # idle and not rate-limited: now
    assert any(isinstance(m, Suspect) and m.node == "p3" and m.from_ == "me" for m in rest)
    assert core.stats["confirm_probes"] == 1
    # a confirmation from a third member does not trigger a second probe
    seq = core._prober.round.seq
    feed(core, Suspect(1, "p3", "p2"), now=start + 0.75)
    feed(core, Ack(seq, None), now=start + 0.75)
    run_timers(core, start + 3.0)
    assert core.stats["confirm_probes"] == 1


def test_a_probe_in_flight_is_not_cut_short_the_suspect_comes_next() -> None:
    core = make_core()
    regular = run_acked(core, 5.0)
    start = core._prober.round.start                   # no ack: this round stays in flight
    feed(core, Suspect(1, "p4", "p1"), now=start + 0.1)
    assert core._prober.round is not None and core._prober.round.target == regular.node
    run_timers(core, start + 0.99)
    assert core.stats["confirm_probes"] == 0
    run_timers(core, start + 1.0)                # next regular tick takes the suspect
    assert core.stats["confirm_probes"] == 1 and core._prober.round.target == "p4"


def test_rate_limit_one_probe_start_per_probe_timeout() -> None:
    core = make_core()
    ping = run_acked(core, 5.0)
    start = core._prober.round.start
    feed(core, Ack(ping.seq_no, None), now=start + 0.01)
    feed(core, Suspect(1, "p2", "p1"), now=start + 0.02)
    when, _ = probe_time(core, "p2", start + 1.0)
    assert when == pytest.approx(start + LAN.probe_timeout_s)


def test_own_accusation_does_not_trigger_a_confirmation_probe() -> None:
    core = make_core()
    feed(core, Suspect(1, "p2", "me"), now=1.0)  # e.g. our suspect echoed back
    assert core.stats["confirm_probes"] == 0 and not core._prober.confirm_queue


def test_an_unhealthy_node_still_sends_its_confirmation_probe() -> None:
    core = make_core()
    core._awareness.apply_delta(2)
    feed(core, Suspect(1, "p3", "p1"), now=10.0)
    run_timers(core, 10.0)
    assert core.stats["confirm_probes"] == 1


@pytest.mark.parametrize("cfg", [ML, LAN.replace(confirm_probes=False)])
def test_no_confirmation_probe_when_switched_off(cfg: GossipConfig) -> None:
    core = make_core(cfg)
    feed(core, Suspect(1, "p3", "p1"), now=10.0)
    run_timers(core, 10.0)
    assert core.stats["confirm_probes"] == 0 and not core._prober.confirm_queue


def test_a_failed_confirmation_probe_confirms_as_ourselves() -> None:
    core = make_core()
    ping = run_acked(core, 5.0)
    start = core._prober.round.start
    feed(core, Ack(ping.seq_no, None), now=start + 0.01)
    feed(core, Suspect(1, "p3", "p1"), now=start + 0.6)
    probe_time(core, "p3", start + 0.6)
    run_timers(core, start + 1.6)                 # no ack, no nack, no TCP reply
    assert core.stats["confirmations"] == 1 and core.stats["probe_failures"] == 1
    assert core.member("p3").state == MemberState.SUSPECT
    assert core.health_score == 0                 # agreeing with others is not our fault


@pytest.mark.parametrize("cfg,expected_total", [
    (LAN, 4.0),       # claw: 4 confirmations reach the floor, 4 x 1 s
    (ML, 8.0),        # memberlist: min = 4 x log10(100) x 1 s after 2 confirmations
])
def test_floor_below_memberlists_minimum_at_100_nodes(cfg: GossipConfig,
                                                      expected_total: float) -> None:
    core = make_core(cfg, peers=99)
    assert core.cluster_size_estimate == 100
    feed(core, Suspect(1, "p50", "p1"), now=20.0)
    for i in range(2, 8):
        feed(core, Suspect(1, "p50", f"p{i}"), now=21.0)
    assert core.suspicion_deadline("p50") == pytest.approx(20.0 + expected_total)
    core.handle_timer(20.0 + expected_total - 0.01)
    assert core.member("p50").state == MemberState.SUSPECT
    core.handle_timer(20.0 + expected_total)
    assert core.member("p50").state == MemberState.DEAD


def _suspect_with_7_confirmers(core: SwimProtocol, node: str, now: float) -> float:
    feed(core, Suspect(core.member(node).incarnation, node, "p1"), now=now)
    for i in range(2, 8):
        feed(core, Suspect(core.member(node).incarnation, node, f"p{i}"), now=now + 1.0)
    deadline = core.suspicion_deadline(node)
    assert deadline is not None
    return deadline - now


def test_no_floor_while_we_are_unhealthy_ourselves() -> None:
    # A starved host: our own probes fail too, so the accusers' confirmations are not
    # independent evidence; stop at memberlist's minimum (8 s at N=100), not the floor.
    core = make_core(LAN, peers=99)
    core._awareness.apply_delta(1)
    assert core.health_score == 1
    assert _suspect_with_7_confirmers(core, "p50", 20.0) == pytest.approx(8.0)
    assert core.stats["floors_withheld"] == 1
    relaxed = make_core(LAN.replace(health_gated_floor=False), peers=99)
    relaxed._awareness.apply_delta(1)
    assert _suspect_with_7_confirmers(relaxed, "p50", 20.0) == pytest.approx(4.0)


def test_no_floor_for_a_member_that_refuted_recently_and_floor_again_later() -> None:
    core = make_core(LAN, peers=99)
    assert _suspect_with_7_confirmers(core, "p50", 20.0) == pytest.approx(4.0)
    feed(core, Alive(2, "p50", ip_to_bytes(paddr(50)[0]), 7946, claw_meta(), VSN_SERF),
         now=21.5)                                   # it refutes: alive, only slow
    assert core.member("p50").state == MemberState.ALIVE
    assert _suspect_with_7_confirmers(core, "p50", 30.0) == pytest.approx(8.0)
    feed(core, Alive(3, "p50", ip_to_bytes(paddr(50)[0]), 7946, claw_meta(), VSN_SERF),
         now=31.5)
    later = 31.5 + LAN.slow_member_memory_s
    assert _suspect_with_7_confirmers(core, "p50", later) == pytest.approx(4.0)


def test_small_cluster_floor_equals_min_so_nothing_changes() -> None:
    for cfg in (LAN, ML):
        core = make_core(cfg, peers=5)
        feed(core, Suspect(1, "p5", "p1"), now=0.0)
        for i in range(2, 5):
            feed(core, Suspect(1, "p5", f"p{i}"), now=0.5)
        assert core.suspicion_deadline("p5") == pytest.approx(4.0)


def test_presets_keep_memberlist_numbers_and_claw_floor_is_suspicion_mult() -> None:
    for name, mult in (("lan", 4), ("wan", 6), ("local", 3)):
        cfg = GossipConfig.profile(name)
        assert cfg.suspicion_mult == mult and cfg.suspicion_floor_mult == mult
        assert cfg.confirm_probes and cfg.restart_newer_suspicions
        exact = cfg.memberlist()
        assert not exact.confirm_probes and exact.suspicion_floor_mult == 0
        assert (exact.probe_interval_s, exact.suspicion_mult) == (cfg.probe_interval_s, mult)


@pytest.mark.parametrize("cfg", [LAN, ML], ids=["claw", "memberlist"])
def test_cluster_detects_a_crash_without_false_deaths(cfg: GossipConfig) -> None:
    c = Cluster(cfg.replace(compression=Compression.OFF), seed=5)
    for i in range(12):
        c.add_node(f"n{i}")
    c.join_all()
    c.run(30.0, until=c.converged)
    assert c.converged()
    c.crash("n4")
    c.run(60.0, until=lambda: c.all_see("n4", MemberState.DEAD))
    assert c.all_see("n4", MemberState.DEAD)
    for name in c.live():
        assert [e.member.name for e in c.events_of(name, MemberFailed)] == ["n4"]
    probes = sum(c.core(n).stats["confirm_probes"] for n in c.live())
    assert probes <= len(c.live())               # at most one per node per suspicion
    if not cfg.confirm_probes:
        assert probes == 0


def test_confirmation_probe_takes_the_next_regular_slot_and_keeps_the_phase() -> None:
    core = make_core()
    ping = run_acked(core, 5.0)
    start = core._prober.round.start                    # regular ticks at start + i * 1 s
    feed(core, Ack(ping.seq_no, None), now=start + 0.01)
    feed(core, Suspect(1, "p3", "p1"), now=start + 0.7)
    when, _ = probe_time(core, "p3", start + 1.0)
    assert when == pytest.approx(start + 0.7)
    feed(core, Ack(core._prober.round.seq, None), now=start + 0.71)
    times = []
    while len(times) < 2:
        d = core.next_deadline()
        core.handle_timer(d)
        for p, _ in pings(core):
            times.append(d)
            feed(core, Ack(p.seq_no, None), now=d)
    # the tick at start + 1 was given to the confirmation probe; the phase is kept
    assert times == [pytest.approx(start + 2.0), pytest.approx(start + 3.0)]


@pytest.mark.parametrize("cfg,restarted", [(LAN, True), (ML, False)], ids=["claw", "memberlist"])
def test_suspicion_of_a_newer_incarnation(cfg: GossipConfig, restarted: bool) -> None:
    core = make_core(cfg)
    feed(core, Suspect(1, "p3", "p1"), now=10.0)       # n = 6: k = 2, 4 s .. 24 s
    feed(core, Suspect(1, "p3", "p2"), now=10.5)       # one confirmation
    # p3 refuted with incarnation 2 (we missed it) and p4 accuses it again
    feed(core, Suspect(2, "p3", "p4"), now=13.0)
    if restarted:
        assert core.member("p3").incarnation == 2
        assert core.suspicion_deadline("p3") == pytest.approx(13.0 + 24.0)
        assert core.stats["suspicion_restarts"] == 1
    else:                                              # memberlist: a 2nd confirmation
        assert core.member("p3").incarnation == 1
        assert core.suspicion_deadline("p3") == pytest.approx(14.0)
        assert core.stats["suspicion_restarts"] == 0


def test_memberlist_ignores_a_stale_accusation_claw_answers_it() -> None:
    for cfg, answered in ((LAN, 1), (ML, 0)):
        core = make_core(cfg)
        core._bump_incarnation(5)
        feed(core, Suspect(3, "me", "p1"), now=1.0)   # p1 missed our refutation
        replies = [m for _, data in core.datagrams_to_send()
                   for m in codec.decode_packet(data)[0] if isinstance(m, Alive)]
        assert len(replies) == answered
        assert core.stats["stale_accusations_answered"] == answered


def test_memberlist_sets_every_claw_departure_back() -> None:
    exact = LAN.memberlist()
    assert (exact.restart_newer_suspicions, exact.confirm_probes, exact.suspect_ack_grace,
            exact.answer_stale_accusations) == (False, False, False, False)
    assert (exact.suspicion_floor_mult, exact.late_timer_s, exact.relay_nack_fraction,
            exact.announce_fanout, exact.udp_buffer_bytes) == (0.0, 0.0, 1.0, 0, 1400)
    assert exact.compression is Compression.ALL
    assert exact.memberlist() == exact


def test_compression_must_be_the_enum() -> None:
    with pytest.raises(ConfigError, match="compression"):
        LAN.replace(compression="all")


@pytest.mark.parametrize("accusation", ["suspect", "dead"])
def test_the_accuser_that_made_us_refute_gets_our_alive_straight_back(accusation: str) -> None:
    """The false death of ``bench.suspicion`` loss 30 %, N = 30, seed 2: p1's buddy probe
    (ping + suspect at our incarnation) made us refute, our ack and every gossiped copy
    of the refutation to p1 were lost, and p1 declared us dead 16.8 s later. The
    accusation is stale once we refuted it, so its sender is answered directly."""
    core = make_core(LAN)
    core._bump_incarnation(6)
    sender = paddr(1)
    ping = Ping(41, "me", ip_to_bytes(sender[0]), sender[1], "p1")
    accuse = (Suspect(6, "me", "p1") if accusation == "suspect" else Dead(6, "me", "p1"))
    parts = [codec.encode_message(ping), codec.encode_message(accuse)]
    core.receive_datagram(codec.encode_compound(parts), sender, 5.0)
    assert core.member("me").incarnation == 7
    to_sender = [m for addr, data in core.datagrams_to_send() if addr == sender
                 for m in codec.decode_packet(data)[0]]
    assert any(isinstance(m, Ack) and m.seq_no == 41 for m in to_sender)
    assert 7 in [m.incarnation for m in to_sender if isinstance(m, Alive) and m.node == "me"]
    assert core.stats["stale_accusations_answered"] == 1


def test_memberlist_refutes_by_gossip_only() -> None:
    core = make_core(ML)
    core._bump_incarnation(6)
    feed(core, Suspect(6, "me", "p1"), now=5.0)
    assert core.member("me").incarnation == 7
    assert not [addr for addr, _ in core.datagrams_to_send()]


def _suspect_with_own_confirmation(core: SwimProtocol) -> float:
    """p3 accused by p1 at 10.0 and confirmed by our own failed probe only (c = 1 of
    k = 2); returns the suspicion's deadline (well above memberlist's minimum)."""
    feed(core, Suspect(1, "p3", "p1"), now=10.0)
    feed(core, Suspect(1, "p3", "me"), now=11.0)
    deadline = core.suspicion_deadline("p3")
    assert deadline is not None and deadline > 11.0 + 4.0
    return deadline


def _drive(core: SwimProtocol, until: float, *, p3_answers: bool) -> list[tuple[float, list[object]]]:
    """Run the core's timers until ``until``, acking every ping (p3's only if
    ``p3_answers``); the times of the pings to p3 and their piggybacked parts."""
    probes = []
    while (d := core.next_deadline()) is not None and d <= until:
        core.handle_timer(d)
        for ping, rest in pings(core):
            if ping.node == "p3":
                probes.append((d, rest))
                if not p3_answers:
                    continue
            feed(core, Ack(ping.seq_no, None), now=d + 0.01)
    return probes


def test_a_weak_verdict_waits_for_a_last_probe_and_dies_if_it_fails() -> None:
    """The remaining false deaths at 30 % loss (bench.suspicion, N = 30, seeds 14150 and
    14152): the observer's only confirmation was its own failed probe, no gossiped copy
    of the refutation reached it, and it declared the live suspect dead."""
    core = make_core(LAN.replace(confirm_probes=False))
    deadline = _suspect_with_own_confirmation(core)
    _drive(core, deadline - 0.01, p3_answers=False)
    assert core.member("p3").state == MemberState.SUSPECT
    probes = _drive(core, deadline + 5.0, p3_answers=False)  # (rounds scaled by health 2)
    assert core.stats["last_chance_probes"] == 1
    assert core.member("p3").state == MemberState.DEAD  # the last probe failed too
    [(at, rest)] = probes
    assert deadline <= at <= deadline + 1.0
    assert Suspect(1, "p3", "me") in rest  # the buddy system: it may refute at once


def test_a_last_probe_acked_keeps_the_suspect_until_its_refutation() -> None:
    core = make_core(LAN.replace(confirm_probes=False))
    deadline = _suspect_with_own_confirmation(core)
    _drive(core, deadline - 0.01, p3_answers=False)
    probes = _drive(core, deadline + 1.0, p3_answers=True)
    assert probes and core.stats["last_chance_probes"] == 1
    _drive(core, deadline + 5.0, p3_answers=False)  # within memberlist's minimum of the ack
    assert core.member("p3").state == MemberState.SUSPECT
    feed(core, Alive(2, "p3", ip_to_bytes(paddr(3)[0]), 7946, claw_meta(), VSN_SERF),
         now=deadline + 5.5)  # its refutation arrives: recovered, never declared dead
    assert core.member("p3").state == MemberState.ALIVE
    assert core.stats["deaths"] == 0


def test_a_well_confirmed_verdict_does_not_wait() -> None:
    core = make_core(LAN.replace(confirm_probes=False))
    feed(core, Suspect(1, "p3", "p1"), now=10.0)
    for accuser in ("p2", "p4", "p5", "me"):  # 2k confirmations: the floor
        feed(core, Suspect(1, "p3", accuser), now=10.5)
    deadline = core.suspicion_deadline("p3")
    assert deadline is not None
    _drive(core, deadline, p3_answers=False)
    assert core.member("p3").state == MemberState.DEAD
    assert core.stats["last_chance_probes"] == 0
