"""The experiment runner: task registry, configuration hashes, model cache, aggregation over seeds, CLI.

Every run here uses a tiny configuration (20 training steps, a few trajectories, 16 hidden units):
the tests check the plumbing, not the paper's numbers (the results chapter does that).
"""

import csv
import dataclasses
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from hnnlib import experiments, realdata
from hnnlib.experiments import (
    TASKS, CacheWarning, ModelCache, NBodyConfig, OscillatorConfig, RealPendulumConfig, config_hash, main, make_config,
    model_key, run_experiment, run_many,
)
from hnnlib.metrics import MeanWithError
from hnnlib.models import HNN, save_checkpoint

PAPER_TASKS = ("mass_spring", "pendulum", "real_pendulum", "two_body", "three_body")

#: Per config class: settings that make a run take well under a second.
TINY = {
    OscillatorConfig: dict(steps=20, eval_every=10, hidden_dim=16, n_trajectories=6, n_times=8, metric_states=2,
                           metric_points=10, metric_t_span=(0.0, 1.0)),
    RealPendulumConfig: dict(steps=20, eval_every=10, hidden_dim=16),
    NBodyConfig: dict(steps=20, eval_every=10, hidden_dim=16, n_trajectories=10, n_times=5, batch_size=8, eval_samples=None,
                      metric_states=2, metric_points=10, metric_t_span=(0.0, 0.5), metric_rtol_true=1e-6, metric_rtol_model=1e-6),
}
TINY_CLI = ["--set", "n_trajectories=6", "--set", "n_times=8", "--set", "hidden_dim=16", "--set", "metric_states=2",
            "--set", "metric_points=10", "--set", "metric_t_span=(0.0, 1.0)", "--set", "eval_every=10", "--steps", "20"]


def tiny(task="mass_spring", **overrides):
    config = TASKS[task].config
    return dataclasses.replace(config, **{**TINY[type(config)], **overrides})


def has_real_data():
    try:
        realdata.find_real_pendulum_file(download=False)
    except (FileNotFoundError, ValueError):
        return False
    return True


def no_fit(*args, **kwargs):
    raise AssertionError("fit was called although the model should come from the cache")


# --- registry and configurations ---------------------------------------------------------------


def test_registry_holds_every_task_of_table_1_and_2():
    """Every task of the paper's tables is registered, with a config that names it and a paper row."""
    assert set(PAPER_TASKS) <= set(TASKS)
    assert list(TASKS)[: len(PAPER_TASKS)] == list(PAPER_TASKS)  # the paper's order
    for name, task in TASKS.items():
        assert task.config.task == name
        assert set(task.paper["energy_mse"]) == {"baseline", "hnn"}
        assert task.table in ("Table 1", "Table 2")
        assert task.config.protocol()


def test_defaults_are_the_chapters_settings():
    """Spot checks of the defaults against the chapters' hyper-parameters."""
    spring, pendulum, real = TASKS["mass_spring"].config, TASKS["pendulum"].config, TASKS["real_pendulum"].config
    two, three = TASKS["two_body"].config, TASKS["three_body"].config
    assert (spring.steps, spring.weight_decay, spring.batch_size, spring.threads, spring.n_times) == (2000, 1e-4, None, 1, 30)
    assert (pendulum.system, pendulum.n_times, pendulum.radius, pendulum.energies) == ("pendulum", 45, (1.3, 2.3), ("hamiltonian", "q2_plus_p2"))
    assert (real.weight_decay, real.split, real.metric_rtol_model) == (1e-5, "paper", 1e-3)
    assert (two.steps, two.batch_size, two.weight_decay, two.sampler, two.metric_t_span) == (10_000, 200, 0.0, "choice", (0.0, 25.0))
    assert (three.n_trajectories, three.batch_size, three.weight_decay, three.metric_t_span) == (5000, 600, 1e-4, (0.0, 3.0))


def test_unknown_task_and_field_give_clear_errors():
    with pytest.raises(ValueError, match="valid tasks: mass_spring, pendulum, real_pendulum, two_body, three_body"):
        run_experiment("no_such_task")
    with pytest.raises(ValueError, match="has no field"):
        make_config("mass_spring", no_such_field=1)
    with pytest.raises(ValueError, match="seed must lie"):
        make_config("mass_spring", seed=-1)
    with pytest.raises(TypeError, match="seed must be an int"):
        make_config("mass_spring", seed=1.5)
    with pytest.raises(ValueError, match="distinct"):
        run_many("mass_spring", [0, 0])
    with pytest.raises(ValueError, match="at least one"):
        run_many("mass_spring", [])


