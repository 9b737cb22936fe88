"""``NodeConfig``: every setting of the claw-node agent, with its default and unit.

Sources, highest first: command-line flags (passed as keyword arguments by ``node.cli``),
``CLAW_*`` environment variables (``CLAW_BIND=0.0.0.0:7946``, lists comma-separated:
``CLAW_SKILLS=python,gpu``), the TOML file given by ``--config`` (keys are the field
names: ``bind = "0.0.0.0:7946"``, ``skills = ["python"]``), then the defaults below.
Field names match the flags (``--max-concurrent-tasks`` ↔ ``max_concurrent_tasks``).

A frozen dataclass checked by hand, not a pydantic model: importing pydantic costs each
agent ~6 MiB and ~0.25 s of CPU before it can join (``simulations/bench/agent_start.py``).
The checks accept what pydantic's lax mode accepted (``"80"``, ``8.0``, ``"yes"``) and
word their one-line errors the same way (``--port: Input should be greater than or equal
to 1 (got 0)``).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gossip.config import GossipConfig
from gossip.types import Address

from .event_handlers import parse_handler
from .keyring_file import decode_key

__all__ = [
    "DEFAULT_API_PORT",
    "DEFAULT_GOSSIP_PORT",
    "NodeConfig",
    "NodeConfigError",
    "default_data_dir",
    "format_host_port",
    "parse_host_port",
]

DEFAULT_GOSSIP_PORT = 7946
"""memberlist's and Serf's port."""
DEFAULT_API_PORT = 8888
"""The seed document's REST API port."""


class NodeConfigError(ValueError):
    """A setting is invalid. ``flag`` names it as the user wrote it: the command-line flag
    (``--bind``), the environment variable (``CLAW_BIND``) or the config file key
    (``claw.toml: bind``); see ``NodeConfig.source_of``."""

    def __init__(self, flag: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{flag}: {message}")
        self.flag = flag
        self.message = message
        self.field = field


def default_data_dir() -> Path:
    """The per-user data directory: Linux ``$XDG_DATA_HOME/claw-node`` (default
    ``~/.local/share/claw-node``), macOS ``~/Library/Application Support/claw-node``,
    Windows ``%LOCALAPPDATA%\\claw-node``."""
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "claw-node"
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA")
        return (Path(base) if base else home / "AppData" / "Local") / "claw-node"
    base = os.environ.get("XDG_DATA_HOME")
    return (Path(base) if base else home / ".local" / "share") / "claw-node"


def format_host_port(host: str, port: int) -> str:
    """The inverse of ``parse_host_port``: ``host:port``, ``[v6]:port`` for IPv6."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_host_port(text: str, default_port: int | None = None) -> Address:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) → (host, port).

    Args:
        text: the value; ``HOST`` alone is accepted when ``default_port`` is given.
        default_port: port used when ``text`` has none.
    Raises:
        ValueError: malformed text or a port outside 0..65535 (message says why).
    """
    text = text.strip()
    if not text:
        raise ValueError("expected HOST:PORT, got an empty value")
    host, port_text = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"expected [IPv6]:PORT, got {text!r}")
        host, rest = text[1:end], text[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"expected [IPv6]:PORT, got {text!r}")
            port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif text.count(":") > 1:
        # A bare IPv6 address: no port possible without brackets.
        try:
            ipaddress.IPv6Address(text)
        except ValueError:
            raise ValueError(f"expected HOST:PORT, got {text!r}") from None
    if not host:
        raise ValueError(f"expected HOST:PORT, missing host in {text!r}")
    if not port_text:
        if default_port is None:
            raise ValueError(f"expected HOST:PORT, missing port in {text!r}")
        return host, default_port
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"port must be a number in 0..65535, got {port_text!r}")
    return host, int(port_text)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


ENV_PREFIX = "CLAW_"
"""Environment variables ``CLAW_<FIELD>`` (any case) set the field ``<field>``."""

CommaList = list[str]
"""A list given as ``a,b`` (flag, env) or as a TOML array."""

_NODE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


class _Invalid(ValueError):
    """A value failed a type or bound check; the message gets `` (got <input>)``."""

    def __init__(self, message: str, value: Any) -> None:
        super().__init__(f"{message} (got {value!r})")


def _setting(default: Any, *, description: str, **check: Any) -> Any:
    """A field with its description and its checks (``ge``/``gt``/``le`` bounds,
    ``min_length``/``max_length``/``pattern`` of a string)."""
    return field(default=default, metadata=_about(description, **check))


def _about(description: str, **check: Any) -> dict[str, Any]:
    return {"description": description, **check}


