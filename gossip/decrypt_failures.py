"""``DecryptFailures``: datagrams and streams that failed to decrypt, counted per source.

A node with a wrong key, a node not yet moved to encryption, or someone probing port
7946 sends packets we cannot open. memberlist logs every one of them ("Decrypt packet
failed"), which floods the log at several lines a second per such peer. Here each
failure is counted against its source address, and a source is *reported* (for the
driver to log) at most once per ``report_interval_s``: its first failure is reported at
once, the ones that follow within the interval are summed into the next report, made by
the first failure after the interval has passed. The counts themselves are exact.

Memory is bounded whatever the sources (a spoofed-address flood): at most ``max_sources``
addresses are tracked, least recently failing first out; the total count is kept apart
and never forgets. Sans-I/O: time is the caller's ``now``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import NamedTuple

from .types import Address

__all__ = ["MAX_SOURCES", "REPORT_INTERVAL_S", "DecryptFailureReport", "DecryptFailures"]

MAX_SOURCES = 1024
"""Source addresses tracked at once (about 100 B each); the least recent is forgotten."""
REPORT_INTERVAL_S = 60.0
"""Shortest time (seconds) between two reports about the same source."""
MAX_PENDING_REPORTS = MAX_SOURCES
"""Reports kept until the driver takes them; older ones are dropped beyond it."""


class DecryptFailureReport(NamedTuple):
    """Failures from one source since its previous report (one log line)."""

    source: Address
    failures: int
    """Failures since the previous report of this source (its first: 1)."""
    total: int
    """Failures from this source since it was (last) first seen."""
    reason: str
    """The latest failure's reason: ``DecryptionFailed.reason`` (``no-key``, ``short``,
    ...) or ``plaintext`` (unencrypted while ``gossip_verify_incoming``) or
    ``not-configured`` (encrypted stream while we have no keys)."""
    stream: bool
    """Whether the latest failure was a TCP stream (else a datagram)."""


@dataclass(slots=True)
class _Source:
    total: int
    unreported: int
    reported_at: float
    reason: str
    stream: bool


class DecryptFailures:
    """Per-source failure counts and the once-per-interval reports made from them."""

    __slots__ = ("_interval", "_max_sources", "_pending", "_sources", "by_reason", "total")

    def __init__(self, *, max_sources: int = MAX_SOURCES,
                 report_interval_s: float = REPORT_INTERVAL_S) -> None:
        self._max_sources = max_sources
        self._interval = report_interval_s
        self._sources: OrderedDict[Address, _Source] = OrderedDict()
        self._pending: list[DecryptFailureReport] = []
        self.total = 0
        """Failures from every source since start (not bounded by the table)."""
        self.by_reason: dict[str, int] = {}
        """``total`` split by reason (a handful of fixed words, so the dict stays small)."""

    def record(self, source: Address, reason: str, now: float, *, stream: bool = False) -> None:
        """Count one failure from ``source``; queue a report if one is due."""
        self.total += 1
        self.by_reason[reason] = self.by_reason.get(reason, 0) + 1
        entry = self._sources.get(source)
        if entry is None:
            if len(self._sources) >= self._max_sources:
                self._sources.popitem(last=False)
            entry = _Source(total=0, unreported=0, reported_at=-self._interval - 1.0,
                            reason=reason, stream=stream)
            self._sources[source] = entry
        else:
            self._sources.move_to_end(source)
        entry.total += 1
        entry.unreported += 1
        entry.reason, entry.stream = reason, stream
        if now - entry.reported_at >= self._interval:
            if len(self._pending) < MAX_PENDING_REPORTS:
                self._pending.append(DecryptFailureReport(
                    source=source, failures=entry.unreported, total=entry.total,
                    reason=reason, stream=stream))
            entry.unreported = 0
            entry.reported_at = now

    def reports(self) -> list[DecryptFailureReport]:
        """The reports made since the last call (the driver logs one line each)."""
        out, self._pending = self._pending, []
        return out

    def by_source(self) -> dict[Address, int]:
        """Failures per tracked source, most recent last."""
        return {source: entry.total for source, entry in self._sources.items()}

    def __len__(self) -> int:
        return len(self._sources)
