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