@dataclass(frozen=True)
class NodeConfig:
    """The agent's settings. Build with ``NodeConfig.load(flags, config_file)``.

    The three sources are merged by ``load``; every value is then checked and converted
    by ``__post_init__``, so a value means the same wherever it comes from."""

    node_id: str | None = _setting(
        None, min_length=1, max_length=128, pattern=_NODE_ID_PATTERN,
        description="This node's id (gossip member name), unique in the cluster (a node "
                    "whose id another live node holds exits with status 78). Default: the "
                    "id kept in the data dir, or the host name on first start.")
    bind: str = _setting(
        f"0.0.0.0:{DEFAULT_GOSSIP_PORT}",
        description="Gossip listen address HOST:PORT, UDP and TCP on the same port.")
    advertise: str | None = _setting(
        None,
        description="Address peers dial: HOST:PORT, HOST (bind port), or 'tailscale' for "
                    "this machine's Tailscale address. Default: the default-route address.")
    join: CommaList = field(default_factory=list, metadata=_about(
        "Seed HOST:PORT (port defaults to 7946) to join; repeatable. Retried with "
        "exponential backoff until one answers. Default: the peers remembered in the data "
        "dir, else start a new cluster."))
    api_bind: str = _setting(
        f"127.0.0.1:{DEFAULT_API_PORT}", description="REST API listen address HOST:PORT.")
    skills: CommaList = field(default_factory=list,
                              metadata=_about("Skills this node offers (a,b)."))
    tags: CommaList = field(default_factory=list, metadata=_about("Free-form labels (x,y)."))
    port: int = _setting(18789, ge=1, le=65535, description="The local OpenClaw service port.")
    max_concurrent_tasks: int = _setting(
        5, ge=1, le=1_000_000,
        description="Task slots; at this many running tasks the node is busy.")
    data_dir: Path = field(default_factory=default_data_dir, metadata=_about(
        "Directory of the node's store (identity, incarnation, peers, registry)."))
    profile: Literal["lan", "wan", "local"] = _setting(
        "lan", description="Gossip timing preset (memberlist's LAN, WAN or Local config).")
    heartbeat_timeout: float = _setting(
        90.0, gt=0, description="Seconds without an HTTP heartbeat before an HTTP-registered "
                                "node is marked offline.")
    check_interval: float = _setting(
        30.0, gt=0, description="Seconds between heartbeat checks of HTTP-registered nodes.")
    write_replicas: int | None = _setting(
        None, ge=0, le=1000,
        description="Members besides the coordinator that must confirm a registration, "
                    "shutdown, maintenance switch or delete (each after its own store "
                    "commit) before it is answered; fewer in time: 503 'applied: unknown'. "
                    "Default (unset): min(2, live members - 1), so 0 for a node alone.")
    no_coordinator: bool = _setting(False, description="Never elect this node coordinator.")
    disable_coordinates: bool = _setting(
        False, description="Keep no network coordinates and send none in probe acks (Serf's "
                           "disable_coordinates); then 'rtt' and '?near=' have no estimates. "
                           "Default: coordinates on, as Serf.")
    event_handler: list[str] = field(default_factory=list, metadata=_about(
        "Serf-style event handler [FILTER=]SCRIPT, repeatable: FILTER is a comma list of "
        "member-join, member-leave, member-failed, member-update, user[:NAME], "
        "query[:NAME] or * (default: every event); the script runs under /bin/sh with "
        "Serf's SERF_* environment and the payload on stdin, a query's answer is its "
        "stdout. Default: none.")
    )
    maintenance: bool = _setting(
        False, description="Run in maintenance (no new tasks; members show it). A reload "
                           "that changes it enters or leaves maintenance.")
    resource_interval: float = _setting(
        5.0, gt=0, description="Seconds between two resource samples (cpu, memory, disk).")
    heartbeat_budget: int = _setting(
        4096, ge=256,
        description="Resource-heartbeat bandwidth target per node, bytes/s: the minimum "
                    "time between two heartbeats of one node grows with cluster size so "
                    "that n × retransmits × size / interval stays under it.")
    join_backoff_max: float = _setting(
        30.0, gt=0, description="Longest wait between two join attempts, seconds "
                                "(backoff starts at 1 s and doubles).")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = _setting(
        "INFO", description="Logging threshold.")
    log_format: Literal["text", "json"] = _setting(
        "text", description="Log line format: 'text' (time level logger: message) or "
                            "'json' (one object per line, see node.logs).")
    hostname: str | None = _setting(
        None, max_length=253, description="Host name to report. Default: this machine's.")
    tailscale_ip: str | None = _setting(
        None, description="Tailscale IP to report. Default: detected from the interfaces.")
    api_token: str | None = _setting(
        None, description="Bearer token required on the REST API. Writes relayed from "
                          "other nodes are checked against the coordinator's token: set "
                          "the same one on every node. Default: none.")
    insecure_api: bool = _setting(
        False, description="Allow a non-loopback --api-bind without --api-token.")
    api_eager: bool = _setting(
        False, description="Load the REST stack at start. Default: on the first connection "
                           "to the API, on becoming coordinator, or at start with "
                           "--alert-webhook (saves ~20 MiB and ~0.4 CPU-s per idle node).")
    cors_origins: CommaList = field(default_factory=list, metadata=_about(
        "Origins allowed to call the API from a browser."))
    alert_webhook: str | None = _setting(
        None, description="URL that receives a JSON POST for each node status transition.")
    encrypt: str | None = field(default=None, repr=False, metadata=_about(  # a secret
        "Gossip encryption key: base64 of 16, 24 or 32 bytes, as 'claw-node keygen' (or "
        "'serf keygen') prints. Kept in the data dir's keyring file on first use. Default: "
        "none (an empty value is none)."))
    gossip_verify_incoming: bool = _setting(
        True, description="With gossip encryption on, drop gossip that is not encrypted "
                          "with an installed key (memberlist GossipVerifyIncoming). Turn "
                          "off, with gossip_verify_outgoing, to move a running cluster to "
                          "encryption without downtime (README, Encrypted gossip). A reload "
                          "applies a change. Default true.")
    gossip_verify_outgoing: bool = _setting(
        True, description="With gossip encryption on, encrypt all gossip sent (memberlist "
                          "GossipVerifyOutgoing); off: send plaintext while already reading "
                          "encrypted gossip, the first step of a migration. A reload applies a "
                          "change. Default true.")

    # --- validation ---------------------------------------------------------------------

    def __post_init__(self) -> None:
        """Check and convert every field (in declaration order: the first bad one is
        reported), then the settings that depend on each other.

        Raises:
            NodeConfigError: naming the flag of the first invalid setting.
        """
        for f in dataclasses.fields(self):
            try:
                value = _CHECKS[f.name](getattr(self, f.name), f.metadata)
            except ValueError as exc:
                raise NodeConfigError(_flag(f.name), str(exc), f.name) from None
            object.__setattr__(self, f.name, value)
        host, _ = parse_host_port(self.api_bind)
        if not _is_loopback(host) and not self.api_token and not self.insecure_api:
            raise NodeConfigError("--api-bind", "a non-loopback API address needs "
                                                "--api-token (or --insecure-api)")

    # --- sources --------------------------------------------------------------------------

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Every setting's name, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def env_values(cls, environ: dict[str, str] | None = None) -> dict[str, str]:
        """The ``CLAW_*`` variables naming a field (names matched in any case), by field."""
        env = dict(os.environ if environ is None else environ)
        return {name: value for name, (_, value) in _env_settings(cls.field_names(), env).items()}

    @classmethod
    def load(cls, flags: dict[str, Any] | None = None, config_file: Path | None = None) -> NodeConfig:
        """Merge flags > ``CLAW_*`` env > TOML file > defaults.

        Args:
            flags: settings given on the command line (field name → value).
            config_file: the ``--config`` TOML file, or None.
        Raises:
            NodeConfigError: the first invalid setting, named as written (its flag, its
                ``CLAW_*`` variable, or ``FILE: key``).
        """
        merged: dict[str, Any] = {}
        origins: dict[str, str] = {}
        names = cls.field_names()
        if config_file is not None:
            if not config_file.is_file():
                raise NodeConfigError("--config", f"no such file: {config_file}")
            import tomllib

            try:
                from_file = tomllib.loads(config_file.read_text())
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                raise NodeConfigError("--config", f"cannot read {config_file}: {exc}") from None
            unknown = [k for k in from_file if k not in names]
            if unknown:
                raise NodeConfigError(str(config_file), f"unknown key {str(unknown[0])!r} "
                                                        "(keys are the flag names with _)")
            merged.update(from_file)
            origins.update({k: f"{config_file}: {k}" for k in from_file})
        environ = dict(os.environ)
        for name, (var, value) in _env_settings(names, environ).items():
            merged[name], origins[name] = value, var
        for name, value in (flags or {}).items():
            merged[name], origins[name] = value, _flag(name)
        try:
            config = cls(**{k: v for k, v in merged.items() if k in names})
        except NodeConfigError as exc:
            raise _renamed(exc, origins) from None
        object.__setattr__(config, "_origins", origins)
        unknown = [k for k in merged if k not in names]
        if unknown:
            raise NodeConfigError("--config", f"unknown setting {str(unknown[0])!r}")
        return config

    def source_of(self, flag: str) -> str:
        """Where the setting of ``flag`` (``--bind``) came from, as the user wrote it:
        ``--bind``, ``CLAW_BIND`` or ``claw.toml: bind`` (the flag for a default)."""
        origins: dict[str, str] = getattr(self, "_origins", {})
        return origins.get(flag.lstrip("-").replace("-", "_"), flag)

    def renamed(self, exc: NodeConfigError) -> NodeConfigError:
        """``exc`` (raised naming a flag, e.g. by the agent) naming the setting's source."""
        return _renamed(exc, getattr(self, "_origins", {}))

    # --- derived values -------------------------------------------------------------------

    @property
    def bind_address(self) -> Address:
        return parse_host_port(self.bind)

    @property
    def api_address(self) -> Address:
        return parse_host_port(self.api_bind)

    @property
    def seeds(self) -> list[Address]:
        return [parse_host_port(s, default_port=DEFAULT_GOSSIP_PORT) for s in self.join]

    @property
    def needs_tls(self) -> bool:
        """Whether the agent will make HTTPS requests: only to an https ``alert_webhook``
        (writes are forwarded to the coordinator's API over plain HTTP)."""
        return (self.alert_webhook or "").strip().lower().startswith("https:")

    @property
    def encrypt_key(self) -> bytes | None:
        """The decoded ``encrypt`` key, or None (validated when the config was built)."""
        return None if self.encrypt is None else decode_key(self.encrypt)

    def written_as(self, name: str) -> str:
        """How the user gave setting ``name`` (``--encrypt``, ``CLAW_ENCRYPT`` or
        ``FILE: encrypt``), for messages about it; its flag when ``load`` did not
        build this config or the setting is a default."""
        return self.source_of(_flag(name))

    def gossip_config(self) -> GossipConfig:
        """The gossip preset for ``profile`` with this node's bind port, verify flags and
        coordinates."""
        return GossipConfig.profile(self.profile).replace(
            bind_port=self.bind_address[1], gossip_verify_incoming=self.gossip_verify_incoming,
            gossip_verify_outgoing=self.gossip_verify_outgoing,
            coordinates=not self.disable_coordinates)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _renamed(exc: NodeConfigError, origins: dict[str, str]) -> NodeConfigError:
    source = origins.get(exc.flag.lstrip("-").replace("-", "_"))
    return exc if source is None or source == exc.flag else NodeConfigError(source, exc.message)


