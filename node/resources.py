"""Resource sampling: CPU, memory and disk usage of this machine, behind a callable.

The agent calls a ``Sampler`` every ``--resource-interval`` seconds; tests inject a fake.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PsutilSampler", "ResourceSnapshot", "Sampler"]


@dataclass(frozen=True, slots=True)
class ResourceSnapshot:
    """Usage percentages, each 0–100."""

    cpu_percent: float
    memory_percent: float
    disk_percent: float


Sampler = Callable[[], ResourceSnapshot]
"""Returns the current usage; must not block (it runs on the event loop)."""


def _clamp(value: float) -> float:
    return min(100.0, max(0.0, float(value)))


class PsutilSampler:
    """Samples with psutil without blocking.

    ``cpu_percent(interval=None)`` reports usage since its previous call and returns 0.0
    on the first call, so the constructor primes it; the first real sample comes one
    resource interval later. Disk usage is of the filesystem holding ``disk_path`` (the
    data dir), which is where this node writes (on macOS ``/`` is the sealed system volume).
    """

    def __init__(self, disk_path: Path) -> None:
        import psutil

        self._psutil = psutil
        self._disk_path = disk_path
        psutil.cpu_percent(interval=None)

    def __call__(self) -> ResourceSnapshot:
        ps = self._psutil
        try:
            disk = ps.disk_usage(str(self._disk_path)).percent
        except OSError:
            disk = 0.0
        return ResourceSnapshot(
            cpu_percent=_clamp(ps.cpu_percent(interval=None)),
            memory_percent=_clamp(ps.virtual_memory().percent),
            disk_percent=_clamp(disk),
        )
