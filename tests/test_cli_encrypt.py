"""``claw-node keygen`` and ``--encrypt`` on the command line (kept apart from
``test_cli.py`` so the two change independently)."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest

from node.cli import main

ROOT = Path(__file__).resolve().parent.parent
KEY = "948+ShA822mmM5aqa4WTSRHpywVeZ/ayFU9FNtDOh34="  # printed by `serf keygen`


def test_keygen_prints_a_32_byte_base64_key_like_serf() -> None:
    out = subprocess.run([sys.executable, "-m", "node.cli", "keygen"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0 and out.stderr == ""
    line = out.stdout
    assert line.endswith("\n") and line.count("\n") == 1
    assert len(base64.b64decode(line.strip(), validate=True)) == 32
    assert len(line.strip()) == len(KEY)


def test_keygen_keys_differ(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keygen"]) == 0 and main(["keygen"]) == 0
    first, second = capsys.readouterr().out.split()
    assert first != second


@pytest.mark.parametrize("value, words", [
    (KEY[:-1], "not a base64 key"),
    ("c2hvcnQ=", "5 bytes"),
])
def test_bad_encrypt_is_one_line_exit_2(value: str, words: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--encrypt", value]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("claw-node: error: --encrypt: ")
    assert words in err and value not in err


def test_bad_claw_encrypt_names_the_variable(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CLAW_ENCRYPT", "zzz")
    assert main([]) == 2
    assert "CLAW_ENCRYPT: not a base64 key" in capsys.readouterr().err


def test_a_valid_key_is_refused_until_the_agent_encrypts(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    # Accepting the key and gossiping in clear would be worse than refusing to start.
    assert main(["--encrypt", KEY, "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--encrypt: gossip encryption is not wired into the agent yet" in err
    assert KEY not in err and list(tmp_path.iterdir()) == []
