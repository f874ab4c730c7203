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
