"""SwimProtocol with a fake clock: single cores fed crafted packets, and in-memory
clusters (``tests.core_harness``) for end-to-end behaviour. No sockets, no sleeps."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest

from gossip import codec, serf_codec
from gossip.addresses import ip_to_bytes
from gossip.config import Compression, GossipConfig
from gossip.dissemination import retransmit_limit
from gossip.errors import LocalProtocolError
from gossip.events import (
    AppMessage,
    AppState,
    JoinResult,
    MemberFailed,
    MemberJoined,
    MemberLeft,
    MemberRecovered,
    MemberSuspected,
    MemberUpdated,
    NameConflict,
    Refuted,
)
from gossip.messages import (
    VSN_SERF,
    Ack,
    Alive,
    ClawAppMessage,
    Dead,
    IndirectPing,
    Nack,
    Ping,
    PushPull,
    SerfJoin,
    SerfLeave,
    Suspect,
    UserMsg,
)
from gossip.ping_payload import encode_ack_payload
from gossip.protocol import SwimProtocol
from gossip.push_pull import push_pull_scale
from gossip.suspicion import suspicion_bounds
from gossip.tags import encode_tags
from gossip.types import MemberState
from tests.core_harness import Cluster, claw_meta

LAN = GossipConfig.lan()
QUIET = LAN.replace(probe_interval_s=1000.0, push_pull_interval_s=0.0)
"""Probing practically off: unit tests see only the traffic they cause."""
ME = ("10.0.0.1", 7946)
VECTORS = Path(__file__).parent / "data" / "vectors.json"


# --- single-core helpers ----------------------------------------------------------------


def make_core(cfg: GossipConfig = QUIET, name: str = "me", **kw) -> SwimProtocol:
    kw.setdefault("meta", claw_meta())
    kw.setdefault("strict", True)
    return SwimProtocol(cfg, name=name, address=ME, rng=random.Random(7), now=0.0, **kw)


def paddr(i: int) -> tuple[str, int]:
    return (f"10.0.1.{i}", 7946)


def alive(name: str, inc: int, addr: tuple[str, int], meta: bytes | None = None) -> Alive:
    return Alive(inc, name, ip_to_bytes(addr[0]), addr[1],
                 claw_meta() if meta is None else meta, VSN_SERF)


def feed(core: SwimProtocol, *msgs, now: float, src=("10.9.9.9", 7946)) -> None:
    parts = [codec.encode_message(m) for m in msgs]
    core.receive_datagram(parts[0] if len(parts) == 1 else codec.encode_compound(parts), src, now)


def sent(core: SwimProtocol) -> list[tuple[tuple[str, int], list]]:
    out = []
    for addr, data in core.datagrams_to_send():
        msgs, bad = codec.decode_packet(data)
        assert bad == 0
        out.append((addr, msgs))
    return out


def drain(core: SwimProtocol) -> list:
    evs = []
    while (ev := core.next_event()) is not None:
        evs.append(ev)
    return evs


def advance(core: SwimProtocol, until: float) -> list[tuple[tuple[str, int], list]]:
    """Run the core's timers up to ``until``; return everything it sent meanwhile."""
    out = sent(core)
    while (d := core.next_deadline()) is not None and d <= until:
        core.handle_timer(d)
        out += sent(core)
    return out


def until_probe(core: SwimProtocol) -> tuple[tuple[str, int], Ping]:
    """Run timers until the core sends its next probe ping; return (address, ping)."""
    for _ in range(10_000):
        core.handle_timer(core.next_deadline())
        for addr, msgs in sent(core):
            if isinstance(msgs[0], Ping):
                return addr, msgs[0]
    raise AssertionError("no probe")


def with_peers(core: SwimProtocol, n: int, now: float = 0.0) -> list[str]:
    names = [f"p{i}" for i in range(1, n + 1)]
    for i, name in enumerate(names, 1):
        feed(core, alive(name, 1, paddr(i)), now=now)
    drain(core)
    sent(core)
    return names


def make_cluster(n: int, *, seed: int = 1, config: GossipConfig = LAN, **kw) -> Cluster:
    c = Cluster(config, seed=seed, **kw)
    for i in range(n):
        c.add_node(f"n{i}")
    c.join_all()
    return c


# --- construction and commands ------------------------------------------------------------


def test_constructor_rejects_bad_arguments() -> None:
    with pytest.raises(LocalProtocolError):
        make_core(incarnation=0)
    with pytest.raises(LocalProtocolError):
        make_core(meta=b"x" * 513)
    with pytest.raises(LocalProtocolError):
        SwimProtocol(LAN, name="", address=ME, rng=random.Random(), now=0.0)
    with pytest.raises(LocalProtocolError):
        SwimProtocol(LAN, name="x", address=("not-an-ip", 1), rng=random.Random(), now=0.0)
    core = make_core(incarnation=41)
    assert core.incarnation == 41 and core.name == "me"
    assert core.member("me").state == MemberState.ALIVE and core.member("me").is_claw
    with pytest.raises(LocalProtocolError):
        core.set_meta(b"y" * 600, 1.0)


# --- probing --------------------------------------------------------------------------------


def test_probe_ack_keeps_everyone_alive_and_healthy() -> None:
    c = make_cluster(2)
    c.run(20.0)
    for name in ("n0", "n1"):
        st = c.core(name).stats
        assert st["probes"] >= 15
        assert st["probe_failures"] == 0 and st["suspicions"] == 0
        assert st["acks_in"] >= st["probes"]
        assert c.core(name).health_score == 0
    assert c.converged() and c.internal_errors() == {}


def test_ping_is_answered_to_source_address_and_checks_the_name() -> None:
    core = make_core()
    feed(core, Ping(9, "me", ip_to_bytes("10.0.1.5"), 8000, "x"), now=1.0, src=("10.0.1.9", 1))
    ours = encode_ack_payload(core.coordinate_of("me"))  # Serf's ping delegate payload
    [(addr, msgs)] = sent(core)
    assert addr == ("10.0.1.5", 8000) and msgs[0] == Ack(9, ours)
    feed(core, Ping(10, "", None, 0, ""), now=1.0, src=("10.0.1.9", 1))  # unnamed: fine
    [(addr, msgs)] = sent(core)
    assert addr == ("10.0.1.9", 1) and msgs[0] == Ack(10, ours)
    feed(core, Ping(11, "someone-else", None, 0, ""), now=1.0)
    assert sent(core) == [] and core.stats["pings_wrong_node"] == 1


def test_missed_ack_goes_indirect_with_tcp_fallback_then_suspects() -> None:
    core = make_core(LAN)
    with_peers(core, 3)
    target_addr, ping = until_probe(core)
    assert ping.node != "me" and ping.source_addr == ip_to_bytes(ME[0]) and ping.source_node == "me"
    # nothing answers: after probe_timeout come indirect pings and a TCP ping
    probe_start = core._prober.round.start
    out = advance(core, probe_start + LAN.probe_timeout_s)
    indirect = [(a, m[0]) for a, m in out if isinstance(m[0], IndirectPing)]
    assert len(indirect) == 2                    # all other alive members (< indirect_checks)
    assert {a for a, _ in indirect}.isdisjoint({target_addr})
    for _, req in indirect:
        assert req.seq_no == ping.seq_no and req.node == ping.node and req.nack
    [tcp] = core.streams_to_open()
    assert tcp.address == target_addr and tcp.expect_reply
    assert tcp.deadline == pytest.approx(probe_start + LAN.probe_interval_s)
    assert codec.decode_stream(tcp.data, max_size=1 << 20) == ping
    core.stream_done(tcp.stream_id, None, probe_start + 0.7)
    feed(core, Nack(ping.seq_no), now=probe_start + 0.8)    # one helper answers with a nack
    advance(core, probe_start + LAN.probe_interval_s)
    [ev] = [e for e in drain(core) if isinstance(e, MemberSuspected)]
    assert ev.member.name == ping.node and ev.accuser == "me"
    assert core.stats["probe_failures"] == 1
    assert core.health_score == 1                # expected 2 nacks, got 1


def test_late_tcp_ack_saves_the_target() -> None:
    core = make_core(LAN)
    with_peers(core, 1)
    until_probe(core)
    r = core._prober.round
    advance(core, r.start + LAN.probe_timeout_s)
    [tcp] = core.streams_to_open()
    core.stream_done(tcp.stream_id, codec.encode_stream(Ack(r.seq, None)), r.start + 0.9)
    advance(core, r.start + 1.5)
    assert not [e for e in drain(core) if isinstance(e, MemberSuspected)]
    assert core.stats["probe_failures"] == 0


