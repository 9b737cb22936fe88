"""Reload logic: which changed settings apply at run time, which wait for a restart, and
that an invalid configuration changes nothing (no agent, no I/O)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

import node.reload as reload_module
from node.config import NodeConfig, NodeConfigError
from node.reload import RELOADABLE, Reloader, ReloadError, plan_reload


def settings(tmp_path: Path, **values: Any) -> NodeConfig:
    return NodeConfig(data_dir=tmp_path, **values)


def test_reloadable_changes_apply_and_the_others_wait_for_a_restart(tmp_path: Path) -> None:
    running = settings(tmp_path, tags=["a"], log_level="INFO", bind="0.0.0.0:7946")
    loaded = settings(tmp_path, tags=["a", "b"], log_level="DEBUG", bind="0.0.0.0:7000",
                      max_concurrent_tasks=9)
    plan = plan_reload(running, loaded)
    assert plan.applied == ("tags", "max_concurrent_tasks", "log_level")  # declaration order
    assert plan.restart_needed == ("bind",)
    assert plan.config.tags == ["a", "b"] and plan.config.log_level == "DEBUG"
    assert plan.config.bind == "0.0.0.0:7946"  # the running value until a restart


def test_nothing_changed_plans_nothing(tmp_path: Path) -> None:
    plan = plan_reload(settings(tmp_path), settings(tmp_path))
    assert (plan.applied, plan.restart_needed) == ((), ())


def test_every_reloadable_setting_is_a_setting() -> None:
    assert set(RELOADABLE) <= set(NodeConfig.field_names())


def test_an_https_webhook_waits_for_a_restart_when_tls_is_not_loaded(tmp_path: Path) -> None:
    loaded = settings(tmp_path, alert_webhook="https://hooks.example/claw")
    plan = plan_reload(settings(tmp_path), loaded, https_ready=False)
    assert plan.restart_needed == ("alert_webhook",) and plan.config.alert_webhook is None
    plain = settings(tmp_path, alert_webhook="http://10.0.0.1/claw")
    assert plan_reload(settings(tmp_path), plain, https_ready=False).applied == ("alert_webhook",)


def test_new_values_that_clash_with_running_ones_are_refused(tmp_path: Path) -> None:
    # The API stays on a public address until a restart: dropping its token is refused.
    running = settings(tmp_path, api_bind="0.0.0.0:8888", api_token="s3cret")
    loaded = settings(tmp_path, api_bind="127.0.0.1:8888")
    with pytest.raises(ReloadError, match="--api-bind"):
        plan_reload(running, loaded)


class FakeAgent:
    """The agent's side of a reload: records what it was asked to apply."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.calls: list[tuple[str, Any]] = []
        self.relabel_error: NodeConfigError | None = None

    def reloader(self, load: Any) -> Reloader:
        return Reloader(
            load=load, running=lambda: self.config, relabel=self.relabel,
            set_maintenance=lambda on: self.calls.append(("maintenance", on)),
            reconfigure_api=lambda c: self.calls.append(("api", (c.api_token, c.alert_webhook))),
            set_gossip_verify=lambda i, o: self.calls.append(("verify", (i, o))),
            adopt=self.adopt, https_ready=lambda: True)

    def relabel(self, config: NodeConfig) -> None:
        if self.relabel_error is not None:
            raise self.relabel_error
        self.calls.append(("labels", (config.skills, config.tags, config.max_concurrent_tasks)))

    def adopt(self, config: NodeConfig) -> None:
        self.config = config


@pytest.fixture
def logging_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(reload_module, "configure_logging",
                        lambda level, fmt: calls.append((level, fmt)))
    return calls


