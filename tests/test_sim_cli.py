"""Every scenario runs from the CLI on a small cluster and prints its table (or JSON)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import simulations.__main__ as sim_main
from simulations.sim.runner import RunOptions
from simulations.sim.scenarios import Result

SMALL = {
    "crash": ["--crashes", "1"],
    "join": [],
    "partition": ["--partition-s", "3"],
    "loss": ["--losses", "0,0.1", "--duration", "20"],
    "slow": ["--duration", "12"],
    "churn": ["--duration", "12"],
}


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "simulations", *args, "--quiet"],
                          capture_output=True, text=True, timeout=240)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", sorted(SMALL))
def test_scenario_prints_seed_options_and_table(scenario: str) -> None:
    out = _run([scenario, "--nodes", "6", "--seed", "3", *SMALL[scenario]])
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"seed=3 scenario={scenario}"
    assert lines[1].startswith("options: nodes=6 ")
    assert any(line.startswith("check ok") for line in lines)
    assert "trace sha256" in out.stdout


@pytest.mark.slow
def test_json_output_and_report(tmp_path: object) -> None:
    out = _run(["crash", "--nodes", "6", "--seed", "4", "--crashes", "1", "--json",
                "--report", str(tmp_path)])
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    row = data["rows"][0]
    assert data["scenario"] == "crash" and row["nodes"] == 6 and row["crashes"] == 1
    assert row["first_dead_p50_s"] > 0 and row["undetected"] == 0
    assert all(c["ok"] for c in data["checks"])
    files = sorted(p.name for p in tmp_path.iterdir())  # type: ignore[attr-defined]
    assert "crash-n6.json" in files and "crash-n6-detection-cdf.svg" in files


def test_failed_check_prints_reproduce_command(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    # The real scenario runs; one check is then made to fail, so the failure branch is
    # the one under test whatever the scenario's own checks find.
    real = sim_main.run_scenario

    def failing(opts: RunOptions) -> Result:
        result = real(opts)
        result.checks.append(("made to fail by the test", False, "forced"))
        return result

    monkeypatch.setattr(sim_main, "run_scenario", failing)
    args = ["crash", "--nodes", "4", "--seed", "5", "--crashes", "1", "--quiet"]
    assert sim_main.main(args) == 1
    lines = capsys.readouterr().out.rstrip().splitlines()
    assert "FAILED: made to fail by the test: forced" in lines
    assert lines[-1] == ("reproduce with: python -m simulations crash --nodes 4 --seed 5 "
                         "--crashes 1 --quiet")


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["crash", "churn", "loss"])
def test_converged_start_from_the_cli(scenario: str) -> None:
    out = _run([scenario, "--nodes", "8", "--seed", "3", *SMALL[scenario],
                "--start", "converged", "--push-pull-interval-s", "0"])
    assert out.returncode == 0, out.stdout + out.stderr
    assert "start='converged'" in out.stdout and "push_pull_interval_s=0.0" in out.stdout
    assert "check ok   no core raised (copy-on-write tables intact)" in out.stdout
