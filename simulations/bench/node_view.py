"""Latency of ``GossipClusterView.list_nodes`` with many nodes (``python -m simulations.bench.node_view``).

A fake agent holds ``--members`` gossip members (metadata, a heartbeat each, a network
coordinate each, one coordinator) and the registry ``--registered`` HTTP-registered nodes; the script times
``list_nodes`` (the view only, no HTTP or JSON) when nothing changed between two calls,
and when ``--changing`` members got a new heartbeat between two calls (a busy cluster).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from typing import Any

from api.models import RegisterIn
from api.registry import HttpNodeRegistry
from gossip.coordinate import Coordinate
from gossip.events import Member
from gossip.types import MemberState
from node.heartbeat import HeartbeatRecord
from node.metadata import NodeMeta, decode_meta, encode_meta
from node.view import GossipClusterView


class _Agent:
    node_id = "node-0000"
    version = "0.1.0"
    heartbeat_timeout_s = 90.0
    check_interval_s = 30.0

    def __init__(self, n: int) -> None:
        self.table = [
            Member(name=f"node-{i:04d}", address=("10.0.0.1", 7946 + i),
                   meta=encode_meta(NodeMeta(hostname=f"host-{i}", platform="linux",
                                             arch="x64", skills=("py", "gpu"),
                                             api=f"10.0.0.1:{8000 + i}")),
                   incarnation=3, state=MemberState.ALIVE, state_since=0.0, vsn=b"",
                   is_claw=True)
            for i in range(n)]
        self.metas = {m.meta: decode_meta(m.meta) for m in self.table}
        self.beats = {m.name: HeartbeatRecord(node=m.name, epoch=1, seq=1,
                                              sampled_at=1_800_000_000.0, cpu_usage=12.5,
                                              memory_usage=40.0, disk_usage=50.0)
                      for m in self.table}
        self.coordinates = {m.name: Coordinate(tuple(1e-4 * ((i * 7 + k) % 11) for k in range(8)),
                                               0.3, 1e-5, 1e-4)
                            for i, m in enumerate(self.table)}

    def coordinate_of(self, node_id: str) -> Coordinate | None:
        return self.coordinates.get(node_id)

    def members(self) -> list[Member]:
        return list(self.table)  # the core returns a fresh list of snapshots

    def member(self, name: str) -> Member | None:
        return next((m for m in self.table if m.name == name), None)

    def meta_of(self, m: Member) -> NodeMeta:
        return self.metas[m.meta]  # the agent keeps a cache of decoded metadata

    def heartbeat_of(self, node_id: str) -> HeartbeatRecord | None:
        return self.beats.get(node_id)

    def coordinator_state(self) -> tuple[str | None, int]:
        return "node-0000", 1

    def api_url_of(self, meta: NodeMeta) -> str | None:
        return f"http://{meta.api}" if meta.api else None

    def suspect_since(self, node_id: str) -> float | None:
        return None

    def __getattr__(self, name: str) -> Any:  # writes are not benchmarked
        raise AttributeError(name)


def _time(view: GossipClusterView, agent: _Agent, reps: int, changing: int) -> list[float]:
    out = []
    seq = 1
    for _ in range(reps):
        seq += 1
        for m in agent.table[:changing]:
            old = agent.beats[m.name]
            agent.beats[m.name] = HeartbeatRecord(node=m.name, epoch=1, seq=seq,
                                                  sampled_at=old.sampled_at + 1,
                                                  cpu_usage=(old.cpu_usage + 10) % 100)
        t = time.perf_counter()
        nodes = _run(view.list_nodes())
        out.append((time.perf_counter() - t) * 1000)
        assert len(nodes) == len(agent.table) + len(view.registry)
    return out


_loop = asyncio.new_event_loop()


def _run(coro: Any) -> Any:
    return _loop.run_until_complete(coro)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--members", type=int, default=1000)
    p.add_argument("--registered", type=int, default=0)
    p.add_argument("--changing", type=int, default=50,
                   help="members with a new heartbeat between two calls (default 50)")
    p.add_argument("--reps", type=int, default=50)
    args = p.parse_args(argv)
    agent = _Agent(args.members)
    registry = HttpNodeRegistry()
    for i in range(args.registered):
        registry.register(RegisterIn(node_id=f"http-{i:04d}", hostname=f"h{i}",
                                     platform="linux", arch="x64",
                                     available_skills=["py"]), 1_800_000_000.0)
    view = GossipClusterView(agent, registry, clock=lambda: 1_800_000_000.0)
    _run(view.list_nodes())  # warm-up (fills any cache)
    for label, changing in (("unchanged", 0), (f"{args.changing} changed", args.changing)):
        ms = _time(view, agent, args.reps, changing)
        print(f"list_nodes {args.members} members + {args.registered} registered, "
              f"{label}: median {statistics.median(ms):.2f} ms, max {max(ms):.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
