"""Chapter 13's second task (hnnlib.experiments.lnn_protocol): the LNN paper's protocol, its checks, cache and table."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hnnlib.experiments import fields, lnn_protocol
from hnnlib.lagrangian import LNN, MechanicalLNN
from hnnlib.models import BaselineNN
from hnnlib.systems import DoublePendulum

TINY = dict(pool_size=300, test_size=50, steps=4, lnn_steps=3, batch_size=32, eval_every=2, metric_states=3,
            metric_time=0.5, metric_points=6)


def test_every_field_has_a_rule_and_is_checked():
    assert {f.name for f in dataclasses.fields(lnn_protocol.LNNProtocolConfig)} <= set(fields.RULES)
    config = lnn_protocol.make_config(seed=3)
    assert config.seed == 3 and config.task == lnn_protocol.LNN_PROTOCOL
    assert "40 states" in config.protocol() and "t = 100 s" in config.protocol()
    for bad, match in ((dict(pool_size=0), "pool_size"), (dict(lr_schedule="step"), "lr_schedule"),
                       (dict(metric_rtol=0.0), "metric_rtol"), (dict(max_velocity=-1.0), "max_velocity")):
        with pytest.raises(ValueError, match=match):
            lnn_protocol.make_config(**bad)


def test_data_cover_the_whole_state_space_with_exact_accelerations():
    config = lnn_protocol.make_config(**TINY)
    data = lnn_protocol.make_data(config)
    assert data.x.shape == data.dx.shape == (300, 4) and data.x_test.shape == (50, 4)
    x = data.x.double().numpy()
    assert (x[:, :2] >= 0).all() and (x[:, :2] < 2 * np.pi).all() and (np.abs(x[:, 2:]) <= 10).all()
    assert x[:, :2].max() > 5.5 and np.abs(x[:, 2:]).max() > 9  # spread over the whole range, not a corner
    np.testing.assert_allclose(data.dx.numpy(), DoublePendulum().velocity_derivative(x), rtol=1e-5, atol=1e-4)
    states = lnn_protocol.metric_states(config)
    assert states.shape == (3, 4) and (states[:, 2:] >= 0).all() and (states[:, 2:] < 0.1).all()
    np.testing.assert_array_equal(states, lnn_protocol.metric_states(config))


def test_models_are_cached_and_the_table_prints(tmp_path):
    first = lnn_protocol.run(0, cache=tmp_path, progress=False, **TINY)
    assert [type(first.models[k]) for k in lnn_protocol.KINDS] == [BaselineNN, LNN, MechanicalLNN]
    assert first.histories["lnn"].step[-1] == 3 and first.histories["mechanical"].step[-1] == 4
    config = lnn_protocol.make_config(0, **TINY)
    _, _, from_cache = lnn_protocol.trained_models(config, cache=tmp_path, progress=False)
    assert from_cache == {"baseline": True, "lnn": True, "mechanical": True}
    second = lnn_protocol.run(0, cache=tmp_path, progress=False, **TINY)
    for kind in ("truth", *lnn_protocol.KINDS):
        np.testing.assert_array_equal(first.metric.errors[kind], second.metric.errors[kind])
    assert first.metric.errors["truth"].max() < 1e-5  # the true system keeps its energy under the same integrator
    table = second.table()
    assert "mechanical LNN" in table and "4.0e-03" in table and "8.0e-02" in table and "LNN paper:" in table


def test_the_metric_leaves_the_models_in_float32():
    config = lnn_protocol.make_config(0, **TINY)
    models = {"mechanical": lnn_protocol.build_model(config, "mechanical")}
    errors = lnn_protocol.energy_errors(config, models)
    assert errors.errors["mechanical"].shape == (3, 6) and next(models["mechanical"].parameters()).dtype.itemsize == 4
    assert errors.at("mechanical").n == 3


def test_cli_prints_the_table(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HNNLIB_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(lnn_protocol, "make_config", lambda seed=None, **o: lnn_protocol.LNNProtocolConfig(
        task=lnn_protocol.LNN_PROTOCOL, seed=seed or 0, **{**TINY, **o}))
    assert lnn_protocol.main(["--seeds", "0"]) == 0
    assert "relative energy error at t = 0.5 s" in capsys.readouterr().out


def test_a_runaway_rollout_prints_as_diverged_not_as_digits():
    config = lnn_protocol.make_config(0, **TINY)
    values = {"truth": 1e-8, "baseline": 5e5, "lnn": 0.1, "mechanical": 1e-3}
    errors = {kind: np.full((3, 6), value) for kind, value in values.items()}
    metric = lnn_protocol.ProtocolErrors(np.linspace(0.0, 0.5, 6), np.zeros((3, 4)), {}, errors)
    table = lnn_protocol.Result(config, {}, {}, metric).table()
    assert "diverged (> 1)" in table and "5e+05" not in table and "0.001" in table
