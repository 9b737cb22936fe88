"""StoreWriter: writes in order, off the loop, and none lost when the agent stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.store import NodeStore
from node.store_writer import MAX_BATCH, StoreWriter

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


async def test_settled_during_a_commit_waits_for_it_and_for_the_batch_queued_behind_it() -> None:
    store = FakeStore()
    committing, release = threading.Event(), threading.Event()
    plain_batch = store.batch

    @contextlib.contextmanager
    def held_batch() -> Iterator[None]:
        committing.set()
        assert release.wait(30)
        with plain_batch():
            yield

    store.batch = held_batch  # type: ignore[method-assign]
    writer = StoreWriter(store)  # type: ignore[arg-type]

    def broken(_: FakeStore) -> None:
        raise OSError("disk full")

    writer.submit(writing("a"))
    writer.submit(writing("a2"))
    assert await asyncio.to_thread(committing.wait, 30)  # the first batch is committing
    writer.submit(broken)  # these queue behind it, in a batch of their own
    writer.submit(writing("b"))
    settling = asyncio.ensure_future(writer.settled())
    await asyncio.sleep(0.01)
    assert not settling.done() and writer.pending == 4
    release.set()
    with pytest.raises(OSError, match="disk full"):
        await settling
    assert store.log == ["a", "a2", "b"] and writer.pending == 0
    await writer.aclose()


async def test_a_burst_larger_than_a_batch_commits_in_order_in_batches_of_max_batch() -> None:
    store = FakeStore()
    writer = StoreWriter(store)  # type: ignore[arg-type]
    for n in range(2 * MAX_BATCH + 2):
        writer.submit(writing(f"w{n}"))
    await writer.settled()
    # MAX_BATCH, MAX_BATCH and 2 writes: three transactions
    assert store.log == [f"w{n}" for n in range(2 * MAX_BATCH + 2)] and store.commits == 3
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


async def test_a_newer_latest_write_replaces_the_waiting_one_and_settled_takes_it_at_once(
        ) -> None:
    store = FakeStore()
    writer = StoreWriter(store, latest_delay_s=3600.0)  # type: ignore[arg-type]
    writer.submit_latest("reg:a", writing("a1"))
    writer.submit_latest("reg:b", writing("b1"))
    writer.submit_latest("reg:a", writing("a2"))
    assert writer.pending == 2 and store.log == []  # waiting for company
    await writer.settled()  # an acknowledgement never waits for the delay
    assert store.log == ["a2", "b1"] and store.commits == 1 and writer.pending == 0
    await writer.aclose()


async def test_latest_writes_ride_along_with_the_next_write_in_the_order_they_came() -> None:
    store = FakeStore()
    writer = StoreWriter(store, latest_delay_s=3600.0)  # type: ignore[arg-type]
    writer.submit_latest("reg:a", writing("a"))
    await writer.write(writing("term"))
    assert store.log == ["a", "term"]
    await writer.aclose()


async def test_a_latest_write_alone_is_committed_after_the_delay() -> None:
    store = FakeStore()
    writer = StoreWriter(store, latest_delay_s=0.01)  # type: ignore[arg-type]
    committed = threading.Event()

    def write(s: FakeStore) -> None:
        s.log.append("a")
        committed.set()

    writer.submit_latest("reg:a", write)  # nothing else comes: the timer commits it
    assert await asyncio.to_thread(committed.wait, 30.0)
    assert store.log == ["a"]
    await writer.aclose()


async def test_latest_writes_waiting_at_close_are_on_disk(tmp_path: Path) -> None:
    writer = StoreWriter(NodeStore(tmp_path), latest_delay_s=3600.0)
    writer.submit_latest("reg:n1", lambda s: s.save_registered("n1", {"v": 1}))
    writer.submit_latest("reg:n1", lambda s: s.save_registered("n1", {"v": 2}))
    await writer.aclose()
    reopened = NodeStore(tmp_path)
    try:
        assert reopened.registered() == {"n1": {"v": 2}}
    finally:
        reopened.close()


_ACKNOWLEDGE_THEN_WAIT = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    from node.store import NodeStore
    from node.store_writer import MAX_BATCH, StoreWriter

    async def main() -> None:
        writer = StoreWriter(NodeStore(Path(sys.argv[1])), latest_delay_s=3600.0)
        for n in range(50):  # concurrent registrations: one group commit
            writer.submit_latest(f"reg:w{n}", lambda s, n=n: s.save_registered(f"w{n}", {"n": n}))
        await writer.settled()
        print("acknowledged", flush=True)
        writer.submit_latest("reg:late", lambda s: s.save_registered("late", {}))
        await asyncio.sleep(3600)  # killed here

    asyncio.run(main())
""")


@pytest.mark.slow  # starts a process
def test_writes_acknowledged_by_settled_survive_kill_9(tmp_path: Path) -> None:
    """What ``settled`` acknowledged is on disk when the process dies at that moment."""
    child = subprocess.Popen([sys.executable, "-c", _ACKNOWLEDGE_THEN_WAIT, str(tmp_path)],
                             stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "acknowledged"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
    reopened = NodeStore(tmp_path)
    try:
        rows = reopened.registered()
    finally:
        reopened.close()
    assert {f"w{n}" for n in range(50)} <= set(rows)
