"""Golden vectors: 1,352 payloads captured from real Serf 0.9.4 agents (and a probe).

Every entry is decoded and compared, layer by layer, with its ``decoded`` field; packets
and streams are then re-encoded from the decoded dataclasses and must be byte-identical
to the capture (msgpack bodies, LZW blobs, compound framing, CRC) wherever the writer was
Go. Encrypted entries: the UDP plaintext (given in the capture) is checked the same way,
and the ciphertext framing is checked; there is no crypto here yet.
"""

from __future__ import annotations

import json
import struct
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from gossip import lzw
from gossip.addresses import bytes_to_ip
from gossip.codec import (
    add_crc,
    compress_packet,
    decode_packet,
    decode_stream,
    encode_compound,
    encode_message,
    encode_stream,
    stream_message_length,
)
from gossip.errors import MalformedPacket
from gossip.messages import (
    Ack,
    Alive,
    Dead,
    ErrResp,
    IndirectPing,
    Nack,
    Ping,
    PushPull,
    SerfJoin,
    SerfLeave,
    SerfPushPull,
    SerfQuery,
    SerfQueryResponse,
    SerfUnknown,
    SerfUserEvent,
    Suspect,
    UserMsg,
)
from gossip.serf_codec import decode_serf, encode_serf
from gossip.tags import decode_tags

VECTORS = json.loads((Path(__file__).parent / "data" / "vectors.json").read_text())
MAX = 1 << 20

# --- rendering our dataclasses in the capture's JSON vocabulary -------------------------


def _ip(raw: bytes | None) -> Any:
    return None if raw is None else {"hex": raw.hex(), "ip": bytes_to_ip(raw)}


def _blob(raw: bytes | None) -> Any:
    return None if raw is None else {"hex": raw.hex()}


def _meta(raw: bytes | None) -> Any:
    return None if raw is None else {"hex": raw.hex(), "serf_tags": decode_tags(raw)}


