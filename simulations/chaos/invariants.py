"""The invariants a chaos run must keep, as a pure function of what the nodes answered.

Nothing here talks to a process: the runner records ``NodeReport``s (one node's
``GET /api/v1/nodes`` and ``GET /health`` at one moment) into a ``ChaosRecord``, and
``check`` returns the broken invariants. Tests feed it fabricated records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["NodeReport", "ChaosRecord", "Violation", "check", "UP_STATUSES",
           "STRICT_LOSS_LIMIT", "INVARIANTS"]

UP_STATUSES = frozenset({"online", "busy"})
"""Statuses that mean "running": ``busy`` is an online node whose resources are high."""
STRICT_LOSS_LIMIT = 0.10
"""Up to this random loss probability, no live node may ever be reported offline."""

INVARIANTS = {
    "live_nodes_answer": "after healing, every live node answers its API",
    "healed_all_online": "after healing, every live node is online on every live node",
    "dead_nodes_offline": "after healing, every killed node is offline (or gone) on every live node",
    "no_false_offline_under_loss": "under <=10% loss, no live node is ever reported offline",
    "one_coordinator": "after healing, all live nodes name the same live coordinator",
    "registered_survive": "HTTP-registered nodes are still listed on every live node after "
                          "the coordinator was killed",
}


@dataclass(frozen=True, slots=True)
class NodeReport:
    """What ``observer``'s API answered at monotonic time ``t``."""

    observer: str
    t: float
    statuses: Mapping[str, str]
    """node_id → status (online, offline, busy, maintenance, error) in its node list."""
    coordinator: str | None
    """The coordinator its ``/health`` names (None: none known)."""
    term: int | None = None


@dataclass(frozen=True, slots=True)
class ChaosRecord:
    """Everything the checker needs from one run."""

    live: frozenset[str]
    """Gossip nodes running (not killed, not paused) at the end."""
    final: Mapping[str, NodeReport | None]
    """Per live node, its last report after healing (None: it did not answer)."""
    dead: frozenset[str] = frozenset()
    """Gossip nodes killed and not restarted."""
    loss_probability: float = 0.0
    loss_reports: Sequence[NodeReport] = ()
    """Reports sampled while random loss was on."""
    loss_live: frozenset[str] = frozenset()
    """Nodes running (and not paused) through the whole loss window."""
    registered: frozenset[str] = frozenset()
    """Ids registered over HTTP before the coordinator kill."""
    coordinator_killed: bool = False


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: str
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant}: {self.detail}"


MAX_DETAILS = 5
"""Examples listed per broken invariant (the rest are counted)."""


def _summarize(name: str, problems: list[str]) -> list[Violation]:
    if not problems:
        return []
    more = f" (+{len(problems) - MAX_DETAILS} more)" if len(problems) > MAX_DETAILS else ""
    return [Violation(name, "; ".join(problems[:MAX_DETAILS]) + more)]


def check(record: ChaosRecord) -> list[Violation]:
    """The invariants ``record`` breaks (empty list: all hold)."""
    out: list[Violation] = []
    answered = {n: r for n, r in record.final.items() if r is not None and n in record.live}

    out += _summarize("live_nodes_answer",
                      [f"{n} did not answer" for n in sorted(record.live) if n not in answered])

    problems = []
    for observer, rep in sorted(answered.items()):
        for subject in sorted(record.live):
            status = rep.statuses.get(subject)
            if status not in UP_STATUSES:
                problems.append(f"{observer} sees {subject} as {status or 'absent'}")
    out += _summarize("healed_all_online", problems)

    problems = []
    for observer, rep in sorted(answered.items()):
        for subject in sorted(record.dead):
            status = rep.statuses.get(subject)
            if status in UP_STATUSES:
                problems.append(f"{observer} still sees killed {subject} as {status}")
    out += _summarize("dead_nodes_offline", problems)

    if 0 < record.loss_probability <= STRICT_LOSS_LIMIT + 1e-9:
        problems = []
        for rep in record.loss_reports:
            if rep.observer not in record.loss_live:
                continue
            for subject in sorted(record.loss_live):
                if rep.statuses.get(subject) == "offline":
                    problems.append(f"{rep.observer} saw {subject} offline at t={rep.t:.1f}")
        out += _summarize("no_false_offline_under_loss", problems)

    coordinators = {n: r.coordinator for n, r in answered.items()}
    named = set(coordinators.values())
    if len(named) != 1 or None in named:
        out.append(Violation("one_coordinator", "nodes disagree: " + ", ".join(
            f"{n}->{c}" for n, c in sorted(coordinators.items(), key=lambda x: x[0]))))
    elif answered and next(iter(named)) not in record.live:
        out.append(Violation("one_coordinator",
                             f"all name {next(iter(named))}, which is not a live node"))

    if record.coordinator_killed and record.registered:
        problems = []
        for observer, rep in sorted(answered.items()):
            missing = sorted(record.registered - set(rep.statuses))
            if missing:
                problems.append(f"{observer} lost {', '.join(missing)}")
        out += _summarize("registered_survive", problems)
    return out