def test_probe_of_a_suspect_carries_the_suspicion_with_crc() -> None:
    core = make_core(LAN)
    with_peers(core, 1)
    feed(core, Suspect(1, "p1", "someone"), now=0.0)
    out = advance(core, 1.0)
    raw = [d for d in out if isinstance(d[1][0], Ping)]
    assert raw, "the suspect must still be probed"
    _, msgs = raw[0]
    assert isinstance(msgs[1], Suspect) and msgs[1].node == "p1" and msgs[1].from_ == "me"


def test_probe_of_a_suspect_packet_bytes_start_with_crc() -> None:
    core = make_core(LAN)
    with_peers(core, 1)
    feed(core, Suspect(1, "p1", "someone"), now=0.0)
    seen = []
    while (d := core.next_deadline()) <= 1.0:
        core.handle_timer(d)
        seen += core.datagrams_to_send()
    probes = [data for _, data in seen if codec.decode_packet(data)[0][0].__class__ is Ping]
    assert probes and all(data[0] == 12 for data in probes)


def test_indirect_ping_is_relayed_with_requester_seq_and_nacked_on_timeout() -> None:
    core = make_core()
    req = IndirectPing(77, ip_to_bytes("10.0.1.7"), 7946, "t", True,
                       ip_to_bytes("10.0.1.2"), 7946, "req")
    feed(core, req, now=5.0)
    [(addr, [ping, *_piggyback])] = sent(core)  # our own initial alive rides along
    assert addr == ("10.0.1.7", 7946) and ping.node == "t" and ping.seq_no != 77
    feed(core, Ack(ping.seq_no, b"coords"), now=5.1)
    [(addr, msgs)] = sent(core)
    assert addr == ("10.0.1.2", 7946) and msgs[0] == Ack(77, None)
    # second request: no ack, so a nack after 0.8 × probe_timeout (the Lifeguard paper's
    # value: it reaches the requester before its round ends, unlike memberlist's)
    feed(core, req, now=6.0)
    [(_, [ping2, *_])] = sent(core)
    nack_at = 6.0 + LAN.relay_nack_fraction * LAN.probe_timeout_s
    assert advance(core, nack_at - 0.001) == []
    out = advance(core, nack_at)
    assert [(a, m[0]) for a, m in out] == [(("10.0.1.2", 7946), Nack(77))]
    # an ack still within probe_timeout is relayed after the nack
    feed(core, Ack(ping2.seq_no, None), now=6.0 + 0.9 * LAN.probe_timeout_s)
    assert [(a, m[0]) for a, m in sent(core)] == [(("10.0.1.2", 7946), Ack(77, None))]


def test_relay_without_nack_request_sends_none_and_does_not_spin() -> None:
    core = make_core(LAN)
    req = IndirectPing(79, ip_to_bytes("10.0.1.7"), 7946, "t", False,
                       ip_to_bytes("10.0.1.2"), 7946, "req")
    feed(core, req, now=6.0)
    sent(core)
    out = advance(core, 6.0 + LAN.probe_timeout_s)
    assert [m[0] for _, m in out if isinstance(m[0], Nack)] == []
    assert core.next_deadline() > 6.0 + LAN.probe_timeout_s  # the relay is gone, no past deadline


def test_memberlist_detector_relays_nack_after_the_whole_probe_timeout() -> None:
    core = make_core(LAN.memberlist())
    req = IndirectPing(78, ip_to_bytes("10.0.1.7"), 7946, "t", True,
                       ip_to_bytes("10.0.1.2"), 7946, "req")
    feed(core, req, now=6.0)
    sent(core)
    assert advance(core, 6.0 + LAN.probe_timeout_s - 0.001) == []
    out = advance(core, 6.0 + LAN.probe_timeout_s)
    assert [(a, m[0]) for a, m in out] == [(("10.0.1.2", 7946), Nack(78))]


# --- suspicion, confirmation, refutation -------------------------------------------------


def test_confirmations_shorten_the_suspicion_timeout() -> None:
    core = make_core(LAN)                            # timers run only when called below
    with_peers(core, 5)                              # n = 6 -> k = 2, min 4 s, max 24 s
    assert suspicion_bounds(4, 6, 6, 1.0) == (4.0, 24.0)
    feed(core, Suspect(1, "p5", "p1"), now=10.0)
    assert core.suspicion_deadline("p5") == pytest.approx(34.0)
    feed(core, Suspect(1, "p5", "p1"), now=10.5)     # same accuser: not independent
    assert core.suspicion_deadline("p5") == pytest.approx(34.0)
    feed(core, Suspect(1, "p5", "p2"), now=11.0)     # 1 of 2: 24 - ln2/ln3*20 = 11.381
    assert core.suspicion_deadline("p5") == pytest.approx(21.381)
    feed(core, Suspect(1, "p5", "p3"), now=12.0)     # 2 of 2: the minimum, 4 s from start
    assert core.suspicion_deadline("p5") == pytest.approx(14.0)
    assert core.stats["confirmations"] == 2
    core.handle_timer(13.9)
    assert core.member("p5").state == MemberState.SUSPECT
    core.handle_timer(14.0)
    assert core.member("p5").state == MemberState.DEAD
    evs = drain(core)
    assert [type(e) for e in evs] == [MemberSuspected, MemberFailed]
    assert evs[0].accuser == "p1" and evs[1].accuser == "me"


@pytest.mark.parametrize("grace", [True, False])
def test_a_suspect_that_acks_our_probe_gets_memberlists_minimum_from_the_ack(grace) -> None:
    core = make_core(LAN.replace(suspect_ack_grace=grace, push_pull_interval_s=0.0))
    with_peers(core, 5)                                        # n = 6: k = 2, min 4 s
    advance(core, 10.0)
    # Nobody answered our probes so far: take a peer we do not suspect ourselves yet.
    i = next(i for i in range(5, 0, -1) if core.member(f"p{i}").state == MemberState.ALIVE)
    x = f"p{i}"
    a1, a2, a3 = [f"p{j}" for j in range(1, 6) if j != i][:3]
    feed(core, Suspect(1, x, a1), now=10.0)
    assert core.suspicion_deadline(x) == pytest.approx(34.0)  # unconfirmed: the max
    ping, t = None, 10.0
    while ping is None:                        # our confirmation probe of x
        t = core.next_deadline()
        assert t is not None and t < 13.0
        core.handle_timer(t)
        ping = next((m[0] for a, m in sent(core) if a == paddr(i) and isinstance(m[0], Ping)),
                    None)
    assert 10.0 <= t < 13.0                    # before the 14 s verdict
    feed(core, Ack(ping.seq_no, None), now=t + 0.4, src=paddr(i))
    # Two more accusers: the timer shrinks to the minimum from the start (14 s), but not
    # before memberlist's minimum after x's ack when the grace is on.
    feed(core, Suspect(1, x, a2), Suspect(1, x, a3), now=t + 0.45)
    assert core.suspicion_deadline(x) == pytest.approx(t + 4.4 if grace else 14.0)
    assert core.stats["suspect_acks"] == (1 if grace else 0)
    verdict = core.suspicion_deadline(x)
    core.handle_timer(verdict - 0.01)
    assert core.member(x).state == MemberState.SUSPECT
    core.handle_timer(verdict)                 # no refutation reached us: dead after all
    assert core.member(x).state == MemberState.DEAD


def test_suspect_then_dead_after_max_timeout_without_confirmations() -> None:
    core = make_core(LAN.replace(last_chance_probe=False))  # (that probe: test_suspicion_protocol)
    with_peers(core, 5)
    feed(core, Suspect(1, "p2", "p1"), now=0.0)
    core.handle_timer(23.99)
    assert core.member("p2").state == MemberState.SUSPECT
    core.handle_timer(24.0)
    assert core.member("p2").state == MemberState.DEAD
    # the death is gossiped as dead{from me}
    out = advance(core, 30.0)
    deads = [m for _, ms in out for m in ms if isinstance(m, Dead)]
    assert deads and deads[0] == Dead(1, "p2", "me")


