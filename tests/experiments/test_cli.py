"""The command line: CSV and JSON that parse back, task expansion, clear errors, ``python -m``."""

import csv
import json
import subprocess
import sys

import pytest

from hnnlib import experiments
from hnnlib.experiments import TASKS, cli, main, steps

from .tiny import TINY_CLI, no_fit


def test_cli_writes_csv_and_json_that_parse_back(tmp_path, capsys, monkeypatch):
    out_csv, out_json = tmp_path / "rows.csv", tmp_path / "rows.json"
    argv = ["mass_spring", "--seeds", "0", "1", "--csv", str(out_csv), "--json", str(out_json),
            "--cache-dir", str(tmp_path / "cache"), "--quiet", *TINY_CLI]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "Task 1: Ideal mass-spring (values x 1e+03)" in printed and "standard error over 2 seeds" in printed
    with open(out_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6
    assert {(r["metric"], r["model"]) for r in rows} == {(m, k) for m in experiments.METRICS for k in ("baseline", "hnn")}
    assert all(r["seeds"] == "0 1" and float(r["mean"]) > 0 for r in rows)
    document = json.loads(out_json.read_text())
    task = document["tasks"]["mass_spring"]
    assert task["seeds"] == [0, 1] and task["config"]["steps"] == 20 and task["config"]["hidden_dim"] == 16
    assert [run["seed"] for run in task["runs"]] == [0, 1]
    assert task["rows"][0]["mean"] == pytest.approx(float(rows[0]["mean"]))
    # The same command again loads every model and prints the same table.
    monkeypatch.setattr(steps, "fit", no_fit)
    assert main(argv) == 0
    assert capsys.readouterr().out == printed


def test_cli_all_expands_to_every_task():
    parser = experiments.build_parser()
    assert cli._expand_tasks(["all"], parser) == list(TASKS)
    assert cli._expand_tasks(["pendulum", "mass_spring", "pendulum"], parser) == ["pendulum", "mass_spring"]


@pytest.mark.parametrize("argv, message", [
    (["nonsense"], "valid tasks: mass_spring, pendulum"),
    (["mass_spring", "--seeds", "-1"], "invalid seed"),
    (["mass_spring", "--seeds", "zero"], "not an integer"),
    (["mass_spring", "--seeds", "1", "1"], "distinct"),
    (["mass_spring", "--set", "bogus=1"], "has no field"),
    (["mass_spring", "--set", "steps"], "FIELD=VALUE"),
    (["mass_spring", "--steps", "0"], "positive"),
    (["mass_spring", "--set", "seed=5"], "give seeds with --seeds"),
    (["mass_spring", "--set", "steps=-1"], "steps must be a positive int, got -1"),
    (["mass_spring", "--set", "steps=2.5"], "steps must be a positive int, got 2.5"),
    (["mass_spring", "--set", "hidden_dim=0"], "hidden_dim must be a positive int, got 0"),
    (["mass_spring", "--set", "learning_rate=-1"], "learning_rate must be a finite number > 0, got -1"),
    (["mass_spring", "--set", "learning_rate=inf"], "learning_rate must be a finite number > 0, got inf"),
    (["mass_spring", "--set", "noise_std=inf"], "noise_std must be a finite number >= 0, got inf"),
    (["mass_spring", "--set", "noise_std=nan"], "noise_std must be a finite number >= 0, got nan"),
    (["mass_spring", "--set", "noise_std=big"], "noise_std must be a real number, got 'big'"),
    (["mass_spring", "--set", "nonlinearity=sigmoid"], "nonlinearity must be one of ['relu', 'softplus', 'tanh'], got 'sigmoid'"),
    (["mass_spring", "--set", "test_fraction=1.5"], "test_fraction must be < 1"),
    (["mass_spring", "--set", "t_span=(2, 1)"], "t_span must satisfy low <= high"),
    (["mass_spring", "--set", "metric_batched=1"], "metric_batched must be True or False"),
    (["pendulum", "mass_spring", "--set", "system=spring"], "--set for task 'pendulum': system must be one of"),
])
def test_cli_rejects_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_module_help():
    """``python -m hnnlib.experiments --help`` works and lists the tasks."""
    out = subprocess.run([sys.executable, "-m", "hnnlib.experiments", "--help"], capture_output=True, text=True, check=True).stdout
    assert "--seeds" in out and "three_body" in out and "'all'" in out


def test_cli_checks_every_task_before_running_any(monkeypatch, capsys):
    """A value that is wrong for the second task stops the command before the first task trains."""
    ran = []
    monkeypatch.setattr(cli, "run_many", lambda config, *a, **k: ran.append(config.task))
    with pytest.raises(SystemExit) as exit_info:
        main(["two_body", "mass_spring", "--set", "n_trajectories=None", "--no-cache", "--quiet"])  # None: N-body default
    assert exit_info.value.code == 2 and ran == []
    assert "--set for task 'mass_spring': n_trajectories must be a positive int, got None" in capsys.readouterr().err


def test_every_config_field_has_a_rule():
    """A new field cannot skip validation: each field of each config class is in fields.RULES."""
    import dataclasses

    from hnnlib.experiments import config as config_module, fields

    classes = [config_module.OscillatorConfig, config_module.RealPendulumConfig, config_module.NBodyConfig, config_module.PixelConfig]
    missing = sorted({f.name for cls in classes for f in dataclasses.fields(cls)} - set(fields.RULES))
    assert missing == []


@pytest.mark.parametrize("name", ["trajectories", "friction", "lagrangian", "lnn_protocol"])
def test_cli_reaches_the_chapters_beyond_the_paper(name, capsys):
    """``python -m hnnlib.experiments NAME --help`` is that protocol's own command line."""
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    assert f"python -m hnnlib.experiments {name}" in capsys.readouterr().out
