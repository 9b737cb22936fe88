"""``claw-node service install``: the generated systemd unit (checked by
``systemd-analyze verify``), launchd plist and Windows task runner, and the command."""

from __future__ import annotations

import os
import plistlib
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from node import exit_codes
from node.cli import main
from node.service import (
    LAUNCHD_LABEL,
    ServiceSpec,
    agent_argv,
    claw_node_command,
    default_platform,
    launchd_plist,
    render,
    systemd_unit,
    windows_runner,
)

EXE = sys.executable  # an executable that exists: systemd-analyze checks ExecStart's
ARGV = (EXE, "--join", "10.0.0.5:7946", "--tags", "rack 1,100%", "--config",
        "/etc/claw node/claw.toml", "--no-coordinator")


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit file as section → key → values (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for line in text.splitlines():
        if not line.strip() or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"key outside a section: {line!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not KEY=VALUE: {line!r}"
        current.setdefault(key, []).append(value)
    return sections


def exec_start_argv(value: str) -> list[str]:
    """ExecStart's words as systemd reads them (C-style quotes, %% and $$ unescaped)."""
    return [w.replace("%%", "%").replace("$$", "$") for w in shlex.split(value)]


def systemd_analyze() -> str:
    """systemd-analyze; skip without it, fail instead when env ``CI`` is set."""
    path = shutil.which("systemd-analyze")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is not installed but CI is set (apt-get install systemd)")
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    return path


def verify(unit: str, tmp_path: Path, *, user: bool) -> subprocess.CompletedProcess[str]:
    """``systemd-analyze [--user] verify`` of ``unit`` saved as claw-node.service. It runs
    without systemd as PID 1; the user manager only needs a runtime directory."""
    path = tmp_path / "claw-node.service"
    path.write_text(unit)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    cmd = [systemd_analyze(), *(["--user"] if user else []), "verify", str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)})


# --- systemd ------------------------------------------------------------------------------


def test_system_unit_runs_the_agent_as_a_notify_service_with_the_flags() -> None:
    unit = parse_unit(systemd_unit(ServiceSpec(ARGV)))
    service = unit["Service"]
    assert service["Type"] == ["notify"]
    assert exec_start_argv(service["ExecStart"][0]) == [*ARGV, "--data-dir", "/var/lib/claw-node"]
    assert service["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert service["Restart"] == ["on-failure"]
    assert service["RestartPreventExitStatus"][0].split() == [
        str(exit_codes.USAGE), str(exit_codes.IDENTITY_CONFLICT)]
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]
    assert unit["Unit"]["After"] == ["network-online.target"]


def test_system_unit_is_sandboxed_and_writable_only_in_its_data_dir() -> None:
    service = parse_unit(systemd_unit(ServiceSpec(("/usr/local/bin/claw-node",))))["Service"]
    for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                       ("ProtectHome", "yes"), ("PrivateTmp", "yes"), ("DynamicUser", "yes"),
                       ("StateDirectory", "claw-node"), ("CapabilityBoundingSet", "")):
        assert service[key] == [value], key
    families = service["RestrictAddressFamilies"][0].split()
    assert {"AF_INET", "AF_INET6", "AF_UNIX"} <= set(families)


def test_system_unit_with_its_own_data_dir_and_user() -> None:
    spec = ServiceSpec((*ARGV, "--data-dir", "/srv/claw"), data_dir=Path("/srv/claw"),
                       run_as="claw")
    service = parse_unit(systemd_unit(spec))["Service"]
    assert service["ReadWritePaths"] == ["/srv/claw"]
    assert service["User"] == ["claw"]
    assert "DynamicUser" not in service and "StateDirectory" not in service
    assert exec_start_argv(service["ExecStart"][0]).count("--data-dir") == 1


def test_system_unit_keeps_a_home_readable_when_claw_node_lives_there() -> None:
    spec = ServiceSpec(("/home/ann/.venv/bin/claw-node",))
    assert parse_unit(systemd_unit(spec))["Service"]["ProtectHome"] == ["read-only"]


