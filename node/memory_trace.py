"""``MemoryTrace``: an opt-in tracemalloc report of what grew in the agent's heap.

Off unless the environment sets ``CLAW_TRACEMALLOC`` (an operator's diagnostic, not a
setting: it costs CPU and memory on every allocation). With it, the agent starts
tracemalloc at start-up and, on each ``SIGUSR2`` (POSIX only), logs the allocation sites
whose live memory grew most since the previous report (the first report compares with
start-up) and the traced total. A soak sends one signal after its warm-up and one at the
end, so the second report is the growth under steady load.

    CLAW_TRACEMALLOC=1 claw-node ...      # 1 frame per site (cheap)
    CLAW_TRACEMALLOC=10 claw-node ...     # 10 frames: who called the allocator
    kill -USR2 <pid>                      # log lines "memory growth ..." at WARNING
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tracemalloc

__all__ = ["ENV_VAR", "MAX_FRAMES", "TOP_SITES", "MemoryTrace", "from_environment"]

log = logging.getLogger(__name__)

ENV_VAR = "CLAW_TRACEMALLOC"
"""Environment variable that turns tracing on; its value is the frames kept per
allocation site (a positive integer; "1" when given a non-number like "yes")."""
MAX_FRAMES = 25
"""Upper bound on the frames per site (count): each frame costs memory per live block."""
TOP_SITES = 15
"""Allocation sites listed per report (count)."""


class MemoryTrace:
    """Snapshots of the traced heap, each report compared with the one before it."""

    def __init__(self, frames: int, top: int = TOP_SITES) -> None:
        self.frames = max(1, min(MAX_FRAMES, frames))
        self.top = top
        self._previous: tracemalloc.Snapshot | None = None

    def start(self) -> None:
        """Start tracing (idempotent) and take the first reference snapshot."""
        import tracemalloc  # only when asked: agents that do not trace never load it

        if not tracemalloc.is_tracing():
            tracemalloc.start(self.frames)
        self._previous = self._snapshot()

    def report(self) -> list[str]:
        """Log, and return, the sites that grew most since the previous report."""
        if self._previous is None:
            self.start()
        import tracemalloc

        current = self._snapshot()
        assert self._previous is not None
        stats = current.compare_to(self._previous, "traceback" if self.frames > 1 else "lineno")
        self._previous = current
        traced, peak = tracemalloc.get_traced_memory()
        lines = [f"memory growth: traced {traced / 2**20:.1f} MiB (peak {peak / 2**20:.1f}), "
                 f"top {self.top} sites since the previous report"]
        for stat in stats[:self.top]:
            where = " <- ".join(f"{f.filename}:{f.lineno}" for f in stat.traceback)
            lines.append(f"memory growth {stat.size_diff / 1024:+.1f} KiB "
                         f"({stat.count_diff:+d} blocks, now {stat.size / 1024:.1f} KiB): {where}")
        for line in lines:
            log.warning("%s", line)
        return lines

    @staticmethod
    def _snapshot() -> tracemalloc.Snapshot:
        import tracemalloc

        # The tracer's own bookkeeping and import machinery are noise, not the agent's.
        return tracemalloc.take_snapshot().filter_traces((
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
        ))


def from_environment(environ: dict[str, str] | None = None) -> MemoryTrace | None:
    """A ``MemoryTrace`` when ``CLAW_TRACEMALLOC`` is set (and not "0" or empty)."""
    value = (os.environ if environ is None else environ).get(ENV_VAR, "").strip()
    if value in ("", "0"):
        return None
    return MemoryTrace(int(value) if value.isdigit() else 1)