def test_a_reload_applies_each_changed_setting_once(
        tmp_path: Path, logging_calls: list[tuple[str, str]],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="node.reload")
    agent = FakeAgent(settings(tmp_path))
    new = settings(tmp_path, skills=["gpu"], maintenance=True, log_format="json",
                   api_token="t0ken", alert_webhook="http://10.0.0.1/hook",
                   profile="wan", port=80)
    outcome = agent.reloader(lambda: new).reload()
    assert outcome.ok
    assert agent.calls == [("labels", (["gpu"], [], 5)), ("maintenance", True),
                           ("api", ("t0ken", "http://10.0.0.1/hook"))]
    assert logging_calls == [("INFO", "json")]
    assert agent.config.skills == ["gpu"] and agent.config.profile == "lan"
    assert outcome.restart_needed == ("port", "profile")
    assert ("DEBUG", ("reload: running with log level INFO, log format json, skills gpu, "
            "tags -, max concurrent tasks 5, maintenance on, API token set, alert webhook "
            "http://10.0.0.1/hook, gossip verify incoming on, outgoing on")) in [(r.levelname, r.getMessage()) for r in caplog.records]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [("reload: these settings change only at a restart and keep their "
                         "running values: --port, --profile")]


def test_an_unchanged_reload_touches_nothing(
        tmp_path: Path, logging_calls: list[tuple[str, str]]) -> None:
    agent = FakeAgent(settings(tmp_path, tags=["x"]))
    outcome = agent.reloader(lambda: settings(tmp_path, tags=["x"])).reload()
    assert outcome.ok and outcome.message == "reloaded: no setting changed"
    assert agent.calls == [] and logging_calls == []


def test_an_unreadable_configuration_changes_nothing(
        tmp_path: Path, logging_calls: list[tuple[str, str]]) -> None:
    before = settings(tmp_path, tags=["x"])
    agent = FakeAgent(before)

    def load() -> NodeConfig:
        raise NodeConfigError("claw.toml: max_concurrent_tasks", "Input should be a valid "
                              "integer (got 'many')")
    outcome = agent.reloader(load).reload()
    assert not outcome.ok
    assert "claw.toml: max_concurrent_tasks" in outcome.message
    assert agent.config is before and agent.calls == [] and logging_calls == []


def test_labels_too_long_for_gossip_change_nothing(
        tmp_path: Path, logging_calls: list[tuple[str, str]]) -> None:
    before = settings(tmp_path)
    agent = FakeAgent(before)
    agent.relabel_error = NodeConfigError("--skills", "too large for gossip metadata")
    outcome = agent.reloader(lambda: settings(tmp_path, skills=["x"], log_level="DEBUG")).reload()
    assert not outcome.ok and "too large" in outcome.message
    assert agent.config is before and logging_calls == []


def test_a_reload_tells_the_service_manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            logging_calls: list[tuple[str, str]]) -> None:
    sent: list[str] = []
    monkeypatch.setattr(reload_module.sd_notify, "notify_reloading",
                        lambda: sent.append("RELOADING"))
    monkeypatch.setattr(reload_module.sd_notify, "notify_ready",
                        lambda status: sent.append("READY"))
    FakeAgent(settings(tmp_path)).reloader(lambda: settings(tmp_path, tags=["y"])).reload()
    FakeAgent(settings(tmp_path)).reloader(_broken).reload()
    assert sent == ["RELOADING", "READY", "RELOADING", "READY"]


def _broken() -> NodeConfig:
    raise NodeConfigError("--config", "cannot read claw.toml")


def test_the_gossip_verify_flags_apply_at_a_reload(tmp_path: Path) -> None:
    # A migration to encryption moves a step (Consul's: outgoing on, then incoming on)
    # by a reload: one call with both new values.
    agent = FakeAgent(settings(tmp_path, gossip_verify_incoming=False, gossip_verify_outgoing=False))
    outcome = agent.reloader(lambda: settings(tmp_path, gossip_verify_incoming=False)).reload()
    assert outcome.ok and outcome.applied == ("gossip_verify_outgoing",)
    assert outcome.restart_needed == ()
    assert agent.calls == [("verify", (False, True))] and agent.config.gossip_verify_outgoing