def test_user_unit_leaves_out_what_needs_root_or_user_namespaces() -> None:
    unit = parse_unit(systemd_unit(ServiceSpec(ARGV, user=True)))
    service = unit["Service"]
    assert unit["Install"]["WantedBy"] == ["default.target"]
    assert exec_start_argv(service["ExecStart"][0]) == list(ARGV)  # its own default data dir
    assert service["NoNewPrivileges"] == ["yes"]
    for key in ("ProtectSystem", "ProtectHome", "PrivateTmp", "DynamicUser", "User",
                "CapabilityBoundingSet"):
        assert key not in service, key
    assert "After" not in unit["Unit"]


@pytest.mark.slow
@pytest.mark.parametrize("user", [False, True], ids=["system", "user"])
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path, user: bool) -> None:
    spec = ServiceSpec((*ARGV, "--data-dir", "/srv/claw"), data_dir=Path("/srv/claw"),
                       run_as="claw")
    for unit in (systemd_unit(ServiceSpec(ARGV, user=user)), systemd_unit(spec)):
        out = verify(unit, tmp_path, user=user)
        assert out.returncode == 0 and out.stderr == "" and out.stdout == "", out


@pytest.mark.slow
def test_systemd_analyze_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: an unknown key is reported, a missing program fails."""
    unit = systemd_unit(ServiceSpec(ARGV))
    out = verify(unit.replace("Type=notify", "Type=notify\nRestartPreventExitStatuz=2"),
                 tmp_path, user=False)
    assert "RestartPreventExitStatuz" in out.stderr
    out = verify(unit.replace(EXE, "/nonexistent/claw-node"), tmp_path, user=False)
    assert out.returncode != 0 and "/nonexistent/claw-node" in out.stderr


# --- launchd ------------------------------------------------------------------------------


def test_launchd_daemon_plist() -> None:
    job = plistlib.loads(launchd_plist(ServiceSpec(ARGV)))
    assert job["Label"] == LAUNCHD_LABEL
    assert job["ProgramArguments"] == [*ARGV, "--data-dir",
                                       "/Library/Application Support/claw-node"]
    assert job["RunAtLoad"] is True
    assert job["KeepAlive"] == {"SuccessfulExit": False}  # relaunch after failure, not leave
    assert job["StandardErrorPath"] == job["StandardOutPath"] == "/Library/Logs/claw-node.log"
    assert job["ExitTimeOut"] >= 10


def test_launchd_agent_plist_logs_in_the_users_library(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    job = plistlib.loads(launchd_plist(ServiceSpec(ARGV, user=True)))
    assert job["ProgramArguments"] == list(ARGV)
    assert job["StandardErrorPath"] == str(tmp_path / "Library" / "Logs" / "claw-node.log")


# --- Windows ------------------------------------------------------------------------------


def test_windows_runner_restarts_except_on_leave_and_incurable_exits() -> None:
    spec = ServiceSpec((r"C:\Program Files\claw\claw-node.exe", "--tags", "it's a tag",
                        "--join", "10.0.0.5:7946"))
    text = windows_runner(spec)
    lines = text.splitlines()
    assert r"$exe = 'C:\Program Files\claw\claw-node.exe'" in lines
    # list2cmdline quoting for the C runtime, then PowerShell's '' for a quote
    assert """$arguments = '--tags "it''s a tag" --join 10.0.0.5:7946'""" in lines
    codes = {exit_codes.OK, exit_codes.USAGE, exit_codes.IDENTITY_CONFLICT}
    assert f"$noRestart = @({', '.join(map(str, sorted(codes)))})" in lines
    assert "    if ($noRestart -contains $agent.ExitCode) { exit $agent.ExitCode }" in lines
    assert '$base = "$env:ProgramData\\claw-node"' in lines
    assert any("--data-dir" in line and "Join-Path $base 'data'" in line for line in lines)


def test_windows_user_runner_uses_the_agents_own_data_dir() -> None:
    text = windows_runner(ServiceSpec(("C:\\c.exe",), user=True))
    assert "--data-dir" not in text
    assert '$base = "$env:LOCALAPPDATA\\claw-node"' in text.splitlines()


def test_windows_file_is_crlf_with_a_bom_for_windows_powershell() -> None:
    data = render("windows", ServiceSpec(("C:\\c.exe",)))
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")


# --- the command --------------------------------------------------------------------------


def test_install_writes_the_unit_and_prints_how_to_enable_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAW_SKILLS", "gpu")
    config = tmp_path / "claw.toml"
    config.write_text('tags = ["lab"]\n')
    rc = main(["service", "install", "--platform", "systemd", "--output", str(tmp_path),
               "--executable", EXE, "--join", "10.0.0.5:7946", "--join", "10.0.0.6",
               "--config", str(config), "--no-coordinator", "--log-format", "json"])
    out = capsys.readouterr().out
    assert rc == 0, out
    unit = parse_unit((tmp_path / "claw-node.service").read_text())
    assert exec_start_argv(unit["Service"]["ExecStart"][0]) == [
        EXE, "--config", str(config), "--join", "10.0.0.5:7946", "--join", "10.0.0.6",
        "--no-coordinator", "--log-format", "json", "--data-dir", "/var/lib/claw-node"]
    assert f"sudo install -m 0644 {tmp_path}/claw-node.service /etc/systemd/system/" in out
    assert "sudo systemctl enable --now claw-node" in out
    assert "CLAW_SKILLS" in out  # the environment does not reach the service


def test_install_user_launchd_and_windows(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["service", "install", "--user", "--platform", "launchd",
                 "--output", str(tmp_path)]) == 0
    assert plistlib.loads((tmp_path / f"{LAUNCHD_LABEL}.plist").read_bytes())["RunAtLoad"]
    assert "launchctl bootstrap gui/$(id -u)" in capsys.readouterr().out
    assert main(["service", "install", "--platform", "windows", "--output", str(tmp_path),
                 "--executable", "C:\\claw\\claw-node.exe"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "claw-node-service.ps1").is_file()
    assert "Register-ScheduledTask -TaskName 'claw-node'" in out
    assert "New-ScheduledTaskTrigger -AtStartup" in out


def exit_status(argv: list[str]) -> int:
    """``main(argv)``'s status, also when argparse exits."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.mark.parametrize("args, words", [
    (["--platform", "systemd", "--port", "0"], "--port"),
    (["--platform", "systemd", "--data-dir", "/srv/claw"], "--run-as"),
    (["--platform", "nosuch"], "--platform"),
])
def test_install_refuses_bad_settings_with_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], words: str) -> None:
    assert exit_status(["service", "install", "--output", str(tmp_path), *args]) == 2
    assert words in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_another_oss_service_needs_output(capsys: pytest.CaptureFixture[str]) -> None:
    other = "windows" if default_platform() != "windows" else "systemd"
    assert main(["service", "install", "--platform", other]) == exit_codes.USAGE
    assert "--output" in capsys.readouterr().err


def test_agent_argv_keeps_only_given_agent_flags_with_absolute_paths(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from node.cli import build_parser

    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["service", "install", "--user", "--config", "c.toml",
                                      "--skills", "a,b", "--api-eager"])
    argv = agent_argv(vars(args), args.flag_actions, ("config", "skills", "api_eager"))
    assert argv == ["--config", str(tmp_path / "c.toml"), "--skills", "a,b", "--api-eager"]


def test_claw_node_command_is_absolute() -> None:
    command = claw_node_command()
    assert Path(command[0]).is_absolute()
    assert claw_node_command("C:\\x\\claw-node.exe") == ["C:\\x\\claw-node.exe"]
