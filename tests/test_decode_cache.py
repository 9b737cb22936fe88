"""The decode cache (``gossip.decode_cache``): bounded, shared safely, and invisible.

Invisible means: a core with a private cache, one sharing a cache with other cores and
one whose cache stores nothing do exactly the same thing with the same input, valid or
malformed (same outputs, events and ``stats``).
"""

from __future__ import annotations

import pickle
import random

import pytest

from gossip import codec, serf_codec
from gossip.addresses import ip_to_bytes
from gossip.config import GossipConfig
from gossip.decode_cache import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ENTRIES,
    DecodeCache,
    entry_cost,
)
from gossip.messages import (
    VSN_SERF,
    Alive,
    ClawAppMessage,
    Dead,
    Ping,
    SerfJoin,
    SerfLeave,
    SerfPushPull,
    Suspect,
    UserMsg,
)
from gossip.protocol import SwimProtocol
from gossip.tags import CLAW_TAG, encode_tags
from simulations.sim.runner import Run, RunOptions

pytestmark = pytest.mark.usefixtures("strict_core")  # a bug the core survives fails the test

LO = ip_to_bytes("127.0.0.1")
META = encode_tags({CLAW_TAG: "1"})


def _alive(i: int, inc: int = 1) -> bytes:
    return codec.encode_message(Alive(inc, f"node-{i}", LO, 7000 + i, META, VSN_SERF))


def _gossip(parts: list[bytes]) -> bytes:
    return codec.encode_compound(parts)


# --- the namespaces' bounds --------------------------------------------------------------


def test_keys_beyond_max_entry_bytes_are_not_stored() -> None:
    cache = DecodeCache(max_entries=10, max_bytes=1 << 20, max_entry_bytes=8)
    for memo in (cache.commands, cache.serf):
        assert memo.max_entry_cost == entry_cost(8)
    assert len(_alive(1)) > 8
    for _ in range(2):  # decoded each time: nothing stored
        codec.decode_packet(_gossip([_alive(1), _alive(2)]), cache=cache)
    assert len(cache.commands) == 0 and cache.commands.total_cost == 0
    assert cache.commands.misses == 4


def test_pickled_cache_keeps_bounds_and_sharing_but_not_entries() -> None:
    cache = DecodeCache(7, 9999, 55)
    cache.commands.put(b"abc", Ping(1, "n", LO, 7946, "m"), entry_cost(3))
    a, b = pickle.loads(pickle.dumps([cache, cache]))
    assert a is b
    assert len(a.commands) == 0
    assert (a.commands.max_entries, a.commands.max_cost, a.commands.max_entry_cost) == (
        7, 9999, entry_cost(55))


# --- codec with a cache --------------------------------------------------------------------


def test_decode_packet_same_result_and_shared_objects() -> None:
    suspect = codec.encode_message(Suspect(3, "node-1", "node-2"))
    dead = codec.encode_message(Dead(4, "node-3", "node-2"))
    user = codec.encode_message(UserMsg(serf_codec.encode_serf(SerfJoin(5, "node-4"))))
    ping = codec.encode_message(Ping(99, "node-0", LO, 7000, "node-9"))
    datagram = _gossip([ping, _alive(1), suspect, dead, user])
    plain, bad = codec.decode_packet(datagram)
    cache = DecodeCache()
    first, bad1 = codec.decode_packet(datagram, cache=cache)
    # The same broadcasts inside another compound, in another order.
    other = codec.add_crc(_gossip([dead, _alive(1), suspect]))
    second, bad2 = codec.decode_packet(other, cache=cache)
    assert (first, bad1) == (plain, bad) and bad2 == 0
    assert second == [plain[3], plain[1], plain[2]]
    assert second[0] is first[3] and second[1] is first[1] and second[2] is first[2]
    assert len(cache.commands) == 3  # alive, suspect, dead; never pings or user messages
    assert cache.commands.misses == 3  # the second datagram decoded nothing anew
    with pytest.raises(AttributeError):  # immutable: a shared object stays as decoded
        first[1].incarnation = 9  # type: ignore[misc]


def test_malformed_parts_are_never_cached_and_always_counted() -> None:
    good = _alive(1)
    bad_alive = good[:-3]  # truncated msgpack
    not_a_map = bytes([4]) + b"\x93\x01\x02\x03"
    datagram = _gossip([bad_alive, good, not_a_map])
    plain = codec.decode_packet(datagram)
    cache = DecodeCache()
    for _ in range(3):
        assert codec.decode_packet(datagram, cache=cache) == plain
    assert plain[1] == 2
    assert len(cache.commands) == 1
    # A malformed datagram made of one bad leaf still raises the same error every time.
    for _ in range(2):
        with pytest.raises(codec.MalformedPacket, match="truncated msgpack"):
            codec.decode_packet(bad_alive, cache=cache)


def test_decode_serf_cache_skips_push_pull_and_malformed() -> None:
    cache = DecodeCache()
    join = serf_codec.encode_serf(SerfJoin(8, "node-5"))
    leave = serf_codec.encode_serf(SerfLeave(9, "node-6"))
    app = serf_codec.encode_serf(ClawAppMessage(b"heartbeat"))
    pp = serf_codec.encode_serf(SerfPushPull(1, {"a": 1}, (), 1, (None,), 1))
    for payload in (join, leave, app, pp):
        got = serf_codec.decode_serf(payload, cache)
        assert got == serf_codec.decode_serf(payload)
        assert (serf_codec.decode_serf(payload, cache) is got) == (payload is not pp)
    assert len(cache.serf) == 3
    for _ in range(2):
        with pytest.raises(codec.MalformedPacket):
            serf_codec.decode_serf(join[:-2], cache)
    assert len(cache.serf) == 3


