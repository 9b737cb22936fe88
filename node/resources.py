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


class HostCpuMeter:
    """Fraction of the host's CPU time spent busy since the previous call (0..1), from
    psutil's cumulative ``cpu_times`` (so it does not disturb ``cpu_percent``, which the
    sampler owns). None on the first call or when no time passed."""

    def __init__(self) -> None:
        self._last: tuple[float, float] | None = None

    def __call__(self) -> float | None:
        import psutil

        t = psutil.cpu_times()
        idle = t.idle + getattr(t, "iowait", 0.0)
        total = sum(t)
        last, self._last = self._last, (idle, total)
        if last is None or total <= last[1]:
            return None
        return min(1.0, max(0.0, 1.0 - (idle - last[0]) / (total - last[1])))

