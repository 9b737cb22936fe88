"""``NodeConfig``: every setting of the claw-node agent, with its default and unit.

Sources, highest first: command-line flags (passed as keyword arguments by ``node.cli``),
``CLAW_*`` environment variables (``CLAW_BIND=0.0.0.0:7946``, lists comma-separated:
``CLAW_SKILLS=python,gpu``), the TOML file given by ``--config`` (keys are the field
names: ``bind = "0.0.0.0:7946"``, ``skills = ["python"]``), then the defaults below.
Field names match the flags (``--max-concurrent-tasks`` ↔ ``max_concurrent_tasks``).
"""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from gossip.config import GossipConfig
from gossip.types import Address

__all__ = [
    "DEFAULT_API_PORT",
    "DEFAULT_GOSSIP_PORT",
    "NodeConfig",
    "NodeConfigError",
    "default_data_dir",
    "parse_host_port",
]

DEFAULT_GOSSIP_PORT = 7946
"""memberlist's and Serf's port."""
DEFAULT_API_PORT = 8888
"""The seed document's REST API port."""


class NodeConfigError(ValueError):
    """A setting is invalid. ``flag`` is the command-line flag naming it (``--bind``)."""

    def __init__(self, flag: str, message: str) -> None:
        super().__init__(f"{flag}: {message}")
        self.flag = flag
        self.message = message


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


