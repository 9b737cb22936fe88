"""The type checker and the linter pass on the whole repository (CI runs this file).

Both tools and the stub packages are pinned in the ``test`` extra of ``pyproject.toml``,
which also holds their configuration: ``mypy`` checks gossip/, node/, api/ and
simulations/ (every ``--strict`` flag on gossip/, node/election.py and api/view.py);
``ruff check`` runs rules E, F, I, B and UP. Run either by hand from the repository
root: ``python -m mypy`` and ``python -m ruff check .``.

Marked slow: a cold mypy run takes tens of seconds, too long for the quick loop.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 600  # a cold mypy run on a loaded 2-core machine takes ~40 s

pytestmark = pytest.mark.slow


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=TIMEOUT_S, check=False)


def test_ruff_check_passes() -> None:
    result = _run("ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_passes() -> None:
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout


def test_mypy_strict_passes_on_the_core() -> None:
    """The issue's own command: ``--strict`` on the command line, so the modules these
    import are held to every strict flag too, whatever the configuration says."""
    result = _run("mypy", "--strict", "gossip", "node/election.py", "api/view.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout
