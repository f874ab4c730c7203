"""Trajectory datasets: shapes, seeding, noise, targets, initial radii, dtype and input checks."""

import numpy as np
import pytest
import scipy.stats
import torch

from hnnlib.data import Split, TrajectoryDataset, make_trajectory_dataset, sample_initial_states
from hnnlib.systems import HamiltonianSystem, MassSpring, Pendulum

F64 = torch.float64


@pytest.fixture(scope="module")
def default_data():
    """Task 1 defaults (float32), and the same draw without noise in float64."""
    return make_trajectory_dataset("mass_spring"), make_trajectory_dataset("mass_spring", noise_std=0.0, dtype=F64)


def splits(data):
    return data.train, data.test


def test_default_shapes(default_data):
    """Defaults: 25 train and 25 test trajectories, 30 times, 2 coordinates; flat views of 750 samples."""
    data, _ = default_data
    assert isinstance(data, TrajectoryDataset) and isinstance(data.system, MassSpring)
    for split in splits(data):
        assert split.x.shape == split.dx.shape == (25, 30, 2)
        assert split.t.shape == split.energy.shape == (25, 30)
        assert split.inputs.shape == split.targets.shape == (750, 2)
        assert len(split) == 750
        assert all(v.dtype == torch.float32 for v in (split.x, split.dx, split.t, split.energy))
        torch.testing.assert_close(split.t[0], torch.linspace(0, 3, 30))
        torch.testing.assert_close(split.inputs[31], split.x[1, 1])  # trajectory-major flattening
    assert data.settings["seed"] == 0 and data.settings["n_trajectories"] == 50


def test_seeded_determinism():
    """The same seed gives identical tensors; another seed gives different ones."""
    kw = dict(n_trajectories=6, n_times=8)
    a, b = make_trajectory_dataset("pendulum", seed=3, **kw), make_trajectory_dataset("pendulum", seed=3, **kw)
    c = make_trajectory_dataset("pendulum", seed=4, **kw)
    for sa, sb, sc in zip(splits(a), splits(b), splits(c)):
        for name in ("x", "dx", "t", "energy"):
            assert torch.equal(getattr(sa, name), getattr(sb, name))
        assert not torch.equal(sa.x, sc.x) and not torch.equal(sa.dx, sc.dx)


def test_noise_statistics(default_data):
    """x - clean has mean ~0 and std ~noise_std (0.1) per coordinate; the clean draw is regenerated with noise_std=0."""
    data, clean = default_data
    noise = torch.cat([(s.x.double() - c.x).reshape(-1, 2) for s, c in zip(splits(data), splits(clean))])
    assert noise.shape == (1500, 2)
    # standard errors: 0.1 / sqrt(1500) ~ 0.0026 for the mean, ~0.0018 for the std
    assert noise.mean(0).abs().max() < 0.015
    assert torch.all((noise.std(0) - 0.1).abs() < 0.01)
    assert abs(torch.corrcoef(noise.T)[0, 1]) < 0.1  # independent noise on q and p


def test_noise_scales_with_noise_std():
    """noise_std = 0.3 gives three times the noise of the same seed at 0.1 (the same normal draws)."""
    kw = dict(n_trajectories=4, n_times=10, dtype=F64, seed=5)
    clean = make_trajectory_dataset("pendulum", noise_std=0.0, **kw)
    small = make_trajectory_dataset("pendulum", noise_std=0.1, **kw)
    big = make_trajectory_dataset("pendulum", noise_std=0.3, **kw)
    torch.testing.assert_close(big.train.x - clean.train.x, 3 * (small.train.x - clean.train.x))


def test_targets_are_exact_derivatives_of_clean_states(default_data):
    """dx equals system.time_derivative of the noiseless states (not of the noisy inputs)."""
    data, clean = default_data
    system = clean.system
    for split, clean_split in zip(splits(data), splits(clean)):
        torch.testing.assert_close(clean_split.dx, system.time_derivative(clean_split.x), rtol=1e-14, atol=1e-14)
        torch.testing.assert_close(split.dx, clean_split.dx.float())
        noisy_derivative = system.time_derivative(split.x)
        assert (noisy_derivative - split.dx).abs().mean() > 0.05


def test_clean_states_follow_the_dynamics(default_data):
    """The noiseless trajectories are true solutions (closed form, constant energy) to the solver's atol scale (1e-6)."""
    _, clean = default_data
    for split in splits(clean):
        assert (split.energy - split.energy[:, :1]).abs().max() < 2e-5
        # H = q^2 + p^2 rotates phase space at angular speed 2: compare with the closed form
        q0, p0 = split.x[:, :1, 0], split.x[:, :1, 1]
        c, s = torch.cos(2 * split.t), torch.sin(2 * split.t)
        torch.testing.assert_close(split.x, torch.stack([q0 * c + p0 * s, p0 * c - q0 * s], -1), rtol=0, atol=2e-5)


def test_clean_states_accurate_to_rtol(default_data):
    """At the default rtol = 1e-10 the clean trajectories should conserve H to a relative 1e-8."""
    _, clean = default_data
    for split in splits(clean):
        drift = (split.energy - split.energy[:, :1]).abs() / split.energy[:, :1]
        assert drift.max() < 1e-8


