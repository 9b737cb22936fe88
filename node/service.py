"""``claw-node service install``: run the agent under the operating system's service
manager — a systemd unit on Linux, a launchd property list on macOS, a Task Scheduler
task on Windows.

Each file runs the same ``claw-node`` with the flags given to ``service install`` and
applies the exit-status contract of ``node.exit_codes``: restart after a failure, but not
after a clean leave (0), a bad setting (2) or an identity conflict (78), which a restart
cannot cure.

Windows: ``sc.exe create`` and ``New-Service`` register only programs that speak the
Service Control Manager protocol; a plain console program such as ``claw-node.exe`` is
killed by the SCM after 30 s with error 1053, and wrappers (NSSM, WinSW, pywin32) are
third-party. Task Scheduler runs any console program at boot as ``SYSTEM`` (or at logon
for ``--user``), so the generated file is a PowerShell runner that a scheduled task
starts: it restarts the agent after a failure (Task Scheduler's own RestartOnFailure
covers only a failure to launch, not an exit status) and keeps the last two runs' logs.
Windows has no SIGHUP: reload goes through ``claw-node reload`` (the local API).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath, PureWindowsPath
from typing import Any

from . import exit_codes
from .cli_flags import PLATFORMS, Platform  # there: the parser needs them, not this module

__all__ = [
    "LAUNCHD_LABEL",
    "PLATFORMS",
    "SERVICE_NAME",
    "Installed",
    "ServiceSpec",
    "agent_argv",
    "claw_node_command",
    "default_platform",
    "install",
    "launchd_plist",
    "render",
    "run_install",
    "systemd_unit",
    "windows_runner",
]

SERVICE_NAME = "claw-node"
"""The systemd unit's and the scheduled task's name."""
LAUNCHD_LABEL = "org.openclaw.claw-node"
"""launchd's job label (reverse-DNS, as launchd asks); also the plist's file name."""

SYSTEMD_STATE_DIR = PurePath("/var/lib/claw-node")
"""The system unit's data dir: systemd creates it (``StateDirectory=``) for the unit's
dynamic user and keeps it writable under ``ProtectSystem=strict``."""
LAUNCHD_DAEMON_DATA_DIR = PurePath("/Library/Application Support/claw-node")
"""The launchd daemon's data dir (root's per-user default would hide it in /var/root)."""

RESTART_DELAY_S = 5
"""Seconds between a failure and the restart (systemd ``RestartSec``, the Windows runner);
launchd's own minimum, ``ThrottleInterval``, is 10."""
STOP_TIMEOUT_S = 30
"""Seconds the service manager waits after SIGTERM before SIGKILL: a graceful leave
broadcasts and waits for it to spread (a few probe intervals), well under this."""


@dataclass(frozen=True)
class ServiceSpec:
    """What the service runs.

    Attributes:
        argv: the ``claw-node`` command (absolute executable first) and the agent flags.
        user: a per-user service (systemd ``--user`` unit, LaunchAgent, task at logon)
            rather than a system one started at boot.
        data_dir: ``--data-dir`` when the flags give one (already in ``argv``); None lets
            the platform's service data dir be added.
        config_file: ``--config`` when given (already in ``argv``), absolute.
        run_as: system systemd unit only: run as this existing user (who owns
            ``data_dir``) instead of a dynamic user.
    """

    argv: tuple[str, ...]
    user: bool = False
    data_dir: Path | None = None
    config_file: Path | None = None
    run_as: str | None = None


@dataclass(frozen=True)
class Installed:
    """The outcome of ``install``: the written file, the commands that enable and start
    it, and notes the user must read (limits of the platform)."""

    path: Path
    commands: list[str]
    notes: list[str] = field(default_factory=list)


