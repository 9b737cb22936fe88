"""``node.advertise.PublishedMeta`` (this node's metadata as it changes) and
``node.metadata.MetaCache`` (decoded metadata of the others, bounded)."""

from __future__ import annotations

import pytest

from gossip.events import Member
from gossip.types import MemberState
from node.advertise import PublishedMeta
from node.config import NodeConfig, NodeConfigError
from node.events import ClusterEvent, EventKind
from node.metadata import MetaCache, NodeMeta, decode_meta, encode_meta


class Published:
    def __init__(self, running: bool = True) -> None:
        self.announced: list[NodeMeta] = []
        self.events: list[ClusterEvent] = []
        me = Member(name="me", address=("10.0.0.1", 7946), meta=b"", incarnation=1,
                    state=MemberState.ALIVE, state_since=0.0, vsn=b"", is_claw=True)
        self.meta = PublishedMeta(
            announce=self.announced.append, publish=self.events.append,
            node_id=lambda: "me", member=lambda name: me if running else None,
            wall_clock=lambda: 42.0)


def test_maintenance_is_announced_and_published_once_per_switch() -> None:
    p = Published()
    p.meta.set_maintenance(True)
    p.meta.set_maintenance(True)  # already on: nothing to say
    p.meta.set_maintenance(False)
    assert [m.maintenance for m in p.announced] == [True, False]
    assert [(e.kind, e.node, e.address, e.time, e.details["enabled"]) for e in p.events] == [
        (EventKind.MAINTENANCE, "me", "10.0.0.1:7946", 42.0, True),
        (EventKind.MAINTENANCE, "me", "10.0.0.1:7946", 42.0, False)]


def test_before_gossip_runs_the_switch_has_no_address() -> None:
    p = Published(running=False)
    p.meta.set_maintenance(True)
    assert p.events[0].address == ""


def test_a_relabel_that_would_not_fit_changes_nothing() -> None:
    p = Published()
    p.meta.meta = NodeMeta(skills=("a",))
    with pytest.raises(NodeConfigError):
        p.meta.relabel(NodeConfig.load({"skills": [f"skill-{n:03d}" for n in range(100)]}))
    assert p.meta.meta.skills == ("a",) and p.announced == []
    p.meta.relabel(NodeConfig.load({"skills": ["b"], "tags": ["t"],
                                    "max_concurrent_tasks": 9}))
    assert (p.meta.meta.skills, p.meta.meta.tags, p.meta.meta.max_concurrent_tasks) == (
        ("b",), ("t",), 9)
    assert p.announced == [p.meta.meta]


def test_the_meta_cache_decodes_once_and_stays_bounded() -> None:
    cache = MetaCache(max_entries=2)
    raws = [encode_meta(NodeMeta(hostname=f"h{n}")) for n in range(3)]
    first = cache.decode(raws[0])
    assert first == decode_meta(raws[0]) and cache.decode(raws[0]) is first
    cache.decode(raws[1])
    cache.decode(raws[2])  # the oldest goes
    assert cache.decode(raws[0]) is not first and cache.decode(raws[0]) == first
