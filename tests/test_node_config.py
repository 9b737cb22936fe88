"""NodeConfig: precedence flags > CLAW_* env > TOML > defaults, validation naming the setting
as written (flag, env variable, file key)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gossip.config import GossipConfig, agent_profile
from node.config import NodeConfig, NodeConfigError, parse_host_port


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("CLAW_"):
            monkeypatch.delenv(key)


def test_defaults_match_the_issue() -> None:
    c = NodeConfig.load({})
    assert c.bind_address == ("0.0.0.0", 7946)
    assert c.api_address == ("127.0.0.1", 8888)
    assert (c.port, c.max_concurrent_tasks, c.profile) == (18789, 5, "lan")
    assert (c.heartbeat_timeout, c.check_interval, c.resource_interval) == (90.0, 30.0, 5.0)
    assert c.join == [] and c.skills == [] and not c.no_coordinator
    assert c.data_dir.name == "claw-node"


def test_every_field_documents_its_default(tmp_path: Path) -> None:
    import dataclasses

    for info in dataclasses.fields(NodeConfig):
        assert info.metadata.get("description"), f"{info.name} has no description"


def test_precedence_flag_env_file_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "claw.toml"
    toml.write_text('port = 1001\nmax_concurrent_tasks = 7\nskills = ["a", "b"]\nprofile = "wan"\n')
    monkeypatch.setenv("CLAW_PORT", "1002")
    monkeypatch.setenv("CLAW_MAX_CONCURRENT_TASKS", "8")
    c = NodeConfig.load({"port": 1003}, toml)
    assert c.port == 1003                       # flag beats env and file
    assert c.max_concurrent_tasks == 8          # env beats file
    assert c.skills == ["a", "b"]               # file beats default
    assert c.profile == "wan"
    assert c.resource_interval == 5.0           # default


def test_lists_from_env_and_flags_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAW_SKILLS", "python, gpu,python")
    monkeypatch.setenv("CLAW_JOIN", "10.0.0.1:7946,10.0.0.2")
    c = NodeConfig.load({"tags": ["x,y", "z"]})
    assert c.skills == ["python", "gpu"]
    assert c.tags == ["x", "y", "z"]
    assert c.seeds == [("10.0.0.1", 7946), ("10.0.0.2", 7946)]


@pytest.mark.parametrize("flags, flag", [
    ({"bind": "nohostport"}, "--bind"),
    ({"bind": "1.2.3.4:99999"}, "--bind"),
    ({"join": ["h:x"]}, "--join"),
    ({"port": 0}, "--port"),
    ({"max_concurrent_tasks": 0}, "--max-concurrent-tasks"),
    ({"profile": "fast"}, "--profile"),
    ({"resource_interval": 0}, "--resource-interval"),
    ({"heartbeat_timeout": -1}, "--heartbeat-timeout"),
    ({"log_level": "loud"}, "--log-level"),
    ({"node_id": "a/b"}, "--node-id"),
    ({"api_bind": "0.0.0.0:8888"}, "--api-bind"),
    ({"tailscale_ip": "not-an-ip"}, "--tailscale-ip"),
])
def test_bad_values_name_the_flag(flags: dict[str, object], flag: str) -> None:
    with pytest.raises(NodeConfigError) as info:
        NodeConfig.load(flags)
    assert info.value.flag == flag
    assert "\n" not in str(info.value)


def test_public_api_needs_a_token_or_insecure() -> None:
    assert NodeConfig.load({"api_bind": "0.0.0.0:8888", "api_token": "s"}).api_token == "s"
    assert NodeConfig.load({"api_bind": "0.0.0.0:8888", "insecure_api": True}).insecure_api


def test_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(NodeConfigError) as info:
        NodeConfig.load({}, tmp_path / "missing.toml")
    assert info.value.flag == "--config"
    bad = tmp_path / "bad.toml"
    bad.write_text("port = = 3\n")
    with pytest.raises(NodeConfigError, match="cannot read"):
        NodeConfig.load({}, bad)
    typo = tmp_path / "typo.toml"
    typo.write_text("skilz = ['a']\n")
    with pytest.raises(NodeConfigError) as info:
        NodeConfig.load({}, typo)
    assert str(info.value).startswith(f"{typo}: unknown key 'skilz'")


def test_a_bad_value_is_named_as_written(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("claw_Port", "eighty")  # matched in any case, reported as written
    with pytest.raises(NodeConfigError) as info:
        NodeConfig.load({})
    assert info.value.flag == "claw_Port" and "'eighty'" in str(info.value)
    monkeypatch.delenv("claw_Port")
    file = tmp_path / "claw.toml"
    file.write_text("port = 70000\nbind = '127.0.0.1:0'\n")
    with pytest.raises(NodeConfigError) as info:
        NodeConfig.load({}, file)
    assert str(info.value) == (f"{file}: port: Input should be less than or equal to 65535 "
                               "(got 70000)")
    with pytest.raises(NodeConfigError) as info:
        NodeConfig.load({"port": 0}, file)  # the flag wins, and is named
    assert info.value.flag == "--port"
    file.write_text("advertise = '10.0.0.1'\n")
    monkeypatch.setenv("CLAW_BIND", "127.0.0.1:0")
    config = NodeConfig.load({}, file)
    # An error the agent raises later (it names the flag) is renamed after the source.
    assert str(config.renamed(NodeConfigError("--advertise", "cannot resolve"))) == (
        f"{file}: advertise: cannot resolve")
    assert config.source_of("--bind") == "CLAW_BIND"
    assert config.source_of("--port") == "--port"  # a default: the flag that would set it


def test_bad_file_value_names_the_key_and_file(tmp_path: Path) -> None:
    path = tmp_path / "claw.toml"
    path.write_text("port = 0\n")
    with pytest.raises(NodeConfigError) as info:
        NodeConfig.load({}, path)
    assert info.value.flag == f"{path}: port"


KEY = "948+ShA822mmM5aqa4WTSRHpywVeZ/ayFU9FNtDOh34="  # printed by `serf keygen`


def test_encrypt_from_each_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert NodeConfig.load({}).encrypt_key is None
    config = NodeConfig.load({"encrypt": f" {KEY}\n"})
    assert config.encrypt == KEY and len(config.encrypt_key or b"") == 32
    assert config.written_as("encrypt") == "--encrypt"
    assert KEY not in repr(config)
    path = tmp_path / "claw.toml"
    path.write_text(f'encrypt = "{KEY}"\n')
    assert NodeConfig.load({}, path).written_as("encrypt") == f"{path}: encrypt"
    monkeypatch.setenv("CLAW_ENCRYPT", KEY)
    assert NodeConfig.load({}, path).written_as("encrypt") == "CLAW_ENCRYPT"
    monkeypatch.setenv("CLAW_ENCRYPT", "")
    assert NodeConfig.load({}).encrypt is None  # an empty variable means no key


@pytest.mark.parametrize("value, words", [
    (KEY.rstrip("="), "not a base64 key"),
    ("c2hvcnQ=", "the key is 5 bytes"),
    (12345, "base64 string"),
])
def test_bad_encrypt_is_one_line_naming_the_source_never_the_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: object, words: str) -> None:
    with pytest.raises(NodeConfigError, match=words) as info:
        NodeConfig.load({"encrypt": value})
    assert info.value.flag == "--encrypt"
    assert str(value) not in str(info.value) and "\n" not in str(info.value)
    if isinstance(value, str):
        monkeypatch.setenv("CLAW_ENCRYPT", value)
        with pytest.raises(NodeConfigError) as info:
            NodeConfig.load({})
        assert info.value.flag == "CLAW_ENCRYPT" and value not in str(info.value)


def test_advertise_forms() -> None:
    assert NodeConfig.load({"advertise": "Tailscale"}).advertise == "tailscale"
    assert NodeConfig.load({"advertise": "10.1.2.3:7000"}).advertise == "10.1.2.3:7000"
    assert NodeConfig.load({"advertise": "10.1.2.3"}).advertise == "10.1.2.3"


def test_gossip_config_follows_profile_and_bind_port() -> None:
    g = NodeConfig.load({"profile": "local", "bind": "127.0.0.1:0"}).gossip_config()
    assert g.bind_port == 0 and g.probe_timeout_s == 0.2


@pytest.mark.parametrize("webhook, expected", [
    (None, False), ("http://hooks.example/x", False), (" HTTPS://hooks.example/x", True)])
def test_needs_tls_only_for_an_https_webhook(webhook: str | None, expected: bool) -> None:
    assert NodeConfig.load({"alert_webhook": webhook} if webhook else {}).needs_tls is expected


@pytest.mark.parametrize("profile, app_mult", [("lan", 3), ("wan", 3), ("local", 2)])
def test_agent_profile_changes_only_the_app_messages(profile: str, app_mult: int) -> None:
    base = GossipConfig.profile(profile)
    tuned = agent_profile(base)
    assert (tuned.app_retransmit_mult, tuned.app_gossip_rounds) == (app_mult, False)
    assert tuned.replace(app_retransmit_mult=base.app_retransmit_mult,
                         app_gossip_rounds=base.app_gossip_rounds) == base


@pytest.mark.parametrize("text, expected", [
    ("1.2.3.4:5", ("1.2.3.4", 5)),
    ("[::1]:7946", ("::1", 7946)),
    ("host.example", ("host.example", 7946)),
    ("::1", ("::1", 7946)),
    ("[fe80::1]", ("fe80::1", 7946)),
])
def test_parse_host_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text, default_port=7946) == expected


@pytest.mark.parametrize("text", ["", ":80", "h:", "h:-1", "[::1", "[::1]x", "a:b:c"])
def test_parse_host_port_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_host_port(text)
