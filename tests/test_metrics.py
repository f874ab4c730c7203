"""Metrics of Table 1: mean and standard error, derivative loss, rollout comparisons."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from hnnlib.data import sample_two_body_states
from hnnlib.metrics import MeanWithError, RolloutComparison, compare_rollouts, derivative_loss, sample_metric_states
from hnnlib.models import HNN, BaselineNN, l2_loss
from hnnlib.systems import MassSpring, Pendulum, TwoBody
from hnnlib.training import set_seed

F64 = torch.float64


class SystemModel(torch.nn.Module):
    """A 'model' that returns a system's exact derivatives; one dummy parameter fixes its dtype."""

    def __init__(self, system, dtype=F64):
        super().__init__()
        self.system = system
        self.dummy = torch.nn.Parameter(torch.zeros((), dtype=dtype))
        self.seen_dtypes = set()

    def time_derivative(self, x):
        self.seen_dtypes.add(x.dtype)
        return self.system.time_derivative(x) + 0 * self.dummy


@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=2, max_size=50))
def test_mean_with_error_matches_numpy(values):
    """mean, std(ddof=1)/sqrt(n) and n, for arrays and tensors alike."""
    v = np.array(values)
    m = MeanWithError.of(v)
    assert m.n == len(values)
    assert m.mean == pytest.approx(v.mean(), rel=1e-12, abs=1e-9)
    assert m.stderr == pytest.approx(v.std(ddof=1) / np.sqrt(len(v)), rel=1e-9, abs=1e-9)
    assert MeanWithError.of(torch.tensor(values, dtype=F64)) == m


def test_mean_with_error_edge_cases():
    """One value has an undefined (NaN) error; no values is an error; 2-D input is flattened."""
    one = MeanWithError.of([2.5])
    assert one.mean == 2.5 and one.n == 1 and np.isnan(one.stderr)
    assert format(one) == str(one) == "2.5 (n = 1)"  # never "2.5 +- nan"
    with pytest.raises(ValueError, match="at least one"):
        MeanWithError.of(np.array([]))
    assert MeanWithError.of(np.ones((3, 4))).n == 12


def test_mean_with_error_format_and_scaled():
    """format gives 'mean +- stderr' in the given spec (default .3g); scaled multiplies both."""
    m = MeanWithError(0.0123, 0.00456, 10)
    assert format(m, ".2e") == "1.23e-02 +- 4.56e-03"
    assert str(m) == "0.0123 +- 0.00456"
    assert f"{m:.1f}" == "0.0 +- 0.0"
    s = m.scaled(1e3)
    assert (s.mean, s.stderr, s.n) == (pytest.approx(12.3), pytest.approx(4.56), 10)
    assert format(s, ".2f") == "12.30 +- 4.56"


def test_a_single_value_prints_its_count_instead_of_a_nan_error():
    """n = 1: the mean and "(n = 1)" in any spec, also scaled; a NaN error of n > 1 stays visible."""
    one = MeanWithError(0.37, float("nan"), 1)
    assert f"{one:.3g}" == "0.37 (n = 1)"
    assert f"{one.scaled(1e3)}" == "370 (n = 1)"
    assert one.text(".2e", 2) == "3.70e-01 (n = 1)"
    assert str(MeanWithError(0.37, float("nan"), 5)) == "0.37 +- nan"


def test_text_rounds_the_error_to_its_significant_figures():
    """text(spec, error_figures): the mean in spec, the error rounded first, then in the same spec."""
    assert MeanWithError(38.43, 0.638, 3).text(".3g", 2) == "38.4 +- 0.64"
    assert MeanWithError(632.0, 130.4, 15).text(".3g", 2) == "632 +- 130"  # not 1.3e+02
    assert MeanWithError(7.23e5, 6.41e5, 15).text(".3g", 2) == "7.23e+05 +- 6.4e+05"
    assert MeanWithError(0.634, 0.00317, 15).text(".3g", 2) == "0.634 +- 0.0032"
    assert MeanWithError(1.0, 0.0, 15).text(".3g", 2) == "1 +- 0"
    m = MeanWithError(0.0123, 0.00456, 10)
    assert m.text() == format(m) == "0.0123 +- 0.00456"
    with pytest.raises(ValueError, match="error_figures"):
        m.text(".3g", 0)


@pytest.mark.parametrize("cls", [HNN, BaselineNN])
def test_derivative_loss_mean_equals_l2_loss(cls):
    """derivative_loss's mean is models.l2_loss; its error is over per-sample means across D."""
    torch.manual_seed(0)
    model = cls(4, 8)
    x, dx = torch.randn(30, 4), torch.randn(30, 4)
    result = derivative_loss(model, x, dx)
    with torch.no_grad():
        pred = model.time_derivative(x)
    assert result.mean == pytest.approx(float(l2_loss(pred, dx)), rel=1e-5)
    per_sample = ((pred - dx) ** 2).mean(-1).double().numpy()
    assert result.n == 30
    assert result.stderr == pytest.approx(per_sample.std(ddof=1) / np.sqrt(30), rel=1e-5)