def test_alive_with_higher_incarnation_recovers_a_suspect() -> None:
    core = make_core()
    with_peers(core, 3)
    feed(core, Suspect(1, "p1", "p2"), now=1.0)
    feed(core, alive("p1", 2, paddr(1)), now=2.0)
    assert core.member("p1").state == MemberState.ALIVE and core.suspicion_deadline("p1") is None
    assert [type(e) for e in drain(core)] == [MemberSuspected, MemberRecovered]


@pytest.mark.parametrize("accusation,expected_inc", [
    (Suspect(1, "me", "p1"), 2),
    (Suspect(9, "me", "p1"), 10),
    (Dead(1, "me", "p1"), 2),
    (Dead(5, "me", "p1"), 6),
])
def test_refutation(accusation, expected_inc) -> None:
    core = make_core()
    with_peers(core, 2)
    feed(core, accusation, now=1.0)
    assert core.incarnation == expected_inc
    assert core.member("me").state == MemberState.ALIVE
    assert drain(core) == [Refuted(incarnation=expected_inc, accuser="p1")]
    assert core.health_score == 1 and core.stats["refutes"] == 1
    out = advance(core, 2.0)
    alives = [m for _, ms in out for m in ms if isinstance(m, Alive)]
    assert alives and alives[0].node == "me" and alives[0].incarnation == expected_inc
    assert alives[0].vsn == VSN_SERF and alives[0].addr == ip_to_bytes(ME[0])


def test_old_accusations_and_own_echo_are_ignored() -> None:
    core = make_core(incarnation=5)
    with_peers(core, 2)
    feed(core, Suspect(4, "me", "p1"), Dead(3, "me", "p1"), now=1.0)
    feed(core, alive("me", 5, ME), now=1.0)            # our own alive echoed back
    feed(core, alive("me", 4, ME, meta=b"old"), now=1.0)
    assert core.incarnation == 5 and drain(core) == []
    feed(core, alive("me", 5, ME, meta=b"forged"), now=1.0)   # same inc, other meta
    assert core.incarnation == 6 and core.stats["refutes"] == 1


@pytest.mark.parametrize("answer", [True, False])
def test_a_stale_accusation_is_answered_with_our_alive_to_its_sender(answer) -> None:
    core = make_core(QUIET.replace(answer_stale_accusations=answer), incarnation=5)
    with_peers(core, 2)

    def alives_to(addr) -> list:
        return [m for a, ms in sent(core) if a == addr for m in ms if isinstance(m, Alive)]

    feed(core, Suspect(4, "me", "p1"), now=1.0, src=paddr(2))   # p2 missed our refutation
    got = alives_to(paddr(2))
    assert [(a.node, a.incarnation) for a in got] == ([("me", 5)] if answer else [])
    feed(core, Dead(3, "me", "p1"), now=1.5, src=paddr(2))      # within 1 s: not again
    assert alives_to(paddr(2)) == []
    feed(core, Dead(3, "me", "p1"), now=2.6, src=paddr(2))
    assert len(alives_to(paddr(2))) == (1 if answer else 0)
    assert core.stats["stale_accusations_answered"] == (2 if answer else 0)
    assert core.incarnation == 5 and core.stats["refutes"] == 0  # no refutation needed
    feed(core, Suspect(5, "me", "p1"), now=3.0, src=paddr(2))   # current: a refutation
    assert core.incarnation == 6 and core.stats["stale_accusations_answered"] == (2 if answer else 0)


def test_refutation_in_a_cluster_spreads_the_new_incarnation() -> None:
    c = make_cluster(4)
    c.run(10.0, until=c.converged)
    c.inject("n0", codec.encode_message(Suspect(1, "n1", "n3")))
    c.run(10.0)
    assert c.core("n1").incarnation == 2
    assert c.events_of("n1", Refuted)
    assert all(c.core(o).member("n1").incarnation == 2 for o in c.live())
    assert c.converged()


def test_refuting_twice_a_hostile_top_incarnation_stays_in_uint32() -> None:
    core = make_core()
    feed(core, Suspect(2**32 - 1, "me", "x"), now=1.0)
    assert core.incarnation == 2**32 - 1
    advance(core, 2.0)
    assert core.stats["internal_errors"] == 0


# --- cluster behaviour ------------------------------------------------------------------


@pytest.mark.parametrize("n", [5, 20, 50])
def test_clusters_converge_and_detect_a_crash_within_bound(n: int) -> None:
    # Pure-Python LZW dominates big runs; compression is exercised by the smaller tests.
    c = make_cluster(n, seed=n, config=LAN if n <= 5 else LAN.replace(compression=Compression.OFF))
    c.run(60.0, until=c.converged)
    assert c.converged(), f"{n} nodes did not converge in 60 s"
    victim = "n3"
    c.crash(victim)
    t0 = c.now
    _, max_s = suspicion_bounds(LAN.suspicion_mult, LAN.suspicion_max_mult, n, LAN.probe_interval_s)
    # Someone probes the victim within one probe round over everyone (n-1 intervals at
    # worst, ~1 s typically); then at most max_s; plus dissemination slack.
    bound = (n - 1) * LAN.probe_interval_s + max_s + 5.0
    c.run(bound, until=lambda: c.all_see(victim, MemberState.DEAD))
    assert c.all_see(victim, MemberState.DEAD), f"not detected within {bound:.1f} s"
    assert c.now - t0 <= bound
    assert c.converged([x for x in c.live()])
    for name in c.live():
        assert [e.member.name for e in c.events_of(name, MemberFailed)] == [victim]
    assert c.internal_errors() == {}


def test_crash_detection_local_profile_bound() -> None:
    cfg = GossipConfig.local()
    c = make_cluster(5, config=cfg, seed=3)
    c.run(60.0, until=c.converged)
    c.crash("n2")
    t0 = c.now
    c.run(60.0, until=lambda: c.all_see("n2", MemberState.DEAD))
    _, max_s = suspicion_bounds(cfg.suspicion_mult, cfg.suspicion_max_mult, 5, cfg.probe_interval_s)
    assert c.all_see("n2", MemberState.DEAD) and c.now - t0 <= 4 * cfg.probe_interval_s + max_s


def test_graceful_leave_is_left_everywhere() -> None:
    c = make_cluster(5)
    c.run(30.0, until=c.converged)
    leaver = c.core("n2")
    leaver.leave(c.now)
    assert leaver.is_leaving and not leaver.leave_done
    c.run(10.0, until=lambda: leaver.leave_done)
    assert leaver.leave_done
    c.crash("n2")                                  # the process exits after leaving
    c.run(40.0)
    assert c.all_see("n2", MemberState.LEFT)
    for name in c.live():
        assert [e.member.name for e in c.events_of(name, MemberLeft)] == ["n2"]
        assert not c.events_of(name, MemberFailed)
    assert c.internal_errors() == {}


def test_leave_alone_is_done_at_once() -> None:
    core = make_core()
    core.leave(0.0)
    assert core.leave_done and core.member("me").state == MemberState.LEFT


def test_leave_sends_serf_intent_before_dead() -> None:
    core = make_core()
    with_peers(core, 2)
    core.leave(1.0)
    out = advance(core, 20.0)
    kinds = []
    for _, msgs in out:
        for m in msgs:
            if isinstance(m, UserMsg) and isinstance(serf_codec.decode_serf(m.payload), SerfLeave):
                kinds.append("intent")
            elif isinstance(m, Dead) and m.node == "me":
                assert m.from_ == "me"
                kinds.append("dead")
    assert kinds and kinds[0] == "intent" and "dead" in kinds
    assert kinds.index("dead") > max(i for i, k in enumerate(kinds) if k == "intent")
    assert core.leave_done


def test_leave_rounds_start_at_once_and_dead_follows_in_the_same_round() -> None:
    core = make_core(QUIET.replace(announce_fanout=0))  # the epidemic alone (memberlist's)
    with_peers(core, 9)
    advance(core, 5.0)                      # the peers' alive rumours are spent
    core.leave(5.0)
    assert core.next_deadline() == 5.0      # the first round does not wait for the tick
    rounds: list[list[str]] = []
    while not core.leave_done:
        t = core.next_deadline()
        assert t is not None and t < 10.0
        core.handle_timer(t)
        kinds = []
        for _, msgs in sent(core):
            for m in msgs:
                if isinstance(m, UserMsg) and isinstance(serf_codec.decode_serf(m.payload), SerfLeave):
                    kinds.append("intent")
                elif isinstance(m, Dead) and m.node == "me":
                    kinds.append("dead")
        if kinds:
            rounds.append(kinds)
    limit = retransmit_limit(LAN.retransmit_mult, 10)
    assert limit == 8 and LAN.gossip_nodes == 3
    # 8 intent transmits: 3 + 3 + 2; the third round's last packet already carries the dead.
    assert rounds[:3] == [["intent"] * 3, ["intent"] * 3, ["intent", "intent", "dead"]]
    assert sum(r.count("dead") for r in rounds) == limit
    assert core.member("me").state == MemberState.LEFT


