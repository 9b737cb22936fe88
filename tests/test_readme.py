"""The README's marked shell blocks, run in order on loopback as a newcomer would.

A block preceded by ``<!-- doc-test -->`` must exit 0; ``<!-- doc-test expect="REGEX" -->``
also requires its output to match REGEX. A block that starts background processes (a
line ending in ``&``) runs once; any other block is retried until it passes or
``BLOCK_TIMEOUT_S`` runs out, since a cluster settles a moment after its agents start.

The blocks run with ``bash -e`` in a fresh directory, with ``claw-node`` and ``python``
being this checkout's, and every port the README uses replaced by a free one (so the
test can run beside a real agent on 7946/8888; the CLI's default ``--api`` follows
through ``CLAW_API``). The PIDs of the background processes
each block started are recorded and those processes are stopped at the end, by PID.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from simulations.realproc.agents import free_port
from tests.conftest import eventually

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BLOCK_TIMEOUT_S = 60.0
"""How long a block may keep failing before the test fails (agents start in ~1 s)."""
STOP_TIMEOUT_S = 10.0
"""Grace after SIGTERM before a background process is killed."""
README_PORTS = (7946, 7947, 7948, 8888, 8889, 8890)
"""The ports the README's one-machine cluster uses."""

_MARKER = re.compile(
    r'^<!-- doc-test(?: expect="(?P<expect>(?:[^"\\]|\\.)*)")? -->\n```bash\n(?P<body>.*?)^```',
    re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Block:
    line: int
    body: str
    expect: str | None

    @property
    def starts_background(self) -> bool:
        return any(line.rstrip().endswith("&") and not line.rstrip().endswith("&&")
                   for line in self.body.splitlines())


def marked_blocks(text: str) -> list[Block]:
    return [Block(text.count("\n", 0, m.start()) + 1, m["body"],
                  None if m["expect"] is None else m["expect"].replace('\\"', '"'))
            for m in _MARKER.finditer(text)]


def _with_ports(text: str, ports: dict[int, int]) -> str:
    return re.sub(r"\b(" + "|".join(map(str, ports)) + r")\b",
                  lambda m: str(ports[int(m[1])]), text)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], Path]]:
    """(work dir, environment, file collecting background PIDs); stops them afterwards."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "claw-node"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m node.cli "$@"\n')
    shim.chmod(0o755)
    (bin_dir / "python").symlink_to(sys.executable)
    work = tmp_path / "work"
    work.mkdir()
    pids = tmp_path / "pids"
    pids.touch()
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(ROOT), "XDG_DATA_HOME": str(tmp_path / "xdg"),
           "HOME": str(tmp_path)}
    for name in ("CLAW_API", "CLAW_API_TOKEN"):
        env.pop(name, None)
    try:
        yield work, env, pids
    finally:
        _stop(pids)


def _stop(pids_file: Path) -> None:
    pids = [int(p) for p in pids_file.read_text().split()]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        eventually(lambda: not any(_alive(pid) for pid in pids), STOP_TIMEOUT_S, 0.1,
                   what="the README's agents exit on SIGTERM")
    finally:
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a background process outlives the bash that started
    it and is re-parented, so it is probed, not waited for; a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def _run(block: Block, script: str, work: Path, env: dict[str, str], pids: Path
         ) -> tuple[int, str]:
    out = work.parent / "block.out"
    with out.open("wb") as sink:  # a file, not a pipe: background children keep it open
        proc = subprocess.run(
            ["bash", "-e", "-c", f'{script}\njobs -p >> "{pids}"\n'], cwd=work, env=env,
            stdout=sink, stderr=subprocess.STDOUT, timeout=BLOCK_TIMEOUT_S,
            check=False)
    return proc.returncode, out.read_text(errors="replace")


def test_the_readme_blocks_run_on_loopback(sandbox) -> None:  # type: ignore[no-untyped-def]
    work, env, pids = sandbox
    blocks = marked_blocks(README.read_text())
    assert len(blocks) >= 6, "the README lost its doc-test markers"
    ports = {p: free_port() for p in README_PORTS}
    env["CLAW_API"] = f"http://127.0.0.1:{ports[8888]}"  # the CLI's default, moved too
    started = time.monotonic()
    for block in blocks:
        script = _with_ports(block.body, ports)
        expect = None if block.expect is None else _with_ports(block.expect, ports)
        last: list[tuple[int, str]] = []

        def passes(block: Block = block, script: str = script, expect: str | None = expect) -> bool:
            status, output = _run(block, script, work, env, pids)
            last[:] = [(status, output)]
            return status == 0 and (expect is None or re.search(expect, output) is not None)

        # A block that starts agents in the background runs once; the others are retried
        # while what they check (a cluster forming) comes true.
        try:
            eventually(passes, 0.0 if block.starts_background else BLOCK_TIMEOUT_S, 0.5,
                       what=f"README.md line {block.line}")
            ok = True
        except TimeoutError:
            ok = False
        status, output = last[0]
        logs = "".join(f"\n--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
                       for p in sorted(work.glob("*.log")))
        assert ok, (f"README.md line {block.line}: exit {status}, expected {expect!r}\n"
                    f"{output[-3000:]}{logs}")
    print(f"README doc test: {len(blocks)} blocks in {time.monotonic() - started:.1f} s")