def test_derivative_loss_is_zero_for_exact_model():
    """The exact system as a model has zero derivative loss."""
    system = Pendulum()
    x = torch.randn(10, 2, dtype=F64)
    assert derivative_loss(SystemModel(system), x, system.time_derivative(x)).mean == 0.0


def test_derivative_loss_bad_input():
    """Targets with a different last axis are refused."""
    with pytest.raises(ValueError, match="dx"):
        derivative_loss(HNN(2, 4), torch.zeros(3, 2), torch.zeros(3, 4))


@pytest.fixture(scope="module")
def rollout_setup():
    x0 = sample_metric_states(4, (0.2, 1.0), np.random.default_rng(0))
    return x0, np.linspace(0, 4, 41)


@pytest.mark.parametrize("system", [MassSpring(), Pendulum()], ids=lambda s: s.name)
def test_compare_rollouts_exact_model(rollout_setup, system):
    """A model that is the true system has ~0 energy and coordinate MSE; all fields have the right shapes."""
    x0, t = rollout_setup
    model = SystemModel(system)
    result = compare_rollouts(system, model, x0, t)
    assert model.seen_dtypes == {F64}  # evaluated in the model's dtype
    assert isinstance(result, RolloutComparison)
    b, n_t = x0.shape[0], t.size
    assert result.true.shape == result.predicted.shape == (b, n_t, 2)
    assert result.true_energy.shape == result.predicted_energy.shape == (b, n_t)
    assert result.coordinate_mse_over_time.shape == (n_t,)
    np.testing.assert_array_equal(result.t, t)
    assert result.energy_mse.n == result.coordinate_mse.n == b
    np.testing.assert_allclose(result.true[:, 0], x0)
    np.testing.assert_allclose(result.true_energy, system.hamiltonian(result.true))
    assert result.energy_mse.mean < 1e-10
    assert result.coordinate_mse.mean < 1e-10
    assert result.coordinate_mse_over_time.max() < 1e-10


def test_compare_rollouts_wrong_model(rollout_setup):
    """A model of the wrong system (stiffer spring) gives errors many orders larger, growing over time."""
    x0, t = rollout_setup
    system = MassSpring()
    exact = compare_rollouts(system, SystemModel(system), x0, t)
    wrong = compare_rollouts(system, SystemModel(MassSpring(k=3.0)), x0, t)
    assert wrong.energy_mse.mean > 1e-3 and wrong.coordinate_mse.mean > 1e-2
    assert wrong.energy_mse.mean > 1e6 * exact.energy_mse.mean
    assert wrong.coordinate_mse.mean > 1e6 * exact.coordinate_mse.mean
    assert wrong.coordinate_mse_over_time[0] == 0.0  # same start
    assert wrong.coordinate_mse_over_time[5:].mean() > wrong.coordinate_mse_over_time[1:5].mean()
    # the per-trajectory definition: mean over time, then mean over trajectories
    e_err = ((wrong.predicted_energy - wrong.true_energy) ** 2).mean(1)
    assert wrong.energy_mse.mean == pytest.approx(e_err.mean())
    c_err = ((wrong.predicted - wrong.true) ** 2).mean(axis=(1, 2))
    assert wrong.coordinate_mse.mean == pytest.approx(c_err.mean())
    np.testing.assert_allclose(wrong.coordinate_mse_over_time, ((wrong.predicted - wrong.true) ** 2).mean(axis=(0, 2)))


def test_compare_rollouts_float32_model_and_custom_energy(rollout_setup):
    """A float32 model is integrated in float32 (small but nonzero error); a custom energy function is used."""
    x0, t = rollout_setup
    system = MassSpring()
    model = SystemModel(system, torch.float32)
    result = compare_rollouts(system, model, x0, t, energy=lambda x: x[..., 0] ** 2)
    assert model.seen_dtypes == {torch.float32}
    np.testing.assert_allclose(result.true_energy, result.true[..., 0] ** 2)
    assert 0 < result.coordinate_mse.mean < 1e-8


def test_compare_rollouts_trained_hnn_shapes(rollout_setup):
    """An (untrained) HNN runs through the protocol in its own dtype."""
    x0, t = rollout_setup
    torch.manual_seed(0)
    result = compare_rollouts(MassSpring(), HNN(2, 8), x0[:2], t[:11])
    assert result.predicted.shape == (2, 11, 2) and np.isfinite(result.predicted).all()


def test_compare_rollouts_bad_x0():
    """x0 must be (B, D) with D the system's dimension."""
    system = MassSpring()
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        compare_rollouts(system, SystemModel(system), np.zeros(2), np.linspace(0, 1, 3))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        compare_rollouts(system, SystemModel(system), np.zeros((3, 4)), np.linspace(0, 1, 3))