def test_leave_rounds_wait_for_the_gossip_tick_like_serf_when_disabled() -> None:
    for cfg in (QUIET.replace(leave_gossip_at_once=False), QUIET.memberlist()):
        assert not cfg.leave_gossip_at_once
        core = make_core(cfg)
        with_peers(core, 9)
        advance(core, 5.0)                  # the peers' alive rumours are spent
        tick = core._gossiper.next_round    # idle: the schedule's phase, not advanced
        while tick < 5.0:
            tick += cfg.gossip_interval_s
        assert 5.0 <= tick < 5.0 + cfg.gossip_interval_s
        core.leave(5.0)
        assert core.next_deadline() == tick  # the scheduled round, not one at once
        assert not core.datagrams_to_send() or cfg.announce_fanout > 0


def test_an_idle_core_does_not_wake_for_empty_gossip_rounds_and_keeps_their_schedule() -> None:
    for cfg in (QUIET, QUIET.memberlist()):
        core = make_core(cfg)
        with_peers(core, 9)
        advance(core, 5.0)                  # the peers' alive rumours are spent
        assert not core._outbox.gossip_due()
        # The next wake-up is a probe or another timer, never a round with nothing to send.
        assert core.next_deadline() != core._gossiper.next_round
        phase = core._gossiper.next_round
        interval = cfg.gossip_interval_s
        core.set_meta(claw_meta(role="x"), 5.03)  # queues our own alive: a round is due
        core.datagrams_to_send()
        assert core.next_deadline() <= core._gossiper.next_round
        due = core._gossiper.next_round
        assert 5.03 <= due < 5.03 + interval
        # On the schedule the rounds had before they went idle (whole intervals on).
        assert abs((due - phase) / interval - round((due - phase) / interval)) < 1e-6
        advance(core, due)
        assert core._gossiper.next_round > due  # the round ran at its time


def _leave_kinds(msgs: list) -> list[str]:
    kinds = []
    for m in msgs:
        if isinstance(m, UserMsg) and isinstance(serf_codec.decode_serf(m.payload), SerfLeave):
            kinds.append("intent")
        elif isinstance(m, Dead) and m.node == "me":
            kinds.append("dead")
    return kinds


def test_metadata_changed_while_leaving_announces_no_new_life() -> None:
    core = make_core()
    with_peers(core, 3)
    advance(core, 5.0)
    core.leave(5.0)
    inc = core.incarnation
    core.set_meta(claw_meta(role="x"), 5.05)    # e.g. stepping down as coordinator
    out = advance(core, 6.0)
    assert core.incarnation == inc
    assert not [m for _, ms in out for m in ms if isinstance(m, Alive) and m.node == "me"]
    assert core.leave_done


def test_leave_is_told_straight_to_every_member_intent_first() -> None:
    core = make_core()
    with_peers(core, 9)
    advance(core, 5.0)
    core.leave(5.0)
    direct = [(a, _leave_kinds(m)) for a, m in sent(core) if len(m) == 1]
    # The intent alone, once to each of the 9 members (the gossip round adds 3 more).
    told = [a for a, k in direct if k == ["intent"]]
    assert len(told) >= 9 and set(told) == {paddr(i) for i in range(1, 10)}
    assert core.stats["announce_out"] == 9
    # One gossip interval later the dead follows, again to each of them.
    out = advance(core, 5.0 + LAN.gossip_interval_s)
    dead_to = {a for a, m in out if "dead" in _leave_kinds(m)}
    assert dead_to == {paddr(i) for i in range(1, 10)}
    assert core.stats["announce_out"] == 18
    assert core.member("me").state == MemberState.LEFT


def test_leave_tells_at_most_announce_fanout_and_the_dead_only_to_those() -> None:
    core = make_core(QUIET.replace(announce_fanout=4))
    with_peers(core, 20)
    advance(core, 5.0)
    core.leave(5.0)
    told = {a for a, m in sent(core) if _leave_kinds(m) == ["intent"]}
    assert core.stats["announce_out"] == 4
    out = advance(core, 5.0 + 10 * LAN.gossip_interval_s)
    # 16 members were not told directly, so the dead waits for the intent's epidemic to
    # end (not one gossip interval), then goes straight to the same 4 only.
    assert len(told) == 4 and core.stats["announce_out"] == 8
    first_dead = min(i for i, (_, m) in enumerate(out) if "dead" in _leave_kinds(m))
    assert first_dead > 0 and any("intent" in _leave_kinds(m) for _, m in out[:first_dead])
    assert told <= {a for a, m in out if "dead" in _leave_kinds(m)}


def test_a_joiner_tells_every_member_it_learned_from_the_seed() -> None:
    c = make_cluster(6)
    c.run(30.0, until=c.converged)
    c.add_node("new")
    joiner = c.core("new")
    joiner.join([c.nodes["n0"].address], c.now)
    c.run(0.05)                        # the push-pull (no gossip round has run yet)
    assert joiner.stats["announce_out"] == 5      # everyone but the seed, who knows already
    assert c.all_see("new", MemberState.ALIVE)
    for name in c.live():
        if name != "new":
            assert [e.member.name for e in c.events_of(name, MemberJoined)][-1:] == ["new"]
    # Serf's join intent rode along the announcements: every member but the seed has
    # new's status LTime; the seed, not announced to, learns it from the gossip.
    def knows_intent(n: str) -> bool:
        return c.core(n)._members.get("new").status_ltime >= 1

    assert all(knows_intent(n) for n in c.live() if n not in ("new", "n0"))
    c.run(2.0, until=lambda: knows_intent("n0"))
    assert knows_intent("n0")


def test_without_announce_a_join_spreads_by_gossip_only() -> None:
    c = make_cluster(6, config=LAN.replace(announce_fanout=0))
    c.run(30.0, until=c.converged)
    c.add_node("new")
    c.core("new").join([c.nodes["n0"].address], c.now)
    c.run(0.05)
    assert c.core("new").stats["announce_out"] == 0
    assert not c.all_see("new", MemberState.ALIVE)
    c.run(10.0, until=lambda: c.all_see("new", MemberState.ALIVE))
    assert c.all_see("new", MemberState.ALIVE)


def test_name_conflict_is_refused_and_reported() -> None:
    c = make_cluster(3)
    c.run(30.0, until=c.converged)
    before = c.core("n0").member("n1")
    c.inject("n0", codec.encode_message(alive("n1", 99, ("10.7.7.7", 7946))))
    after = c.core("n0").member("n1")
    assert after == before
    [ev] = c.events_of("n0", NameConflict)
    assert ev.existing == before and ev.claimed_by == ("10.7.7.7", 7946)
    assert c.core("n0").stats["name_conflicts"] == 1


def test_restart_at_new_address_with_higher_incarnation_is_accepted() -> None:
    c = make_cluster(4)
    c.run(30.0, until=c.converged)
    c.crash("n3")
    c.run(60.0, until=lambda: c.all_see("n3", MemberState.DEAD))
    assert c.all_see("n3", MemberState.DEAD)
    c.add_node("n3", address=("10.0.9.9", 7946), incarnation=2)
    c.join("n3", ["n0"])
    c.run(30.0, until=c.converged)
    assert c.converged()
    for o in ("n0", "n1", "n2"):
        m = c.core(o).member("n3")
        assert m.address == ("10.0.9.9", 7946) and m.incarnation >= 2
        assert [e.member.name for e in c.events_of(o, MemberJoined)].count("n3") == 2
        assert not c.events_of(o, NameConflict)


