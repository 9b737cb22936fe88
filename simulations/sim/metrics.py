"""What the scenarios measure, computed from the cores' own events.

``Observatory`` listens to a ``SimWorld`` and keeps:
- every node's view of every other node (one byte per pair), and the number of
  (observer, subject) pairs that disagree with the truth, so "all views agree" is
  an O(1) check after each event (convergence);
- crash trials: when each observer suspected and declared a crashed node dead. The
  observers of a crash are the running nodes that knew the victim as alive or suspect
  at that moment; one that never heard of it cannot declare it dead (memberlist ignores
  news about unknown members), one that crashes or leaves first no longer can, and a
  victim restarted before everyone declared it dead ends its trial early: these are
  counted apart (``unaware``, ``lost``, ``restarted_at``) instead of as undetected;
- false alarms: suspicions and deaths of nodes that were running, and flaps
  (a falsely dead node seen alive again by the same observer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from gossip.events import (
    Event,
    MemberFailed,
    MemberJoined,
    MemberLeft,
    MemberRecovered,
    MemberSuspected,
    MemberUpdated,
)

from .world import SimNode, SimWorld

__all__ = ["Observatory", "CrashTrial", "percentile", "summarize"]

ABSENT, ALIVE, SUSPECT, DEAD, LEFT, STALE = 0, 1, 2, 3, 4, 5
"""View states; STALE = alive at an address the node no longer has (a life before a
restart elsewhere), which is not agreement even though it says "alive"."""

_STATE_OF = {
    MemberJoined: ALIVE, MemberUpdated: ALIVE, MemberRecovered: ALIVE,
    MemberSuspected: SUSPECT, MemberFailed: DEAD, MemberLeft: LEFT,
}


def _bad(expected_live: int, state: int) -> int:
    """1 when an observer's state for a subject contradicts the truth."""
    if expected_live:
        return 1 if state != ALIVE else 0
    return 1 if state == ALIVE or state == SUSPECT or state == STALE else 0


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in [0, 100]); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def summarize(values: list[float]) -> dict[str, float | int | None]:
    """count, p50, p99, max, mean of a list of seconds."""
    return {
        "count": len(values),
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values) if values else None,
        "mean": sum(values) / len(values) if values else None,
    }


@dataclass(slots=True)
class CrashTrial:
    """One crashed node and how the others noticed."""

    name: str
    crashed_at: float
    observers: set[int]
    """Indices of the nodes that should declare it dead: running, not leaving, and seeing
    it alive or suspect when it crashed. One that crashes or leaves before it declared
    the death is dropped (its core, and what it knew, is gone)."""
    unaware: int = 0
    """Running nodes that had never heard of it when it crashed (e.g. it joined a moment
    before, or they did): nothing to detect; they will not learn of it either."""
    already_down: int = 0
    """Running nodes whose view already said dead or left when it crashed."""
    lost: int = 0
    """Observers that crashed or left before they declared it dead."""
    first_suspect: float | None = None
    dead_at: dict[int, float] = field(default_factory=dict)
    """Observer index → time it declared the node dead (failed or left)."""
    restarted_at: float | None = None
    """When the node came back (its trial ends then), or None if it stayed down."""

    def first_detection(self) -> float | None:
        return min(self.dead_at.values()) - self.crashed_at if self.dead_at else None

    def missing(self) -> int:
        """Observers that have not declared it dead (and never will once it restarted)."""
        return sum(1 for i in self.observers if i not in self.dead_at)

    def all_detection(self) -> float | None:
        """Time until every observer still running has declared it dead (None: not yet,
        or it was restarted first)."""
        if not self.dead_at or self.missing():
            return None
        return max(self.dead_at.values()) - self.crashed_at

    def outcome(self) -> str:
        """``detected`` (by every observer), ``restarted`` (came back before that) or
        ``undetected`` (still down, some observer has not declared it dead)."""
        if self.all_detection() is not None:
            return "detected"
        return "restarted" if self.restarted_at is not None else "undetected"