def test_sample_metric_states():
    """Each coordinate has magnitude in [low, high] and both signs occur; shape (n, dim)."""
    x = sample_metric_states(500, (0.2, 1.0), np.random.default_rng(0), dim=4)
    assert x.shape == (500, 4)
    assert np.abs(x).min() >= 0.2 and np.abs(x).max() <= 1.0
    assert (x > 0).any(axis=0).all() and (x < 0).any(axis=0).all()
    with pytest.raises(ValueError, match="magnitude"):
        sample_metric_states(5, (1.0, 0.2), np.random.default_rng(0))
    with pytest.raises(ValueError, match="n"):
        sample_metric_states(0, (0.2, 1.0), np.random.default_rng(0))


# --- batched rollouts (N bodies) -----------------------------------------------------------------

def rng(seed=0):
    return np.random.default_rng(seed)


def test_compare_rollouts_batched_matches_unbatched():
    """compare_rollouts(batched=True) gives the per-state solve_ivp metric up to float32 round-off."""
    system = TwoBody()
    set_seed(0)
    model = BaselineNN(8, 32)
    x0 = np.concatenate([sample_two_body_states(1, rng(s)) for s in range(3)])
    t = np.linspace(0, 3, 40)
    a = compare_rollouts(system, model, x0, t, rtol_true=1e-9, batched=True)
    b = compare_rollouts(system, model, x0, t, rtol_true=1e-9)
    np.testing.assert_allclose(a.true, b.true, atol=1e-12)
    np.testing.assert_allclose(a.predicted, b.predicted, rtol=1e-4, atol=1e-5)
    assert a.energy_mse.mean == pytest.approx(b.energy_mse.mean, rel=1e-3)


def test_derivative_loss_refuses_what_has_no_time_derivative_and_broadcasting():
    """dx (1, 2) against x (5, 2) would broadcast silently: a ValueError. A system is allowed (the noise floor)."""
    import hnnlib

    x = torch.zeros(5, 2)
    with pytest.raises(ValueError, match=r"x and dx must both have shape \(n, D\), got \(5, 2\) and \(1, 2\)"):
        hnnlib.derivative_loss(hnnlib.HNN(2, 8), x, torch.zeros(1, 2))
    with pytest.raises(TypeError, match="time_derivative"):
        hnnlib.derivative_loss(torch.nn.Linear(2, 2), x, x)
    assert hnnlib.derivative_loss(hnnlib.MassSpring(), x, x).mean == 0.0


class ZeroField(torch.nn.Module):
    """A broken model: its vector field is zero, so it never moves (and keeps its energy exactly)."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def time_derivative(self, x):
        return torch.zeros_like(x) * self.weight


def test_a_dead_model_passes_the_energy_comparison_but_fails_the_claim_check():
    """A zero field scores an energy MSE of ~0 on the mass-spring, below any real model's; the chapters' claim
    check (energy below the baseline's AND rollouts that follow the truth) refuses it."""
    from hnnlib.metrics import check_energy_claim, tracking_error

    system = MassSpring()
    set_seed(0)
    baseline = BaselineNN(2, 16)
    x0 = sample_metric_states(5, (0.2, 1.0), np.random.default_rng(0))
    t = np.linspace(0, 20, 100)
    dead = compare_rollouts(system, ZeroField(), x0, t)
    other = compare_rollouts(system, baseline, x0, t)
    assert dead.energy_mse.mean < 1e-8 < other.energy_mse.mean  # the energy claim alone would pass
    assert tracking_error(dead).mean == pytest.approx(1.0)
    with pytest.raises(AssertionError, match="do not follow the truth up to t = 5: tracking error 1"):
        check_energy_claim(dead, other, until=5.0)
    truth_as_model = compare_rollouts(system, _SystemModel(system), x0, t)
    assert tracking_error(truth_as_model).mean < 1e-6
    with pytest.raises(AssertionError, match="do not follow the truth"):
        check_energy_claim(other, truth_as_model, until=5.0)  # an untrained model wanders off
    check_energy_claim(truth_as_model, other, until=5.0)  # the true field passes


class _SystemModel(torch.nn.Module):
    """The true field as a model (float64), for a rollout that tracks perfectly."""

    def __init__(self, system):
        super().__init__()
        self.system = system
        self.weight = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))

    def time_derivative(self, x):
        return self.system.time_derivative(x) + 0 * self.weight


def test_tracking_error_checks_its_horizon():
    from hnnlib.metrics import tracking_error

    system = MassSpring()
    x0 = sample_metric_states(2, (0.2, 1.0), np.random.default_rng(0))
    c = compare_rollouts(system, ZeroField(), x0, np.linspace(0, 2, 5))
    with pytest.raises(ValueError, match="fewer than two times"):
        tracking_error(c, until=0.1)
    with pytest.raises(TypeError, match="RolloutComparison"):
        tracking_error("not a comparison")