def test_a_dead_name_stays_where_it_died_like_memberlist_when_restarts_elsewhere_are_refused() -> None:
    for cfg, moved in ((LAN, True), (LAN.replace(accept_restart_elsewhere=False), False),
                       (LAN.memberlist(), False)):
        core = make_core(cfg)
        with_peers(core, 2)
        feed(core, Dead(3, "p1", "p2"), now=1.0)
        drain(core)
        feed(core, alive("p1", 4, ("10.5.5.5", 7946)), now=2.0)   # higher, elsewhere
        p1 = core.member("p1")
        events = drain(core)
        assert (p1.state == MemberState.ALIVE) is moved, cfg
        assert (p1.address == ("10.5.5.5", 7946)) is moved
        assert any(isinstance(e, NameConflict) for e in events) is not moved


def test_stale_alive_about_a_dead_node_is_answered_with_the_accusation() -> None:
    core = make_core(LAN)                            # rate limit: one per probe interval
    with_peers(core, 2)
    feed(core, Dead(3, "p1", "p2"), now=1.0)
    drain(core)
    sent(core)
    feed(core, alive("p1", 2, paddr(1)), now=2.0)
    out = sent(core)
    assert [(a, m[0]) for a, m in out] == [(paddr(1), Dead(3, "p1", "me"))]
    feed(core, alive("p1", 3, paddr(1)), now=2.1)      # rate limited per member
    assert sent(core) == []
    feed(core, alive("p1", 1, ("10.5.5.5", 7946)), now=3.5)  # even from a new address
    assert [(a, m[0]) for a, m in sent(core)] == [(("10.5.5.5", 7946), Dead(3, "p1", "me"))]
    assert core.member("p1").state == MemberState.DEAD
    assert core.stats["stale_alives"] == 3 and core.stats["reaccusations"] == 2
    feed(core, alive("p1", 4, paddr(1)), now=4.0)      # the refutation is accepted
    assert core.member("p1").state == MemberState.ALIVE


def test_mass_restart_with_lost_incarnations_recovers() -> None:
    c = make_cluster(5)
    c.run(30.0, until=c.converged)
    for n in ("n3", "n4"):
        c.core(n).set_meta(claw_meta(v="2"), c.now)     # incarnation 2 before the crash
    c.run(5.0)
    c.crash("n3"), c.crash("n4")
    c.run(120.0, until=lambda: c.all_see("n3", MemberState.DEAD) and c.all_see("n4", MemberState.DEAD))
    # both come back with incarnation 1 (state lost) and only know each other
    c.add_node("n3", address=c.nodes["n3"].address, incarnation=1)
    c.add_node("n4", address=c.nodes["n4"].address, incarnation=1)
    c.join("n4", ["n3"])
    c.run(200.0, until=c.converged)
    assert c.converged()
    reaccused = sum(c.core(n).stats["reaccusations"] for n in ("n0", "n1", "n2"))
    refuted = c.events_of("n3", Refuted) + c.events_of("n4", Refuted)
    assert reaccused > 0 and refuted
    assert c.internal_errors() == {}


def test_partition_heals_through_push_pull() -> None:
    c = make_cluster(6, seed=11)
    c.run(30.0, until=c.converged)
    a, b = ["n0", "n1", "n2"], ["n3", "n4", "n5"]
    c.partition(a, b)
    c.run(120.0, until=lambda: all(c.state_of(x, y) == MemberState.DEAD
                                   for x in a for y in b) and all(
        c.state_of(y, x) == MemberState.DEAD for x in a for y in b))
    assert c.converged(a) and c.converged(b)
    c.run(40.0)                                       # past gossip_to_the_dead: only push-pull helps
    c.heal()
    c.run(300.0, until=c.converged)
    assert c.converged()
    assert sum(c.core(n).stats["reconnects"] for n in c.live()) > 0
    assert c.internal_errors() == {}


def test_lossy_network_no_false_deaths() -> None:
    c = make_cluster(8, seed=5, loss=0.05)
    c.run(60.0, until=c.converged)
    c.run(60.0)
    for name in c.live():
        assert not c.events_of(name, MemberFailed), name
    assert c.converged()


# --- dissemination --------------------------------------------------------------------------


def test_a_broadcast_is_sent_exactly_retransmit_limit_times() -> None:
    core = make_core()
    with_peers(core, 4)                             # n = 5 -> 4 transmits
    advance(core, 30.0)                             # let the join alives drain
    assert core.pending_broadcasts == 0
    core.set_meta(claw_meta(v="2"), 30.0)
    out = advance(core, 60.0)
    carrying = [a for a, ms in out for m in ms if isinstance(m, Alive) and m.node == "me"]
    assert len(carrying) == retransmit_limit(LAN.retransmit_mult, 5) == 4
    assert core.pending_broadcasts == 0


def test_gossip_sends_nothing_when_there_is_nothing_to_say() -> None:
    core = make_core()
    with_peers(core, 4)
    advance(core, 30.0)
    assert advance(core, 60.0) == []


def test_newer_news_about_a_node_replaces_the_older_in_the_queue() -> None:
    core = make_core()
    with_peers(core, 4)
    advance(core, 30.0)
    feed(core, Suspect(1, "p1", "p2"), now=31.0)
    feed(core, alive("p1", 2, paddr(1)), now=31.0)
    out = advance(core, 60.0)
    about_p1 = [m for _, ms in out for m in ms if getattr(m, "node", None) == "p1"]
    assert about_p1 and all(isinstance(m, Alive) for m in about_p1)


def test_packets_respect_the_udp_budget() -> None:
    core = make_core(LAN.replace(compression=Compression.OFF))
    for i in range(1, 120):
        feed(core, alive(f"peer-with-a-long-name-{i:04d}", 1, (f"10.1.0.{i}", 7946)), now=0.0)
    core.datagrams_to_send()
    sizes = []
    while (d := core.next_deadline()) <= 5.0:
        core.handle_timer(d)
        sizes += [len(data) for _, data in core.datagrams_to_send()]
    assert len(sizes) > 20
    assert max(sizes) <= LAN.udp_buffer_bytes + 5        # + the CRC header
    assert max(sizes) > LAN.udp_buffer_bytes - 200       # and packets are actually filled


def test_claw_app_messages_reach_claw_members_only() -> None:
    c = Cluster(LAN, seed=4)
    for i in range(5):
        c.add_node(f"n{i}")
    c.add_node("serf", meta=encode_tags({"role": "serf"}))
    c.join_all()
    c.run(30.0, until=c.converged)
    leaked = []

    def spy(src: str, dst: str, data: bytes) -> bool:
        if dst == "serf":
            msgs, _ = codec.decode_packet(data)
            leaked.extend(m for m in msgs if isinstance(m, UserMsg)
                          and isinstance(serf_codec.decode_serf(m.payload), ClawAppMessage))
        return False

    c.drop_hook = spy
    c.core("n0").broadcast_app(b"heartbeat-1", c.now, key="hb")
    c.run(10.0)
    for name in ("n1", "n2", "n3", "n4"):
        assert c.events_of(name, AppMessage) == [AppMessage(b"heartbeat-1")], name
    assert not c.events_of("n0", AppMessage)
    assert leaked == [] and c.core("serf").stats["app_messages_in"] == 0


def test_app_broadcast_with_same_key_replaces_queued_one() -> None:
    core = make_core()
    with_peers(core, 1)
    advance(core, 30.0)
    core.broadcast_app(b"v1", 30.0, key="k")
    core.broadcast_app(b"v2", 30.0, key="k")
    assert core.pending_broadcasts == 1
    with pytest.raises(LocalProtocolError):
        core.broadcast_app(b"x" * 2000, 30.0)


def test_without_app_rounds_only_urgent_app_messages_start_gossip_rounds() -> None:
    cfg = QUIET.replace(app_gossip_rounds=False)

    def app_packets(urgent: bool) -> list[float]:
        core = make_core(cfg)
        with_peers(core, 9)
        advance(core, 5.0)                   # the peers' alive rumours are spent
        core.broadcast_app(b"directive", 5.0, key="d", urgent=urgent)
        times = []
        while (d := core.next_deadline()) is not None and d <= 10.0:
            core.handle_timer(d)
            times += [d for _, msgs in sent(core) for m in msgs
                      if isinstance(m, UserMsg)
                      and isinstance(serf_codec.decode_serf(m.payload), ClawAppMessage)]
        assert core.pending_broadcasts == (0 if urgent else 1)
        return times

    assert app_packets(urgent=False) == []   # waits for a probe or an ack to ride on
    urgent = app_packets(urgent=True)
    limit = retransmit_limit(cfg.retransmit_mult, 10)
    assert len(urgent) == limit and max(urgent) - min(urgent) < 1.0


