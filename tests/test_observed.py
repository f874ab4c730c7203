"""Observed trajectories: shapes, the split by trajectory, the stated noise, windows, finite differences, checks."""

import math

import numpy as np
import pytest
import torch

from hnnlib.observed import ObservedTrajectories, make_observed_trajectories
from hnnlib.systems import MassSpring, Pendulum, ThreeBody, TwoBody


@pytest.fixture(scope="module")
def spring():
    return make_observed_trajectories("mass_spring", n_trajectories=10, n_times=21, t_span=(0.0, 4.0), noise_std=0.1, seed=3)


def test_shapes_split_and_time_step(spring):
    """Trajectories are kept whole and split by trajectory; the time step is (t1 - t0) / (n_times - 1)."""
    assert spring.train.states.shape == (5, 21, 2) and spring.test.states.shape == (5, 21, 2)
    assert spring.time_step == pytest.approx(0.2)
    assert spring.train.noise_std == 0.1 and spring.settings["seed"] == 3
    for split in (spring.train, spring.test):  # the clean states lie on their own orbits: H is constant along each
        energy = MassSpring().hamiltonian(split.clean)
        assert (energy - energy[:, :1]).abs().max() < 1e-5
    train_start = spring.train.clean[:, 0]
    test_start = spring.test.clean[:, 0]
    assert torch.cdist(train_start, test_start).min() > 0  # no trajectory in both splits


def test_noise_is_what_is_stated():
    """The observations differ from the clean states by noise of the stated standard deviation (within 3 %)."""
    data = make_observed_trajectories("pendulum", n_trajectories=100, n_times=50, noise_std=0.05, radius=(1.3, 2.3), seed=0,
                                      dtype=torch.float64)
    residual = data.train.states - data.train.clean
    assert float(residual.std()) == pytest.approx(0.05, rel=0.03)
    assert abs(float(residual.mean())) < 0.003
    clean = make_observed_trajectories("pendulum", n_trajectories=4, n_times=5, noise_std=0.0, seed=0)
    assert torch.equal(clean.train.states, clean.train.clean)


def test_derivatives_are_exact(spring):
    torch.testing.assert_close(spring.train.derivatives, MassSpring().time_derivative(spring.train.clean))


def test_pairs_windows_and_finite_differences(spring):
    """pairs() are consecutive observations; windows(k) the k states after each start; the central finite difference
    of clean mass-spring states has the known relative bias tan(omega h / 2) / (omega h / 2) - 1."""
    obs = spring.train
    x1, x2 = obs.pairs()
    assert x1.shape == (5 * 20, 2)
    torch.testing.assert_close(x1[20], obs.states[1, 0])
    torch.testing.assert_close(x2[20], obs.states[1, 1])
    start, following = obs.windows(3)
    assert start.shape == (5 * 18, 2) and following.shape == (5 * 18, 3, 2)
    torch.testing.assert_close(following[18 + 4], obs.states[1, 5:8])
    torch.testing.assert_close(start[18 + 4], obs.states[1, 4])
    clean = ObservedTrajectories(obs.clean.double(), obs.t, 0.0)
    inputs, targets = clean.finite_differences("central")
    exact = MassSpring().time_derivative(inputs)
    theta = 2.0 * obs.time_step
    ratio = targets.norm(dim=-1) / exact.norm(dim=-1)
    torch.testing.assert_close(ratio, torch.full_like(ratio, math.tan(theta / 2) / (theta / 2)), rtol=1e-5, atol=0)
    forward_inputs, _ = clean.finite_differences("forward")
    torch.testing.assert_close(forward_inputs, clean.pairs()[0])


def test_two_body_orbits():
    data = make_observed_trajectories(TwoBody(), n_trajectories=5, n_times=30, t_span=(0.0, 3.0), noise_std=0.0,
                                      radius=(0.5, 1.5), test_fraction=0.2, seed=1, dtype=torch.float64)
    assert data.train.states.shape == (4, 30, 8) and data.test.states.shape == (1, 30, 8)
    energy = TwoBody().hamiltonian(data.train.states)
    assert (energy - energy[:, :1]).abs().max() < 1e-6


def test_checks():
    """Too few points, a non-positive or uneven time step, bad shapes and noise give clear errors."""
    x = torch.zeros(3, 5, 2)
    with pytest.raises(ValueError, match="at least two observed points"):
        ObservedTrajectories(torch.zeros(3, 1, 2), torch.zeros(1), 0.1)
    with pytest.raises(ValueError, match="time step must be > 0"):
        ObservedTrajectories(x, torch.tensor([0.0, 0.1, 0.1, 0.2, 0.3]), 0.1)
    with pytest.raises(ValueError, match="time step must be > 0"):
        ObservedTrajectories(x, -torch.arange(5.0), 0.1)
    with pytest.raises(ValueError, match="equally spaced"):
        ObservedTrajectories(x, torch.tensor([0.0, 0.1, 0.2, 0.4, 0.5]), 0.1)
    with pytest.raises(ValueError, match=r"shape \(n_trajectories, n_times, D\)"):
        ObservedTrajectories(torch.zeros(5, 2), torch.arange(5.0), 0.1)
    with pytest.raises(ValueError, match="noise_std"):
        ObservedTrajectories(x, torch.arange(5.0), -0.1)
    with pytest.raises(ValueError, match="finite times"):
        ObservedTrajectories(x, torch.arange(4.0), 0.1)
    with pytest.raises(ValueError, match="clean must have the shape"):
        ObservedTrajectories(x, torch.arange(5.0), 0.1, clean=torch.zeros(3, 4, 2))
    obs = ObservedTrajectories(x, torch.arange(5.0), 0.1)
    with pytest.raises(ValueError, match="at least 6 points"):
        obs.windows(5)
    with pytest.raises(ValueError, match="scheme"):
        obs.finite_differences("backward")
    with pytest.raises(ValueError, match="n_times must be >= 2"):
        make_observed_trajectories("mass_spring", n_times=1)
    with pytest.raises(ValueError, match="time step > 0"):
        make_observed_trajectories("mass_spring", t_span=(1.0, 1.0))
    with pytest.raises(ValueError, match="one degree of freedom or two bodies"):
        make_observed_trajectories(ThreeBody(), n_trajectories=4, n_times=3)
    with pytest.raises(TypeError, match="HamiltonianSystem"):
        make_observed_trajectories(3.0)
    assert obs.to(torch.float64).states.dtype == torch.float64
    assert isinstance(Pendulum(), Pendulum)
    assert np.isclose(obs.time_step, 1.0)
