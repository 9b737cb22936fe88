"""Serf's key-management queries between claw nodes and a real ``serf agent``.

Claw nodes here are a ``GossipTransport`` + ``SwimProtocol`` each, with the agent's
``ClusterKeys`` (keyring file in the test's tmp dir) fed the core's events, exactly as
the agent wires them. Nothing here is encrypted: the Serf agent runs without ``-encrypt`` and the claw
cores do not seal, though their key managers hold keyrings. That shows Serf's query
machinery both ways (acks, relays, ``serf keys`` counting claw nodes, claw's queries
reading Serf's answers) and that a key change arriving in plaintext is refused by claw
nodes, whoever sends it. Rotation under encryption is
``tests/test_encrypted_key_rotation_interop.py``.
"""

from __future__ import annotations

import base64
import contextlib
from pathlib import Path

import pytest

from gossip.events import Event, MemberFailed
from gossip.key_queries import UNENCRYPTED_CHANGE
from gossip.keyring import Keyring
from gossip.serf_query import QueryParams
from gossip.types import MemberState
from node.cluster_keys import ClusterKeys, KeyChangeRefused, TransportKeyPort
from node.keyring_file import read_keyring_file, write_keyring_file
from tests.conftest import eventually_async
from tests.serf_harness import SERF_POLL_S, SerfAgents, serf_agents  # noqa: F401 - fixture
from tests.test_udp_loopback import Node, all_see

pytestmark = [pytest.mark.serf, pytest.mark.slow]

K1, K2, K3 = bytes(range(32)), bytes(range(1, 33)), bytes(range(2, 18))
B1, B2, B3 = (base64.b64encode(k).decode() for k in (K1, K2, K3))
TAGS = {"claw": "1", "role": "keys"}


class KeyNode(Node):
    """A claw node with a keyring file and the agent's key manager."""

    def __init__(self, name: str, keys: tuple[bytes, ...], tmp: Path) -> None:
        super().__init__(name, tags=TAGS)
        self.keyring_path = tmp / name / "keyring.json"
        write_keyring_file(self.keyring_path, keys)
        self.keys = ClusterKeys(TransportKeyPort(self.transport), Keyring(keys), self.keyring_path)

    def _record(self, event: Event) -> None:
        super()._record(event)
        self.keys.on_event(event)

    def file_keys(self) -> list[bytes]:
        return read_keyring_file(self.keyring_path)


async def _start(stack: contextlib.AsyncExitStack, name: str, tmp: Path) -> KeyNode:
    """A started claw node, stopped (and its pending key answers cancelled) on exit."""
    node = KeyNode(name, (K1,), tmp)
    await node.transport.start()
    stack.push_async_callback(node.transport.stop)
    stack.push_async_callback(node.keys.aclose)
    return node


async def test_key_queries_both_ways_with_a_serf_agent(serf_agents: SerfAgents, tmp_path: Path) -> None:  # noqa: F811
    async with contextlib.AsyncExitStack() as stack:
        await _key_queries_both_ways(serf_agents, stack, tmp_path)


async def _key_queries_both_ways(serf_agents: SerfAgents, stack: contextlib.AsyncExitStack,  # noqa: F811
                                 tmp_path: Path) -> None:
    s1 = await serf_agents.start("s1")
    c0, c1 = await _start(stack, "c0", tmp_path), await _start(stack, "c1", tmp_path)
    c0.transport.join([s1.bind])
    c1.transport.join([s1.bind, c0.address])
    everyone = ["s1", "c0", "c1"]

    async def serf_sees_all() -> bool:
        return {m["name"]: m["status"] for m in await s1.members()} == dict.fromkeys(everyone, "alive")
    await eventually_async(serf_sees_all, 40.0, interval=SERF_POLL_S)
    await eventually_async(lambda: all_see([c0, c1], everyone, MemberState.ALIVE), 40.0, 0.05)

    # A plain serf query is acked by every claw node (Serf's query machinery, reused by
    # user queries later): 3 acks, no responses (nobody handles "ping-all").
    code, out = await s1.query("-timeout=2s", "ping-all", "x")
    assert code == 0 and "Total Acks: 3" in out and "Total Responses: 0" in out, out
    # With relays: every ack also travels through another member (Serf's relay message
    # both ways: s1 wraps its own ack for a claw node to forward, claw nodes wrap theirs
    # for s1 or each other), and each node still counts once.
    code, out = await s1.query("-timeout=2s", "-relay-factor=2", "ping-relayed", "x")
    assert code == 0 and "Total Acks: 3" in out, out
    assert sum(n.core.stats["query_relayed"] for n in (c0, c1)) >= 1
    assert all(n.core.stats["query_bad_relays"] == 0 for n in (c0, c1))
    assert "Error decoding relay" not in s1.log_tail(10_000)
    # And from claw: s1 forwards the relay messages claw nodes build.
    query = c0.transport.invoke(lambda core, now: core.start_query(
        "ping-from-claw", None, QueryParams(request_ack=True, relay_factor=2), now))
    await eventually_async(lambda: len(query.acks) == 3, 10.0, 0.05)
    await eventually_async(lambda: "Relaying response to addr" in s1.log_tail(10_000), 10.0, interval=SERF_POLL_S)

    # serf keys -install from an agent without -encrypt: its query reaches the claw
    # nodes in plaintext, so they refuse it (anyone could send such a packet) and keep
    # their keyrings; Serf refuses too, having no keyring.
    async def refused_by_both(*args: str) -> str:
        code, out = await s1.keys(*args)
        print(out)
        assert code == 1 and out.count(UNENCRYPTED_CHANGE) == 2, out
        return out

    out = await refused_by_both(f"-install={B2}")
    assert "3/3 nodes reported failure" in out and "No keyring to modify" in out
    for flag in ("-use", "-remove"):
        await refused_by_both(f"{flag}={B1}")
    for claw in (c0, c1):
        assert claw.keys.keyring.keys == (K1,) and claw.file_keys() == [K1]

    # serf keys -list: a list changes nothing, so the claw nodes answer it (only s1 fails).
    code, out = await s1.keys("-list")
    print(out)
    assert code == 1 and "1/3 nodes reported failure" in out and "c0" not in out

    # From claw: list counts every live node, Serf's answer included.
    listed = await c0.keys.list()
    s = listed.summary
    assert (s.num_nodes, s.num_resp, s.num_err) == (3, 3, 1)
    assert s.keys == {B1: 2}
    assert s.messages == {"s1": "Keyring is empty (encryption not enabled)"}
    assert listed.lacking_primary == ("s1",)

    # From claw: install reaches the Serf agent (its refusal comes back) and c1, which
    # refuses it as unencrypted (these cores do not seal); c0 applies its own.
    installed = await c0.keys.install(K3)
    assert installed.summary.messages == {"s1": "No keyring to modify (encryption not enabled)",
                                          "c1": UNENCRYPTED_CHANGE}
    assert c0.keys.keyring.keys == (K1, K3) and c1.file_keys() == [K1]

    # Refusals, naming the nodes: s1 and c1 lack K3; K1 is every claw node's primary.
    with pytest.raises(KeyChangeRefused) as refused:
        await c0.keys.use(K3)
    assert refused.value.nodes == ("c1", "s1")
    with pytest.raises(KeyChangeRefused) as refused:
        await c1.keys.remove(K1)
    assert refused.value.nodes == ("c0", "c1")
    assert c0.keys.keyring.primary == K1 and c1.keys.keyring.primary == K1

    # Nobody was declared failed meanwhile.
    assert all(n.first_event(MemberFailed, name) is None for n in (c0, c1) for name in everyone)
    assert await serf_sees_all()