def default_platform(sys_platform: str | None = None) -> Platform:
    """The service manager of this OS: ``launchd`` on macOS, ``windows``, else ``systemd``."""
    name = sys.platform if sys_platform is None else sys_platform
    if name == "darwin":
        return "launchd"
    if name == "win32":
        return "windows"
    return "systemd"


def claw_node_command(executable: str | None = None) -> list[str]:
    """The absolute command that starts ``claw-node`` from this Python environment: the
    console script installed next to the running interpreter (``bin/claw-node``,
    ``Scripts\\claw-node.exe``), else ``python -m node.cli``. Not ``$PATH``: a service
    has another ``$PATH``, and another ``claw-node`` may come first on it."""
    if executable is not None:  # may name a path on another OS: kept as given if absolute
        absolute = PureWindowsPath(executable).is_absolute() or executable.startswith("/")
        return [executable if absolute else str(Path(executable).absolute())]
    python = Path(sys.executable).absolute()
    for script in (python.parent / "claw-node", python.parent / "claw-node.exe",
                   python.parent / "Scripts" / "claw-node.exe"):
        if script.is_file():
            return [str(script)]
    return [str(python), "-m", "node.cli"]


def agent_argv(values: dict[str, Any], actions: Iterable[argparse.Action],
               names: Iterable[str]) -> list[str]:
    """The agent flags given on the command line, back as arguments for the service.

    Args:
        values: the parsed namespace (``vars(args)``); only flags given appear in it.
        actions: the parser's actions, to find each setting's flag and kind.
        names: the settings to carry (``NodeConfig`` fields and ``config``).
    Returns:
        ``["--join", "h:7946", "--no-coordinator", ...]``; file paths made absolute,
        since the service runs in another working directory.
    """
    wanted = set(names)
    argv: list[str] = []
    for action in actions:
        if action.dest not in wanted or action.dest not in values or not action.option_strings:
            continue
        flag, value = action.option_strings[0], values[action.dest]
        if action.nargs == 0:  # store_true
            argv.append(flag)
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, Path):
                item = item.expanduser().absolute()
            argv += [flag, str(item)]
    return argv


# --- systemd ------------------------------------------------------------------------------

_SYSTEMD_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                          "_-./:,=@+")