def _raw_msgpack(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k.decode(): (_blob(v) if k == b"Payload" else _raw_msgpack(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_raw_msgpack(x) for x in obj]
    if isinstance(obj, bytes):
        return obj.decode()
    return obj


def render(msg: Any) -> tuple[str, dict[str, Any]]:
    """(type name, Go-field-named body) of a decoded memberlist message."""
    if isinstance(msg, Ping):
        body = {"Node": msg.node, "SeqNo": msg.seq_no}
        if msg.source_addr:
            body |= {"SourceAddr": _ip(msg.source_addr), "SourceNode": msg.source_node,
                     "SourcePort": msg.source_port}
        return "ping", body
    if isinstance(msg, IndirectPing):
        return "indirectPing", {
            "Nack": msg.nack, "Node": msg.node, "Port": msg.port, "SeqNo": msg.seq_no,
            "SourceAddr": _ip(msg.source_addr), "SourceNode": msg.source_node,
            "SourcePort": msg.source_port, "Target": _ip(msg.target),
        }
    if isinstance(msg, Ack):
        return "ack", {"Payload": _blob(msg.payload), "SeqNo": msg.seq_no}
    if isinstance(msg, Nack):
        return "nack", {"SeqNo": msg.seq_no}
    if isinstance(msg, (Suspect, Dead)):
        name = "suspect" if isinstance(msg, Suspect) else "dead"
        return name, {"From": msg.from_, "Incarnation": msg.incarnation, "Node": msg.node}
    if isinstance(msg, Alive):
        return "alive", {
            "Addr": _ip(msg.addr), "Incarnation": msg.incarnation, "Meta": _meta(msg.meta),
            "Node": msg.node, "Port": msg.port, "Vsn": list(msg.vsn or b""),
        }
    if isinstance(msg, ErrResp):
        return "err", {"Error": msg.error}
    raise AssertionError(f"unexpected {msg!r}")


def render_serf(msg: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(msg, SerfJoin):
        return "join", {"LTime": msg.ltime, "Node": msg.node}
    if isinstance(msg, SerfLeave):
        return "leave", {"LTime": msg.ltime, "Node": msg.node, "Prune": msg.prune}
    if isinstance(msg, SerfUserEvent):
        return "userEvent", {"CC": msg.cc, "LTime": msg.ltime, "Name": msg.name,
                             "Payload": _blob(msg.payload)}
    if isinstance(msg, SerfQuery):
        return "query", {
            "Addr": _ip(msg.addr), "Filters": None if msg.filters is None else list(msg.filters),
            "Flags": msg.flags, "ID": msg.id, "LTime": msg.ltime, "Name": msg.name,
            "Payload": _blob(msg.payload), "Port": msg.port, "RelayFactor": msg.relay_factor,
            "SourceNode": msg.source_node, "Timeout": msg.timeout_ns,
        }
    if isinstance(msg, SerfQueryResponse):
        return "queryResponse", {"Flags": msg.flags, "From": msg.from_, "ID": msg.id,
                                 "LTime": msg.ltime, "Payload": _blob(msg.payload)}
    if isinstance(msg, SerfPushPull):
        return "pushPull", {
            "EventLTime": msg.event_ltime, "Events": _raw_msgpack(list(msg.events or ())),
            "LTime": msg.ltime, "LeftMembers": list(msg.left_members),
            "QueryLTime": msg.query_ltime, "StatusLTimes": dict(msg.status_ltimes),
        }
    raise AssertionError(f"unexpected {msg!r}")


def assert_matches(rendered: Any, expected: Any, path: str = "") -> None:
    """``rendered`` equals ``expected`` where it says anything (the capture adds annotations
    such as ``Vsn_meaning`` or a decoded coordinate next to the raw hex)."""
    if isinstance(rendered, dict) and isinstance(expected, dict):
        assert set(rendered) <= set(expected), (path, set(rendered) - set(expected))
        for key, value in rendered.items():
            assert_matches(value, expected[key], f"{path}.{key}")
    else:
        assert rendered == expected, (path, rendered, expected)


def check_serf(payload: bytes, expected: dict[str, Any], canonical: bool) -> None:
    msg = decode_serf(payload)
    if "body" not in expected:  # not a Serf message the capture could decode
        assert isinstance(msg, SerfUnknown)
        return
    name, body = render_serf(msg)
    assert name == expected["serf_type"]
    assert payload[0] == expected["serf_type_code"]
    assert body == expected["body"]
    if canonical:
        assert encode_serf(msg) == payload


# --- layer walking --------------------------------------------------------------------


def split_layers(buf: bytes) -> tuple[list[str], Any]:
    """Peel CRC/compress/compound; returns (layer descriptions, rebuild function)."""
    layers: list[str] = []
    if buf[0] == 12:
        crc = struct.unpack(">I", buf[1:5])[0]
        layers.append(f"hasCrc(crc32-ieee={crc:08x})")
        inner_layers, rebuild = split_layers(buf[5:])
        return layers + inner_layers, lambda msgs: add_crc(rebuild(msgs))
    if buf[0] == 9:
        import msgpack
        obj = msgpack.unpackb(buf[1:], raw=True)
        lzw_buf = obj[b"Buf"]
        inner = lzw.decompress(lzw_buf, MAX)
        assert lzw.compress(inner) == lzw_buf  # Go-exact LZW
        layers.append(f"compress(lzw, {len(inner)}->{len(lzw_buf)} bytes)")
        inner_layers, rebuild = split_layers(inner)
        return layers + inner_layers, lambda msgs: compress_packet(rebuild(msgs))
    if buf[0] == 7:
        n = buf[1]
        lens = list(struct.unpack(f">{n}H", buf[2:2 + 2 * n]))
        layers.append(f"compound(n={n}, lens={lens})")
        return layers, lambda msgs: encode_compound([encode_message(m) for m in msgs])
    return layers, lambda msgs: encode_message(msgs[0])


def check_udp(entry: dict[str, Any], plain: bytes, stats: Counter) -> None:
    expected = entry["decoded"]
    canonical = entry["origin"] == "serf"
    msgs, skipped = decode_packet(plain)
    assert skipped == 0
    layers, rebuild = split_layers(plain)
    assert layers == [x for x in expected["layers"] if not x.startswith("encrypt")]
    assert len(msgs) == len(expected["messages"])
    for msg, exp in zip(msgs, expected["messages"], strict=True):
        if isinstance(msg, UserMsg):
            assert exp["type"] == "user"
            check_serf(msg.payload, exp["serf"], canonical)
            stats["serf-user"] += 1
            continue
        name, body = render(msg)
        assert name == exp["type"]
        assert encode_message(msg)[0] == exp["type_code"]
        assert_matches(body, exp["body"])
        assert set(exp["body"]) - {"Vsn_meaning"} <= set(body)
    if canonical:
        assert rebuild(msgs) == plain
        stats["udp-reencoded"] += 1
    stats["udp-decoded"] += 1


def check_tcp(entry: dict[str, Any], raw: bytes, stats: Counter) -> None:
    expected = entry["decoded"]
    assert stream_message_length(raw, max_size=MAX) == len(raw)
    assert stream_message_length(raw[:-1], max_size=MAX) is None
    msg = decode_stream(raw, max_size=MAX)
    compressed = raw[0] == 9
    assert compressed == any(x.startswith("compress") for x in expected["layers"])
    if isinstance(msg, PushPull):
        assert expected["type"] == "pushPull"
        assert expected["header"] == {"Join": msg.join, "Nodes": len(msg.nodes),
                                      "UserStateLen": len(msg.user_state)}
        for node, exp in zip(msg.nodes, expected["nodes"], strict=True):
            assert exp == {
                "Addr": _ip(node.addr), "Incarnation": node.incarnation, "Meta": _meta(node.meta),
                "Name": node.name, "Port": node.port, "State": node.state,
                "State_name": ["alive", "suspect", "dead", "left"][node.state],
                "Vsn": list(node.vsn or b""),
            }
        if msg.user_state:
            us = expected["user_state"]
            check_serf(msg.user_state, us, entry["origin"] == "serf")
            stats["serf-pushpull"] += 1
    else:
        name, body = render(msg)
        assert name == expected["type"]
        assert_matches(body, expected["body"])
        assert set(expected["body"]) <= set(body)
    assert encode_stream(msg, compress=compressed) == raw  # Go and the probe both
    stats["tcp-decoded"] += 1


def test_every_vector() -> None:
    stats: Counter = Counter()
    for entry in VECTORS:
        raw = bytes.fromhex(entry["hex"])
        try:
            if not entry["ok"]:
                # Deliberately bad requests: must be rejected, or decode as the capture says.
                try:
                    decode_stream(raw, max_size=MAX)
                    stats["bad-but-decodable"] += 1  # plaintext ping sent to an encrypted agent
                except MalformedPacket:
                    stats["bad-rejected"] += 1
                continue
            if entry["encrypted"]:
                stats["encrypted"] += 1
                if entry["transport"] == "tcp":
                    assert raw[0] == 10
                    assert stream_message_length(raw, max_size=MAX) == len(raw)
                    with pytest.raises(MalformedPacket, match="encrypted"):
                        decode_stream(raw, max_size=MAX)
                    continue
                # The capture's plaintext is given after the CRC header; put it back.
                plain = bytes.fromhex(entry["decoded"]["plaintext_hex"])
                crc_layers = [x for x in entry["decoded"]["layers"] if x.startswith("hasCrc")]
                if crc_layers:
                    plain = b"\x0c" + bytes.fromhex(crc_layers[0][len("hasCrc(crc32-ieee="):-1]) + plain
                assert raw[0] == 1 and len(raw) == len(plain) + 29  # vsn 1: 1+12+16 overhead
                check_udp(entry, plain, stats)
            elif entry["transport"] == "udp":
                check_udp(entry, raw, stats)
            else:
                check_tcp(entry, raw, stats)
        except Exception as exc:
            raise AssertionError(f"vector {entry['id']} ({entry.get('summary')}): {exc!r}") from exc
    print(dict(stats))
    assert len(VECTORS) == 1352
    assert stats["udp-decoded"] == 841 + 29 + 404 + 15
    assert stats["udp-reencoded"] == 841 + 404
    assert stats["tcp-decoded"] == 35 + 6
    assert stats["bad-rejected"] + stats["bad-but-decodable"] == 3
    assert stats["bad-rejected"] >= 2


def test_every_lzw_blob_recompresses_identically() -> None:
    import msgpack
    count = 0
    for entry in VECTORS:
        plain_hex = (entry.get("decoded") or {}).get("plaintext_hex")  # after any CRC
        buf = bytes.fromhex(plain_hex) if plain_hex else bytes.fromhex(entry["hex"])
        if buf[:1] == b"\x0c":
            buf = buf[5:]
        if buf[:1] != b"\x09":
            continue
        blob = msgpack.Unpacker(raw=True)
        blob.feed(buf[1:])
        lzw_buf = blob.unpack()[b"Buf"]
        assert lzw.compress(lzw.decompress(lzw_buf, MAX)) == lzw_buf
        count += 1
    print(f"{count} LZW blobs re-compressed byte-identical")
    assert count >= 100