class NodeConfig(BaseModel):
    """The agent's settings. Build with ``NodeConfig.load(flags, config_file)``.

    The three sources are merged by ``load`` (a few lines, instead of pydantic-settings,
    whose import costs every agent ~1 MB and ~0.05 s of CPU at start); every value is then
    validated by this model, so a value means the same wherever it comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    node_id: str | None = Field(
        None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
        description="This node's id (gossip member name). Default: the id kept in the data "
                    "dir, or the host name on first start.")
    bind: str = Field(
        f"0.0.0.0:{DEFAULT_GOSSIP_PORT}",
        description="Gossip listen address HOST:PORT, UDP and TCP on the same port.")
    advertise: str | None = Field(
        None,
        description="Address peers dial: HOST:PORT, HOST (bind port), or 'tailscale' for "
                    "this machine's Tailscale address. Default: the default-route address.")
    join: CommaList = Field(
        default_factory=list,
        description="Seed HOST:PORT (port defaults to 7946) to join; repeatable. Retried "
                    "with exponential backoff until one answers. Default: the peers "
                    "remembered in the data dir, else start a new cluster.")
    api_bind: str = Field(
        f"127.0.0.1:{DEFAULT_API_PORT}", description="REST API listen address HOST:PORT.")
    skills: CommaList = Field(default_factory=list, description="Skills this node offers (a,b).")
    tags: CommaList = Field(default_factory=list, description="Free-form labels (x,y).")
    port: int = Field(18789, ge=1, le=65535, description="The local OpenClaw service port.")
    max_concurrent_tasks: int = Field(
        5, ge=1, le=1_000_000, description="Task slots; at this many running tasks the node is busy.")
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Directory of the node's store (identity, incarnation, peers, registry).")
    profile: Literal["lan", "wan", "local"] = Field(
        "lan", description="Gossip timing preset (memberlist's LAN, WAN or Local config).")
    heartbeat_timeout: float = Field(
        90.0, gt=0, description="Seconds without an HTTP heartbeat before an HTTP-registered "
                                "node is marked offline.")
    check_interval: float = Field(
        30.0, gt=0, description="Seconds between heartbeat checks of HTTP-registered nodes.")
    no_coordinator: bool = Field(False, description="Never elect this node coordinator.")
    resource_interval: float = Field(
        5.0, gt=0, description="Seconds between two resource samples (cpu, memory, disk).")
    heartbeat_budget: int = Field(
        4096, ge=256,
        description="Resource-heartbeat bandwidth target per node, bytes/s: the minimum "
                    "time between two heartbeats of one node grows with cluster size so "
                    "that n × retransmits × size / interval stays under it.")
    join_backoff_max: float = Field(
        30.0, gt=0, description="Longest wait between two join attempts, seconds "
                                "(backoff starts at 1 s and doubles).")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Logging threshold.")
    hostname: str | None = Field(None, max_length=253, description="Host name to report. Default: this machine's.")
    tailscale_ip: str | None = Field(
        None, description="Tailscale IP to report. Default: detected from the interfaces.")
    api_token: str | None = Field(
        None, description="Bearer token required for writes on the REST API. Default: none.")
    insecure_api: bool = Field(
        False, description="Allow a non-loopback --api-bind without --api-token.")
    cors_origins: CommaList = Field(
        default_factory=list, description="Origins allowed to call the API from a browser.")
    alert_webhook: str | None = Field(
        None, description="URL that receives a JSON POST for each node status transition.")

    # --- validation ---------------------------------------------------------------------

    @field_validator("join", "skills", "tags", "cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, (list, tuple)):
            out: list[Any] = []
            for item in value:
                if isinstance(item, str):
                    out.extend(part.strip() for part in item.split(",") if part.strip())
                else:
                    out.append(item)
            return out
        return value

    @field_validator("skills", "tags")
    @classmethod
    def _labels(cls, value: list[str]) -> list[str]:
        for label in value:
            if len(label) > 64:
                raise ValueError(f"{label[:20]!r}… is longer than 64 characters")
        return list(dict.fromkeys(value))

    @field_validator("bind", "api_bind")
    @classmethod
    def _host_port(cls, value: str) -> str:
        parse_host_port(value)
        return value.strip()

    @field_validator("advertise")
    @classmethod
    def _advertise(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() == "tailscale":
            return None if value is None else "tailscale"
        parse_host_port(value, default_port=0)
        return value.strip()

    @field_validator("join")
    @classmethod
    def _seeds(cls, value: list[str]) -> list[str]:
        for seed in value:
            parse_host_port(seed, default_port=DEFAULT_GOSSIP_PORT)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("tailscale_ip")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        if value is not None:
            ipaddress.ip_address(value)
        return value

    @model_validator(mode="after")
    def _api_exposure(self) -> NodeConfig:
        host, _ = parse_host_port(self.api_bind)
        if not _is_loopback(host) and not self.api_token and not self.insecure_api:
            raise ValueError(
                "api_bind: a non-loopback API address needs --api-token (or --insecure-api)")
        return self

    # --- sources --------------------------------------------------------------------------

    @classmethod
    def env_values(cls, environ: dict[str, str] | None = None) -> dict[str, str]:
        """The ``CLAW_*`` variables naming a field (names matched in any case), by field."""
        prefixed = {k.upper(): v for k, v in (os.environ if environ is None else environ).items()
                    if k.upper().startswith(ENV_PREFIX)}
        return {name: prefixed[ENV_PREFIX + name.upper()] for name in cls.model_fields
                if ENV_PREFIX + name.upper() in prefixed}

    @classmethod
    def load(cls, flags: dict[str, Any] | None = None, config_file: Path | None = None) -> NodeConfig:
        """Merge flags > ``CLAW_*`` env > TOML file > defaults.

        Args:
            flags: settings given on the command line (field name → value).
            config_file: the ``--config`` TOML file, or None.
        Raises:
            NodeConfigError: the first invalid setting, naming its flag.
        """
        merged: dict[str, Any] = {}
        if config_file is not None:
            if not config_file.is_file():
                raise NodeConfigError("--config", f"no such file: {config_file}")
            import tomllib

            try:
                merged.update(tomllib.loads(config_file.read_text()))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                raise NodeConfigError("--config", f"cannot read {config_file}: {exc}") from None
        merged.update(cls.env_values())
        merged.update(flags or {})
        try:
            return cls.model_validate(merged)
        except ValidationError as exc:
            raise _to_config_error(exc) from None

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

    def gossip_config(self) -> GossipConfig:
        """The gossip preset for ``profile`` with this node's bind port."""
        return GossipConfig.profile(self.profile).replace(bind_port=self.bind_address[1])


def _to_config_error(exc: ValidationError) -> NodeConfigError:
    error = exc.errors()[0]
    loc = [str(part) for part in error.get("loc", ()) if not isinstance(part, int)]
    message = str(error.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ")
    if not loc and ":" in message and message.split(":")[0].isidentifier():
        field, _, message = message.partition(":")
        loc = [field]
        message = message.strip()
    field = loc[0] if loc else "config"
    if error.get("type") == "extra_forbidden":
        return NodeConfigError("--config", f"unknown setting {field!r}")
    flag = "--" + field.replace("_", "-")
    if "input" in error and error.get("type") not in ("value_error",):
        message = f"{message} (got {error['input']!r})"
    return NodeConfigError(flag, message)
