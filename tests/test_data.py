"""Trajectory datasets: shapes, seeding, noise, targets, initial radii, dtype and input checks."""

import math

import numpy as np
import pytest
import scipy.stats
import torch

from hnnlib.data import (
    NBODY_DEFAULTS,
    Split,
    TrajectoryDataset,
    make_nbody_dataset,
    make_trajectory_dataset,
    sample_initial_states,
    sample_nbody_states,
    sample_ring_states,
    sample_two_body_states,
)
from hnnlib.systems import HamiltonianSystem, MassSpring, NBody, Pendulum, ThreeBody, TwoBody

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
        (dict(system="no_such_system"), ValueError, "unknown system"),
        (dict(system="double_pendulum"), ValueError, "needs n_dof == 1"),
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
        (dict(n_times=1), ValueError, "n_times must be >= 2"),
        (dict(t_span=(1.0, 1.0)), ValueError, "t0 < t1"),
        (dict(noise_std=float("inf")), ValueError, "noise_std must be a finite number >= 0"),
        (dict(noise_std="0.1"), TypeError, "noise_std must be a real number"),
        (dict(test_fraction="half"), TypeError, "test_fraction must be a real number"),
        (dict(dtype=torch.int64), ValueError, "dtype must be torch.float32 or torch.float64, got torch.int64"),
        (dict(dtype=torch.float16), ValueError, "dtype must be torch.float32 or torch.float64, got torch.float16"),
        (dict(dtype=torch.bfloat16), ValueError, "half precision"),
        (dict(dtype=torch.complex64), ValueError, "complex"),
        (dict(dtype="float32"), TypeError, "dtype must be a torch.dtype"),
        (dict(device="gpu0"), ValueError, "device 'gpu0' is not a device name"),
        (dict(device=0), TypeError, "device must be a str or torch.device"),
        (dict(seed=-1), ValueError, "seed must lie in"),
        (dict(seed=1.5), TypeError, "seed must be an int"),
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


# --- N-body datasets ------------------------------------------------------------------------------

def rng(seed=0):
    return np.random.default_rng(seed)



@pytest.fixture(scope="module")
def two_body_data():
    return make_nbody_dataset("two_body", seed=0, dtype=F64)


def test_two_body_dataset_matches_reference_settings(two_body_data):
    """1000 trajectories x 50 points on [0, 20], 800/200 split, exact derivative targets, conserved H, P and CM."""
    data = two_body_data
    assert isinstance(data, TrajectoryDataset) and isinstance(data.system, TwoBody)
    assert data.train.x.shape == (800, 50, 8) and data.test.x.shape == (200, 50, 8)
    torch.testing.assert_close(data.train.t[0], torch.linspace(0, 20, 50, dtype=F64))
    system = data.system
    for split in (data.train, data.test):
        torch.testing.assert_close(split.dx, system.time_derivative(split.x), rtol=1e-14, atol=1e-14)
        torch.testing.assert_close(split.energy, system.hamiltonian(split.x))
        assert (split.energy - split.energy[:, :1]).abs().max() < 1e-4  # RK45 at atol 1e-6 over ~2 orbits
        assert system.total_momentum(split.x).abs().max() < 1e-12
        assert system.center_of_mass(split.x).abs().max() < 1e-12
    assert data.settings["n_trajectories"] == 1000 and data.settings["rtol"] == 1e-9


def test_two_body_initial_states_follow_reference_code(two_body_data):
    """q1 in [0.5, 1.5]^2 (so |q1| in [0.71, 2.12]); speeds = circular speed 1 / (2 sqrt |q1|) times 1 + 0.05 N(0, 1)."""
    x0 = torch.cat([two_body_data.train.x[:, 0], two_body_data.test.x[:, 0]]).numpy()
    q, p = TwoBody().bodies(x0)
    assert (q[:, 0] >= 0.5).all() and (q[:, 0] <= 1.5).all()
    r = np.linalg.norm(q[:, 0], axis=-1)
    assert 1 / math.sqrt(2) <= r.min() and r.max() <= 1.5 * math.sqrt(2)
    assert np.abs((q[:, 0] * p[:, 0]).sum(-1)).max() < 1e-12  # velocity perpendicular to the radius
    factor = np.linalg.norm(p[:, 0], axis=-1) * 2 * np.sqrt(r) - 1
    assert abs(factor.mean()) < 0.01 and abs(factor.std() - 0.05) < 0.005  # 1000 draws: s.e. 0.0016, 0.0011


def test_three_body_initial_states_follow_reference_code():
    """Equilateral ring of radius U[0.9, 1.2]; each velocity component is 3^(-1/4) / sqrt(r) x (1 + 0.2 U[-1, 1])."""
    system = ThreeBody()
    x0 = sample_ring_states(2000, rng(5), system=system)
    q, p = system.bodies(x0)
    r = np.linalg.norm(q, axis=-1)
    np.testing.assert_allclose(r, r[:, :1].repeat(3, 1), rtol=1e-12)
    assert 0.9 <= r.min() and r.max() <= 1.2 and r.max() - r.min() > 0.25
    np.testing.assert_allclose(q.sum(1), 0, atol=1e-12)  # centre of mass at the origin
    circular = np.stack([-q[..., 1], q[..., 0]], -1) / r[..., None] * (3**-0.25 / np.sqrt(r[..., None]))
    ratio = p / circular
    assert 0.8 <= ratio.min() and ratio.max() <= 1.2 and ratio.min() < 0.81 and ratio.max() > 1.19
    assert np.abs(system.total_momentum(x0)).max() > 0.1  # independent noise: the CM drifts, as in the reference


