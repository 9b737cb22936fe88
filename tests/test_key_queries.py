"""Serf's key-management queries (gossip.key_queries): payloads, answers, summaries."""

from __future__ import annotations

import base64

import pytest

from gossip.errors import LocalProtocolError, MalformedPacket
from gossip.key_queries import (
    INSTALL_KEY, LIST_KEYS, REMOVE_KEY, UNENCRYPTED_CHANGE, USE_KEY, NodeKeyResponse,
    decode_key_request, decode_key_response, encode_key_request, encode_key_response, passes_on,
    plan_answer, summarize,
)
from gossip.keyring import Keyring

K1, K2, K3 = b"\x01" * 32, b"\x02" * 16, b"\x03" * 24
B1, B2, B3 = (base64.b64encode(k).decode() for k in (K1, K2, K3))


def _answer(plan_response: bytes) -> NodeKeyResponse:
    return decode_key_response(plan_response)


def test_key_request_bytes_are_gos() -> None:
    # keyRequest{Key []byte}: a one-field map, the key as a raw string (str16 from 32 bytes).
    assert encode_key_request(K1) == b"\x07\x81\xa3Key\xda\x00\x20" + K1
    assert encode_key_request(K2) == b"\x07\x81\xa3Key\xb0" + K2
    assert decode_key_request(encode_key_request(K3)) == K3
    assert decode_key_request(b"\x07\x81\xa3Key\xc0") == b""
    for bad in (b"", b"\x08\x80", b"\x07\xc1", b"\x07\x91\x01"):
        with pytest.raises(MalformedPacket):
            decode_key_request(bad)


def test_key_response_bytes_are_gos() -> None:
    resp = NodeKeyResponse(result=True, keys=(B2,), primary_key=B2)
    raw = encode_key_response(resp)
    # nodeKeyResponse fields in Go's sorted order: Keys, Message, PrimaryKey, Result.
    assert raw == (b"\x08\x84\xa4Keys\x91\xb8" + B2.encode() + b"\xa7Message\xa0\xaaPrimaryKey\xb8"
                   + B2.encode() + b"\xa6Result\xc3")
    assert decode_key_response(raw) == resp
    refused = encode_key_response(NodeKeyResponse(result=False, message="nope"))
    assert refused.startswith(b"\x08\x84\xa4Keys\xc0")
    assert decode_key_response(refused) == NodeKeyResponse(result=False, message="nope")


@pytest.mark.parametrize(("name", "key", "after", "message"), [
    (INSTALL_KEY, K2, (K1, K3, K2), ""),
    (INSTALL_KEY, K3, (K1, K3), ""),  # already installed: a no-op that succeeds
    (INSTALL_KEY, b"short", None, "key size must be 16, 24 or 32 bytes"),
    (USE_KEY, K3, (K3, K1), ""),
    (USE_KEY, K2, None, "Requested key is not in the keyring"),
    (REMOVE_KEY, K3, (K1,), ""),
    (REMOVE_KEY, K2, (K1, K3), ""),  # not installed: a no-op that succeeds
    (REMOVE_KEY, K1, None, "Removing the primary key is not allowed"),
])
def test_plan_changes_a_copy_only(name: str, key: bytes, after: tuple[bytes, ...] | None, message: str) -> None:
    keyring = Keyring([K1, K3])
    plan = plan_answer(name, encode_key_request(key), keyring, encrypted=True)
    assert keyring.keys == (K1, K3)  # untouched: the node persists first, then applies
    assert plan.keys == after
    assert _answer(plan.response) == NodeKeyResponse(result=after is not None, message=message)
    plan.apply(keyring)
    assert keyring.keys == (after or (K1, K3))


def test_plan_without_encryption_and_with_garbage() -> None:
    empty = Keyring()
    plan = plan_answer(INSTALL_KEY, encode_key_request(K1), empty, encrypted=True)
    assert plan.keys is None
    assert _answer(plan.response).message == "No keyring to modify (encryption not enabled)"
    listed = _answer(plan_answer(LIST_KEYS, b"", empty, encrypted=False).response)
    assert listed == NodeKeyResponse(result=False, message="Keyring is empty (encryption not enabled)")
    garbage = plan_answer(USE_KEY, b"\x07\xc1", Keyring([K1]), encrypted=True)
    assert garbage.keys is None and _answer(garbage.response) == NodeKeyResponse(result=False)
    with pytest.raises(LocalProtocolError):
        plan_answer("_serf_ping", b"", empty, encrypted=True)


