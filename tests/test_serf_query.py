"""Serf's query machinery (gossip.serf_query, gossip.query_filters) on a fake clock."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from random import Random

import pytest

from gossip.addresses import ip_to_bytes
from gossip.codec import decode_packet
from gossip.keyring import Keyring
from gossip.messages import SerfJoin, SerfQuery, SerfQueryResponse, SerfRelay, UserMsg
from gossip.query_filters import (
    NodeFilter,
    TagFilter,
    decode_filter,
    encode_filters,
    filters_match,
)
from gossip.serf_codec import decode_serf, encode_serf
from gossip.serf_layer import LamportClock
from gossip.serf_query import (
    MAX_OPEN_QUERIES,
    QUERY_BUFFER,
    QUERY_FLAG_ACK,
    QUERY_FLAG_NO_BROADCAST,
    QueryError,
    QueryParams,
    SerfQueries,
    default_query_timeout,
)

DATA = Path(__file__).parent / "data"
VECTORS = json.loads((DATA / "vectors.json").read_text())
LO = ip_to_bytes("127.0.0.1")


def _vector(vid: int) -> bytes:
    return bytes.fromhex(next(v["hex"] for v in VECTORS if v["id"] == vid))


def _engine(name: str = "b", tags: dict[str, str] | None = None,
            relays: list[tuple[str, int]] | None = None, seed: int = 1) -> SerfQueries:
    clock = LamportClock()
    clock.increment()
    return SerfQueries(node_name=name, clock=clock, rng=Random(seed), tags=lambda: tags or {},
                       relay_targets=lambda k: (relays or [])[:k])


def _query(ltime: int = 5, qid: int = 7, *, flags: int = 0, filters: tuple[bytes, ...] | None = None,
           relay_factor: int = 0, timeout_ns: int = 2_000_000_000, payload: bytes = b"p") -> SerfQuery:
    return SerfQuery(ltime=ltime, id=qid, addr=LO, port=7947, source_node="q", filters=filters,
                     flags=flags, relay_factor=relay_factor, timeout_ns=timeout_ns, name="uptime",
                     payload=payload)


# --- captured packets ---------------------------------------------------------------


def test_ack_to_captured_query_is_byte_identical_to_serfs() -> None:
    """Vector 124 is Serf agent b's query "uptime" (ack requested); vector 120 is the
    ack b sent for it (to itself). Our node named b answers with the same bytes."""
    packet = _vector(124)
    assert packet[0] == 0x0C and packet[5] == 0x08  # CRC wrapper, then a user message
    query = decode_serf(packet[6:])
    assert isinstance(query, SerfQuery) and query.flags == QUERY_FLAG_ACK
    verdict = _engine("b").receive_query(query, now=0.0)
    assert verdict.rebroadcast and verdict.deliver is not None
    assert verdict.deliver.name == "uptime" and verdict.deliver.payload == b"hello"
    assert verdict.sends == ((("127.0.0.1", 7947), _vector(120)[1:]),)


def _captured_serf_messages() -> list[object]:
    """Every Serf query and query response in the UDP captures, encrypted ones opened
    with the capture's key."""
    keyring = Keyring([base64.b64decode((DATA / "encrypt_key.b64").read_text().strip())])
    out: list[object] = []
    for v in VECTORS:
        if v["transport"] != "udp" or not v["ok"] or "query" not in v["summary"].lower():
            continue
        raw = bytes.fromhex(v["hex"])
        plain = keyring.decrypt_packet(raw) if v["encrypted"] else raw
        for msg in decode_packet(plain)[0]:
            if isinstance(msg, UserMsg):
                out.append(decode_serf(msg.payload))
    return out


def test_every_captured_query_and_response_is_understood() -> None:
    """Each captured query is accepted once by a fresh node (repeats are the same query
    heard twice), and each captured response answers a captured query."""
    messages = _captured_serf_messages()
    queries = [m for m in messages if isinstance(m, SerfQuery)]
    responses = [m for m in messages if isinstance(m, SerfQueryResponse)]
    assert len(queries) == 32 and len(responses) == 8
    engine = _engine("z")
    for q in queries:
        engine.receive_query(q, now=0.0)
    distinct = {(q.ltime, q.id) for q in queries}
    assert engine.stats.queries == len(distinct)
    assert engine.stats.duplicates == len(queries) - len(distinct)
    assert {(r.ltime, r.id) for r in responses} <= distinct
    for q in queries:  # re-encoding gives Serf's bytes back (the codec is byte-exact)
        assert decode_serf(encode_serf(q)) == q