def test_three_body_dataset_shapes_and_split():
    """Defaults for three bodies: 20 points on [0, 5], 80/20 split (here with 50 trajectories)."""
    data = make_nbody_dataset("three_body", n_trajectories=50, seed=1)
    assert data.train.x.shape == (40, 20, 12) and data.test.x.shape == (10, 20, 12)
    assert data.train.x.dtype == torch.float32
    assert data.train.t[0, -1] == 5.0 and data.settings["orbit_noise"] == 0.2
    assert NBODY_DEFAULTS[3]["n_trajectories"] == 5000


def test_nbody_dataset_is_seeded_and_general():
    """Same seed, same data; another seed, other data; four bodies and observation noise work too."""
    kw = dict(n_trajectories=10, n_times=5)
    a, b, c = (make_nbody_dataset("two_body", seed=s, **kw) for s in (7, 7, 8))
    assert torch.equal(a.train.x, b.train.x) and not torch.equal(a.train.x, c.train.x)
    noisy = make_nbody_dataset(NBody(4), seed=7, noise_std=0.1, **kw)
    clean = make_nbody_dataset(NBody(4), seed=7, **kw)
    assert noisy.train.x.shape == (8, 5, 16)
    noise = (noisy.train.x - clean.train.x).double()
    assert 0.07 < noise.std() < 0.13
    torch.testing.assert_close(noisy.train.dx, clean.train.dx)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: make_nbody_dataset(MassSpring()), TypeError, "NBody"),
        (lambda: make_nbody_dataset("two_body", test_fraction=1.0), ValueError, "test_fraction"),
        (lambda: make_nbody_dataset("two_body", n_trajectories=2, test_fraction=0.1), ValueError, "empty split"),
        (lambda: make_nbody_dataset("two_body", n_trajectories=0), ValueError, "n_trajectories"),
        (lambda: make_nbody_dataset("two_body", noise_std=-1.0), ValueError, "noise_std"),
        (lambda: make_nbody_dataset("two_body", t_span=(1.0, 1.0)), ValueError, "t_span"),
        (lambda: make_nbody_dataset("two_body", n_times=1), ValueError, "n_times must be >= 2"),
        (lambda: make_nbody_dataset("two_body", dtype=torch.int64), ValueError, "torch.float32 or torch.float64"),
        (lambda: make_nbody_dataset("two_body", seed=-1), ValueError, "seed must lie in"),
        (lambda: sample_two_body_states(3, rng(), system=ThreeBody()), ValueError, "two-body"),
        (lambda: sample_two_body_states(3, rng(), position_range=(0.0, 1.0)), ValueError, "position_range"),
        (lambda: sample_ring_states(3, rng(), system=NBody(3, (1, 2, 1))), ValueError, "equal masses"),
        (lambda: sample_ring_states(3, rng(), orbit_noise=-0.1), ValueError, "orbit_noise"),
        (lambda: sample_ring_states(3, rng(), radius=(1.2, 0.9)), ValueError, "low <= high"),
        (lambda: sample_nbody_states("pendulum", 3, rng()), TypeError, "NBody"),
    ],
)
def test_dataset_bad_arguments(call, error, match):
    """Each bad argument is refused with a message naming it."""
    with pytest.raises(error, match=match):
        call()


def test_samplers_replay_legacy_seeding_draw_order():
    """With RandomState(seed) and n = 1 the draws come in the reference code's order, so its seeded states are reproduced."""
    x = sample_two_body_states(1, np.random.RandomState(3))[0]
    draws = np.random.RandomState(3)
    q1 = 0.5 + draws.random_sample(2)  # body 1's coordinates first ...
    factor = 1 + 0.05 * draws.standard_normal()  # ... then the speed factor
    np.testing.assert_allclose(x[:2], q1, rtol=1e-15)
    np.testing.assert_allclose(np.linalg.norm(x[4:6]), factor / (2 * np.linalg.norm(q1) ** 0.5), rtol=1e-13)

    system = ThreeBody()
    y = sample_ring_states(1, np.random.RandomState(3), system=system)[0]
    draws = np.random.RandomState(3)
    direction = draws.uniform(-1, 1, 2)  # direction, then radius, then six velocity factors
    r = draws.uniform(0.9, 1.2)
    factors = 1 + 0.2 * draws.uniform(-1, 1, 6)
    np.testing.assert_allclose(y[:2], direction / np.linalg.norm(direction) * r, rtol=1e-13)
    clean = sample_ring_states(1, np.random.RandomState(3), system=system, orbit_noise=0.0)[0]
    np.testing.assert_allclose(y[6:] / clean[6:], factors, rtol=1e-12)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_an_absent_cuda_device_is_named():
    with pytest.raises(ValueError, match=r"device 'cuda' is not available: torch.cuda.is_available\(\) is False"):
        make_trajectory_dataset("mass_spring", n_trajectories=4, n_times=5, device="cuda")


def test_dataset_to_checks_dtype_and_device():
    """TrajectoryDataset.to refuses an integer dtype (it would truncate every state) and unknown devices."""
    data = make_trajectory_dataset("mass_spring", n_trajectories=4, n_times=5)
    with pytest.raises(ValueError, match="float32 or torch.float64, got torch.int64"):
        data.to(dtype=torch.int64)
    with pytest.raises(ValueError, match="not a device name"):
        data.to(device="gpu0")
    assert data.to(dtype=F64).train.x.dtype == F64