@pytest.mark.parametrize("name", [INSTALL_KEY, USE_KEY, REMOVE_KEY])
def test_a_change_that_arrived_unencrypted_is_refused_and_not_passed_on(name: str) -> None:
    # gossip_verify_incoming off (a migration): plaintext is accepted, key changes are not.
    keyring = Keyring([K1, K3])
    plan = plan_answer(name, encode_key_request(K3), keyring, encrypted=False)
    assert plan.keys is None and plan.change is None
    assert _answer(plan.response) == NodeKeyResponse(result=False, message=UNENCRYPTED_CHANGE)
    plan.apply(keyring)
    assert keyring.keys == (K1, K3)
    # Passed on, as Serf does, only where it would leave as it came: in plaintext.
    assert not passes_on(name, encrypted=False, sealing=True)
    assert passes_on(name, encrypted=False, sealing=False)
    assert passes_on(name, encrypted=True, sealing=True)
    # Without a keyring Serf's own refusal comes first, encrypted or not: encryption is
    # never switched on by a query (it would cut the node off from a plaintext cluster).
    for encrypted in (False, True):
        off = plan_answer(name, encode_key_request(K1), Keyring(), encrypted=encrypted)
        assert off.keys is None
        assert _answer(off.response).message == "No keyring to modify (encryption not enabled)"


def test_lists_and_other_queries_pass_on_and_answer_unencrypted() -> None:
    assert passes_on(LIST_KEYS, encrypted=False, sealing=True)
    assert passes_on("deploy", encrypted=False, sealing=True)
    listed = _answer(plan_answer(LIST_KEYS, b"", Keyring([K1]), encrypted=False).response)
    assert listed == NodeKeyResponse(result=True, keys=(B1,), primary_key=B1)


def test_list_answer_and_truncation() -> None:
    keyring = Keyring([K3, K1, K2])
    full = _answer(plan_answer(LIST_KEYS, encode_key_request(b""), keyring, encrypted=True).response)
    assert full == NodeKeyResponse(result=True, keys=(B3, B1, B2), primary_key=B3)
    limit = len(encode_key_response(NodeKeyResponse(True, "x" * 60, (B3,), B3)))
    cut = _answer(plan_answer(LIST_KEYS, b"", keyring, fits=lambda raw: len(raw) <= limit,
                                encrypted=True).response)
    assert cut.result and cut.keys == (B3,) and cut.primary_key == B3
    assert cut.message == "truncated key list response, showing first 1 of 3 keys"


def _resp(keys: tuple[bytes, ...], *, result: bool = True, message: str = "") -> bytes:
    text = tuple(base64.b64encode(k).decode() for k in keys)
    return encode_key_response(NodeKeyResponse(result, message, text or None, text[0] if text else ""))


def test_summary_counts_like_serf_and_names_nodes() -> None:
    responses = {
        "a": _resp((K1, K2)), "b": _resp((K1,)), "serf-1": _resp((K2, K1)),
        "broken": b"\x05garbage", "off": _resp((), result=False, message="Keyring is empty"),
    }
    summary = summarize(responses, live=["a", "b", "serf-1", "broken", "off", "silent"])
    assert summary.num_nodes == 6 and summary.num_resp == 5 and summary.num_err == 2
    assert summary.keys == {B1: 3, B2: 2}
    assert summary.primary_keys == {B1: 2, B2: 1, "": 1}
    assert summary.messages["off"] == "Keyring is empty"
    assert summary.messages["broken"].startswith("Invalid key query response type")
    assert summary.missing == ("silent",)
    assert summary.lacking(B2) == ("b", "broken", "off", "silent")
    assert summary.using_as_primary(B2) == ("serf-1",)
    assert not summary.ok
    good = summarize({"a": _resp((K1,)), "b": _resp((K1,))}, live=["a", "b"])
    assert good.ok and good.lacking(B1) == ()
