"""``node.registry_feed.RegistryFeed``: a registry change becomes worker events and a store
write; only this node's own writes (and replicas, urgently) are gossiped."""

from __future__ import annotations

from typing import Any, cast

from api.registry import HttpNodeRecord
from node.app_messages import APP_REGISTRY, decode_app
from node.events import ClusterEvent, EventKind
from node.registry_feed import RegistryFeed
from node.store_writer import StoreWrite, StoreWriter


class FakeWriter:
    def __init__(self) -> None:
        self.submitted: list[StoreWrite] = []

    def submit(self, write: StoreWrite) -> None:
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
    def __init__(self, writer: FakeWriter | None = None) -> None:
        self.events: list[ClusterEvent] = []
        self.sent: list[tuple[bytes, str, bool]] = []
        self.writer = writer
        self.feed = RegistryFeed(
            publish=self.events.append, writer=lambda: cast(StoreWriter | None, self.writer),
            broadcast=lambda body, key, urgent: self.sent.append((body, key, urgent)),
            wall_clock=lambda: 50.0)


def test_a_local_write_is_published_saved_and_gossiped() -> None:
    fed = Fed(FakeWriter())
    rec = record()
    fed.feed.on_write(rec)
    assert [e.kind for e in fed.events] == [EventKind.WORKER_REGISTERED]
    store = FakeStore()
    for write in fed.writer.submitted:  # type: ignore[union-attr]
        write(cast(Any, store))
    assert store.saved["w1"] == rec.to_dict()
    [(body, key, urgent)] = fed.sent
    assert key == "reg:w1" and not urgent
    assert decode_app(body) == (APP_REGISTRY, rec.to_bytes())


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
    assert [(key, urgent) for _, key, urgent in fed.sent] == [("reg:w1", True)]
