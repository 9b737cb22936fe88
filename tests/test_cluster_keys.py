"""node.cluster_keys over an in-memory cluster of key managers (no sockets).

Each node is a ``ClusterKeys`` with its own keyring and keyring file; the fake port
delivers a query to every answering node and their responses to the querier, and
closes the query at its deadline, as the core does.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest

from gossip.key_queries import UNENCRYPTED_CHANGE
from gossip.keyring import Keyring
from gossip.serf_query import IncomingQuery, OutboundQuery, QueryParams
from node.cluster_keys import ClusterKeys, KeyChangeRefused
from node.keyring_file import KeyringFileError, read_keyring_file, write_keyring_file

K1, K2, K3 = b"\x01" * 32, b"\x02" * 32, b"\x03" * 16
B1, B2, B3 = (base64.b64encode(k).decode() for k in (K1, K2, K3))
DEADLINE_S = 0.3


class FakeCluster:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.nodes: dict[str, ClusterKeys] = {}
        self.silent: set[str] = set()
        self.plaintext: set[str] = set()
        """Nodes that receive others' queries unencrypted (verify_incoming off)."""
        self.seen_at_write: list[tuple[str, tuple[bytes, ...], tuple[bytes, ...]]] = []
        self.broken_disk: set[str] = set()
        self._ltime = 0

    def add(self, name: str, keys: tuple[bytes, ...]) -> ClusterKeys:
        path = self.tmp / name / "keyring.json"
        if keys:
            write_keyring_file(path, keys)

        def write(p: Path, new: tuple[bytes, ...], name: str = name) -> None:
            # What the live keyring held when the new keys were written: the old ones.
            self.seen_at_write.append((name, self.nodes[name].keyring.keys, tuple(new)))
            if name in self.broken_disk:
                raise KeyringFileError(f"cannot write the keyring file {p}: No space left on device")
            write_keyring_file(p, new)

        node = ClusterKeys(_Port(self, name), Keyring(keys), path, write=write)
        self.nodes[name] = node
        return node


class _Port:
    def __init__(self, cluster: FakeCluster, name: str) -> None:
        self.cluster, self.name = cluster, name

    def start_query(self, name: str, payload: bytes, params: QueryParams) -> OutboundQuery:
        cluster = self.cluster
        cluster._ltime += 1
        loop = asyncio.get_running_loop()
        query = OutboundQuery(ltime=cluster._ltime, id=7, name=name,
                              deadline=loop.time() + DEADLINE_S, request_ack=False)
        asker = cluster.nodes[self.name]
        for node_name, node in cluster.nodes.items():
            if node_name in cluster.silent:
                continue
            incoming = IncomingQuery(ltime=query.ltime, id=7, name=name, payload=payload,
                                     source_node=self.name, reply_to=("127.0.0.1", 1),
                                     relay_factor=0, deadline=query.deadline,
                                     encrypted=node_name == self.name or node_name not in cluster.plaintext)
            node._port.outbound = (query, asker)  # type: ignore[attr-defined]
            loop.create_task(node.answer(incoming))

        def close() -> None:
            query.closed = True
            asker.on_answer(query)
        loop.call_at(query.deadline, close)
        return query

    def respond(self, query: IncomingQuery, payload: bytes) -> None:
        outbound, asker = self.outbound  # type: ignore[attr-defined]
        if not outbound.closed:
            outbound.responses[self.name] = payload
            asker.on_answer(outbound)

    def response_fits(self, query: IncomingQuery, payload: bytes) -> bool:
        return len(payload) <= 1000

    def close_query(self, query: OutboundQuery) -> None:
        query.closed = True

    def live_members(self) -> list[str]:
        return list(self.cluster.nodes)


@pytest.fixture
def cluster(tmp_path: Path) -> FakeCluster:
    c = FakeCluster(tmp_path)
    c.add("a", (K1,))
    c.add("b", (K1,))
    c.add("serf-1", (K1, K3))
    return c


async def test_list_counts_every_node(cluster: FakeCluster) -> None:
    report = await cluster.nodes["a"].list()
    s = report.summary
    assert s.ok and s.num_nodes == 3 and s.num_resp == 3
    assert s.keys == {B1: 3, B3: 1} and s.primary_keys == {B1: 3}
    assert report.primary_key == B1 and report.lacking_primary == ()