# --- dedupe ---------------------------------------------------------------------------


def test_duplicate_query_is_dropped_and_counted() -> None:
    engine = _engine()
    assert engine.receive_query(_query(), 0.0).rebroadcast
    again = engine.receive_query(_query(), 0.1)
    assert not again.rebroadcast and again.deliver is None and again.sends == ()
    assert engine.stats.duplicates == 1
    other_id = engine.receive_query(_query(qid=8), 0.2)  # same LTime, another query
    assert other_id.deliver is not None


def test_query_older_than_the_buffer_is_dropped() -> None:
    engine = _engine()
    engine.receive_query(_query(ltime=QUERY_BUFFER * 3), 0.0)
    old = engine.receive_query(_query(ltime=QUERY_BUFFER, qid=9), 0.0)
    assert old.deliver is None and not old.rebroadcast
    assert engine.stats.too_old == 1


def test_buffer_slot_is_reused_for_a_newer_ltime() -> None:
    engine = _engine()
    engine.receive_query(_query(ltime=3), 0.0)
    assert engine.receive_query(_query(ltime=3 + QUERY_BUFFER), 0.0).deliver is not None
    assert engine.stats.duplicates == 0


def test_query_clock_is_witnessed() -> None:
    engine = _engine()
    engine.receive_query(_query(ltime=40), 0.0)
    query, _, _ = engine.start_query("x", None, QueryParams(timeout_s=1), address=("127.0.0.1", 1),
                                     members=1, gossip_interval_s=0.2, now=0.0)
    assert query.ltime == 41


def test_no_broadcast_flag() -> None:
    verdict = _engine().receive_query(_query(flags=QUERY_FLAG_NO_BROADCAST), 0.0)
    assert not verdict.rebroadcast and verdict.deliver is not None


# --- filters --------------------------------------------------------------------------


def test_filters_round_trip_and_match() -> None:
    filters = encode_filters(["a", "b"], {"role": "^web", "dc": "lo"})
    assert filters is not None and len(filters) == 3
    assert decode_filter(filters[0]) == NodeFilter(("a", "b"))
    assert decode_filter(filters[1]) == TagFilter("role", "^web")
    assert filters[0] == b"\x00\x92\xa1a\xa1b"  # Go: type byte + msgpack []string
    assert filters[2] == b"\x01\x82\xa4Expr\xa2lo\xa3Tag\xa2dc"  # Go sorts struct keys
    assert filters_match(filters, "b", {"role": "web1", "dc": "lon"})
    assert not filters_match(filters, "c", {"role": "web1", "dc": "lo"})
    assert not filters_match(filters, "a", {"role": "db", "dc": "lo"})
    assert not filters_match(filters, "a", {"dc": "lo"})  # missing tag = "" (no match)
    assert encode_filters() is None


@pytest.mark.parametrize("raw", [b"", b"\x02\x90", b"\x00\xc1", b"\x01\x92\x01\x02", b"\x01\x81\xa4Expr\xa1(",
                                 b"\x00\x81\xa1a\xa1b"])
def test_bad_filters_mean_no_match(raw: bytes) -> None:
    assert not filters_match([raw], "a", {"Tag": "x"})


def test_hostile_pattern_is_bounded_and_does_not_match() -> None:
    hostile = encode_filters((), {"role": "(a+)+$"})
    assert not filters_match(hostile, "a", {"role": "a" * 60 + "!"})


def test_filtered_out_query_is_still_rebroadcast_but_not_delivered() -> None:
    engine = _engine("b", tags={"role": "db"})
    verdict = engine.receive_query(_query(flags=QUERY_FLAG_ACK, filters=encode_filters(["c"])), 0.0)
    assert verdict.rebroadcast and verdict.deliver is None and verdict.sends == ()
    tagged = engine.receive_query(_query(qid=2, flags=QUERY_FLAG_ACK, filters=encode_filters((), {"role": "d"})), 0.0)
    assert tagged.deliver is not None and len(tagged.sends) == 1
    assert engine.stats.filtered_out == 1


