"""Chapter 13's registered task (hnnlib.experiments.lagrangian): settings, checks, the model cache, the table."""

from __future__ import annotations

import numpy as np
import pytest

from hnnlib.experiments import lagrangian
from hnnlib.lagrangian import LNN

TINY = dict(n_trajectories=4, n_test_trajectories=2, n_times=5, t_span=(0.0, 1.0), steps=3, eval_every=1, metric_states=3,
            metric_t_span=(0.0, 1.0), metric_points=11, metric_substeps=5)


def test_config_fields_are_checked():
    config = lagrangian.make_config(seed=2)
    assert config.seed == 2 and config.task == lagrangian.DOUBLE_PENDULUM
    assert "t = 100 s" in config.protocol()
    with pytest.raises(ValueError, match="kinetic_prior"):
        lagrangian.make_config(kinetic_prior=-1.0)
    with pytest.raises(ValueError, match="lnn_nonlinearity"):
        lagrangian.make_config(lnn_nonlinearity="relu")


def test_data_in_both_coordinates():
    config = lagrangian.make_config(**TINY)
    data = lagrangian.make_data(config)
    v, c = data.velocity["train"], data.canonical["train"]
    assert v.x.shape == (4, 5, 4) and data.velocity["test"].x.shape == (2, 5, 4)
    np.testing.assert_allclose(data.system.to_velocity(c.x.double().numpy()), v.x.double().numpy(), atol=1e-5)
    assert (np.abs(data.trajectories[:, 0, :2]) <= config.max_angle).all()


def test_models_are_cached_and_the_table_prints(tmp_path):
    first = lagrangian.run(0, cache=tmp_path, progress=False, **TINY)
    assert isinstance(first.models["lnn"], LNN)
    config = lagrangian.make_config(0, **TINY)
    _, _, from_cache = lagrangian.trained_models(config, cache=tmp_path, progress=False)
    assert from_cache == {"baseline": True, "hnn": True, "lnn": True}
    second = lagrangian.run(0, cache=tmp_path, progress=False, **TINY)
    for kind in lagrangian.KINDS:
        np.testing.assert_array_equal(first.metric.errors[kind], second.metric.errors[kind])
    table = second.table(1.0)
    assert "Lagrangian NN" in table and "4.0e-03" in table and "LNN paper:" in table


def test_cli_prints_the_table(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HNNLIB_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(lagrangian, "make_config", lambda seed=None, **o: lagrangian.DoublePendulumConfig(
        task=lagrangian.DOUBLE_PENDULUM, seed=seed or 0, **{**TINY, **o}))
    assert lagrangian.main(["--seeds", "0", "--time", "1"]) == 0
    assert "relative energy error at t = 1 s" in capsys.readouterr().out
