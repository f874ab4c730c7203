"""Running: every task end to end, threads restored, seeds, aggregation over seeds, the pixel task."""

import math

import numpy as np
import pytest
import torch

from hnnlib import experiments
from hnnlib.experiments import run_experiment, run_many
from hnnlib.metrics import MeanWithError
from hnnlib.models import HNN

from .tiny import PAPER_TASKS, has_real_data, tiny


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
    assert summary.spread == "standard error over 2 seeds"


def test_one_seed_spread_says_when_the_energy_comes_from_one_rollout():
    """One seed: the +- is the run's own; a single rollout (Task 3) has none, and the text says so."""
    one = run_many(tiny(), [0], cache=False, progress=False)
    assert one.spread.endswith("energy: over rollouts)")
    result = one.results[0]
    result.energy_mse_by_energy = {e: {k: MeanWithError(v.mean, float("nan"), 1) for k, v in by_kind.items()}
                                   for e, by_kind in result.energy_mse_by_energy.items()}
    assert one.spread.endswith("energy: one rollout, so none, '(n = 1)')")


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


def test_trained_models_are_the_chapters_by_hand_models(tmp_path):
    """trained_models gives bit for bit what a chapter's loop gives: set_seed, build, hnnlib.train with the config."""
    import hnnlib
    from hnnlib.labels import MODEL_KINDS

    config = tiny()
    data = hnnlib.make_trajectory_dataset(config.system, **config.data_options())
    models, histories, from_cache = experiments.trained_models(config, data=data, cache=tmp_path, progress=False)
    assert from_cache == {"baseline": False, "hnn": False} and list(models) == list(MODEL_KINDS)
    for kind, model_class in (("baseline", hnnlib.BaselineNN), ("hnn", hnnlib.HNN)):
        hnnlib.set_seed(config.seed)
        by_hand = model_class(input_dim=2, **config.model_options())
        history = hnnlib.train(by_hand, data, seed=config.seed, progress=False, **config.fit_options())
        assert all(torch.equal(a, b) for a, b in zip(by_hand.state_dict().values(), models[kind].state_dict().values())), kind
        assert history.train_loss == histories[kind].train_loss
    again, _, from_cache = experiments.trained_models(config, cache=tmp_path, progress=False)  # data made by the config
    assert from_cache == {"baseline": True, "hnn": True}
    assert all(torch.equal(a, b) for a, b in zip(again["hnn"].state_dict().values(), models["hnn"].state_dict().values()))


def test_trained_models_of_one_kind_are_those_of_both(tmp_path):
    """``kinds`` trains only the models asked for, each the same bit for bit as when both are trained."""
    config = tiny()
    both, _, _ = experiments.trained_models(config, cache=False, progress=False)
    for kind in ("baseline", "hnn"):
        alone, _, from_cache = experiments.trained_models(config, cache=tmp_path, progress=False, kinds=[kind])
        assert list(alone) == [kind] and from_cache == {kind: False}
        assert all(torch.equal(a, b) for a, b in zip(alone[kind].state_dict().values(), both[kind].state_dict().values()))
    _, _, from_cache = experiments.trained_models(config, cache=tmp_path, progress=False)
    assert from_cache == {"baseline": True, "hnn": True}  # both were stored by the one-kind calls
    for bad in ([], "hnn", ["lnn"]):
        with pytest.raises(ValueError, match="kinds must be a non-empty sequence"):
            experiments.trained_models(config, cache=False, progress=False, kinds=bad)


def test_a_cache_hit_shows_a_finished_bar(tmp_path, capsys):
    """Loaded or trained, a progress=True call shows one bar per model, so a notebook cell's outputs do not depend
    on the cache's state."""
    config = tiny()
    experiments.trained_models(config, cache=tmp_path, progress=True)
    trained = capsys.readouterr().err
    experiments.trained_models(config, cache=tmp_path, progress=True)
    loaded = capsys.readouterr().err
    assert trained.count("100%|") == loaded.count("100%|") == 2 and "20/20" in loaded
    assert "loaded from the model cache" not in trained and "baseline NN (loaded from the model cache): 100%" in loaded
    assert "it/s" not in loaded and "train=" in loaded  # no rate of reading a file; the last losses


def test_the_training_log_counts_each_model_once(tmp_path, monkeypatch):
    """$HNNLIB_TRAINING_LOG: one line per training; the same model (even with another evaluation schedule) has the
    same fingerprint, another setting another; a cache hit trains nothing."""
    import subprocess
    import sys

    log = tmp_path / "trainings.log"
    monkeypatch.setenv("HNNLIB_TRAINING_LOG", str(log))
    config = tiny()
    experiments.trained_models(config, cache=tmp_path / "cache", progress=False)
    experiments.trained_models(config, cache=tmp_path / "cache", progress=False)  # loaded: not logged
    experiments.trained_models(config, eval_every=5, cache=False, progress=False)  # the same weights again
    experiments.trained_models(config, learning_rate=2e-3, cache=False, progress=False)  # other models
    fingerprints = [line.split()[0] for line in log.read_text().splitlines()]
    assert len(fingerprints) == 6
    assert fingerprints[:2] == fingerprints[2:4] and len(set(fingerprints)) == 4
    counts = subprocess.run([sys.executable, "benchmarks/training_counts.py", str(log)], capture_output=True, text=True)
    assert counts.returncode == 1 and "4 models, 6 trainings, 2 trained more than once" in counts.stdout


def test_by_label_and_by_kind_are_inverse():
    from hnnlib.labels import BASELINE, HNN_LABEL, by_kind, by_label

    assert by_label({"hnn": 2, "baseline": 1}) == {BASELINE: 1, HNN_LABEL: 2}
    assert by_kind(by_label({"baseline": 1, "hnn": 2})) == {"baseline": 1, "hnn": 2}
    with pytest.raises(KeyError, match="hnn"):
        by_label({"baseline": 1})