def test_initial_radii_in_range(default_data):
    """Every trajectory starts at radius sqrt(q^2 + p^2) in [0.1, 1.0], and both ends are approached."""
    _, clean = default_data
    r0 = torch.cat([s.x[:, 0].norm(dim=-1) for s in splits(clean)])
    assert r0.min() >= 0.1 and r0.max() <= 1.0
    assert r0.min() < 0.3 and r0.max() > 0.8  # uniform over the range, not a constant
    narrow = make_trajectory_dataset("pendulum", n_trajectories=20, n_times=3, radius=(0.5, 0.6), noise_std=0.0, dtype=F64)
    r = torch.cat([s.x[:, 0].norm(dim=-1) for s in splits(narrow)])
    assert r.min() >= 0.5 and r.max() <= 0.6


def test_sample_initial_states():
    """Initial states have radii uniform on the requested range and directions in every quadrant."""
    x = sample_initial_states(2000, (0.2, 0.7), np.random.default_rng(0))
    r = np.linalg.norm(x, axis=1)
    assert x.shape == (2000, 2) and r.min() >= 0.2 and r.max() <= 0.7
    assert scipy.stats.kstest(r, scipy.stats.uniform(loc=0.2, scale=0.5).cdf).pvalue > 1e-3
    assert set(zip(np.sign(x[:, 0]), np.sign(x[:, 1]))) == {(1, 1), (1, -1), (-1, 1), (-1, -1)}
    assert np.allclose(np.linalg.norm(sample_initial_states(5, (0.4, 0.4), np.random.default_rng(1)), axis=1), 0.4)


def test_energy_field_is_h_of_clean_states(default_data):
    """energy equals the system's H of the noiseless states (not of the noisy ones)."""
    data, clean = default_data
    for split, clean_split in zip(splits(data), splits(clean)):
        torch.testing.assert_close(clean_split.energy, clean.system.hamiltonian(clean_split.x), rtol=1e-14, atol=1e-14)
        torch.testing.assert_close(split.energy, clean_split.energy.float())


def test_dtype_device_and_to():
    """dtype/device arguments are respected; TrajectoryDataset.to casts every tensor."""
    data = make_trajectory_dataset(Pendulum(), n_trajectories=4, n_times=5, dtype=F64, device="cpu")
    for split in splits(data):
        for v in (split.x, split.dx, split.t, split.energy):
            assert v.dtype == F64 and v.device.type == "cpu"
    moved = data.to(dtype=torch.float32)
    assert all(v.dtype == torch.float32 for v in (moved.train.x, moved.test.dx, moved.test.t, moved.train.energy))
    assert moved.system is data.system and moved.settings == data.settings
    torch.testing.assert_close(moved.train.x, data.train.x.float())


def test_system_object_equals_name():
    """A system object and its registry name give the same data."""
    a = make_trajectory_dataset(Pendulum(), n_trajectories=4, n_times=5)
    b = make_trajectory_dataset("pendulum", n_trajectories=4, n_times=5)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.dx, b.test.dx)


def test_test_fraction_and_t_span():
    """test_fraction sets the split sizes; t_span and n_times set the time grid."""
    data = make_trajectory_dataset("mass_spring", n_trajectories=10, n_times=4, test_fraction=0.2, t_span=(1.0, 2.5))
    assert data.train.x.shape[0] == 8 and data.test.x.shape[0] == 2
    torch.testing.assert_close(data.test.t[0], torch.tensor([1.0, 1.5, 2.0, 2.5]))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(system="double_pendulum"), ValueError, "unknown system"),
        (dict(noise_std=-0.1), ValueError, "noise_std"),
        (dict(noise_std=float("nan")), ValueError, "noise_std"),
        (dict(test_fraction=0.0), ValueError, "test_fraction"),
        (dict(test_fraction=1.0), ValueError, "test_fraction"),
        (dict(n_trajectories=2, test_fraction=0.1), ValueError, "test_fraction"),
        (dict(radius=(1.0, 0.1)), ValueError, "radius"),
        (dict(radius=(-0.5, 1.0)), ValueError, "radius"),
        (dict(radius=(0.1,)), ValueError, "radius"),
        (dict(t_span=(3.0, 0.0)), ValueError, "t_span"),
        (dict(n_trajectories=0), ValueError, "n_trajectories"),
        (dict(n_times=2.5), TypeError, "n_times"),
        (dict(system=42), TypeError, "system"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    """Invalid arguments raise before any simulation, naming the argument."""
    kwargs = {"system": "mass_spring", "n_trajectories": 4, "n_times": 5, **kwargs}
    with pytest.raises(error, match=match):
        make_trajectory_dataset(kwargs.pop("system"), **kwargs)


def test_split_checks_shapes():
    """Split refuses inconsistent tensors."""
    x = torch.zeros(2, 3, 2)
    with pytest.raises(ValueError, match="x and dx"):
        Split(x, torch.zeros(2, 3, 3), torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="t and energy"):
        Split(x, x, torch.zeros(2, 4), torch.zeros(2, 3))


def test_two_degree_of_freedom_system_is_refused():
    """A system with n_dof = 2 (a test-only one) cannot be sampled as (q, p) pairs: ValueError naming n_dof."""

    class TwoSprings(HamiltonianSystem):
        name = "two_springs"
        n_dof = 2

        def _hamiltonian(self, x):
            return (x**2).sum(-1)

        def _time_derivative(self, x):
            return torch.cat([2 * x[..., 2:], -2 * x[..., :2]], -1)

    with pytest.raises(ValueError, match="n_dof"):
        make_trajectory_dataset(TwoSprings(), n_trajectories=4, n_times=5)