def test_config_lists_become_tuples():
    """Configs stay hashable and hash the same whether a list or a tuple was given."""
    a = dataclasses.replace(TASKS["mass_spring"].config, t_span=[0.0, 3.0])
    assert a.t_span == (0.0, 3.0) and hash(a) == hash(TASKS["mass_spring"].config)
    assert config_hash(a) == config_hash(TASKS["mass_spring"].config)


def test_config_hash_is_stable_across_processes():
    """The hash depends on the configuration only, not on the process (no id(), no set order)."""
    code = "from hnnlib import experiments as e; print(' '.join(e.config_hash(t.config) for t in e.TASKS.values()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [config_hash(t.config) for t in TASKS.values()]
    assert config_hash(tiny()) == config_hash(tiny())


def perturbed(value):
    """A different value of the same kind."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 2 + 1
    if value is None:
        return 7
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, tuple):
        return value + (value[-1],) if value else (("k", 1.0),)
    raise TypeError(value)


@pytest.mark.parametrize("task", PAPER_TASKS)
def test_config_hash_changes_with_every_field(task):
    config = TASKS[task].config
    base = config_hash(config)
    for f in dataclasses.fields(config):
        changed = dataclasses.replace(config, **{f.name: perturbed(getattr(config, f.name))})
        assert config_hash(changed) != base, f"{task}: the hash ignores field {f.name}"


def test_model_key_covers_kind_version_and_source(monkeypatch):
    config = tiny()
    keys = {model_key(config, "baseline"), model_key(config, "hnn")}
    assert len(keys) == 2
    monkeypatch.setattr(experiments, "__version__", "0.0.0-other")
    assert model_key(config, "hnn") not in keys
    monkeypatch.undo()
    monkeypatch.setattr(experiments, "source_hash", lambda: "0" * 64)
    assert model_key(config, "hnn") not in keys
    with pytest.raises(ValueError, match="unknown model kind"):
        model_key(config, "cnn")


def test_source_hash_is_a_hash_of_the_package_files():
    h = experiments.source_hash()
    assert len(h) == 64 and int(h, 16) >= 0
    assert h == experiments.source_hash()


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("HNNLIB_CACHE_DIR", str(tmp_path))
    assert experiments.default_cache_dir() == tmp_path
    monkeypatch.delenv("HNNLIB_CACHE_DIR")
    assert experiments.default_cache_dir() == realdata.cache_dir() / "models"


# --- running ------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", PAPER_TASKS)
def test_every_task_runs(task):
    """Each registered task runs end to end through its data, training and metric functions."""
    if task == "real_pendulum" and not has_real_data():
        pytest.skip("the real-pendulum recording is not available offline (set HNNLIB_DATA_DIR)")
    result = run_experiment(tiny(task), cache=False, progress=False)
    assert set(result.models) == {"baseline", "hnn"} and isinstance(result.models["hnn"], HNN)
    assert result.from_cache == {"baseline": False, "hnn": False}
    for metric, by_kind in result.row.items():
        for kind, value in by_kind.items():
            assert isinstance(value, MeanWithError) and math.isfinite(value.mean) and value.mean >= 0, (metric, kind)
    assert set(result.energy_mse_by_energy) == set(result.config.energies)
    assert len(result.histories["hnn"].batch_loss) == 20
    assert "this run" in result.table()


def test_threads_are_restored():
    before = torch.get_num_threads()
    run_experiment(tiny(threads=2), cache=False, progress=False)
    assert torch.get_num_threads() == before


def test_same_seed_same_numbers_and_seed_matters():
    a = run_experiment(tiny(), cache=False, progress=False)
    b = run_experiment(tiny(), cache=False, progress=False)
    c = run_experiment(tiny(), seed=1, cache=False, progress=False)
    assert a.row == b.row
    assert c.row["train_loss"]["hnn"] != a.row["train_loss"]["hnn"]


def test_run_many_aggregates_over_seeds():
    summary = run_many(tiny(), [0, 1], cache=False, progress=False)
    assert summary.seeds == (0, 1)
    values = summary.values("energy_mse", "hnn")
    assert np.array_equal(values, [r.energy_mse["hnn"].mean for r in summary.results])
    assert summary.aggregate("energy_mse", "hnn") == MeanWithError.of(values)
    assert summary.row()["test_loss"]["baseline"].n == 2
    one = run_many(tiny(), [0], cache=False, progress=False)
    assert one.row() == one.results[0].row  # one seed: the run's own row
    records = experiments.summary_records(summary)
    assert len(records) == 6 and {r["metric"] for r in records} == set(experiments.METRICS)
    assert "seeds 0 1" in experiments.format_summary(summary)


# --- the model cache ----------------------------------------------------------------------------


def test_cache_round_trip_skips_training_and_gives_identical_results(tmp_path, monkeypatch):
    first = run_experiment(tiny(), cache=tmp_path, progress=False)
    assert first.from_cache == {"baseline": False, "hnn": False}
    assert len(list(tmp_path.rglob("mass_spring-*.pt"))) == 2
    monkeypatch.setattr(experiments, "fit", no_fit)
    second = run_experiment(tiny(), cache=tmp_path, progress=False)
    assert second.from_cache == {"baseline": True, "hnn": True}
    assert second.row == first.row
    assert second.energy_mse_by_energy == first.energy_mse_by_energy
    assert second.histories == first.histories
    for kind in ("baseline", "hnn"):
        for (name, p1), p2 in zip(first.models[kind].state_dict().items(), second.models[kind].state_dict().values()):
            assert torch.equal(p1, p2), name
        assert np.array_equal(first.comparisons[kind].predicted, second.comparisons[kind].predicted)


def test_cache_metadata_records_key_and_config(tmp_path):
    config = tiny()
    run_experiment(config, cache=tmp_path, progress=False)
    ckpt = torch.load(ModelCache(tmp_path).path(config, "hnn"), weights_only=True)
    meta = ckpt["metadata"]
    assert meta["key"] == model_key(config, "hnn")
    assert meta["config"] == config.to_dict()
    assert meta["model"] == "hnn" and meta["task"] == "mass_spring"


def test_cache_respects_changed_settings(tmp_path, monkeypatch):
    """Another config (here: more steps) is another entry: it trains instead of loading."""
    run_experiment(tiny(), cache=tmp_path, progress=False)
    calls = []
    original = experiments.fit
    monkeypatch.setattr(experiments, "fit", lambda *a, **k: calls.append(1) or original(*a, **k))
    result = run_experiment(tiny(steps=21), cache=tmp_path, progress=False)
    assert len(calls) == 2 and result.from_cache == {"baseline": False, "hnn": False}


def corrupt_with_garbage(path, config, kind):
    path.write_bytes(b"not a checkpoint")


def corrupt_with_wrong_key(path, config, kind):
    ckpt = torch.load(path, weights_only=True)
    ckpt["metadata"]["key"] = "0" * 64
    torch.save(ckpt, path)


def corrupt_with_wrong_shapes(path, config, kind):
    """A well-formed checkpoint with the right key but a model of another width."""
    model = HNN(2, hidden_dim=8) if kind == "hnn" else experiments.BaselineNN(2, hidden_dim=8)
    meta = torch.load(path, weights_only=True)["metadata"]
    save_checkpoint(model, path, meta)


def corrupt_history(path, config, kind):
    ckpt = torch.load(path, weights_only=True)
    ckpt["metadata"]["history"] = "lost"
    torch.save(ckpt, path)


@pytest.mark.parametrize("corrupt", [corrupt_with_garbage, corrupt_with_wrong_key, corrupt_with_wrong_shapes, corrupt_history])
def test_bad_cache_entry_is_retrained_with_a_warning(tmp_path, corrupt):
    config = tiny()
    first = run_experiment(config, cache=tmp_path, progress=False)
    path = ModelCache(tmp_path).path(config, "hnn")
    corrupt(path, config, "hnn")
    with pytest.warns(CacheWarning, match="retraining"):
        second = run_experiment(config, cache=tmp_path, progress=False)
    assert second.from_cache == {"baseline": True, "hnn": False}
    assert second.row == first.row
    third = run_experiment(config, cache=tmp_path, progress=False)  # the entry was overwritten with a good one
    assert third.from_cache == {"baseline": True, "hnn": True}


def test_prune_removes_only_other_generations(tmp_path):
    run_experiment(tiny(), cache=tmp_path, progress=False)
    stale = tmp_path / "0.0.9-0123456789abcdef"
    stale.mkdir()
    (stale / "mass_spring-hnn-0.pt").write_bytes(b"old")
    (stale / "x.pt.1.part").write_bytes(b"partial")
    unrelated = tmp_path / "notes"
    unrelated.mkdir()
    (unrelated / "keep.pt").write_bytes(b"not ours")
    removed = ModelCache(tmp_path).prune()
    assert sorted(p.name for p in removed) == ["mass_spring-hnn-0.pt", "x.pt.1.part"]
    assert not stale.exists() and (unrelated / "keep.pt").exists()
    assert run_experiment(tiny(), cache=tmp_path, progress=False).from_cache == {"baseline": True, "hnn": True}


def test_no_cache_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("HNNLIB_CACHE_DIR", str(tmp_path))
    run_experiment(tiny(), cache=False, progress=False)
    assert not list(tmp_path.iterdir())
    run_experiment(tiny(), progress=False)  # cache=True: the folder of $HNNLIB_CACHE_DIR
    assert len(list(tmp_path.rglob("*.pt"))) == 2


def test_unwritable_cache_warns_but_runs(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    with pytest.warns(CacheWarning, match="could not write"):
        result = run_experiment(tiny(), cache=blocker / "models", progress=False)
    assert result.from_cache == {"baseline": False, "hnn": False}


# --- command line -------------------------------------------------------------------------------


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
    monkeypatch.setattr(experiments, "fit", no_fit)
    assert main(argv) == 0
    assert capsys.readouterr().out == printed


def test_cli_all_expands_to_every_task():
    parser = experiments.build_parser()
    assert experiments._expand_tasks(["all"], parser) == list(TASKS)
    assert experiments._expand_tasks(["pendulum", "mass_spring", "pendulum"], parser) == ["pendulum", "mass_spring"]


@pytest.mark.parametrize("argv, message", [
    (["nonsense"], "valid tasks: mass_spring, pendulum"),
    (["mass_spring", "--seeds", "-1"], "invalid seed"),
    (["mass_spring", "--seeds", "zero"], "not an integer"),
    (["mass_spring", "--seeds", "1", "1"], "distinct"),
    (["mass_spring", "--set", "bogus=1"], "has no field"),
    (["mass_spring", "--set", "steps"], "FIELD=VALUE"),
    (["mass_spring", "--steps", "0"], "positive"),
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


def test_pixel_task_runs_through_the_runner_and_the_cache(tmp_path):
    small = dict(n_trajectories=5, n_frames=8, test_fraction=0.4, hidden_dim=16, steps=10, batch_size=8, eval_every=5,
                 metric_steps=6, data_cache=False)
    first = experiments.run_experiment("pixel_pendulum", cache=tmp_path, progress=False, **small)
    again = experiments.run_experiment("pixel_pendulum", cache=tmp_path, progress=False, **small)
    assert first.from_cache == {"baseline": False, "hnn": False} and again.from_cache == {"baseline": True, "hnn": True}
    for metric in ("train_loss", "test_loss", "energy_mse"):
        for kind in ("baseline", "hnn"):
            assert again.row[metric][kind] == first.row[metric][kind]
    assert first.comparisons["hnn"].decoded.shape == (2, 6, 2 * 28 * 28)
    assert first.table().startswith("Task 5: Pixel pendulum")


def test_parallel_runs_of_one_experiment_train_it_once(tmp_path):
    # Two processes ask for the same uncached model at once: the cache lock makes one train and
    # store it while the other waits, then loads it.
    script = (
        "import sys, json; from hnnlib import experiments\n"
        f"r = experiments.run_experiment('mass_spring', cache=sys.argv[1], progress=False, **{TINY[OscillatorConfig]!r})\n"
        "print(json.dumps(r.from_cache))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    trained = sum(not out[kind] for out in outputs for kind in ("baseline", "hnn"))
    assert trained == 2, f"each model should be trained exactly once over both processes, got {outputs}"
    assert list(tmp_path.rglob("*.lock"))
    assert experiments.ModelCache(tmp_path).prune() == []  # current generation: nothing to prune