def _systemd_word(arg: str) -> str:
    """One ``ExecStart=`` argument: ``%`` (specifiers) and ``$`` (variables) doubled,
    double-quoted with C escapes unless plain."""
    arg = arg.replace("%", "%%").replace("$", "$$")
    if arg and all(c in _SYSTEMD_SAFE for c in arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _under_a_home(path: str) -> bool:
    return any(PurePath(path).is_relative_to(home) for home in ("/home", "/root", "/run/user"))


def systemd_unit(spec: ServiceSpec) -> str:
    """The ``claw-node.service`` text.

    ``Type=notify``: systemd counts the agent started when it sends ``READY=1``
    (``node.sd_notify``). A system unit runs as a dynamic user (or ``run_as``) under
    ``ProtectSystem=strict``, writable only in its data dir; the sandboxing options that
    need user namespaces are left out of a ``--user`` unit, where they fail unless the
    kernel allows unprivileged ones.
    """
    argv = list(spec.argv)
    if not spec.user and spec.data_dir is None:
        argv += ["--data-dir", str(SYSTEMD_STATE_DIR)]
    no_restart = " ".join(str(code) for code in exit_codes.NO_RESTART)
    unit = [
        "# Generated by `claw-node service install`; regenerate rather than edit.",
        "[Unit]",
        "Description=claw-node cluster membership agent",
    ]
    if not spec.user:  # a user manager cannot order itself after system targets
        unit += ["Wants=network-online.target", "After=network-online.target"]
    unit += [
        "",
        "[Service]",
        "Type=notify",
        "ExecStart=" + " ".join(_systemd_word(a) for a in argv),
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        f"RestartSec={RESTART_DELAY_S}",
        (f"# {exit_codes.USAGE}: a bad setting; {exit_codes.IDENTITY_CONFLICT}: another node has "
         "this node id. A restart cures neither."),
        f"RestartPreventExitStatus={no_restart}",
        f"TimeoutStopSec={STOP_TIMEOUT_S}",
        "",
        "# Hardening: gossip needs UDP+TCP (7946) and the API TCP; AF_UNIX for the",
        "# notify socket, AF_NETLINK to list interfaces. No privileges or capabilities.",
        "NoNewPrivileges=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK",
        "LockPersonality=yes",
        "RestrictRealtime=yes",
        "SystemCallArchitectures=native",
        "SystemCallFilter=@system-service",
        "SystemCallErrorNumber=EPERM",
        "UMask=0077",
    ]
    if not spec.user:
        # read-only rather than hidden when claw-node or its config file is in a home
        in_home = any(_under_a_home(str(p)) for p in (spec.argv[0], spec.config_file) if p)
        unit += [
            "CapabilityBoundingSet=",
            "AmbientCapabilities=",
            "ProtectSystem=strict",
            "ProtectHome=" + ("read-only" if in_home else "yes"),
            "PrivateTmp=yes",
            "PrivateDevices=yes",
            "ProtectKernelTunables=yes",
            "ProtectKernelModules=yes",
            "ProtectKernelLogs=yes",
            "ProtectControlGroups=yes",
            "ProtectClock=yes",
            "ProtectHostname=yes",
            "RestrictNamespaces=yes",
            "RestrictSUIDSGID=yes",
        ]
        unit += ["DynamicUser=yes"] if spec.run_as is None else [f"User={spec.run_as}"]
        if spec.data_dir is None:  # systemd creates it, owned by the unit's user
            unit += [f"StateDirectory={SYSTEMD_STATE_DIR.name}", "StateDirectoryMode=0700"]
        else:
            unit += ["ReadWritePaths=" + _systemd_word(str(spec.data_dir))]
    unit += [
        "",
        "[Install]",
        "WantedBy=" + ("default.target" if spec.user else "multi-user.target"),
    ]
    return "\n".join(unit) + "\n"


# --- launchd ------------------------------------------------------------------------------


def _launchd_log(user: bool) -> str:
    base = Path.home() / "Library" / "Logs" if user else PurePath("/Library/Logs")
    return str(base / "claw-node.log")


def launchd_plist(spec: ServiceSpec) -> bytes:
    """The launchd job as an XML property list.

    ``KeepAlive.SuccessfulExit = false`` relaunches the agent after a non-zero exit, not
    after a leave. launchd cannot exempt particular statuses: after a bad setting or an
    identity conflict it relaunches every ``ThrottleInterval`` (10 s) until unloaded.
    """
    import plistlib  # here: only this command needs it

    argv = list(spec.argv)
    if not spec.user and spec.data_dir is None:
        argv += ["--data-dir", str(LAUNCHD_DAEMON_DATA_DIR)]
    log = _launchd_log(spec.user)
    job = {
        "Label": LAUNCHD_LABEL,
        "ProgramArguments": argv,
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": 10,
        "ExitTimeOut": STOP_TIMEOUT_S,
        "StandardOutPath": log,
        "StandardErrorPath": log,
        "WorkingDirectory": "/",
    }
    return plistlib.dumps(job, fmt=plistlib.FMT_XML, sort_keys=False)


# --- Windows ------------------------------------------------------------------------------


def _windows_base(user: bool) -> str:
    """The runner's directory as a PowerShell expression, resolved on the Windows machine
    (the file may be generated elsewhere): ``%ProgramData%\\claw-node`` for the system
    task, ``%LOCALAPPDATA%\\claw-node`` (the agent's own default data dir) for ``--user``."""
    return "$env:LOCALAPPDATA\\claw-node" if user else "$env:ProgramData\\claw-node"


def _ps_quote(text: str) -> str:
    """A PowerShell single-quoted string (no expansion; ``'`` doubled)."""
    return "'" + text.replace("'", "''") + "'"


def windows_runner(spec: ServiceSpec) -> str:
    """The PowerShell runner a scheduled task starts (see the module docstring).

    It starts ``claw-node`` with the flags, waits, and restarts it ``RESTART_DELAY_S``
    later unless the exit status is 0 (left) or one a restart cannot cure. The agent's
    log (stderr) goes to ``logs\\claw-node.log`` in the runner's directory; the previous
    run's to ``.log.1``. The system task keeps its data in ``data`` there.
    """
    import subprocess  # here: list2cmdline only; the agent never imports it

    # Start-Process joins -ArgumentList unquoted: quote each argument the way the
    # Microsoft C runtime parses a command line.
    arguments = subprocess.list2cmdline(spec.argv[1:])
    no_restart = ", ".join(str(c) for c in (exit_codes.OK, *exit_codes.NO_RESTART))
    lines = [
        "# claw-node service runner, generated by `claw-node service install`.",
        "# A scheduled task starts it; it restarts claw-node after a failure.",
        (f"# Exit statuses that end it: {exit_codes.OK} (left the cluster), "
         f"{exit_codes.USAGE} (bad setting),"),
        f"# {exit_codes.IDENTITY_CONFLICT} (another node has this node id).",
        "$ErrorActionPreference = 'Stop'",
        f"$base = \"{_windows_base(spec.user)}\"",
        f"$exe = {_ps_quote(spec.argv[0])}",
        f"$arguments = {_ps_quote(arguments)}",
    ]
    if not spec.user and spec.data_dir is None:
        lines.append("$arguments = ($arguments + ' --data-dir \"' + (Join-Path $base 'data') "
                     "+ '\"').Trim()")
    lines += [
        f"$noRestart = @({no_restart})",
        "$logDir = Join-Path $base 'logs'",
        "New-Item -ItemType Directory -Force -Path $logDir | Out-Null",
        "$log = Join-Path $logDir 'claw-node.log'",
        "while ($true) {",
        "    if (Test-Path $log) { Move-Item -Force $log \"$log.1\" }",
        "    $start = @{ FilePath = $exe; NoNewWindow = $true; Wait = $true; PassThru = $true;",
        "                RedirectStandardError = $log }",
        "    if ($arguments) { $start.ArgumentList = $arguments }",
        "    $agent = Start-Process @start",
        "    if ($noRestart -contains $agent.ExitCode) { exit $agent.ExitCode }",
        f"    Start-Sleep -Seconds {RESTART_DELAY_S}",
        "}",
        "",
    ]
    return "\n".join(lines)


def _windows_commands(file_name: str, user: bool) -> list[str]:
    runner = f"{_windows_base(user)}\\{file_name}"
    # A double-quoted PowerShell string: $env: expands, `" is a literal quote.
    launch = ("-NoProfile -NonInteractive -ExecutionPolicy Bypass -WindowStyle Hidden "
              f"-File `\"{runner}`\"")
    if user:
        trigger = "New-ScheduledTaskTrigger -AtLogOn -User $env:USERNAME"
        principal = ("New-ScheduledTaskPrincipal -UserId $env:USERNAME "
                     "-LogonType Interactive")
    else:
        trigger = "New-ScheduledTaskTrigger -AtStartup"
        principal = ("New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount "
                     "-RunLevel Highest")
    return [
        "# in PowerShell" + ("" if user else " as Administrator") + ":",
        f"$action = New-ScheduledTaskAction -Execute 'powershell.exe' -Argument \"{launch}\"",
        f"$trigger = {trigger}",
        f"$principal = {principal}",
        ("$settings = New-ScheduledTaskSettingsSet -ExecutionTimeLimit ([TimeSpan]::Zero) "
         "-AllowStartIfOnBatteries -DontStopIfGoingOnBatteries -StartWhenAvailable "
         "-MultipleInstances IgnoreNew"),
        (f"Register-ScheduledTask -TaskName '{SERVICE_NAME}' -Action $action -Trigger $trigger "
         "-Principal $principal -Settings $settings"),
        f"Start-ScheduledTask -TaskName '{SERVICE_NAME}'",
        ("# stop: `claw-node leave` (the runner then ends); reload: `claw-node reload` "
         "(no SIGHUP on Windows)"),
    ]


# --- install ------------------------------------------------------------------------------


def _file_name(platform: Platform) -> str:
    return {"systemd": f"{SERVICE_NAME}.service", "launchd": f"{LAUNCHD_LABEL}.plist",
            "windows": "claw-node-service.ps1"}[platform]


def standard_dir(platform: Platform, user: bool) -> Path:
    """Where the service manager looks for the file."""
    if platform == "systemd":
        if not user:
            return Path("/etc/systemd/system")
        config = os.environ.get("XDG_CONFIG_HOME")
        return (Path(config) if config else Path.home() / ".config") / "systemd" / "user"
    if platform == "launchd":
        return (Path.home() / "Library" / "LaunchAgents" if user
                else Path("/Library/LaunchDaemons"))
    local, shared = os.environ.get("LOCALAPPDATA"), os.environ.get("ProgramData")
    if user:
        return (Path(local) if local else Path.home() / "AppData" / "Local") / "claw-node"
    return (Path(shared) if shared else Path("C:/ProgramData")) / "claw-node"


def render(platform: Platform, spec: ServiceSpec) -> bytes:
    """The service file's bytes for ``platform``."""
    if platform == "systemd":
        return systemd_unit(spec).encode()
    if platform == "launchd":
        return launchd_plist(spec)
    # CRLF: Windows PowerShell 5.1 reads either, Notepad shows it right.
    return windows_runner(spec).replace("\n", "\r\n").encode("utf-8-sig")


def _sh(path: PurePath | str) -> str:
    import shlex  # here: only this command needs it

    return shlex.quote(str(path))


def _enable_commands(platform: Platform, path: Path, standard: Path, user: bool) -> list[str]:
    if platform == "systemd":
        ctl = "systemctl --user" if user else "sudo systemctl"
        copy = [] if path.parent == standard else [
            ("" if user else "sudo ") + f"install -m 0644 {_sh(path)} {_sh(standard)}/"]
        return copy + [
            f"{ctl} daemon-reload",
            f"{ctl} enable --now {SERVICE_NAME}",
            *([(f"loginctl enable-linger {os.environ.get('USER', '$USER')}"
               "   # keep it running while you are logged out")] if user else []),
            f"{ctl} reload {SERVICE_NAME}   # re-read the config (SIGHUP)",
            f"journalctl {'--user ' if user else ''}-u {SERVICE_NAME} -f",
        ]
    if platform == "launchd":
        domain = "gui/$(id -u)" if user else "system"
        sudo = "" if user else "sudo "
        target = standard / path.name
        copy = [] if path.parent == standard else [f"{sudo}cp {_sh(path)} {_sh(target)}"]
        return copy + [
            f"{sudo}launchctl bootstrap {domain} {_sh(target)}",
            f"{sudo}launchctl kill SIGHUP {domain}/{LAUNCHD_LABEL}   # re-read the config",
            f"tail -f {_sh(_launchd_log(user))}",
        ]
    copy = [] if path.parent == standard else [
        f"# copy {path.name} to {_windows_base(user)}\\{path.name}"]
    return copy + _windows_commands(path.name, user)


def install(platform: Platform, spec: ServiceSpec, output_dir: Path | None = None) -> Installed:
    """Write the service file for ``platform`` and say how to enable it.

    Args:
        platform: ``systemd``, ``launchd`` or ``windows``.
        spec: what the service runs.
        output_dir: write there instead of the service manager's directory (to review
            it, or to generate for another machine); the commands then start with a copy.
    Returns:
        The written path, the commands to run, and platform notes.
    Raises:
        OSError: the directory cannot be created or written (e.g. needs root).
    """
    standard = standard_dir(platform, spec.user)
    directory = standard if output_dir is None else output_dir
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / _file_name(platform)
    path.write_bytes(render(platform, spec))
    path.chmod(0o644)
    notes: list[str] = []
    if platform == "systemd" and not spec.user and spec.run_as is None \
            and _under_a_home(spec.argv[0]):
        notes.append(f"{spec.argv[0]} is inside a home directory: the unit's dynamic "
                     f"user may not be allowed to run it; install claw-node system-wide "
                     f"(e.g. a venv in /opt) or pass --run-as USER")
    if platform == "systemd" and not spec.user and spec.config_file is not None:
        if any(spec.config_file.is_relative_to(t) for t in ("/tmp", "/var/tmp")):
            notes.append(f"{spec.config_file}: the unit has a private /tmp and will not "
                         f"see it; keep the config file in /etc")
        else:
            notes.append(f"{spec.config_file} must be readable by the service's user")
    if platform == "launchd":
        notes.append("launchd relaunches after any failed exit, including a bad setting "
                     f"({exit_codes.USAGE}) or an identity conflict "
                     f"({exit_codes.IDENTITY_CONFLICT}): check the log if it keeps restarting")
    return Installed(path, _enable_commands(platform, path, standard, spec.user), notes)


# --- the command line ---------------------------------------------------------------------


def _absolute(path: Path | None) -> Path | None:
    return None if path is None else path.expanduser().absolute()


def run_install(args: argparse.Namespace, actions: Sequence[argparse.Action]) -> int:
    """``claw-node service install``: check the agent flags, write the file, print the
    commands. Returns the exit status (``node.exit_codes``)."""
    from .config import NodeConfig, NodeConfigError

    values = vars(args)
    names = NodeConfig.field_names()
    config_file = values.get("config")
    try:  # a bad flag fails here, not at the service's first start
        NodeConfig.load({k: v for k, v in values.items() if k in names}, config_file)
    except NodeConfigError as exc:
        print(f"claw-node: error: {exc}", file=sys.stderr)
        return exit_codes.USAGE
    platform: Platform = args.platform or default_platform()
    if platform != default_platform() and args.output is None:
        print(f"claw-node: error: --output: a {platform} service for another OS is written "
              f"to a directory you choose", file=sys.stderr)
        return exit_codes.USAGE
    data_dir = values.get("data_dir")
    if platform == "systemd" and not args.user and data_dir is not None and args.run_as is None:
        print(f"claw-node: error: --data-dir: a system unit keeps its state in "
              f"{SYSTEMD_STATE_DIR}; another data dir needs --run-as USER (its owner)",
              file=sys.stderr)
        return exit_codes.USAGE
    argv = claw_node_command(args.executable) + agent_argv(values, actions, (*names, "config"))
    spec = ServiceSpec(tuple(argv), user=args.user, data_dir=_absolute(data_dir),
                       config_file=_absolute(config_file), run_as=args.run_as)
    try:
        done = install(platform, spec, args.output)
    except OSError as exc:
        hint = "" if args.user else " (a system service needs root; or --user, or --output DIR)"
        print(f"claw-node: error: cannot write the service file: {exc}{hint}", file=sys.stderr)
        return exit_codes.FAILURE
    print(f"wrote {done.path}")
    skipped = sorted(k for k in NodeConfig.env_values())
    if skipped:
        print("not carried into the service: " + ", ".join(f"CLAW_{k.upper()}" for k in skipped)
              + " (pass the flags, or put them in --config FILE)")
    for note in done.notes:
        print(f"note: {note}")
    print("then run:")
    for command in done.commands:
        print(f"  {command}")
    return exit_codes.OK