class Observatory:
    """Listens to a world's events and lifecycle; see the module docstring."""

    def __init__(self, world: SimWorld) -> None:
        self.world = world
        self._views: dict[int, bytearray] = {}
        self._truth = bytearray()
        self._live: list[int] = []
        """Indices of running (not leaving) nodes: the observers that count."""
        self._live_pos: dict[int, int] = {}
        self._known: set[int] = set()
        """Subjects that appeared in some view (a brand-new one is absent from all)."""
        self.wrong = 0
        self.converged_since: float | None = 0.0
        self.convergence_log: list[tuple[float, bool]] = [(0.0, True)]
        self.trials: dict[str, CrashTrial] = {}
        self.completed: list[CrashTrial] = []
        self.slow: set[str] = set()
        """Names the scenario made slow (paused): their alarms are counted apart."""
        self.false_dead: list[tuple[float, str, str]] = []
        """(time, observer, subject) for every death of a running node."""
        self.false_suspect: list[tuple[float, str, str, str]] = []
        """(time, observer, subject, accuser) for every suspicion of a running node."""
        self.flaps = 0
        self._false_pairs: set[tuple[int, int]] = set()
        self.events = 0
        self._address: dict[int, tuple[str, int]] = {}
        """Node index → address of its current (or last) life."""
        self._boot_incarnation: dict[int, int] = {}
        """Node index → incarnation its current core started with; news about a lower
        incarnation is about a previous life (before a restart), not a false alarm."""
        world.observers.append(self._on_event)
        world.lifecycle.append(self._on_lifecycle)

    def __setstate__(self, state: dict[str, object]) -> None:
        state.setdefault("_boot_incarnation", {})  # snapshots made before it existed
        state.setdefault("_address", {})
        self.__dict__.update(state)

    # --- convergence -----------------------------------------------------------------

    @property
    def converged(self) -> bool:
        return self.wrong == 0

    def _set_wrong(self, delta: int) -> None:
        before = self.wrong == 0
        self.wrong += delta
        after = self.wrong == 0
        if before != after:
            now = self.world.now
            self.convergence_log.append((now, after))
            self.converged_since = now if after else None

    def converged_after(self, t: float) -> float | None:
        """First time >= t at which all views agreed (and were still agreeing then)."""
        state = False
        for when, ok in self.convergence_log:
            if when <= t:
                state = ok
                continue
            if ok:
                return when
        return t if state else None

    def _truth_of(self, index: int) -> int:
        return self._truth[index] if index < len(self._truth) else 0

    def _set_truth(self, index: int, live: int) -> None:
        while len(self._truth) <= index:
            self._truth.append(0)
        old = self._truth[index]
        if old == live:
            return
        self._truth[index] = live
        if index not in self._known:
            # Nobody has heard of it: every running observer's entry is ABSENT.
            others = len(self._live) - (1 if index in self._live_pos else 0)
            delta = others if live else 0
        else:
            delta = 0
            for o in self._live:
                if o == index:
                    continue
                view = self._views[o]
                state = view[index] if index < len(view) else ABSENT
                delta += _bad(live, state) - _bad(old, state)
        self._set_wrong(delta)

    def _on_lifecycle(self, kind: str, node: SimNode) -> None:
        i = node.index
        if kind == "up":
            moved = self._address.get(i, node.address) != node.address
            self._address[i] = node.address
            trial = self.trials.pop(node.name, None)
            if trial is not None:  # back before (or after) everyone declared it dead
                trial.restarted_at = self.world.now
                self.completed.append(trial)
            self._boot_incarnation[i] = node.incarnation
            # A fresh core knows nobody: every running subject is missing from its view.
            self._views[i] = bytearray(len(self._truth) + 64)
            self._set_truth(i, 1)
            if moved:  # what others hold about it is the old address now
                self._mark_stale(i)
            self._live_pos[i] = len(self._live)
            self._live.append(i)
            self._set_wrong(len(self._live) - 1)
        else:
            for trial in self.trials.values():  # it can no longer declare anyone dead
                if i in trial.observers and i not in trial.dead_at:
                    trial.observers.discard(i)
                    trial.lost += 1
            # Its own view stops counting, then everybody should see it gone.
            if i in self._live_pos:
                view = self._views[i]
                row = 0
                for s in self._live:
                    if s != i:
                        row += _bad(1, view[s] if s < len(view) else ABSENT)
                for s in self._known:
                    if s != i and not self._truth_of(s):
                        row += _bad(0, view[s] if s < len(view) else ABSENT)
                self._set_wrong(-row)
                pos = self._live_pos.pop(i)
                last = self._live.pop()
                if last != i:
                    self._live[pos] = last
                    self._live_pos[last] = pos
            self._set_truth(i, 0)
            if kind == "crash":
                self.trials[node.name] = self._new_trial(node)

    def _mark_stale(self, s: int) -> None:
        delta = 0
        for o in self._live:
            view = self._views[o]
            if s < len(view) and view[s] in (ALIVE, SUSPECT):
                delta += _bad(1, STALE) - _bad(1, view[s])
                view[s] = STALE
        self._set_wrong(delta)

    def _new_trial(self, node: SimNode) -> CrashTrial:
        trial = CrashTrial(name=node.name, crashed_at=self.world.now, observers=set())
        s = node.index
        for o in self._live:
            view = self._views[o]
            state = view[s] if s < len(view) else ABSENT
            if state == ALIVE or state == SUSPECT or state == STALE:
                trial.observers.add(o)
            elif state == ABSENT:
                trial.unaware += 1
            else:
                trial.already_down += 1
        return trial

    def assume_converged(self) -> None:
        """Every running node's view holds every running node alive: the state cores
        built by ``SimWorld.add_converged_nodes`` start in (they emit no join events)."""
        live = self._live
        if len(live) != len(self.world.nodes):
            raise ValueError("assume_converged: only for a world whose nodes all run")
        size = len(self._truth)
        row = bytearray(size + 64)
        for s in live:
            row[s] = ALIVE
        for o in live:
            view = bytearray(row)
            view[o] = ABSENT  # a node's view of itself is never consulted
            self._views[o] = view
        self._known.update(live)
        self._set_wrong(-self.wrong)

    # --- events ---------------------------------------------------------------------

    def _on_event(self, now: float, node: SimNode, event: Event) -> None:
        state = _STATE_OF.get(type(event))
        if state is None:
            return
        self.events += 1
        member = event.member  # type: ignore[union-attr]
        subject_node = self.world._by_name.get(member.name)
        if subject_node is None:
            return
        o, s = node.index, subject_node.index
        if o == s:
            return
        reported = state
        if state == ALIVE and member.address != subject_node.address:
            state = STALE  # news about a life at an address it left
        view = self._views.get(o)
        if view is None:
            return
        if s >= len(view):
            view.extend(bytes(s + 64 - len(view)))
        old = view[s]
        if old == state:
            return
        view[s] = state
        self._known.add(s)
        live_subject = self._truth_of(s)
        if o in self._live_pos:
            self._set_wrong(_bad(live_subject, state) - _bad(live_subject, old))
        # Crash trials.
        trial = self.trials.get(member.name)
        if trial is not None and not live_subject:
            if state == SUSPECT and trial.first_suspect is None:
                trial.first_suspect = now - trial.crashed_at
            elif state in (DEAD, LEFT) and o in trial.observers and o not in trial.dead_at:
                trial.dead_at[o] = now
        # False alarms about running nodes (not about the life before a restart).
        state = reported
        if live_subject and subject_node.up and \
                member.incarnation >= self._boot_incarnation.get(s, 0):
            if state == DEAD:
                self.false_dead.append((now, node.name, member.name))
                self._false_pairs.add((o, s))
            elif state == SUSPECT:
                accuser = getattr(event, "accuser", "")
                self.false_suspect.append((now, node.name, member.name, accuser))
            elif state == ALIVE and (o, s) in self._false_pairs:
                self._false_pairs.discard((o, s))
                self.flaps += 1

    # --- reports ----------------------------------------------------------------------

    def close_trials(self) -> list[CrashTrial]:
        """Move the open crash trials to ``completed`` and return all of them (restarted
        nodes' trials were moved when they came back)."""
        self.completed.extend(self.trials.values())
        self.trials.clear()
        return self.completed

    def false_alarms(self, since: float = 0.0) -> dict[str, int]:
        """False deaths and suspicions since ``since``, split by healthy / slow subject."""
        dead = [x for x in self.false_dead if x[0] >= since]
        sus = [x for x in self.false_suspect if x[0] >= since]
        return {
            "dead_healthy": sum(1 for x in dead if x[2] not in self.slow),
            "dead_slow": sum(1 for x in dead if x[2] in self.slow),
            "dead_subjects": len({x[2] for x in dead}),
            "suspect_healthy": sum(1 for x in sus if x[2] not in self.slow),
            "suspect_slow": sum(1 for x in sus if x[2] in self.slow),
            "suspect_by_slow_accuser": sum(1 for x in sus if x[3] in self.slow and x[2] not in self.slow),
            "flaps": self.flaps,
        }
