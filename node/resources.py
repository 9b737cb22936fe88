"""Resource sampling: CPU, memory and disk usage of this machine, behind a callable.

The agent calls a ``Sampler`` every ``--resource-interval`` seconds; tests inject a fake.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import linux_host

__all__ = ["HostCpuMeter", "HostSampler", "ResourceSnapshot", "Sampler"]


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


class HostSampler:
    """Samples this machine's usage without blocking: from Linux's own files
    (``node.linux_host``, no psutil import), from psutil elsewhere.

    CPU usage is since the previous sample (the constructor takes the first reading, so
    the first real sample comes one resource interval later). Disk usage is of the
    filesystem holding ``disk_path`` (the data dir), which is where this node writes (on
    macOS ``/`` is the sealed system volume).
    """

    def __init__(self, disk_path: Path) -> None:
        self._disk_path = str(disk_path)
        self._cpu, self._memory, self._disk = _usage_readers()

    def __call__(self) -> ResourceSnapshot:
        try:
            disk = self._disk(self._disk_path)
        except OSError:
            disk = 0.0
        return ResourceSnapshot(cpu_percent=_clamp(self._cpu()),
                                memory_percent=_clamp(self._memory()),
                                disk_percent=_clamp(disk))


def _usage_readers() -> tuple[Callable[[], float], Callable[[], float], Callable[[str], float]]:
    """(CPU %, memory %, disk % of a path), as psutil reports them."""
    if linux_host.readable():
        return linux_host.CpuPercent(), linux_host.memory_percent, linux_host.disk_percent
    import psutil

    psutil.cpu_percent(interval=None)  # its first call only takes the first reading
    return (lambda: psutil.cpu_percent(interval=None),
            lambda: psutil.virtual_memory().percent,
            lambda path: psutil.disk_usage(path).percent)


def _cpu_idle_and_total() -> tuple[float, float]:
    """Host CPU seconds since boot: (idle + iowait, all)."""
    if linux_host.readable():
        return linux_host.cpu_idle_and_total()
    import psutil

    t = psutil.cpu_times()
    return t.idle + getattr(t, "iowait", 0.0), sum(t)


class HostCpuMeter:
    """Fraction of the host's CPU time spent busy since the previous call (0..1), from
    the cumulative CPU times (its own readings: the sampler's are its own too). None on
    the first call or when no time passed."""

    def __init__(self) -> None:
        self._last: tuple[float, float] | None = None

    def __call__(self) -> float | None:
        idle, total = _cpu_idle_and_total()
        last, self._last = self._last, (idle, total)
        if last is None or total <= last[1]:
            return None
        return min(1.0, max(0.0, 1.0 - (idle - last[0]) / (total - last[1])))

