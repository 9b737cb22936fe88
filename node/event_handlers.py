"""Event handler scripts, as Serf's agent runs them (``serf agent -event-handler``).

A handler spec is Serf's: ``[FILTER=]SCRIPT``, where FILTER is a comma-separated list of
``member-join``, ``member-leave``, ``member-failed``, ``member-update``, ``member-reap``,
``user``, ``user:NAME``, ``query``, ``query:NAME`` or ``*`` (no filter: every event).
The script runs under ``/bin/sh -c`` with the environment Serf gives it
(``serf/cmd/serf/command/agent/invoke.go``): ``SERF_EVENT``, ``SERF_SELF_NAME``,
``SERF_SELF_ROLE``, ``SERF_TAG_<NAME>`` per tag; for a user event ``SERF_USER_EVENT``
and ``SERF_USER_LTIME``; for a query ``SERF_QUERY_NAME`` and ``SERF_QUERY_LTIME``.
Stdin carries the payload (a newline appended if it lacks one) or, for member events,
one ``name<TAB>address<TAB>role<TAB>tags`` line per member. A query handler's stdout
is the query's response.

Unlike Serf, which runs scripts one at a time and waits however long they take, every
run is bounded: ``MAX_CONCURRENT_HANDLERS`` at once (later ones wait, up to
``MAX_PENDING_HANDLERS``; beyond that they are dropped and counted),
``HANDLER_TIMEOUT_S`` per run (then the script is killed), and ``HANDLER_OUTPUT_BYTES``
of output kept (Serf's ``maxBufSize``).

``asyncio`` is imported by the coroutines that run scripts, not at import: the agent's
settings (``node.config``) parse handler specs before the agent decides how asyncio is
imported (without ``ssl`` unless it needs HTTPS, ``node.ssl_free``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "EVENT_TYPES",
    "HANDLER_OUTPUT_BYTES",
    "HANDLER_TIMEOUT_S",
    "MAX_CONCURRENT_HANDLERS",
    "MAX_PENDING_HANDLERS",
    "HandlerEvent",
    "HandlerRunner",
    "HandlerStats",
    "ScriptHandler",
    "parse_handler",
]

log = logging.getLogger(__name__)

EVENT_TYPES = frozenset({"member-join", "member-leave", "member-failed", "member-update",
                         "member-reap", "user", "query", "*"})
"""Serf's ``EventFilter.Valid`` event names."""
HANDLER_TIMEOUT_S = 30.0
"""Seconds a handler script may run before it is killed (Serf: no limit)."""
HANDLER_OUTPUT_BYTES = 8 * 1024
"""Bytes of a script's stdout kept (Serf's ``maxBufSize``); the rest is discarded."""
MAX_CONCURRENT_HANDLERS = 4
"""Handler scripts running at once (Serf: one)."""
MAX_PENDING_HANDLERS = 256
"""Handler runs waiting for a slot; beyond this new runs are dropped and counted."""

_TAG_NAME = re.compile(r"[^A-Z0-9_]")


@dataclass(frozen=True, slots=True)
class ScriptHandler:
    """One ``FILTER=SCRIPT`` pair: ``event`` is a Serf event name (or ``*``), ``name``
    narrows ``user``/``query`` to one event or query name ("" = any)."""

    event: str
    name: str
    script: str

    def matches(self, event: HandlerEvent) -> bool:
        """Serf ``EventFilter.Invoke``."""
        if self.event == "*":
            return True
        return self.event == event.type and (not self.name or self.name == event.name)


def parse_handler(spec: str) -> list[ScriptHandler]:
    """Parse one ``[FILTER=]SCRIPT`` spec (Serf ``ParseEventScript``).

    Raises:
        ValueError: an unknown event name in the filter, or an empty script.
    """
    filt, sep, script = spec.partition("=")
    if not sep:
        filt, script = "", spec
    script = script.strip()
    if not script:
        raise ValueError(f"event handler {spec!r}: no script")
    out = []
    for part in (filt or "*").split(","):
        event, name = part.strip(), ""
        for prefix in ("user:", "query:"):
            if event.startswith(prefix):
                event, name = prefix[:-1], event[len(prefix):]
        if event not in EVENT_TYPES:
            raise ValueError(f"event handler {spec!r}: unknown event {part!r} (one of "
                             f"{', '.join(sorted(EVENT_TYPES))}, user:NAME, query:NAME)")
        out.append(ScriptHandler(event, name, script))
    return out


@dataclass(frozen=True, slots=True)
class HandlerEvent:
    """What a script is told: Serf's event type, its name (user/query), LTime, stdin."""

    type: str
    """``member-join`` ... ``user``, ``query``."""
    name: str = ""
    ltime: int = 0
    stdin: bytes = b""

    def environment(self) -> dict[str, str]:
        """The event's own variables (``SERF_USER_*`` / ``SERF_QUERY_*``)."""
        env = {"SERF_EVENT": self.type}
        if self.type == "user":
            env |= {"SERF_USER_EVENT": self.name, "SERF_USER_LTIME": str(self.ltime)}
        elif self.type == "query":
            env |= {"SERF_QUERY_NAME": self.name, "SERF_QUERY_LTIME": str(self.ltime)}
        return env


def payload_stdin(payload: bytes) -> bytes:
    """Serf ``streamPayload``: the payload, newline-terminated if non-empty."""
    return payload if not payload or payload.endswith(b"\n") else payload + b"\n"