def _env_settings(names: tuple[str, ...], environ: dict[str, str]) -> dict[str, tuple[str, str]]:
    """``CLAW_*`` variables naming a field (any case): field → (variable as written, value)."""
    by_upper = {k.upper(): k for k in environ if k.upper().startswith(ENV_PREFIX)}
    out = {}
    for name in names:
        var = by_upper.get(ENV_PREFIX + name.upper())
        if var is not None:
            out[name] = (var, environ[var])
    return out


# --- value checks (each returns the converted value or raises ValueError) ---------------


def _text(value: Any, check: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid("Input should be a valid string", value)
    low, high = check.get("min_length"), check.get("max_length")
    if low is not None and len(value) < low:
        unit = "character" if low == 1 else "characters"
        raise _Invalid(f"String should have at least {low} {unit}", value)
    if high is not None and len(value) > high:
        raise _Invalid(f"String should have at most {high} characters", value)
    pattern = check.get("pattern")
    if pattern is not None and re.search(pattern, value) is None:
        raise _Invalid(f"String should match pattern '{pattern}'", value)
    return value


def _optional_text(value: Any, check: Any) -> str | None:
    return None if value is None else _text(value, check)


def _optional_integer(value: Any, check: Any) -> int | None:
    return None if value is None else _integer(value, check)


def _bounded(number: Any, raw: Any, check: Any) -> Any:
    for key, ok, words in (("gt", lambda a, b: a > b, "greater than"),
                           ("ge", lambda a, b: a >= b, "greater than or equal to"),
                           ("lt", lambda a, b: a < b, "less than"),
                           ("le", lambda a, b: a <= b, "less than or equal to")):
        bound = check.get(key)
        if bound is not None and not ok(number, bound):
            raise _Invalid(f"Input should be {words} {bound}", raw)
    return number


def _integer(value: Any, check: Any) -> int:
    if isinstance(value, bool):
        number = int(value)
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise _Invalid("Input should be a valid integer, got a number with a fractional "
                           "part", value)
        number = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text.lstrip("+-").isdigit() or not text.isascii():
            raise _Invalid("Input should be a valid integer, unable to parse string as an "
                           "integer", value)
        number = int(text)
    else:
        raise _Invalid("Input should be a valid integer", value)
    return _bounded(number, value, check)


def _number(value: Any, check: Any) -> float:
    if isinstance(value, (bool, int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.replace("_", "x"))  # Python's float() takes 1_0, pydantic not
        except ValueError:
            raise _Invalid("Input should be a valid number, unable to parse string as a "
                           "number", value) from None
    else:
        raise _Invalid("Input should be a valid number", value)
    return _bounded(number, value, check)


def _flag_value(value: Any, check: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    if value is None:
        raise _Invalid("Input should be a valid boolean", value)
    raise _Invalid("Input should be a valid boolean, unable to interpret input", value)


def _one_of(*choices: str, upper: bool = False) -> Callable[[Any, Any], str]:
    words = ", ".join(f"'{c}'" for c in choices[:-1]) + f" or '{choices[-1]}'"

    def check(value: Any, _: Any) -> str:
        if upper and isinstance(value, str):
            value = value.upper()
        if value not in choices or not isinstance(value, str):
            raise _Invalid(f"Input should be {words}", value)
        return value
    return check


def _comma_list(value: Any, _: Any) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)):
        raise _Invalid("Input should be a valid list", value)
    out: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise _Invalid("Input should be a valid string", item)
        out.extend(part.strip() for part in item.split(",") if part.strip())
    return out


def _labels(value: Any, check: Any) -> list[str]:
    labels = _comma_list(value, check)
    for label in labels:
        if len(label) > 64:
            raise ValueError(f"{label[:20]!r}… is longer than 64 characters")
    return list(dict.fromkeys(labels))


def _event_handlers(value: Any, _: Any) -> list[str]:
    # Not a comma list: Serf's filters contain commas ("member-join,user:deploy=x.sh").
    specs = [value] if isinstance(value, str) else value
    if not isinstance(specs, (list, tuple)) or not all(isinstance(v, str) for v in specs):
        raise _Invalid("Input should be a handler string or a list of them", value)
    for spec in specs:
        parse_handler(spec)
    return [spec for spec in specs if spec.strip()]


def _host_port(value: Any, check: Any) -> str:
    text = _text(value, check)
    parse_host_port(text)
    return text.strip()


def _advertise(value: Any, check: Any) -> str | None:
    text = _optional_text(value, check)
    if text is None or text.strip().lower() == "tailscale":
        return None if text is None else "tailscale"
    parse_host_port(text, default_port=0)
    return text.strip()


def _seeds(value: Any, check: Any) -> list[str]:
    seeds = _comma_list(value, check)
    for seed in seeds:
        parse_host_port(seed, default_port=DEFAULT_GOSSIP_PORT)
    return seeds


def _ip(value: Any, check: Any) -> str | None:
    text = _optional_text(value, check)
    if text is not None:
        ipaddress.ip_address(text)
    return text


def _encrypt(value: Any, _: Any) -> str | None:
    # Never echo the value in an error: it is a secret.
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    decode_key(value)
    return str(value).strip()


def _path(value: Any, _: Any) -> Path:
    if isinstance(value, (str, os.PathLike)):
        return Path(value)
    raise _Invalid("Input is not a valid path for <class 'pathlib.Path'>", value)


_CHECKS: dict[str, Callable[[Any, Any], Any]] = {
    "node_id": _optional_text, "bind": _host_port, "advertise": _advertise, "join": _seeds,
    "api_bind": _host_port, "skills": _labels, "tags": _labels, "port": _integer,
    "max_concurrent_tasks": _integer, "data_dir": _path,
    "profile": _one_of("lan", "wan", "local"), "heartbeat_timeout": _number,
    "check_interval": _number, "write_replicas": _optional_integer, "no_coordinator": _flag_value, "maintenance": _flag_value, "resource_interval": _number,
    "disable_coordinates": _flag_value, "event_handler": _event_handlers,
    "heartbeat_budget": _integer, "join_backoff_max": _number,
    "log_level": _one_of("DEBUG", "INFO", "WARNING", "ERROR", upper=True),
    "log_format": _one_of("text", "json"),
    "hostname": _optional_text, "tailscale_ip": _ip, "api_token": _optional_text,
    "insecure_api": _flag_value, "api_eager": _flag_value, "cors_origins": _comma_list, "alert_webhook": _optional_text,
    "encrypt": _encrypt, "gossip_verify_incoming": _flag_value,
    "gossip_verify_outgoing": _flag_value,
}
"""Field name → its check (every field has one)."""
