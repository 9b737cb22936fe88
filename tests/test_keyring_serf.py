"""Our keyring against a real ``serf agent -encrypt`` / ``-keyring-file`` on loopback.

* A keyring file written by ``write_keyring_file`` is loaded by Serf, and the file Serf
  rewrites after ``serf keys -install`` / ``-use`` / ``-remove`` reads back here, text
  identical to what we write for the same keys.
* A ping sealed by ``Keyring`` reaches Serf's memberlist, and its sealed ack opens here.
"""

from __future__ import annotations

import asyncio
import base64
import socket
from pathlib import Path

import pytest

from gossip.codec import decode_packet, encode_message
from gossip.keyring import Keyring
from gossip.messages import Ack, Ping
from node.keyring_file import encode_key, read_keyring_file, write_keyring_file
from tests.serf_harness import (
    SerfAgents,
    _run_serf,
    serf_agents,  # noqa: F401 - the fixture
)

pytestmark = [pytest.mark.serf, pytest.mark.slow]

K1, K2, K3 = bytes(range(32)), b"\x02" * 16, b"\x03" * 24


async def _keys(agent_rpc: str, *args: str) -> str:
    code, out, err = await _run_serf("keys", agent_rpc, *args)
    assert code == 0, f"serf keys {args} failed ({code}): {out}{err}"
    return out


async def test_serf_shares_our_keyring_file(serf_agents: SerfAgents,  # noqa: F811
                                            tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    write_keyring_file(path, [K1, K2])
    agent = await serf_agents.start("s1", extra_args=(f"-keyring-file={path}",))
    assert "Restored keyring with 2 keys" in agent.log_tail()
    listing = await _keys(agent.rpc_arg, "-list")
    assert encode_key(K1) in listing and encode_key(K2) in listing

    await _keys(agent.rpc_arg, "-install", encode_key(K3))
    assert read_keyring_file(path) == [K1, K2, K3]
    await _keys(agent.rpc_arg, "-use", encode_key(K3))
    await _keys(agent.rpc_arg, "-remove", encode_key(K1))
    assert read_keyring_file(path) == [K3, K2]
    serf_text = path.read_text()
    write_keyring_file(path, [K3, K2])
    assert path.read_text() == serf_text  # byte-identical layout both ways


async def test_a_sealed_ping_gets_a_sealed_ack(serf_agents: SerfAgents) -> None:  # noqa: F811
    agent = await serf_agents.start("s1", extra_args=(f"-encrypt={base64.b64encode(K1).decode()}",))
    keyring = Keyring([K2, K1])  # K1 secondary here: decryption tries every key
    keyring.use(K1)
    seq = 4242
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_sendto(sock, keyring.encrypt_packet(encode_message(Ping(seq, "s1"))),
                               agent.bind)
        acks: list[Ack] = []
        while not acks:
            data = await asyncio.wait_for(loop.sock_recv(sock, 65536), timeout=10)
            msgs, _ = decode_packet(keyring.decrypt_packet(data))
            acks = [m for m in msgs if isinstance(m, Ack) and m.seq_no == seq]
    finally:
        sock.close()
    assert acks[0].seq_no == seq