# --- join, push-pull, meta, serf layer ---------------------------------------------------------


def test_join_results_and_serf_join_intent() -> None:
    c = Cluster(LAN, seed=2)
    c.add_node("a")
    c.add_node("b")
    c.core("b").join([c.nodes["a"].address, ("10.99.0.1", 7946)], c.now)
    c.run(5.0)
    results = sorted(c.events_of("b", JoinResult), key=lambda r: r.ok)
    assert [r.ok for r in results] == [False, True]
    assert results[1].seed == c.nodes["a"].address and results[0].error
    assert c.converged()
    # b's join intent reached a: a records b's status LTime
    assert c.core("a")._members.get("b").status_ltime >= 1


def test_push_pull_reply_echoes_join_and_carries_app_state() -> None:
    core = make_core(app_state=lambda: b"my-state")
    other = make_core(name="other", app_state=lambda: b"their-state")
    req = other._exchanges.local_push_pull(join=True)
    reply = core.handle_stream(codec.encode_stream(req), ("10.0.0.2", 40001), 1.0)
    pp = codec.decode_stream(reply, max_size=1 << 20)
    assert isinstance(pp, PushPull) and pp.join
    assert serf_codec.decode_serf(pp.user_state).claw == b"my-state"
    evs = drain(core)
    assert MemberJoined in [type(e) for e in evs]
    assert AppState(b"their-state", True, ("10.0.0.2", 40001)) in evs


def test_join_push_pulls_are_not_compressed_periodic_ones_are() -> None:
    def first_byte(cfg: GossipConfig, join: bool) -> tuple[int, int]:
        core = make_core(cfg.replace(catch_up_burst=0))  # 20 gossiped peers: no catch-up
        with_peers(core, 20)
        other = make_core(name="other")
        req = codec.encode_stream(other._exchanges.local_push_pull(join=join))
        reply = core.handle_stream(req, ("10.0.0.2", 40001), 1.0)
        if join:
            core.join([paddr(1)], 1.0)
        else:
            core.reannounce(1.0)                  # opens a periodic-style push-pull
        (stream,) = core.streams_to_open()
        assert isinstance(codec.decode_stream(reply, max_size=1 << 20), PushPull)
        return reply[0], stream.data[0]
    compressed = 9   # memberlist's compressMsg type byte
    assert compressed not in first_byte(LAN, join=True)
    assert first_byte(LAN, join=False) == (compressed, compressed)
    assert first_byte(LAN.replace(compression=Compression.ALL), join=True) == (compressed, compressed)
    assert compressed not in first_byte(LAN.replace(compression=Compression.OFF), join=False)


def test_app_state_failure_does_not_break_push_pull() -> None:
    def broken() -> bytes:
        raise RuntimeError("app bug")
    core = make_core(app_state=broken)
    other = make_core(name="other")
    reply = core.handle_stream(codec.encode_stream(other._exchanges.local_push_pull(join=False)),
                               ("10.0.0.2", 1), 1.0)
    assert isinstance(codec.decode_stream(reply, max_size=1 << 20), PushPull)
    assert core.stats["app_state_errors"] == 1


def test_periodic_push_pull_uses_scaled_interval() -> None:
    assert push_pull_scale(30.0, 32) == 30.0
    assert push_pull_scale(30.0, 33) == 60.0
    assert push_pull_scale(30.0, 64) == 60.0
    assert push_pull_scale(30.0, 65) == 90.0
    # Its peers never answer: with a last-chance probe all three are still suspect at
    # 30 s, and push-pulls go to alive members only; this test is about the interval.
    core = make_core(LAN.replace(last_chance_probe=False))
    with_peers(core, 3)
    advance(core, 95.0)
    pushes = [r for r in core.streams_to_open()
              if isinstance(codec.decode_stream(r.data, max_size=1 << 20), PushPull)]
    assert 3 <= len(pushes) <= 4


def test_first_periodic_push_pull_waits_a_whole_interval_after_the_stagger() -> None:
    # memberlist's pushPullTrigger: a random stagger, then a full interval (the join's
    # push-pull has just synced the state).
    cfg = LAN.replace(probe_interval_s=1000.0)  # no probes: the silent peers stay alive
    interval = cfg.push_pull_interval_s
    for seed in range(20):
        core = SwimProtocol(cfg, name="me", address=ME, rng=random.Random(seed), now=0.0,
                            meta=claw_meta())
        with_peers(core, 3)
        times = []
        while (d := core.next_deadline()) is not None and d < 3 * interval:
            core.handle_timer(d)
            sent(core)
            times += [d for r in core.streams_to_open()
                      if isinstance(codec.decode_stream(r.data, max_size=1 << 20), PushPull)]
        assert interval <= times[0] < 2 * interval
        assert times[1] - times[0] == pytest.approx(interval)


def test_set_meta_updates_everyone_without_a_self_event() -> None:
    c = make_cluster(3)
    c.run(30.0, until=c.converged)
    before = c.core("n1").incarnation
    c.core("n1").set_meta(claw_meta(role="gpu"), c.now)
    c.run(5.0)
    assert c.core("n1").incarnation == before + 1
    for o in ("n0", "n2"):
        [ev] = c.events_of(o, MemberUpdated)
        assert ev.member.name == "n1" and ev.member.meta == claw_meta(role="gpu")
    assert not c.events_of("n1", MemberUpdated)


def test_reannounce_bumps_and_pushes() -> None:
    core = make_core()
    with_peers(core, 2)
    core.reannounce(1.0)
    assert core.incarnation == 2
    [req] = core.streams_to_open()
    assert isinstance(codec.decode_stream(req.data, max_size=1 << 20), PushPull)


def test_serf_leave_intent_about_us_is_refuted_with_a_join_intent() -> None:
    core = make_core()
    with_peers(core, 2)
    feed(core, UserMsg(serf_codec.encode_serf(SerfLeave(50, "me"))), now=1.0)
    out = advance(core, 2.0)
    joins = [serf_codec.decode_serf(m.payload) for _, ms in out for m in ms if isinstance(m, UserMsg)]
    assert any(isinstance(j, SerfJoin) and j.node == "me" and j.ltime > 50 for j in joins)


def test_serf_leave_intent_then_death_counts_as_left() -> None:
    core = make_core()
    with_peers(core, 3)
    feed(core, UserMsg(serf_codec.encode_serf(SerfLeave(5, "p1"))), now=1.0)
    feed(core, Dead(1, "p1", "p2"), now=1.2)
    assert core.member("p1").state == MemberState.LEFT
    assert [type(e) for e in drain(core)] == [MemberLeft]


def test_table_is_capped() -> None:
    core = make_core(QUIET.replace(max_members=3))
    with_peers(core, 5)
    assert len(core.members()) == 3 and core.stats["members_refused"] == 3


def test_incarnation_zero_for_unknown_node_is_dropped() -> None:
    core = make_core()
    feed(core, alive("ghost", 0, paddr(1)), now=1.0)
    assert core.member("ghost") is None and core.stats["unknown_zero_incarnation"] == 1


# --- hostile input --------------------------------------------------------------------------


def _snapshot(core: SwimProtocol):
    return (sorted(core.members(), key=lambda m: m.name), core.incarnation)


def test_hostile_datagrams_change_nothing() -> None:
    c = make_cluster(3)
    c.run(30.0, until=c.converged)
    core = c.core("n0")
    before = _snapshot(core)
    rng = random.Random(99)
    valid = codec.encode_compound([codec.encode_message(alive("zz", 1, paddr(3))),
                                   codec.encode_message(Suspect(1, "n1", "x"))])
    samples = [b"", b"\x00", b"\x07\xff", b"\x0c\x00\x00\x00\x00\x04", b"\x09\xc1",
               codec.add_crc(valid)[:-1] + b"\x00", b"\x08", b"\x08\xc8",
               b"\x0d\x81\xa5Error\xa1x", b"\x06\x80", b"\xff" * 100, b"\x07" * 70000]
    samples += [valid[:i] for i in range(1, len(valid) - 1)]
    samples += [bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 300))) for _ in range(2000)]
    for data in samples:
        c.inject("n0", data)
    st = core.stats
    assert st["malformed"] + st["crc_errors"] + st["unknown_type"] + st["malformed_parts"] > 100
    assert st["crc_errors"] >= 1
    assert st["internal_errors"] == 0, core.last_internal_error
    after = _snapshot(core)
    # random bytes may parse as a harmless unknown-node message; the known members must not move
    assert [m for m in after[0] if m.name in ("n0", "n1", "n2")] == \
           [m for m in before[0] if m.name in ("n0", "n1", "n2")]
    assert after[1] == before[1]


