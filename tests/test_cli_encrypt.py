"""``claw-node keygen`` and ``--encrypt`` on the command line (kept apart from
``test_cli.py`` so the two change independently)."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest

from node.cli import main
from node.keyring_file import KEYRING_FILE, read_keyring_file, write_keyring_file

ROOT = Path(__file__).resolve().parent.parent
KEY = "948+ShA822mmM5aqa4WTSRHpywVeZ/ayFU9FNtDOh34="  # printed by `serf keygen`


@pytest.mark.slow
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


def test_a_key_the_keyring_file_lacks_is_an_error_naming_both(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_keyring_file(tmp_path / KEYRING_FILE, [bytes(range(32))])
    assert main(["--encrypt", KEY, "--data-dir", str(tmp_path), "--bind", "127.0.0.1:0",
                 "--api-bind", "127.0.0.1:0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("claw-node: error: the --encrypt key (")
    assert f"keyring file {tmp_path / KEYRING_FILE}" in err and "primary" in err
    assert KEY not in err  # fingerprints, never the secret
    assert read_keyring_file(tmp_path / KEYRING_FILE) == [bytes(range(32))]  # untouched


def test_verify_flags_reach_the_gossip_config(tmp_path: Path) -> None:
    from node.cli import build_parser
    from node.config import NodeConfig

    def gossip(argv: list[str], file_text: str | None = None) -> tuple[bool, bool]:
        args = build_parser().parse_args(argv)
        flags = {k: v for k, v in vars(args).items() if k not in ("command", "config")}
        path = None
        if file_text is not None:
            path = tmp_path / "claw.toml"
            path.write_text(file_text)
        cfg = NodeConfig.load(flags, path).gossip_config()
        return cfg.gossip_verify_incoming, cfg.gossip_verify_outgoing

    assert gossip([]) == (True, True)
    assert gossip(["--no-gossip-verify-incoming"]) == (False, True)
    assert gossip(["--no-gossip-verify-incoming", "--no-gossip-verify-outgoing"]) == (False, False)
    assert gossip([], "gossip_verify_outgoing = false\n") == (True, False)
    assert gossip(["--gossip-verify-outgoing"], "gossip_verify_outgoing = false\n") == (True, True)
