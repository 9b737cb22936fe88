"""Who sees whom, and since when: one timestamped book fed by every agent's output.

Agents' stdout/stderr lines are read by one thread (``LineReader``) and stamped with
``time.monotonic()`` when they arrive, which is within a millisecond of the agent
writing them (Serf's own log timestamps have one-second resolution). A parser turns a
line into observations; ``MembershipBook`` keeps every observation and each
observer's current view, and lets the harness wait for a condition on it.
"""

from __future__ import annotations

import collections
import os
import selectors
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable

__all__ = ["Obs", "MembershipBook", "LineReader", "ALIVE", "SUSPECT", "FAILED", "LEFT",
           "REFUTE"]

ALIVE, SUSPECT, FAILED, LEFT = "alive", "suspect", "failed", "left"
REFUTE = "refute"
"""The observer refuted a suspicion about itself (subject = observer)."""

MAX_OBSERVATIONS = 2_000_000
"""Bound on the book (each is ~100 bytes); a run that would exceed it is a bug."""
TAIL_LINES = 200
"""Last output lines kept per agent, for error reports."""
READ_CHUNK = 65536


@dataclass(frozen=True, slots=True)
class Obs:
    """At monotonic time ``t``, ``observer`` reported ``subject`` as ``kind``."""

    t: float
    observer: str
    kind: str
    subject: str


class MembershipBook:
    """Every observation, each observer's latest state per subject, and waiting on them."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.observations: list[Obs] = []
        self.views: dict[str, dict[str, str]] = collections.defaultdict(dict)
        self.first_output: dict[str, float] = {}

    def add(self, obs: Iterable[Obs]) -> None:
        with self._cond:
            for o in obs:
                if len(self.observations) >= MAX_OBSERVATIONS:
                    break
                self.observations.append(o)
                view = self.views[o.observer]
                if o.kind == SUSPECT and view.get(o.subject) in (FAILED, LEFT):
                    # Only an alive member can become suspect; memberlist still logs
                    # "Suspect X has failed" when a probe that began before X was
                    # declared dead times out afterwards.
                    continue
                if o.kind in (ALIVE, FAILED, LEFT, SUSPECT):
                    view[o.subject] = o.kind
            self._cond.notify_all()

    def mark_output(self, agent: str, t: float) -> None:
        with self._cond:
            self.first_output.setdefault(agent, t)

    def wait_for(self, predicate: Callable[["MembershipBook"], bool], timeout_s: float) -> bool:
        """Block until ``predicate(book)`` holds (checked under the lock) or timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))
            return True

    # -- queries (call under wait_for, or when the cluster is quiet) ------------------

    def state(self, observer: str, subject: str) -> str | None:
        return self.views.get(observer, {}).get(subject)

    def all_see(self, observers: Iterable[str], subject: str, kinds: tuple[str, ...]) -> bool:
        return all(self.views.get(o, {}).get(subject) in kinds for o in observers)

    def converged(self, members: Iterable[str]) -> bool:
        """Every member lists every member (itself included) alive."""
        members = list(members)
        return all(
            all(self.views.get(o, {}).get(s) == ALIVE for s in members) for o in members)

    def since(self, t0: float) -> list[Obs]:
        with self._cond:
            return [o for o in self.observations if o.t >= t0]

    def first_times(self, t0: float, subject: str, kinds: tuple[str, ...],
                    observers: Iterable[str]) -> dict[str, float]:
        """observer → first time at or after t0 it reported ``subject`` in ``kinds``."""
        wanted = set(observers)
        out: dict[str, float] = {}
        for o in self.since(t0):
            if o.subject == subject and o.kind in kinds and o.observer in wanted:
                out.setdefault(o.observer, o.t)
        return out


LineParser = Callable[[str, str, float], list[Obs]]
"""(agent name, line, arrival time) → observations."""


class LineReader:
    """One thread reading many agents' pipes, stamping and parsing each line."""

    def __init__(self, book: MembershipBook, log_dir: str | None = None) -> None:
        self.book = book
        self._sel = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._stop = False
        self.tails: dict[str, collections.deque[str]] = {}
        self._log_dir = log_dir
        self._files: dict[str, object] = {}
        self._thread = threading.Thread(target=self._loop, name="line-reader", daemon=True)
        self._thread.start()

    def watch(self, agent: str, fd: int, parser: LineParser) -> None:
        """Read ``fd`` (a pipe the agent writes) until EOF, parsing each line."""
        os.set_blocking(fd, False)
        with self._lock:
            self.tails[agent] = collections.deque(maxlen=TAIL_LINES)
            if self._log_dir:
                self._files[agent] = open(os.path.join(self._log_dir, f"{agent}.log"), "a")
            self._sel.register(fd, selectors.EVENT_READ, [agent, parser, b""])
        os.write(self._wake_w, b"x")

    def _loop(self) -> None:
        while not self._stop:
            with self._lock:
                pass  # let watch() finish registering before we select
            for key, _ in self._sel.select(timeout=0.5):
                if key.data is None:
                    os.read(self._wake_r, 4096)
                    continue
                self._drain(key)

    def _drain(self, key: selectors.SelectorKey) -> None:
        agent, parser, pending = key.data
        try:
            chunk = os.read(key.fd, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        now = time.monotonic()
        if not chunk:
            with self._lock:
                self._sel.unregister(key.fd)
            os.close(key.fd)
            return
        self.book.mark_output(agent, now)
        pending += chunk
        *lines, pending = pending.split(b"\n")
        if len(pending) > READ_CHUNK:  # a runaway line: keep memory bounded
            lines.append(pending)
            pending = b""
        key.data[2] = pending
        out: list[Obs] = []
        for raw in lines:
            line = raw.decode("utf-8", "replace").rstrip()
            self.tails[agent].append(line)
            f = self._files.get(agent)
            if f is not None:
                f.write(f"{now:.4f} {line}\n")  # type: ignore[attr-defined]
            out.extend(parser(agent, line, now))
        if out:
            self.book.add(out)

    def close(self) -> None:
        self._stop = True
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        for key in list(self._sel.get_map().values()):
            try:
                os.close(key.fd)
            except OSError:
                pass
        self._sel.close()
        os.close(self._wake_w)
        for f in self._files.values():
            f.close()  # type: ignore[attr-defined]