def test_hostile_streams_and_replies_change_nothing() -> None:
    core = make_core()
    with_peers(core, 2)
    before = _snapshot(core)
    rng = random.Random(5)
    for data in [b"", b"\x06", b"\x09\x00", b"\x0a\x00\x00\x00\x05abcde", b"\x07" * 10,
                 b"\x06\x83\xa4Join\xc3\xa5Nodes\xce\xff\xff\xff\xff\xacUserStateLen\x00"] + [
            bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 200))) for _ in range(500)]:
        reply = core.handle_stream(data, ("10.9.9.9", 1), 1.0)
        assert reply is None or isinstance(reply, bytes)
    core.join([("10.0.1.1", 7946)], 1.0)
    [req] = core.streams_to_open()
    core.stream_done(req.stream_id, b"\x00garbage", 1.1)
    core.stream_done(req.stream_id, b"again", 1.2)           # unknown id now
    core.stream_done(12345, None, 1.2)
    [res] = [e for e in drain(core) if isinstance(e, JoinResult)]
    assert not res.ok
    assert _snapshot(core) == before
    assert core.stats["internal_errors"] == 0, core.last_internal_error


# --- real Serf bytes ---------------------------------------------------------------------------


def _serf_vectors():
    return [v for v in json.loads(VECTORS.read_text())
            if v["origin"] == "serf" and not v["encrypted"]]


def test_real_serf_ping_gets_an_ack_at_its_source() -> None:
    v = next(v for v in _serf_vectors() if v["summary"] == "ping")
    body = v["decoded"]["messages"][0]["body"]
    core = SwimProtocol(LAN, name=body["Node"], address=("127.0.0.1", v["dst_port"]),
                        rng=random.Random(1), now=0.0)
    core.receive_datagram(bytes.fromhex(v["hex"]), ("127.0.0.1", v["src_port"]), 1.0)
    [(addr, msgs)] = sent(core)
    assert addr == (body["SourceAddr"]["ip"], body["SourcePort"])
    assert msgs[0] == Ack(body["SeqNo"], encode_ack_payload(core.coordinate_of(body["Node"])))


def test_real_serf_traffic_is_understood_without_errors() -> None:
    core = SwimProtocol(LAN, name="claw", address=("127.0.0.9", 7999), meta=claw_meta(),
                        rng=random.Random(1), now=0.0)
    t = 0.0
    for v in _serf_vectors():
        data = bytes.fromhex(v["hex"])
        t += 0.01
        if v["transport"] == "udp":
            core.receive_datagram(data, ("127.0.0.1", v["src_port"]), t)
        elif v.get("tcp_role") == "initiator":
            reply = core.handle_stream(data, ("127.0.0.1", v["src_port"]), t)
            if v["summary"] == "pushPull":
                assert isinstance(codec.decode_stream(reply, max_size=1 << 24), PushPull)
        core.handle_timer(t)
        core.datagrams_to_send()
        core.streams_to_open()
    st = core.stats
    assert st["malformed"] == 0 and st["crc_errors"] == 0 and st["malformed_parts"] == 0
    assert st["internal_errors"] == 0, core.last_internal_error
    names = {m.name for m in core.members()}
    assert {"a", "b", "c"} <= names
    assert not any(m.is_claw for m in core.members() if m.name != "claw")
    assert st["serf_intents"] > 0                                 # joins/leaves
    assert st["user_event_received"] > 0 and st["query_queries"] > 0  # events, queries


# --- Lifeguard awareness, dead-member handling, app state in a cluster -------------------------


def test_missed_nacks_raise_health_score_and_stretch_the_probe_interval() -> None:
    core = make_core(LAN)
    with_peers(core, 3)                          # nobody ever answers anything
    starts = []
    t = 0.0
    while t < 120.0:
        t = core.next_deadline()
        core.handle_timer(t)
        for req in core.streams_to_open():
            core.stream_done(req.stream_id, None, t)
        if any(isinstance(m[0], Ping) for _, m in sent(core)):
            starts.append(t)
    assert core.health_score == LAN.awareness_max_multiplier - 1
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps[0] == pytest.approx(1.0)
    # each gap is probe_interval × (score + 1) at that probe's start: 1 s up to 8 s
    assert all(abs(g - round(g)) < 1e-9 and 1 <= round(g) <= 8 for g in gaps)
    assert max(gaps) >= 4.0


def test_health_stretches_failed_rounds_not_the_wait_after_an_ack() -> None:
    # memberlist's probe ticker: a failed round lasts probe_interval × (score + 1); after
    # an acknowledged probe the next starts probe_interval after the previous one.
    core = make_core(LAN)
    with_peers(core, 3)
    core._awareness.apply_delta(3)               # score 3: rounds of up to 4 s
    _, first = until_probe(core)
    start = core._prober.round.start
    feed(core, Ack(first.seq_no, None), now=start + 0.01)
    _, _second = until_probe(core)
    # (the ack brought the score to 2: a scaled wait would have been 4 s from start)
    assert core._prober.round.start - start == pytest.approx(1.0)


def test_successful_probes_bring_health_back() -> None:
    c = make_cluster(3)
    c.run(20.0, until=c.converged)
    core = c.core("n0")
    core._awareness.apply_delta(5)
    c.run(30.0)
    assert core.health_score == 0


def test_dead_members_are_gossiped_to_then_dropped_from_push_pull_then_reaped() -> None:
    core = make_core(LAN)
    with_peers(core, 3)
    feed(core, Dead(1, "p3", "p1"), now=1.0)
    state = core._exchanges.local_push_pull(join=False)
    assert "p3" in [n.name for n in state.nodes]
    out = advance(core, 5.0)
    assert paddr(3) in [a for a, _ in out]           # the dead still hear gossip for a while
    core.handle_timer(1.0 + LAN.gossip_to_the_dead_s + 1.0)
    assert "p3" not in [n.name for n in core._exchanges.local_push_pull(join=False).nodes]
    assert core.cluster_size_estimate == 3
    assert core.member("p3").state == MemberState.DEAD   # still remembered
    core.handle_timer(1.0 + LAN.gossip_to_the_dead_s + 24 * 3600 + 2.0)
    assert core.member("p3") is None and core.stats["reaped"] >= 1


def test_app_state_travels_in_push_pull_both_ways() -> None:
    c = Cluster(LAN, seed=8)
    for name in ("a", "b"):
        c.add_node(name, app_state=lambda name=name: f"state-of-{name}".encode())
    c.join("b", ["a"])
    c.run(2.0)
    [sa] = c.events_of("a", AppState)
    [sb] = c.events_of("b", AppState)
    assert sa.body == b"state-of-b" and sa.join
    assert sb.body == b"state-of-a" and sb.join and sb.sender == c.nodes["a"].address
    c.run(70.0)                                   # periodic syncs carry it too, join=False
    assert any(not e.join for e in c.events_of("a", AppState) + c.events_of("b", AppState))


# --- invariants under arbitrary (well-formed) rumours --------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402 - this section's own imports
from hypothesis import strategies as st  # noqa: E402 - this section's own imports

pytestmark = pytest.mark.usefixtures("strict_core")  # a bug the core survives fails the test

_NAMES = ["me", "p1", "p2", "p3"]
_ADDRS = [ME, paddr(1), paddr(2), ("10.0.7.7", 7946)]
_rumour = st.one_of(
    st.builds(lambda n, i, a: alive(n, i, a), st.sampled_from(_NAMES), st.integers(0, 6),
              st.sampled_from(_ADDRS)),
    st.builds(Suspect, st.integers(0, 6), st.sampled_from(_NAMES), st.sampled_from(_NAMES)),
    st.builds(Dead, st.integers(0, 6), st.sampled_from(_NAMES), st.sampled_from(_NAMES)),
    st.builds(lambda lt, n: UserMsg(serf_codec.encode_serf(SerfLeave(lt, n))), st.integers(0, 9),
              st.sampled_from(_NAMES)),
    st.builds(lambda lt, n: UserMsg(serf_codec.encode_serf(SerfJoin(lt, n))), st.integers(0, 9),
              st.sampled_from(_NAMES)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_rumour, st.floats(0.0, 5.0)), max_size=40))
