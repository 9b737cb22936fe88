"""The data dir's store: lasting identity, incarnation, known peers, HTTP registry.

One SQLite file (``node.db``) in WAL mode with ``synchronous=FULL``: every commit is on
disk when it returns, so the incarnation number never goes backwards after a crash or a
power loss (``NORMAL`` may roll back the last commits on power loss). Writes are rare
(start, refutations, peer changes, registrations), so FULL costs nothing noticeable.

A store that cannot be read is an error (``StoreError``) with the path and what to do;
the agent never silently starts over with a new identity.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gossip.types import Address

from .metadata import NODE_UUID_BYTES

__all__ = ["MAX_PEERS", "ROWS_PER_STATEMENT", "SCHEMA_VERSION", "STORE_FILE", "NodeStore", "StoreError"]

STORE_FILE = "node.db"
SCHEMA_VERSION = 1
"""``PRAGMA user_version`` of the layout below; a different value is refused."""
MAX_PEERS = 64
"""Known peers remembered for rejoining (most recently seen first)."""
ROWS_PER_STATEMENT = 300
"""Registry rows per INSERT in a batch (3 values each: under SQLite's oldest limit of
999 bound values per statement)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS identity (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS peers (
    name TEXT PRIMARY KEY, host TEXT NOT NULL, port INTEGER NOT NULL, seen REAL NOT NULL);
CREATE TABLE IF NOT EXISTS registry (
    node_id TEXT PRIMARY KEY, record TEXT NOT NULL, updated REAL NOT NULL);
"""


class StoreError(Exception):
    """The store is unreadable, corrupt, locked, or belongs to another node."""


class NodeStore:
    """The node's persistent state. Thread-safe (one mutex), so slow fsyncs can run in a
    worker thread.

    Args:
        data_dir: directory holding ``node.db`` (created if missing).
        wall_clock: unix time source (tests inject one).
    Raises:
        StoreError: the directory or file cannot be created, read or understood.
    """

    def __init__(self, data_dir: Path, *, wall_clock: Callable[[], float] = time.time) -> None:
        self.path = data_dir / STORE_FILE
        self._mutex = threading.RLock()
        self._rows: dict[str, tuple[str, float]] | None = None
        """Registry rows saved inside ``batch`` (node id → JSON, time), else None."""
        self._wall_clock = wall_clock
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create data dir {data_dir}: {exc}") from None
        self._lock = _lock_data_dir(data_dir)
        if self.path.exists() and self.path.stat().st_size == 0:
            # SQLite would take an empty file for a new store: a silent new identity.
            self.close_lock()
            raise StoreError(self._explain(ValueError("the file is empty")))
        try:
            # Shared with the agent's writer thread; every use holds self._mutex.
            self._db = sqlite3.connect(str(self.path), isolation_level=None, timeout=5.0,
                                       check_same_thread=False)
        except sqlite3.Error as exc:
            self.close_lock()
            raise StoreError(self._explain(exc)) from None
        try:
            self._open()
        except sqlite3.Error as exc:
            self.close()
            raise StoreError(self._explain(exc)) from None

    def _explain(self, exc: Exception) -> str:
        return (f"store {self.path} is unreadable ({exc}); refusing to start with a new "
                f"identity. Restore or move the file aside (or pass another --data-dir) "
                f"to start this node afresh")

    def _open(self) -> None:
        db = self._db
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise sqlite3.DatabaseError(f"unknown schema version {version}")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        integrity = db.execute("PRAGMA quick_check").fetchone()[0]
        if integrity != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {integrity}")
        if version == 0:
            db.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")

    def _tx(self) -> _Transaction:
        return _Transaction(self._db, self._mutex)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction around several writes (``StoreWriter``'s group commit): their
        own transactions join it, and one commit (one fsync) covers them all. Any
        exception inside rolls every one of them back.

        Registry rows saved inside go to the table in one statement per
        ``ROWS_PER_STATEMENT`` at the end: the writer thread then takes the interpreter's
        lock back a few times per commit, not once per row, which the event loop feels
        under load."""
        with self._tx():
            if self._rows is not None:  # inside another batch: it writes them
                yield
                return
            self._rows = {}
            try:
                yield
                self._insert_rows(self._rows)
            finally:
                self._rows = None

    def close_lock(self) -> None:
        """Release the data-dir lock (``close`` does it too)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def close(self) -> None:
        with self._mutex:
            self._db.close()
        self.close_lock()

    # --- identity -------------------------------------------------------------------------

    def _get(self, key: str) -> str | None:
        with self._mutex:
            row = self._db.execute("SELECT value FROM identity WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set(self, key: str, value: str) -> None:
        with self._tx():
            self._db.execute(
                "INSERT INTO identity(key, value) VALUES(?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (key, value))

    @property
    def node_id(self) -> str | None:
        """The id this data dir belongs to, or None on first start."""
        return self._get("node_id")

    def claim_node_id(self, requested: str | None, default: str) -> str:
        """Fix this data dir's node id on first start; afterwards return the stored one.

        Args:
            requested: ``--node-id`` if given.
            default: id used on first start without ``--node-id`` (the host name).
        Raises:
            StoreError: ``requested`` differs from the stored id (a data dir is one node).
        """
        stored = self.node_id
        if stored is None:
            node_id = requested or default
            self._set("node_id", node_id)
            return node_id
        if requested is not None and requested != stored:
            raise StoreError(
                f"data dir {self.path.parent} belongs to node {stored!r}, not {requested!r}; "
                f"use --node-id {stored} or another --data-dir")
        return stored

    def claim_node_uuid(self) -> bytes:
        """This data dir's node UUID: ``NODE_UUID_BYTES`` random bytes made and stored on first start,
        the same ever after (``node.identity`` tells a restart from a clone with it).

        Raises:
            StoreError: the stored value is not a UUID (the file was edited).
        """
        stored = self._get("node_uuid")
        if stored is None:
            uuid = os.urandom(NODE_UUID_BYTES)  # = secrets.token_bytes, without hmac's libcrypto
            self._set("node_uuid", uuid.hex())
            return uuid
        try:
            uuid = bytes.fromhex(stored)
        except ValueError:
            uuid = b""
        if len(uuid) != NODE_UUID_BYTES:
            raise StoreError(self._explain(ValueError(f"node_uuid {stored!r} is not a UUID")))
        return uuid

    @property
    def incarnation(self) -> int:
        """The last incarnation number written (0 if none)."""
        value = self._get("incarnation")
        return int(value) if value is not None else 0

    def next_start_incarnation(self) -> int:
        """The incarnation to start with, persisted before it is returned.

        ``max(stored + 1, unix time)``: above anything this node ever announced, and above
        stale reports of its death even if the last write before a crash were lost.
        """
        value = max(self.incarnation + 1, int(self._wall_clock()))
        self._set("incarnation", str(value))
        return value

    def record_incarnation(self, incarnation: int) -> None:
        """Persist a higher incarnation (after a refutation); lower values are ignored."""
        if incarnation > self.incarnation:
            self._set("incarnation", str(incarnation))

    @property
    def max_term(self) -> int:
        """The highest coordinator term this node has seen (0 if none)."""
        value = self._get("max_term")
        return int(value) if value is not None else 0

    def record_term(self, term: int) -> None:
        """Persist a higher coordinator term; lower values are ignored."""
        if term > self.max_term:
            self._set("max_term", str(term))

    # --- peers ----------------------------------------------------------------------------

    def remember_peers(self, peers: dict[str, Address]) -> None:
        """Record alive peers (name → gossip address), keeping the ``MAX_PEERS`` most recent."""
        if not peers:
            return
        now = self._wall_clock()
        with self._tx():
            self._db.executemany(
                "INSERT INTO peers(name, host, port, seen) VALUES(?, ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET host=excluded.host, port=excluded.port, "
                "seen=excluded.seen",
                [(name, host, port, now) for name, (host, port) in peers.items()])
            self._db.execute(
                "DELETE FROM peers WHERE name NOT IN "
                "(SELECT name FROM peers ORDER BY seen DESC LIMIT ?)", (MAX_PEERS,))

    def known_peers(self) -> list[Address]:
        """Remembered peer addresses, most recently seen first."""
        with self._mutex:
            rows = self._db.execute("SELECT host, port FROM peers ORDER BY seen DESC").fetchall()
        return [(str(host), int(port)) for host, port in rows]

    # --- HTTP registry --------------------------------------------------------------------

    def save_registered(self, node_id: str, record: dict[str, Any]) -> None:
        """Insert or replace one HTTP-registered node's record (JSON-serialisable)."""
        row = (json.dumps(record, default=str), self._wall_clock())
        with self._tx():
            if self._rows is not None:  # inside ``batch``: written at its end
                self._rows.pop(node_id, None)  # the later save wins, in its own place
                self._rows[node_id] = row
            else:
                self._insert_rows({node_id: row})

    def _insert_rows(self, rows: dict[str, tuple[str, float]]) -> None:
        items = [(node_id, *row) for node_id, row in rows.items()]
        for start in range(0, len(items), ROWS_PER_STATEMENT):
            chunk = items[start:start + ROWS_PER_STATEMENT]
            self._db.execute(
                "INSERT INTO registry(node_id, record, updated) VALUES "
                + ", ".join(["(?, ?, ?)"] * len(chunk))
                + " ON CONFLICT(node_id) DO UPDATE SET record=excluded.record, "
                  "updated=excluded.updated",
                [value for item in chunk for value in item])

    def delete_registered(self, node_id: str) -> None:
        with self._tx():
            if self._rows is not None:
                self._rows.pop(node_id, None)  # saved earlier in this batch: gone too
            self._db.execute("DELETE FROM registry WHERE node_id=?", (node_id,))

    def registered(self) -> dict[str, dict[str, Any]]:
        """Every stored HTTP-registered record. Unparseable rows raise ``StoreError``."""
        out: dict[str, dict[str, Any]] = {}
        with self._mutex:
            rows = self._db.execute("SELECT node_id, record FROM registry").fetchall()
        for node_id, record in rows:
            try:
                value = json.loads(record)
            except ValueError:
                raise StoreError(self._explain(ValueError(f"registry row {node_id!r} is not JSON"))) from None
            if isinstance(value, dict):
                out[str(node_id)] = value
        return out


def _lock_data_dir(data_dir: Path) -> Any:
    """Hold an exclusive lock on ``data_dir/node.lock`` so two agents never share a store
    (and so one identity). Returns the open lock file; None where ``fcntl`` is missing."""
    try:
        import fcntl
    except ImportError:  # Windows: SQLite's own locking still protects the file.
        return None
    lock_path = data_dir / "node.lock"
    try:
        handle = open(lock_path, "a+")  # noqa: SIM115 - held open while the store is
    except OSError as exc:
        raise StoreError(f"cannot open {lock_path}: {exc}") from None
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise StoreError(f"data dir {data_dir} is in use by another claw-node process") from None
    return handle


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error) on an autocommit
    connection, holding the store's mutex throughout. Inside another one (``batch``, same
    thread: the mutex is reentrant) it joins it: the outer one commits."""

    def __init__(self, db: sqlite3.Connection, mutex: threading.RLock) -> None:
        self._db = db
        self._mutex = mutex
        self._joined = False

    def __enter__(self) -> None:
        self._mutex.acquire()
        try:
            self._joined = self._db.in_transaction
            if not self._joined:
                self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._mutex.release()
            raise

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if not self._joined:
                self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
        finally:
            self._mutex.release()