def test_bad_filter_regex_refused_before_sending() -> None:
    with pytest.raises(QueryError.__mro__[1]):  # LocalProtocolError
        encode_filters((), {"role": "("})


# --- answers, relays ----------------------------------------------------------------


def test_respond_once_before_the_deadline() -> None:
    engine = _engine("b")
    incoming = engine.receive_query(_query(timeout_ns=1_000_000_000), 10.0).deliver
    assert incoming is not None and incoming.deadline == 11.0
    ((addr, raw),) = engine.respond(incoming, b"up 3 days", 10.5)
    assert addr == ("127.0.0.1", 7947)
    assert decode_serf(raw) == SerfQueryResponse(ltime=5, id=7, from_="b", flags=0, payload=b"up 3 days")
    with pytest.raises(QueryError, match="already sent"):
        engine.respond(incoming, b"again", 10.6)
    late = engine.receive_query(_query(qid=99, timeout_ns=1_000_000_000), 20.0).deliver
    assert late is not None
    with pytest.raises(QueryError, match="past the deadline"):
        engine.respond(late, b"x", 21.5)


def test_response_size_limit() -> None:
    engine = _engine("b")
    incoming = engine.receive_query(_query(), 0.0).deliver
    assert incoming is not None
    assert not engine.response_fits(incoming, b"x" * 1024)
    with pytest.raises(QueryError, match="response exceeds limit of 1024 bytes"):
        engine.respond(incoming, b"x" * 1024, 0.1)
    assert engine.respond(incoming, b"x" * 900, 0.1)  # still answerable after a refusal


def test_relay_factor_sends_wrapped_copies_through_other_members() -> None:
    relays = [("127.0.0.2", 7946), ("127.0.0.3", 7946), ("127.0.0.4", 7946)]
    engine = _engine("b", relays=relays)
    verdict = engine.receive_query(_query(flags=QUERY_FLAG_ACK, relay_factor=2), 0.0)
    direct, *copies = verdict.sends
    assert direct[0] == ("127.0.0.1", 7947)
    assert [addr for addr, _ in copies] == relays[:2]
    relay = decode_serf(copies[0][1])
    assert relay == SerfRelay(dest_ip=LO, dest_port=7947, dest_name="q", inner=direct[1])
    # The relaying member forwards the inner response to the querier.
    assert _engine("r").receive_relay(relay) == (("127.0.0.1", 7947), direct[1])


@pytest.mark.parametrize("inner", [encode_serf(SerfJoin(1, "x")), b"", b"\x05\xc1",
                                   encode_serf(SerfQueryResponse(1, 1, "x", 0, b"y" * 1100))])
def test_relay_of_anything_but_a_response_is_dropped(inner: bytes) -> None:
    engine = _engine("r")
    assert engine.receive_relay(SerfRelay(dest_ip=LO, dest_port=1, dest_name="q", inner=inner)) is None
    assert engine.stats.bad_relays == 1


# --- outbound queries -------------------------------------------------------------------


@pytest.mark.parametrize(("interval", "members", "expected"), [
    (0.2, 1, 3.2), (0.2, 9, 3.2), (0.2, 10, 6.4), (0.2, 99, 6.4), (0.2, 100, 9.6), (0.5, 3, 8.0),
])
def test_default_query_timeout(interval: float, members: int, expected: float) -> None:
    assert default_query_timeout(interval, members) == pytest.approx(expected)