def test_invariants_hold_under_arbitrary_rumours(steps) -> None:
    core = make_core(LAN)
    now, last_inc = 0.0, core.incarnation
    for msg, dt in steps:
        now += dt
        feed(core, msg, now=now)
        core.handle_timer(now)
        core.datagrams_to_send()
        for req in core.streams_to_open():
            core.stream_done(req.stream_id, None, now)
        assert core.incarnation >= last_inc                  # never goes backwards
        last_inc = core.incarnation
        me = core.member("me")
        assert me.state == MemberState.ALIVE and me.address == ME   # we always refute
        for m in core.members():
            assert (core.suspicion_deadline(m.name) is not None) == (m.state == MemberState.SUSPECT)
    drain(core)
    assert core.stats["internal_errors"] == 0, core.last_internal_error


def test_one_way_loss_toward_a_node_gets_it_suspected_then_it_refutes() -> None:
    c = make_cluster(4, seed=21)
    c.run(30.0, until=c.converged)
    for other in ("n0", "n1", "n2"):
        c.block("n3", other)                  # n3 hears everyone but nobody hears n3
    c.run(60.0, until=lambda: any(e.member.name == "n3" for e in c.events_of("n0", MemberSuspected)))
    assert c.events_of("n0", MemberSuspected)
    c.heal()
    c.run(120.0, until=c.converged)
    assert c.converged() and c.events_of("n3", Refuted)


def test_a_frozen_prober_does_not_accuse_its_target() -> None:
    core = make_core(LAN)
    with_peers(core, 3)
    until_probe(core)
    r = core._prober.round
    core.next_deadline()                     # the driver arms its timer, then
    core.handle_timer(r.start + 60.0)        # the process slept through the whole round
    assert core._prober.round is None or core._prober.round.start >= r.start + 60.0
    assert not [e for e in drain(core) if isinstance(e, MemberSuspected)]
    assert core.stats["probes_abandoned"] == 1
    # ... but it knows it was the slow one: one late timer, one point of local health
    assert core.stats["late_timers"] == 1 and core.health_score == 1


def test_a_frozen_prober_carries_on_with_its_round_like_memberlist_when_disabled() -> None:
    for cfg in (LAN.replace(abandon_stalled_round_s=0.0), LAN.memberlist()):
        assert cfg.abandon_stalled_round_s == 0.0
        core = make_core(cfg)
        with_peers(core, 3)
        _, ping = until_probe(core)
        r = core._prober.round
        core.next_deadline()
        core.handle_timer(r.start + 60.0)    # slept through the round: it still ends
        suspected = [e for e in drain(core) if isinstance(e, MemberSuspected)]
        assert core.stats["probes_abandoned"] == 0
        assert [e.member.name for e in suspected] == [ping.node], cfg


def test_late_timers_raise_local_health_unless_memberlist_or_disabled() -> None:
    for cfg, expected in ((LAN, 1), (LAN.replace(late_timer_s=0.0), 0),
                          (LAN.memberlist(), 0)):
        core = make_core(cfg)
        with_peers(core, 3)
        due = core.next_deadline()
        core.handle_timer(due + cfg.late_timer_s * 0.9 if cfg.late_timer_s else due + 0.4)
        assert core.health_score == 0                # a little late: nothing
        due = core.next_deadline()
        core.handle_timer(due + 0.5)                 # 0.5 s late: starved
        assert core.health_score == expected, cfg
        assert core.stats["late_timers"] == expected


def test_gossip_is_crc_protected_only_for_peers_that_speak_protocol_5() -> None:
    core = make_core(LAN)
    feed(core, Alive(1, "modern", ip_to_bytes("10.0.1.1"), 7946, claw_meta(), VSN_SERF), now=0.0)
    feed(core, Alive(1, "old", ip_to_bytes("10.0.1.2"), 7946, claw_meta(), bytes([1, 4, 2, 2, 5, 5])),
         now=0.0)
    core.datagrams_to_send()
    first_bytes: dict[tuple[str, int], set[int]] = {}
    t = 0.0
    while t < 3.0:
        t = core.next_deadline()
        core.handle_timer(t)
        for req in core.streams_to_open():
            core.stream_done(req.stream_id, None, t)
        for addr, data in core.datagrams_to_send():
            msgs, _ = codec.decode_packet(data)
            if not isinstance(msgs[0], (Ping, IndirectPing)):    # gossip, not probes
                first_bytes.setdefault(addr, set()).add(data[0])
    assert first_bytes[("10.0.1.1", 7946)] == {12}
    assert 12 not in first_bytes[("10.0.1.2", 7946)]


def test_datagrams_are_compressed_only_when_asked() -> None:
    for cfg, compressed in ((LAN, False), (LAN.replace(compression=Compression.ALL), True)):
        core = make_core(cfg)
        for i in range(1, 30):
            feed(core, alive(f"member-{i:03d}", 1, (f"10.0.2.{i}", 7946)), now=0.0)
        core.datagrams_to_send()
        core.handle_timer(core.next_deadline())
        packets = [data for _, data in core.datagrams_to_send()]
        assert packets
        assert any(d[0] == 12 and d[5] == 9 for d in packets) is compressed


def test_big_gossip_is_compressed_under_the_crc() -> None:
    core = make_core(LAN.replace(compression=Compression.ALL))
    for i in range(1, 30):
        feed(core, alive(f"member-{i:03d}", 1, (f"10.0.2.{i}", 7946)), now=0.0)
    core.datagrams_to_send()
    core.handle_timer(core.next_deadline())
    packets = [data for _, data in core.datagrams_to_send()]
    assert packets and any(d[0] == 12 and d[5] == 9 for d in packets)   # hasCrc(compress(...))
    for d in packets:
        msgs, bad = codec.decode_packet(d)
        assert bad == 0 and len(msgs) > 1


def test_push_pull_flood_of_names_is_capped() -> None:
    from gossip.messages import PushNodeState
    core = make_core(QUIET.replace(max_members=100))
    nodes = tuple(PushNodeState(f"fake-{i}", ip_to_bytes(f"10.3.{i // 250}.{i % 250 + 1}"), 7946,
                                b"", 1, 0, VSN_SERF) for i in range(1000))
    reply = core.handle_stream(codec.encode_stream(PushPull(False, nodes, b"")), ("10.9.9.9", 1), 1.0)
    assert isinstance(codec.decode_stream(reply, max_size=1 << 22), PushPull)
    assert len(core.members()) == 100 and core.stats["members_refused"] == 901
    assert core.pending_broadcasts <= 4096 * 3
    assert core.stats["internal_errors"] == 0


def _broken_core(strict: bool) -> SwimProtocol:
    core = make_core(strict=strict)

    def bug(msg: object, addr: object, now: float) -> None:
        raise RuntimeError("a bug in a handler")

    core._on_packet_message = bug  # type: ignore[method-assign]
    return core


def test_a_strict_core_raises_its_internal_errors() -> None:
    core = _broken_core(strict=True)
    with pytest.raises(RuntimeError, match="a bug in a handler"):
        core.receive_datagram(codec.encode_message(Ping(1, "me", None, 0, "")), ("10.0.0.2", 7946), 1.0)


def test_the_strict_core_fixture_makes_a_core_built_lenient_by_default_raise(
        strict_core: list[SwimProtocol]) -> None:
    core = SwimProtocol(QUIET, name="me", address=ME, rng=random.Random(7), now=0.0)  # no strict=
    assert strict_core == [core]

    def bug(msg: object, addr: object, now: float) -> None:
        raise RuntimeError("a bug in a handler")

    core._on_packet_message = bug  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="a bug in a handler"):
        core.receive_datagram(codec.encode_message(Ping(1, "me", None, 0, "")), ("10.0.0.2", 7946), 1.0)


def test_a_lenient_core_counts_its_internal_errors_and_hands_them_to_the_driver() -> None:
    core = _broken_core(strict=False)
    core.receive_datagram(codec.encode_message(Ping(1, "me", None, 0, "")), ("10.0.0.2", 7946), 1.0)
    assert core.stats["internal_errors"] == 1
    assert "a bug in a handler" in core.last_internal_error
    reported = core.internal_errors_to_report()
    assert [str(e) for e in reported] == ["a bug in a handler"]
    assert reported[0].__traceback__ is not None  # the driver logs where it happened
    assert core.internal_errors_to_report() == []  # handed over once
