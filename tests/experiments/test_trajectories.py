"""DGNet's protocol as registered tasks: the facts read from its code, stacked training with a cache, the metrics, the CLI."""

import numpy as np
import pytest
import torch

from hnnlib import followups
from hnnlib.experiments import trajectories as tr
from hnnlib.models import HNN, SeparableHNN


def test_dgnet_protocol_facts():
    """The registry holds DGNet's ODE protocol as read from its scripts."""
    spring, pendulum, two_body = (tr.get_protocol("dgnet", t) for t in ("mass_spring", "pendulum", "two_body"))
    assert spring.time_step == pytest.approx(20 / 99) and two_body.time_step == pytest.approx(25 / 499)
    assert (spring.n_trajectories, spring.n_times, spring.noise_std, spring.test_fraction) == (50, 100, 0.1, 0.5)
    assert (spring.steps, spring.batch_size, spring.weight_decay, spring.hidden_dim) == (2000, None, 1e-4, 200)
    assert pendulum.radius == (1.3, 2.3) and pendulum.energy == "q2_plus_p2"
    assert (two_body.n_trajectories, two_body.steps, two_body.batch_size, two_body.noise_std) == (1000, 10_000, 200, 0.0)
    assert two_body.energy == "hamiltonian" and spring.metric_states == 15
    assert tr.protocol_for("book", "two_body", "rk2").steps == 500
    assert tr.protocol_for("book", "mass_spring", "leapfrog_k4").steps == 1000
    assert tr.protocol_for("book", "mass_spring", "rk2").steps == 2000
    assert tr.protocol_for("dgnet", "mass_spring", "leapfrog_k4").steps == 2000
    with pytest.raises(ValueError, match="unknown protocol"):
        tr.get_protocol("srnn", "mass_spring")
    with pytest.raises(ValueError, match="unknown task"):
        tr.get_protocol("dgnet", "three_body")
    with pytest.raises(ValueError, match="unknown method"):
        tr.protocol_for("book", "mass_spring", "rk3")


def test_published_table():
    """DGNet's published best energy errors, the goals of chapter 10."""
    best = {t: followups.dgnet_best_energy(t)[1].value for t in ("mass_spring", "pendulum", "two_body")}
    assert best == {"mass_spring": 6.16e-4, "pendulum": 1.08e-2, "two_body": 4.04e-5}
    assert followups.dgnet_best_energy("two_body")[0][0] == "SRNN"
    with pytest.raises(ValueError, match="unknown task"):
        followups.dgnet_best_energy("three_body")


TINY = tr.get_protocol("book", "mass_spring").replace(n_trajectories=6, n_times=12, hidden_dim=8, steps=6, batch_size=20)


@pytest.mark.parametrize("method", sorted(tr.METHODS))
def test_train_and_evaluate_every_method(tmp_path, method):
    """Every method trains (two seeds at once), is cached and loaded back identically, and gets both metrics."""
    seeds = [0, 1]
    datas = [tr.make_data(TINY, s) for s in seeds]
    models, history = tr.train_method(TINY, method, seeds, datas, cache=tmp_path, progress=False)
    assert len(models) == 2 and len(history.batch_loss) == TINY.steps
    assert type(models[0]) is (SeparableHNN if tr.METHODS[method].model == "separable" else HNN)
    again, _ = tr.train_method(TINY, method, seeds, datas, cache=tmp_path, progress=False)
    for a, b in zip(models, again):
        for p, q in zip(a.parameters(), b.parameters()):
            assert torch.equal(p, q)
    result = tr.evaluate_method(TINY, method, models, datas, seeds)
    assert result.derivative_error.shape == (2,) and result.energy_error.shape == (2,)
    assert result.predicted.shape == (2, 15, 12, 2) and np.isfinite(result.energy_error).all()


def test_a_seed_trained_in_a_stack_equals_it_trained_alone(tmp_path):
    """The stacked training of seeds (0, 1) gives seed 1 the weights it gets when trained alone."""
    datas = [tr.make_data(TINY, s) for s in (0, 1)]
    both, _ = tr.train_method(TINY, "discrete_gradient", [0, 1], datas, cache=False, progress=False)
    alone, _ = tr.train_method(TINY, "discrete_gradient", [1], datas[1:], cache=False, progress=False)
    for p, q in zip(both[1].parameters(), alone[0].parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_checks():
    with pytest.raises(ValueError, match="at least one seed"):
        tr.train_method(TINY, "rk2", [], cache=False)
    with pytest.raises(ValueError, match="one dataset per seed"):
        tr.train_method(TINY, "rk2", [0, 1], [tr.make_data(TINY, 0)], cache=False)


def test_cli(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(tr.PROTOCOLS, "book", {**tr.PROTOCOLS["book"], "mass_spring": TINY})
    monkeypatch.setenv("HNNLIB_CACHE_DIR", str(tmp_path))
    assert tr.main(["--protocol", "book", "--task", "mass_spring", "--methods", "rk2,discrete_gradient", "--seeds", "0,1"]) == 0
    out = capsys.readouterr().out
    assert "HNN++, RK2" in out and "DGNet, discrete gradient" in out and "energy" in out


def test_the_true_orbits_are_integrated_once_per_task(monkeypatch):
    """Every method of a task is measured on the same true orbits: a second evaluation reuses them."""
    seeds = [0, 1]
    datas = [tr.make_data(TINY, s) for s in seeds]
    models, _ = tr.train_method(TINY, "rk2", seeds, datas, cache=False, progress=False)
    tr._TRUE_ORBITS.clear()
    calls = []
    real = tr.solve_ivp_batched
    monkeypatch.setattr(tr, "solve_ivp_batched", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = tr.evaluate_method(TINY, "rk2", models, datas, seeds)
    second = tr.evaluate_method(TINY, "discrete_gradient", models, datas, seeds, rollout_with="rk2")
    assert len(calls) == 1
    np.testing.assert_array_equal(first.true, second.true)
    np.testing.assert_array_equal(first.energy_error, second.energy_error)  # same models, same rollout
    first.true[0, 0, 0, 0] += 1.0  # each result has its own copy
    assert not np.array_equal(first.true, second.true)
    tr.evaluate_method(TINY, "rk2", models, datas, [1, 0])  # other starts: integrated anew
    assert len(calls) == 2