async def test_rotation_persists_before_applying_everywhere(cluster: FakeCluster) -> None:
    a = cluster.nodes["a"]
    assert (await a.install(K2)).summary.ok
    assert (await a.use(K2)).summary.ok
    assert (await a.remove(K1)).summary.ok
    for name, node in cluster.nodes.items():
        assert node.keyring.primary == K2 and K1 not in node.keyring
        assert read_keyring_file(cluster.tmp / name / "keyring.json")[0] == K2
    # Every write happened while the live keyring still held the previous keys.
    assert cluster.seen_at_write and all(before != after for _, before, after in cluster.seen_at_write)
    listed = await a.list()
    assert listed.summary.keys == {B2: 3, B3: 1} and listed.primary_key == B2


async def test_a_change_that_cannot_be_persisted_is_not_applied(cluster: FakeCluster) -> None:
    cluster.broken_disk.add("b")
    report = await cluster.nodes["a"].install(K2)
    assert not report.summary.ok and report.summary.num_err == 1
    assert "No space left on device" in report.summary.messages["b"]
    assert K2 not in cluster.nodes["b"].keyring
    assert read_keyring_file(cluster.tmp / "b" / "keyring.json") == [K1]
    assert K2 in cluster.nodes["a"].keyring and K2 in cluster.nodes["serf-1"].keyring


async def test_use_refused_while_a_node_lacks_the_key(cluster: FakeCluster) -> None:
    with pytest.raises(KeyChangeRefused) as refused:
        await cluster.nodes["a"].use(K3)
    assert refused.value.nodes == ("a", "b")
    assert "a, b" in str(refused.value) and "install it first" in str(refused.value)
    assert all(node.keyring.primary == K1 for node in cluster.nodes.values())


async def test_remove_refused_while_a_node_encrypts_with_it(cluster: FakeCluster) -> None:
    await cluster.nodes["b"].install(K3)
    cluster.nodes["serf-1"].keyring.use(K3)  # serf-1 rotated on its own
    with pytest.raises(KeyChangeRefused) as refused:
        await cluster.nodes["a"].remove(K3)
    assert refused.value.nodes == ("serf-1",)
    assert all(K3 in node.keyring for node in cluster.nodes.values())


async def test_a_silent_node_blocks_use_and_is_named(cluster: FakeCluster) -> None:
    await cluster.nodes["a"].install(K2)
    cluster.silent.add("b")
    listed = await cluster.nodes["a"].list()  # waits for the deadline, then reports
    assert listed.summary.missing == ("b",) and not listed.summary.ok
    with pytest.raises(KeyChangeRefused) as refused:
        await cluster.nodes["a"].use(K2)
    assert refused.value.nodes == ("b",)


async def test_without_encryption_nodes_answer_like_serf(tmp_path: Path) -> None:
    c = FakeCluster(tmp_path)
    c.add("a", (K1,))
    c.add("plain", ())
    report = await c.nodes["a"].install(K2)
    assert report.summary.messages == {"plain": "No keyring to modify (encryption not enabled)"}
    listed = await c.nodes["a"].list()
    assert listed.lacking_primary == ("plain",)


async def test_a_change_that_arrived_unencrypted_is_refused_and_not_persisted(
        cluster: FakeCluster) -> None:
    cluster.plaintext.add("b")  # b accepts plaintext (migration) and got the query so
    report = await cluster.nodes["a"].install(K2)
    assert report.summary.messages == {"b": UNENCRYPTED_CHANGE}
    assert cluster.nodes["b"].keyring.keys == (K1,)
    assert read_keyring_file(cluster.tmp / "b" / "keyring.json") == [K1]
    assert sorted(name for name, _, _ in cluster.seen_at_write) == ["a", "serf-1"]
    assert cluster.nodes["serf-1"].keyring.keys == (K1, K3, K2)


async def test_a_flood_of_key_queries_is_bounded(cluster: FakeCluster) -> None:
    from gossip.events import QueryReceived
    from gossip.key_queries import LIST_KEYS
    from node.cluster_keys import MAX_PENDING_ANSWERS

    node = cluster.nodes["b"]
    node._port.outbound = (OutboundQuery(1, 1, LIST_KEYS, 1e9, False), node)  # type: ignore[attr-defined]
    for i in range(MAX_PENDING_ANSWERS + 10):
        node.on_event(QueryReceived(IncomingQuery(i, i, LIST_KEYS, b"", "x", ("127.0.0.1", 1), 0, 1e9)))
    assert node.dropped == 10
    await node.aclose()