def test_query_collects_acks_and_responses_until_its_deadline() -> None:
    querier, answerer = _engine("a", seed=3), _engine("b")
    query, raw, local = querier.start_query(
        "uptime", b"?", QueryParams(request_ack=True), address=("127.0.0.1", 7946), members=2,
        gossip_interval_s=0.2, now=100.0)
    assert query.deadline == pytest.approx(103.2)
    assert local.deliver is not None and local.sends[0][0] == ("127.0.0.1", 7946)
    assert querier.next_deadline() == query.deadline
    # Our own ack (sent to ourselves over UDP, as Serf does) and b's.
    assert querier.receive_response(decode_serf(local.sends[0][1]), 100.0)  # type: ignore[arg-type]
    verdict = answerer.receive_query(decode_serf(raw), 100.1)  # type: ignore[arg-type]
    assert verdict.rebroadcast and verdict.deliver is not None
    for _, payload in verdict.sends:
        assert querier.receive_response(decode_serf(payload), 100.2)  # type: ignore[arg-type]
    for _, payload in answerer.respond(verdict.deliver, b"3 days", 100.3):
        assert querier.receive_response(decode_serf(payload), 100.3)  # type: ignore[arg-type]
    assert list(query.acks) == ["a", "b"] and query.responses == {"b": b"3 days"}
    # Duplicates count once.
    assert not querier.receive_response(SerfQueryResponse(query.ltime, query.id, "b", 0, b"x"), 101.0)
    assert querier.stats.duplicate_answers == 1
    assert querier.expire(103.1) == []
    assert querier.expire(103.2) == [query] and query.closed
    assert not querier.receive_response(SerfQueryResponse(query.ltime, query.id, "c", 0, b"x"), 103.3)
    assert querier.stats.unknown_answers == 1
    assert querier.next_deadline() == float("inf")


def test_answers_for_unknown_queries_are_dropped() -> None:
    querier = _engine("a")
    query, _, _ = querier.start_query("q", None, QueryParams(timeout_s=5), address=("127.0.0.1", 1),
                                      members=1, gossip_interval_s=0.2, now=0.0)
    assert not querier.receive_response(SerfQueryResponse(query.ltime, query.id + 1, "x", 0, b""), 1.0)
    assert not querier.receive_response(SerfQueryResponse(query.ltime + 7, query.id, "x", 0, b""), 1.0)
    assert not querier.receive_response(SerfQueryResponse(query.ltime, query.id, "x", QUERY_FLAG_ACK, None), 1.0)
    assert querier.stats.unknown_answers == 2 and querier.stats.duplicate_answers == 1
    assert query.responses == {} and query.acks == {}


def test_close_stops_collecting() -> None:
    querier = _engine("a")
    query, _, _ = querier.start_query("q", None, QueryParams(timeout_s=5), address=("127.0.0.1", 1),
                                      members=1, gossip_interval_s=0.2, now=0.0)
    querier.close(query)
    assert query.closed and querier.open_queries == 0
    assert not querier.receive_response(SerfQueryResponse(query.ltime, query.id, "x", 0, b""), 1.0)


def test_query_size_limit_and_parameters() -> None:
    querier = _engine("a")
    kwargs = {"address": ("127.0.0.1", 1), "members": 1, "gossip_interval_s": 0.2, "now": 0.0}
    with pytest.raises(QueryError, match="query exceeds limit of 1024 bytes"):
        querier.start_query("q", b"x" * 1000, QueryParams(), **kwargs)  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="relay factor"):
        querier.start_query("q", None, QueryParams(relay_factor=256), **kwargs)  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="timeout"):
        querier.start_query("q", None, QueryParams(timeout_s=0), **kwargs)  # type: ignore[arg-type]
    assert querier.open_queries == 0
    assert querier.start_query("q", b"x" * 900, QueryParams(), **kwargs)[1]  # type: ignore[arg-type]


def test_open_queries_are_bounded() -> None:
    querier = _engine("a")
    for i in range(MAX_OPEN_QUERIES):
        querier.start_query("q", None, QueryParams(timeout_s=5), address=("127.0.0.1", 1), members=1,
                            gossip_interval_s=0.2, now=float(i) / 1000)
    with pytest.raises(QueryError, match="too many queries open"):
        querier.start_query("q", None, QueryParams(timeout_s=5), address=("127.0.0.1", 1), members=1,
                            gossip_interval_s=0.2, now=1.0)


def test_hostile_timeout_and_address_are_bounded() -> None:
    engine = _engine("b")
    huge = engine.receive_query(_query(timeout_ns=(1 << 63) - 1), 0.0).deliver
    assert huge is not None and huge.deadline == 3600.0
    negative = engine.receive_query(_query(qid=2, timeout_ns=-5), 0.0).deliver
    assert negative is not None and negative.deadline == 0.0
    no_port = SerfQuery(ltime=9, id=1, addr=LO, port=0, source_node="q", filters=None,
                        flags=QUERY_FLAG_ACK, relay_factor=0, timeout_ns=1, name="x", payload=None)
    verdict = engine.receive_query(no_port, 0.0)
    assert verdict.deliver is None and verdict.sends == () and verdict.rebroadcast
