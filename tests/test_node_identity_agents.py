"""Agents in-process on loopback claiming one node id: the later one exits 78 without
leaving, the first keeps the id (and outbids the other's incarnation), and a third
member never sees it suspected, failed or left. The lab tests do the same across hosts
(``test_lab_identity.py``)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pytest

from node.agent import Agent
from node.events import ClusterEvent, EventKind
from node.exit_codes import IDENTITY_CONFLICT
from node.store import STORE_FILE
from tests.conftest import eventually_async
from tests.test_node_agent import config, fake_sampler

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

DOWN_OR_MOVED = (EventKind.MEMBER_SUSPECT, EventKind.MEMBER_FAILED, EventKind.MEMBER_LEFT,
                 EventKind.MEMBER_ADDRESS)


def idle() -> float | None:
    """The host's CPU load, unknown: the REST stack loads without waiting for calm."""
    return None


async def test_a_second_agent_with_the_same_id_gives_it_up_and_leaves_nothing(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    first = Agent(config(tmp_path / "a", node_id="pi"), sampler=fake_sampler, host_busy=idle)
    await first.start()
    third = None
    try:
        seed = f"127.0.0.1:{first.transport.address[1]}"  # type: ignore[union-attr]
        third = Agent(config(tmp_path / "c", node_id="c", join=[seed]), sampler=fake_sampler, host_busy=idle)
        about_pi: list[ClusterEvent] = []
        third.events.add_listener(lambda e: about_pi.append(e) if e.node == "pi"
                                  and e.kind in DOWN_OR_MOVED else None)
        await third.start()
        await eventually_async(lambda: len(third.members()) == 2)  # type: ignore[union-attr]

        # Through the first one: it hears the claim itself.
        clone = Agent(config(tmp_path / "b", node_id="pi", join=[seed]), sampler=fake_sampler, host_busy=idle)
        with caplog.at_level(logging.INFO):
            code = await asyncio.wait_for(clone.run(), timeout=60)
        assert code == IDENTITY_CONFLICT
        [line] = [r.getMessage() for r in caplog.records if "identity conflict" in r.getMessage()]
        assert seed in line and "--node-id" in line and "copied" not in line
        assert not any("left the cluster" in r.getMessage() for r in caplog.records)

        core = first.transport.core  # type: ignore[union-attr]
        await eventually_async(lambda: core.stats["outbids"] >= 1)
        assert core.incarnation > clone._epoch  # above anything the clone announced
        assert first.store.incarnation >= core.incarnation  # type: ignore[union-attr]
        pi = third.transport.core.member("pi")  # type: ignore[union-attr]
        assert pi is not None and pi.address == first.transport.address  # type: ignore[union-attr]
        await eventually_async(lambda: third.transport.core.member("pi").incarnation  # type: ignore[union-attr]
                       == core.incarnation)
        assert about_pi == []  # never suspected, failed, left, nor moved to the clone
    finally:
        if third is not None:
            await third.stop(leave=True)
        await first.stop(leave=True)


async def test_a_copied_data_dir_is_named_in_the_line(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    first = Agent(config(tmp_path / "a", node_id="pi"), sampler=fake_sampler, host_busy=idle)
    await first.start()
    try:
        (tmp_path / "b").mkdir()
        with sqlite3.connect(tmp_path / "a" / STORE_FILE) as a, \
                sqlite3.connect(tmp_path / "b" / STORE_FILE) as b:
            a.backup(b)  # an image of the running machine: same id, same UUID
        seed = f"127.0.0.1:{first.transport.address[1]}"  # type: ignore[union-attr]
        clone = Agent(config(tmp_path / "b", node_id="pi", join=[seed]), sampler=fake_sampler, host_busy=idle)
        with caplog.at_level(logging.INFO):
            code = await asyncio.wait_for(clone.run(), timeout=60)
        assert code == IDENTITY_CONFLICT and clone.node_uuid == first.node_uuid
        [line] = [r.getMessage() for r in caplog.records if "identity conflict" in r.getMessage()]
        assert "copied" in line and "--data-dir" in line
    finally:
        await first.stop(leave=True)
