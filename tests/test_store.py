"""NodeStore: lasting identity, incarnation that never goes backwards, peers, registry."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from node.store import MAX_PEERS, ROWS_PER_STATEMENT, NodeStore, StoreError


def test_first_start_claims_the_default_id_then_keeps_it(tmp_path: Path) -> None:
    store = NodeStore(tmp_path)
    assert store.node_id is None
    assert store.claim_node_id(None, "myhost") == "myhost"
    store.close()
    store = NodeStore(tmp_path)
    assert store.claim_node_id(None, "otherhost") == "myhost"
    assert store.claim_node_id("myhost", "otherhost") == "myhost"
    store.close()


def test_a_different_node_id_is_refused_not_silently_adopted(tmp_path: Path) -> None:
    store = NodeStore(tmp_path)
    store.claim_node_id("alpha", "h")
    with pytest.raises(StoreError, match="belongs to node 'alpha'"):
        store.claim_node_id("beta", "h")
    store.close()


def test_the_node_uuid_is_random_per_data_dir_and_stable_across_restarts(
        tmp_path: Path) -> None:
    store = NodeStore(tmp_path / "a")
    uuid = store.claim_node_uuid()
    assert len(uuid) == 16
    assert store.claim_node_uuid() == uuid
    store.close()
    store = NodeStore(tmp_path / "a")
    assert store.claim_node_uuid() == uuid  # on disk, not per run
    store.close()
    other = NodeStore(tmp_path / "b")
    assert other.claim_node_uuid() != uuid  # another data dir, another node
    other.close()


def test_an_edited_node_uuid_is_refused_not_replaced(tmp_path: Path) -> None:
    store = NodeStore(tmp_path)
    store.claim_node_uuid()
    store._set("node_uuid", "not hex")
    with pytest.raises(StoreError, match="node_uuid"):
        store.claim_node_uuid()
    store.close()


def test_start_incarnation_grows_across_restarts_even_if_the_clock_goes_back(tmp_path: Path) -> None:
    clock = [1_000_000.0]
    store = NodeStore(tmp_path, wall_clock=lambda: clock[0])
    first = store.next_start_incarnation()
    assert first == 1_000_000
    store.record_incarnation(first + 5)   # refutations during the run
    store.record_incarnation(first + 2)   # lower: ignored
    store.close()
    clock[0] = 10.0                       # wall clock jumped backwards
    store = NodeStore(tmp_path, wall_clock=lambda: clock[0])
    assert store.next_start_incarnation() == first + 6
    store.close()


def test_start_incarnation_outranks_a_lost_write_by_using_unix_time(tmp_path: Path) -> None:
    store = NodeStore(tmp_path, wall_clock=lambda: 5_000.0)
    assert store.next_start_incarnation() == 5_000
    store.close()
    store = NodeStore(tmp_path, wall_clock=lambda: 9_000.0)
    assert store.next_start_incarnation() == 9_000


def test_terms_only_grow(tmp_path: Path) -> None:
    store = NodeStore(tmp_path)
    store.record_term(3)
    store.record_term(2)
    assert store.max_term == 3


def test_known_peers_most_recent_first_and_bounded(tmp_path: Path) -> None:
    clock = [100.0]
    store = NodeStore(tmp_path, wall_clock=lambda: clock[0])
    for i in range(MAX_PEERS + 10):
        clock[0] += 1
        store.remember_peers({f"n{i}": ("127.0.0.1", 10_000 + i)})
    peers = store.known_peers()
    assert len(peers) == MAX_PEERS
    assert peers[0] == ("127.0.0.1", 10_000 + MAX_PEERS + 9)
    store.close()
    assert NodeStore(tmp_path).known_peers() == peers


def test_registry_records_round_trip(tmp_path: Path) -> None:
    store = NodeStore(tmp_path)
    store.save_registered("w1", {"node_id": "w1", "version": 1})
    store.save_registered("w1", {"node_id": "w1", "version": 2})
    store.save_registered("w2", {"node_id": "w2", "version": 1})
    store.delete_registered("w2")
    store.close()
    assert NodeStore(tmp_path).registered() == {"w1": {"node_id": "w1", "version": 2}}


def test_corrupt_store_is_a_clear_error(tmp_path: Path) -> None:
    store = NodeStore(tmp_path)
    store.claim_node_id("alpha", "h")
    store.close()
    for extra in tmp_path.glob("node.db-*"):
        extra.unlink()
    (tmp_path / "node.db").write_bytes(b"this is not sqlite" * 200)
    with pytest.raises(StoreError, match="refusing to start with a new identity"):
        NodeStore(tmp_path)


def test_empty_store_file_is_not_a_fresh_start(tmp_path: Path) -> None:
    (tmp_path / "node.db").write_bytes(b"")
    with pytest.raises(StoreError, match="empty"):
        NodeStore(tmp_path)


def test_unknown_schema_version_is_refused(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "node.db")
    db.execute("PRAGMA user_version=99")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="schema version 99"):
        NodeStore(tmp_path)


def test_two_agents_cannot_share_a_data_dir(tmp_path: Path) -> None:
    first = NodeStore(tmp_path)
    with pytest.raises(StoreError, match="in use"):
        NodeStore(tmp_path)
    first.close()
    NodeStore(tmp_path).close()


def test_store_uses_wal_and_full_sync(tmp_path: Path) -> None:
    store = NodeStore(tmp_path)
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    store.close()


def test_rows_saved_in_a_batch_land_in_one_commit_the_last_save_winning(tmp_path: Path) -> None:
    store = NodeStore(tmp_path)
    try:
        store.save_registered("gone", {"v": 0})
        with store.batch():
            for n in range(ROWS_PER_STATEMENT + 5):  # more than one statement
                store.save_registered(f"w{n}", {"v": n})
            store.save_registered("w0", {"v": "later"})
            store.save_registered("brief", {"v": 1})
            store.delete_registered("brief")
            store.delete_registered("gone")
            with store.batch():  # a nested batch joins the outer one
                store.save_registered("inner", {"v": 2})
        rows = store.registered()
        assert rows["w0"] == {"v": "later"} and rows["inner"] == {"v": 2}
        assert len(rows) == ROWS_PER_STATEMENT + 6 and "brief" not in rows and "gone" not in rows
        with pytest.raises(RuntimeError), store.batch():
            store.save_registered("rolled-back", {})
            raise RuntimeError("a write failed")
        assert "rolled-back" not in store.registered()
        store.save_registered("alone", {"v": 3})  # outside a batch: at once
        assert store.registered()["alone"] == {"v": 3}
    finally:
        store.close()