# --- the core: same behaviour with a private, shared or disabled cache ----------------------


def _core(name: str, cache: DecodeCache | None) -> SwimProtocol:
    cfg = GossipConfig.local()
    return SwimProtocol(cfg, name=name, address=("127.0.0.2", 7946), meta=META,
                        rng=random.Random(5), now=0.0, decode_cache=cache, strict=True)


def _traffic(seed: int, count: int) -> list[bytes]:
    """Gossip datagrams with many repeats, some corrupted or truncated."""
    rng = random.Random(seed)
    pool = [_alive(i, inc) for i in range(12) for inc in (1, 2)]
    pool += [codec.encode_message(Suspect(1, f"node-{i}", "node-0")) for i in range(12)]
    pool += [codec.encode_message(Dead(2, f"node-{i}", "node-1")) for i in range(4)]
    pool += [codec.encode_message(UserMsg(serf_codec.encode_serf(SerfJoin(i, f"node-{i}"))))
             for i in range(12)]
    pool += [codec.encode_message(UserMsg(serf_codec.encode_serf(ClawAppMessage(b"hb%d" % i))))
             for i in range(6)]
    out = []
    for _ in range(count):
        parts = [rng.choice(pool) for _ in range(rng.randint(1, 6))]
        r = rng.random()
        if r < 0.15:  # one corrupted part (flipped byte)
            k = rng.randrange(len(parts))
            p = bytearray(parts[k])
            p[rng.randrange(len(p))] ^= 1 << rng.randrange(8)
            parts[k] = bytes(p)
        elif r < 0.25:  # one truncated part
            k = rng.randrange(len(parts))
            parts[k] = parts[k][: rng.randrange(len(parts[k]))]
        data = _gossip(parts) if len(parts) > 1 else parts[0]
        if rng.random() < 0.3:
            data = codec.add_crc(data)
        if rng.random() < 0.05:
            data = data[: rng.randrange(1, len(data))]
        out.append(data)
    return out


def _observe(core: SwimProtocol) -> tuple[object, ...]:
    events = []
    while (ev := core.next_event()) is not None:
        events.append(repr(ev))
    return (tuple(core.datagrams_to_send()), tuple(events), core.pending_broadcasts)


def test_core_behaves_the_same_with_private_shared_or_no_cache() -> None:
    traffic = _traffic(seed=3, count=600)
    shared = DecodeCache()
    cores = {
        "none": [_core("me", DecodeCache(0, 0, 0))],
        "private": [_core("me", None)],
        "shared": [_core("me", shared), _core("me", shared)],
    }
    seen: dict[str, list[tuple[object, ...]]] = {k: [] for k in cores}
    for t, data in enumerate(traffic):
        now = 0.01 * (t + 1)
        for kind, group in cores.items():
            for core in group:
                core.receive_datagram(data, ("127.0.0.9", 7946), now)
                core.handle_timer(now)
                seen[kind].append(_observe(core))
    reference = seen["none"]
    assert seen["private"] == reference
    assert seen["shared"][0::2] == reference and seen["shared"][1::2] == reference
    stats = [c.stats for group in cores.values() for c in group]
    assert all(s == stats[0] for s in stats)
    assert stats[0]["malformed_parts"] > 0 and stats[0]["malformed"] > 0
    # Two cores, one cache: a broadcast is decoded once for both (only bytes that fail to
    # decode are decoded by each core, every time), so fewer misses than two caches.
    private = cores["private"][0]._decode_cache
    assert 0 < private.commands.misses < shared.commands.misses < 2 * private.commands.misses
    assert 0 < private.serf.misses < shared.serf.misses < 2 * private.serf.misses


def test_hostile_flood_keeps_a_cores_cache_bounded() -> None:
    core = _core("me", None)
    cache = core._decode_cache
    for i in range(3 * DEFAULT_MAX_ENTRIES):
        big = codec.encode_message(Alive(1, f"x{i}-" + "n" * 300, LO, 7000, META, VSN_SERF))
        core.receive_datagram(_gossip([big, big[:-1]]), ("127.0.0.9", 7946), 1.0)
        join = serf_codec.encode_serf(SerfJoin(i + 1, f"flood-{i}-" + "j" * 200))
        core.receive_datagram(codec.encode_message(UserMsg(join)), ("127.0.0.9", 7946), 1.0)
    for memo in (cache.commands, cache.serf):
        assert 0 < len(memo) <= DEFAULT_MAX_ENTRIES
        assert memo.total_cost <= DEFAULT_MAX_BYTES
    assert core.stats["malformed_parts"] == 3 * DEFAULT_MAX_ENTRIES


# --- the simulator's switch -------------------------------------------------------------


def _sim_hash(share: bool) -> tuple[str, int]:
    run = Run(RunOptions(scenario="crash", nodes=8, seed=21, progress=False,
                         compression=False, share_decoder=share))
    run.bootstrap(8, 1.0)
    world = run.world
    world.network.set_loss(0.05)
    world.crash(world.nodes[3].name)
    run.advance(world.now + 12.0)
    if share:
        assert world.decode_cache is not None and len(world.decode_cache.commands) > 0
        assert all(n.core is None or n.core._decode_cache is world.decode_cache for n in world.nodes)
    return world.trace_hash(), world.trace_lines


def test_simulator_shared_decoder_same_trace_hash() -> None:
    assert _sim_hash(share=True) == _sim_hash(share=False)
