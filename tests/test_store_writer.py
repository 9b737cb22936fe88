"""StoreWriter: writes in order, off the loop, and none lost when the agent stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.store import NodeStore
from node.store_writer import StoreWriter

pytestmark = pytest.mark.timeout(60)


class FakeStore:
    """Records writes (and the thread they ran in) and whether it was closed."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.threads: set[int] = set()
        self.closed = False
        self.commits = 0

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """A transaction: the log is restored if a write inside fails."""
        before = list(self.log)
        try:
            yield
        except Exception:
            self.log[:] = before
            raise
        self.commits += 1

    def close(self) -> None:
        self.log.append("close")
        self.closed = True


def writing(name: str):  # type: ignore[no-untyped-def]
    def write(store: FakeStore) -> None:
        assert not store.closed
        store.threads.add(threading.get_ident())
        store.log.append(name)
    return write


async def test_submitted_writes_run_in_order_off_the_loop_and_close_waits_for_them() -> None:
    store = FakeStore()
    writer = StoreWriter(store)  # type: ignore[arg-type]
    for n in range(20):
        writer.submit(writing(f"w{n}"))
    assert writer.pending == 20 and store.log == []  # nothing ran yet: fire and forget
    await writer.aclose()
    assert store.log == [f"w{n}" for n in range(20)] + ["close"]
    assert threading.get_ident() not in store.threads and writer.pending == 0
    await writer.aclose()  # idempotent
    assert store.log.count("close") == 1


async def test_writes_queued_during_a_commit_share_the_next_one() -> None:
    store = FakeStore()
    writer = StoreWriter(store)  # type: ignore[arg-type]
    await asyncio.gather(*(writer.write(writing(f"w{n}")) for n in range(50)))
    assert store.log == [f"w{n}" for n in range(50)]
    assert store.commits < 50  # grouped (the first may commit alone)
    await writer.aclose()


async def test_a_failing_write_in_a_group_fails_alone(tmp_path: Path) -> None:
    writer = StoreWriter(NodeStore(tmp_path))

    def broken(_: NodeStore) -> None:
        raise OSError("disk full")

    writer.submit(lambda s: s.save_registered("a", {"n": 1}))
    failing = asyncio.ensure_future(writer.write(broken))
    writer.submit(lambda s: s.save_registered("b", {"n": 2}))
    await asyncio.gather(failing, return_exceptions=True)
    assert isinstance(failing.exception(), OSError)
    await writer.aclose()
    store = NodeStore(tmp_path)
    assert set(store.registered()) == {"a", "b"}  # both landed despite the failure between
    store.close()


async def test_a_failing_write_is_logged_and_the_others_still_run(
        caplog: pytest.LogCaptureFixture) -> None:
    store = FakeStore()
    writer = StoreWriter(store)  # type: ignore[arg-type]

    def broken(_: FakeStore) -> None:
        raise OSError("disk full")

    writer.submit(writing("a"))
    writer.submit(broken)
    await writer.write(writing("b"))  # waits for the writes before it, then itself
    assert store.log == ["a", "b"]
    assert "store write failed" in caplog.text
    await writer.drain()


async def test_settled_waits_for_the_writes_so_far_and_reports_a_failure() -> None:
    store = FakeStore()
    writer = StoreWriter(store)  # type: ignore[arg-type]
    writer.submit(writing("a"))
    await writer.settled()
    assert store.log == ["a"] and writer.pending == 0
    await writer.settled()  # nothing pending: returns at once

    def broken(_: FakeStore) -> None:
        raise OSError("disk full")

    writer.submit(broken)
    writer.submit(writing("b"))
    with pytest.raises(OSError, match="disk full"):
        await writer.settled()
    assert store.log == ["a", "b"]
    with pytest.raises(OSError, match="disk full"):
        await writer.write(broken)  # an awaited write raises its own failure
    await writer.aclose()


async def test_writes_after_close_are_dropped_with_a_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    store = FakeStore()
    writer = StoreWriter(store)  # type: ignore[arg-type]
    await writer.aclose()
    with caplog.at_level(logging.WARNING):
        writer.submit(writing("late"))
        await writer.write(writing("later"))
    assert store.log == ["close"] and caplog.text.count("write was dropped") == 2


async def test_a_term_submitted_just_before_stop_is_on_disk(tmp_path: Path) -> None:
    writer = StoreWriter(NodeStore(tmp_path))
    writer.submit(lambda s: s.record_term(9))
    writer.submit(lambda s: s.save_registered("n1", {"node_id": "n1"}))
    await writer.aclose()
    reopened = NodeStore(tmp_path)
    try:
        assert reopened.max_term == 9 and "n1" in reopened.registered()
    finally:
        reopened.close()
