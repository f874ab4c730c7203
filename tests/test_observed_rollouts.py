"""Helpers added for Tasks 2 and 3: energy MSE under another energy, rollouts against recorded data,
energy contours."""

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from hnnlib import plotting
from hnnlib.metrics import compare_rollouts, compare_to_observed, energy_mse_under
from hnnlib.systems import MassSpring, Pendulum


class SystemModel(torch.nn.Module):
    """A 'model' with a system's exact derivatives, scaled by ``speed``; a dummy parameter fixes its dtype."""

    def __init__(self, system, speed=1.0):
        super().__init__()
        self.system, self.speed = system, speed
        self.dummy = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))

    def time_derivative(self, x):
        return self.speed * self.system.time_derivative(x) + 0 * self.dummy


def q2p2(x):
    return x[..., 0] ** 2 + x[..., 1] ** 2


def test_energy_mse_recomputes_from_the_rollouts():
    """Same energy as the comparison: same numbers; another energy: the MSE of that energy."""
    system = Pendulum()
    x0 = np.array([[0.5, 0.0], [0.0, 0.8], [-0.3, 0.3]])
    t = np.linspace(0, 3, 40)
    c = compare_rollouts(system, SystemModel(system, speed=1.1), x0, t)
    same = energy_mse_under(c, system.hamiltonian)
    assert same.mean == pytest.approx(c.energy_mse.mean, rel=1e-12) and same.n == 3
    other = energy_mse_under(c, q2p2)
    expected = ((q2p2(c.predicted) - q2p2(c.true)) ** 2).mean(axis=1)
    assert other.mean == pytest.approx(expected.mean(), rel=1e-12)
    assert other.mean != pytest.approx(same.mean)
    with pytest.raises(ValueError, match="energy must map"):
        energy_mse_under(c, lambda x: x)


def test_compare_to_observed_exact_model_matches_data():
    """A model with the true dynamics, started at the first observation, reproduces irregularly timed data."""
    system = MassSpring()
    t = np.array([0.0, 0.1, 0.3, 0.4, 1.0, 1.7])  # gaps, as in a recording
    observed = np.stack([np.cos(2 * t), -np.sin(2 * t)], axis=1)  # H = q^2 + p^2: dq/dt = 2p, dp/dt = -2q
    c = compare_to_observed(SystemModel(system), observed, t, system.hamiltonian, rtol_model=1e-10, atol=1e-12)
    assert c.true.shape == c.predicted.shape == (1, 6, 2)
    np.testing.assert_allclose(c.predicted[0], observed, atol=1e-8)
    assert c.energy_mse.mean < 1e-14 and c.coordinate_mse.mean < 1e-14 and c.energy_mse.n == 1
    np.testing.assert_allclose(c.true_energy, 1.0)


def test_compare_to_observed_measures_energy_loss():
    """Against damped 'observations' a conservative model keeps its energy: the MSE is the gap."""
    system = MassSpring()
    t = np.linspace(0, 2, 30)
    decay = np.exp(-0.5 * t)  # amplitude decay of a damped oscillator, energy ~ decay^2
    observed = torch.tensor(np.stack([decay * np.cos(2 * t), -decay * np.sin(2 * t)], axis=1)[None])
    c = compare_to_observed(SystemModel(system), observed, torch.tensor(t), system.hamiltonian, rtol_model=1e-9, atol=1e-10)
    np.testing.assert_allclose(c.predicted_energy, 1.0, atol=1e-6)
    assert c.energy_mse.mean == pytest.approx(np.mean((1 - decay**2) ** 2), rel=1e-4)


def test_compare_to_observed_checks_shapes():
    system = MassSpring()
    with pytest.raises(ValueError, match="t_eval must have shape"):
        compare_to_observed(SystemModel(system), np.zeros((5, 2)), np.arange(4.0), system.hamiltonian)
    with pytest.raises(ValueError, match="observed must have shape"):
        compare_to_observed(SystemModel(system), np.zeros(5), np.arange(5.0), system.hamiltonian)
    with pytest.raises(ValueError, match="strictly increasing"):
        compare_to_observed(SystemModel(system), np.zeros((3, 2)), np.array([0.0, 2.0, 1.0]), system.hamiltonian)


def test_plot_energy_contours_draws_level_sets():
    """The given levels are drawn as contours of the energy; labels on request; bad energies refused."""
    fig = Figure()
    ax = fig.subplots()
    plotting.plot_energy_contours(ax, Pendulum().hamiltonian, (-3, 3), (-2.5, 2.5), levels=[1.0, 3.0, 6.0], label_levels=True)
    (contour,) = [c for c in ax.collections]
    np.testing.assert_allclose(contour.levels, [1.0, 3.0, 6.0])
    assert len(ax.texts) >= 3 and ax.get_xlabel() == "position $q$"
    with pytest.raises(ValueError, match="energy must map"):
        plotting.plot_energy_contours(fig.subplots(), lambda x: x, n=5)
