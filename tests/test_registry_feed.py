"""``node.registry_feed.RegistryFeed``: a registry change becomes worker events and a store
write; only this node's own writes (and replicas, urgently) are gossiped."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

from api.registry import HttpNodeRecord
from gossip.app_relay import AppVersion
from node.app_messages import APP_REGISTRY, decode_app, record_version
from node.events import ClusterEvent, EventKind
from node.registry_feed import RegistryFeed
from node.store_writer import StoreWrite, StoreWriter


class FakeWriter:
    def __init__(self) -> None:
        self.submitted: list[StoreWrite] = []

    def submit(self, write: StoreWrite) -> None:
        self.submitted.append(write)

    def submit_latest(self, key: str, write: StoreWrite) -> None:
        self.submitted.append(write)


class FakeStore:
    def __init__(self) -> None:
        self.saved: dict[str, dict[str, Any]] = {}

    def save_registered(self, node_id: str, data: dict[str, Any]) -> None:
        self.saved[node_id] = data


def record(node_id: str = "w1", status: str = "online") -> HttpNodeRecord:
    return HttpNodeRecord(
        node_id=node_id, hostname="h", platform="linux", arch="x64", status=status,
        suspect=False, cpu_usage=0.0, memory_usage=0.0, disk_usage=0.0, available_skills=(),
        max_concurrent_tasks=5, running_tasks=0, ip_address="10.0.0.9", tailscale_ip="",
        port=18789, total_tasks_processed=0, successful_tasks=0, failed_tasks=0,
        average_execution_time=0.0, registered_at=10.0, last_heartbeat=10.0, tags=(),
        version=1, updated_at=10.0)


class Fed:
    """A feed whose deferred gossip runs when the test says (``step_ends``)."""

    def __init__(self, writer: FakeWriter | None = None) -> None:
        self.events: list[ClusterEvent] = []
        self.sent: list[tuple[bytes, str, bool]] = []
        self.versions: list[AppVersion] = []
        self.writer = writer
        self.deferred: list[Callable[[], None]] = []
        self.feed = RegistryFeed(
            publish=self.events.append, writer=lambda: cast(StoreWriter | None, self.writer),
            broadcast=self.broadcast, wall_clock=lambda: 50.0, defer=self.deferred.append)

    def broadcast(self, body: bytes, key: str, urgent: bool, version: AppVersion) -> None:
        self.sent.append((body, key, urgent))
        self.versions.append(version)

    def step_ends(self) -> None:
        callbacks = list(self.deferred)
        self.deferred.clear()  # the feed holds this list's append
        for callback in callbacks:
            callback()


def test_a_local_write_is_published_saved_and_gossiped() -> None:
    fed = Fed(FakeWriter())
    rec = record()
    fed.feed.on_write(rec)
    assert [e.kind for e in fed.events] == [EventKind.WORKER_REGISTERED]
    store = FakeStore()
    for write in fed.writer.submitted:  # type: ignore[union-attr]
        write(cast(Any, store))
    assert store.saved["w1"] == rec.to_dict()
    assert fed.sent == []  # gossiped after the step that wrote it (the HTTP answer)
    fed.step_ends()
    [(body, key, urgent)] = fed.sent
    assert key == "reg:w1" and not urgent
    assert decode_app(body) == (APP_REGISTRY, rec.to_bytes())


def test_the_gossiped_version_is_the_one_the_body_carries() -> None:
    # Gossip trusts the handed version instead of decoding the body: it must be exactly
    # what a receiver's ``record_version`` reads, for any record the API can write.
    fed = Fed()
    records = [record("w1"), replace(record("w2"), version=7, updated_at=1.7e9 + 0.123456789),
               replace(record("w3"), version=2**40, updated_at=5.0), record("w4", status="maintenance")]
    for rec in records:
        fed.feed.on_write(rec)
    fed.step_ends()
    assert len(fed.versions) == len(records)
    for (body, _, _), version in zip(fed.sent, fed.versions, strict=True):
        assert record_version(body) == version
        assert type(record_version(body)[1][1]) is type(version[1][1])  # type: ignore[index]


def test_a_merged_record_is_not_gossiped_again_and_primed_ones_make_no_event() -> None:
    fed = Fed()  # no store open: nothing to save, no failure
    fed.feed.prime([record("w0")])
    fed.feed.on_merged(record("w0"))
    fed.feed.on_merged(record("w1", status="maintenance"))
    assert [e.kind for e in fed.events] == [EventKind.WORKER_REGISTERED, EventKind.MAINTENANCE]
    assert fed.sent == []


def test_a_replica_is_gossiped_urgently() -> None:
    fed = Fed()
    fed.feed.gossip(record(), urgent=True)
    fed.step_ends()
    assert [(key, urgent) for _, key, urgent in fed.sent] == [("reg:w1", True)]


def test_a_newer_record_replaces_the_unsent_one_of_its_node() -> None:
    fed = Fed()
    fed.feed.gossip(record("w1"), urgent=True)
    fed.feed.on_write(newer := replace(record("w1"), version=2, cpu_usage=50.0))
    fed.feed.on_write(other := record("w2"))
    assert len(fed.deferred) == 1  # one send for the step, however many writes
    fed.step_ends()
    assert [(decode_app(body), key, urgent) for body, key, urgent in fed.sent] == [
        ((APP_REGISTRY, newer.to_bytes()), "reg:w1", True),  # urgent stays urgent
        ((APP_REGISTRY, other.to_bytes()), "reg:w2", False)]
    fed.feed.on_write(record("w1"))  # the next step sends again
    fed.step_ends()
    assert [key for _, key, _ in fed.sent] == ["reg:w1", "reg:w2", "reg:w1"]


def test_without_an_event_loop_the_gossip_goes_at_once() -> None:
    sent: list[str] = []
    feed = RegistryFeed(publish=lambda e: None, writer=lambda: None,
                        broadcast=lambda body, key, urgent, version: sent.append(key),
                        wall_clock=lambda: 50.0)
    feed.gossip(record())
    assert sent == ["reg:w1"]