def member_line(name: str, address: str, tags: Mapping[str, str]) -> bytes:
    """Serf ``memberEventStdin``: ``name TAB ip TAB role TAB k=v,...`` for one member."""
    def clean(v: str) -> str:
        return v.replace("\t", "\\t").replace("\n", "\\n")
    pairs = ",".join(f"{k}={v}" for k, v in tags.items())
    line = f"{clean(name)}\t{address}\t{clean(tags.get('role', ''))}\t{clean(pairs)}\n"
    # Tag values come from other nodes' metadata, decoded with surrogate escapes where
    # they are not UTF-8 (claw's binary ``id`` tag, or garbage): give the script their
    # bytes as Serf does; anything else unencodable is escaped, never an exception.
    try:
        return line.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return line.encode("utf-8", "backslashreplace")


@dataclass(slots=True)
class HandlerStats:
    """Counters of handler runs (all only grow)."""

    runs: int = 0
    failed: int = 0
    """Exited non-zero or could not start."""
    timed_out: int = 0
    dropped: int = 0
    """Not run: ``MAX_PENDING_HANDLERS`` were already waiting."""
    truncated: int = 0
    """Produced more than ``HANDLER_OUTPUT_BYTES`` of output."""


@dataclass(slots=True)
class HandlerRunner:
    """Runs the scripts whose filter matches an event, within the bounds above.

    Args:
        handlers: the parsed ``--event-handler`` specs.
        self_name, self_tags: for ``SERF_SELF_NAME``, ``SERF_SELF_ROLE``, ``SERF_TAG_*``.
    """

    handlers: list[ScriptHandler]
    self_name: str
    self_tags: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = HANDLER_TIMEOUT_S
    output_bytes: int = HANDLER_OUTPUT_BYTES
    max_concurrent: int = MAX_CONCURRENT_HANDLERS
    max_pending: int = MAX_PENDING_HANDLERS
    stats: HandlerStats = field(default_factory=HandlerStats)
    _slots: asyncio.Semaphore | None = None
    _pending: int = 0

    @classmethod
    def from_specs(cls, specs: Iterable[str], self_name: str,
                   self_tags: Mapping[str, str]) -> HandlerRunner:
        return cls([h for spec in specs for h in parse_handler(spec)], self_name, dict(self_tags))

    def scripts_for(self, event: HandlerEvent) -> list[str]:
        """The scripts to run for ``event``, each once, in the order given."""
        return list(dict.fromkeys(h.script for h in self.handlers if h.matches(event)))

    async def run_all(self, event: HandlerEvent) -> list[bytes]:
        """Run every matching script; their stdouts (successful runs only), in order."""
        outputs = []
        for script in self.scripts_for(event):
            out = await self.run(script, event)
            if out is not None:
                outputs.append(out)
        return outputs

    async def run(self, script: str, event: HandlerEvent) -> bytes | None:
        """Run one script for ``event``. Returns its stdout (at most ``output_bytes``),
        or None if it was dropped, failed, or timed out (logged and counted)."""
        if self._pending >= self.max_pending:
            self.stats.dropped += 1
            log.warning("event handler %r dropped: %d runs already waiting", script, self._pending)
            return None
        import asyncio

        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_concurrent)
        self._pending += 1
        try:
            async with self._slots:
                return await self._invoke(script, event)
        finally:
            self._pending -= 1

    def _environment(self, event: HandlerEvent) -> dict[str, str]:
        env = dict(os.environ)
        env |= {"SERF_SELF_NAME": self.self_name, "SERF_SELF_ROLE": self.self_tags.get("role", "")}
        for name, value in self.self_tags.items():
            env[f"SERF_TAG_{_TAG_NAME.sub('_', name.upper())}"] = value
        return env | event.environment()

    async def _invoke(self, script: str, event: HandlerEvent) -> bytes | None:
        import asyncio

        self.stats.runs += 1
        try:
            proc = await asyncio.create_subprocess_exec(
                "/bin/sh", "-c", script, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env=self._environment(event), start_new_session=True)
        except OSError as exc:
            self.stats.failed += 1
            log.warning("event handler %r cannot start: %s", script, exc)
            return None
        try:
            stdout, stderr = await asyncio.wait_for(self._talk(proc, event.stdin), self.timeout_s)
        except TimeoutError:
            self.stats.timed_out += 1
            log.warning("event handler %r killed after %.0f s (%s)", script, self.timeout_s, event.type)
            _kill(proc)
            await proc.wait()
            return None
        if proc.returncode != 0:
            self.stats.failed += 1
            log.warning("event handler %r exited %s for %s: %s", script, proc.returncode,
                        event.type, stderr.decode(errors="replace").strip()[:200])
            return None
        return stdout

    async def _talk(self, proc: asyncio.subprocess.Process, stdin: bytes) -> tuple[bytes, bytes]:
        import asyncio

        assert proc.stdin and proc.stdout and proc.stderr
        try:
            proc.stdin.write(stdin)
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the script did not read its stdin: fine
        finally:
            proc.stdin.close()
        out, err = await asyncio.gather(self._read_capped(proc.stdout), self._read_capped(proc.stderr))
        await proc.wait()
        return out, err

    async def _read_capped(self, stream: asyncio.StreamReader) -> bytes:
        """Read to EOF, keeping the first ``output_bytes`` (the rest is drained, so a
        chatty script never blocks on a full pipe nor fills our memory)."""
        kept = bytearray()
        over = False
        while chunk := await stream.read(65536):
            room = self.output_bytes - len(kept)
            kept += chunk[:max(room, 0)]
            over = over or len(chunk) > room
        if over:
            self.stats.truncated += 1
        return bytes(kept)


def _kill(proc: asyncio.subprocess.Process) -> None:
    try:
        os.killpg(proc.pid, 9)  # the shell and whatever it started
    except ProcessLookupError:
        pass
