"""N-body gravity: the systems, the batched RK45 integrator, the orbit datasets and the Table 2 constants."""

import math

import numpy as np
import pytest
import scipy.integrate
import torch
from hypothesis import given
from hypothesis import strategies as st

from hnnlib import paper
from hnnlib.data import (
    NBODY_DEFAULTS,
    TrajectoryDataset,
    make_nbody_dataset,
    sample_nbody_states,
    sample_ring_states,
    sample_two_body_states,
)
from hnnlib.hamiltonian import symplectic_gradient
from hnnlib.integrators import solve_ivp_batched, solve_ivp_rollout
from hnnlib.metrics import MeanWithError, compare_rollouts
from hnnlib.models import BaselineNN
from hnnlib.systems import SYSTEMS, MassSpring, NBody, ThreeBody, TwoBody, get_system
from hnnlib.training import set_seed

F64 = torch.float64


def rng(seed=0):
    return np.random.default_rng(seed)


def scipy_rk45(f, x0, t, rtol=1e-9, atol=1e-6):
    """Reference: one solve_ivp(RK45) call per initial state."""
    sols = [scipy.integrate.solve_ivp(lambda _t, y: f(y), (t[0], t[-1]), y0, t_eval=t, rtol=rtol, atol=atol) for y0 in x0]
    return np.stack([s.y.T for s in sols]), np.array([s.nfev for s in sols])


# --- systems -------------------------------------------------------------------------------------

@st.composite
def nbody_and_states(draw):
    """A random N-body system (N = 2..4) and a batch of states whose bodies are well separated."""
    n = draw(st.integers(2, 4))
    masses = draw(st.lists(st.floats(0.2, 5.0), min_size=n, max_size=n))
    g = draw(st.floats(0.1, 3.0))
    seed = draw(st.integers(0, 2**32 - 1))
    r = np.random.default_rng(seed)
    angles = 2 * np.pi * np.arange(n) / n + r.uniform(-0.3, 0.3, n)  # bodies at least ~1 apart
    q = np.stack([np.cos(angles), np.sin(angles)], -1) * r.uniform(1.0, 2.0, (3, n, 1))
    p = r.normal(size=(3, n, 2))
    system = NBody(n, masses, g)
    return system, system.state(torch.tensor(q), torch.tensor(p))


@given(nbody_and_states())
def test_time_derivative_is_symplectic_gradient(args):
    """The hand-written Hamilton's equations equal autograd's (dH/dp, -dH/dq) of H (paper Eq. 2)."""
    system, x = args
    torch.testing.assert_close(system.time_derivative(x), symplectic_gradient(system.hamiltonian, x), rtol=1e-10, atol=1e-10)


@given(nbody_and_states())
def test_forces_sum_to_zero_and_com_moves_with_total_momentum(args):
    """Newton's third law: dP/dt = 0; and d(centre of mass)/dt = P / M."""
    system, x = args
    dx = system.time_derivative(x)
    dq, dp = system.bodies(dx)
    torch.testing.assert_close(dp.sum(-2), torch.zeros_like(dp.sum(-2)), rtol=0, atol=1e-10)
    m = torch.tensor(system.masses, dtype=F64)
    com_velocity = (dq * m[:, None]).sum(-2) / m.sum()
    torch.testing.assert_close(com_velocity, system.total_momentum(x) / m.sum())


def test_known_two_body_values():
    """q1 = (1, 0), q2 = (-1, 0), p = +-(0, 1/2): T = 1/4, V = -1/2, force on body 1 = (-1/4, 0)."""
    system = TwoBody()
    x = np.array([1.0, 0, -1, 0, 0, 0.5, 0, -0.5])
    assert system.kinetic_energy(x) == pytest.approx(0.25)
    assert system.potential_energy(x) == pytest.approx(-0.5)
    assert system.hamiltonian(x) == pytest.approx(-0.25)
    np.testing.assert_allclose(system.time_derivative(x), [0, 0.5, 0, -0.5, -0.25, 0, 0.25, 0], atol=1e-15)
    np.testing.assert_allclose(system.total_momentum(x), [0, 0], atol=1e-15)
    np.testing.assert_allclose(system.center_of_mass(x), [0, 0], atol=1e-15)


@given(st.floats(0.2, 5.0), st.floats(0.2, 5.0), st.floats(0.1, 3.0), st.integers(0, 2**32 - 1))
def test_eq6_centre_of_mass_form(m1, m2, g, seed):
    """Eq. 6: H = |p_CM|^2 / 2M + |p|^2 / 2 mu - g m1 m2 / |q1 - q2|, with p = (m2 p1 - m1 p2) / M."""
    system = TwoBody((m1, m2), g)
    x = rng(seed).normal(size=(5, 8)) + np.array([2.0, 0, -2, 0, 0, 0, 0, 0])
    q, p = system.bodies(x)
    total, mu = m1 + m2, m1 * m2 / (m1 + m2)
    p_cm = p[:, 0] + p[:, 1]
    p_rel = (m2 * p[:, 0] - m1 * p[:, 1]) / total
    r = np.linalg.norm(q[:, 0] - q[:, 1], axis=-1)
    eq6 = (p_cm**2).sum(-1) / (2 * total) + (p_rel**2).sum(-1) / (2 * mu) - g * m1 * m2 / r
    np.testing.assert_allclose(system.hamiltonian(x), eq6, rtol=1e-12)


def test_state_layout():
    """x = (q1x, q1y, q2x, q2y, ..., p1x, p1y, ...); bodies() and state() are inverse reshapes."""
    system = ThreeBody()
    x = np.arange(12.0)
    q, p = system.bodies(x)
    np.testing.assert_array_equal(q, [[0, 1], [2, 3], [4, 5]])
    np.testing.assert_array_equal(p, [[6, 7], [8, 9], [10, 11]])
    np.testing.assert_array_equal(system.state(q, p), x)
    assert system.n_dof == 6 and system.state_dim == 12 and TwoBody().n_dof == 4


def test_batching_numpy_and_dtypes():
    """Leading axes broadcast; NumPy in gives NumPy float64 out; float32 stays float32."""
    system = get_system("three_body")
    x = sample_ring_states(6, rng(), system=system).reshape(2, 3, 12)
    h, dx = system.hamiltonian(x), system.time_derivative(x)
    assert isinstance(h, np.ndarray) and h.shape == (2, 3) and dx.shape == (2, 3, 12) and dx.dtype == np.float64
    np.testing.assert_allclose(h[1, 2], system.hamiltonian(x[1, 2]))
    assert system.center_of_mass(x).shape == system.total_momentum(x).shape == (2, 3, 2)
    out32 = system.time_derivative(torch.as_tensor(x, dtype=torch.float32))
    assert out32.dtype == torch.float32
    torch.testing.assert_close(out32, torch.as_tensor(dx, dtype=torch.float32), rtol=1e-5, atol=1e-5)


def test_registry_and_repr():
    """two_body, three_body and the general nbody are registered; parameters pass through."""
    assert {"two_body", "three_body", "nbody"} <= set(SYSTEMS)
    assert isinstance(get_system("two_body"), TwoBody) and get_system("three_body").n_bodies == 3
    four = get_system("nbody", n_bodies=4, masses=2.0, g=0.5)
    assert four.masses == (2.0,) * 4 and four.g == 0.5 and four.state_dim == 16
    assert repr(four) == "NBody(n_bodies=4, masses=(2.0, 2.0, 2.0, 2.0), g=0.5)"
    assert repr(TwoBody()) == "TwoBody(masses=(1.0, 1.0), g=1.0)"


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: NBody(1), ValueError, "n_bodies >= 2"),
        (lambda: NBody(2.0), TypeError, "n_bodies must be an int"),
        (lambda: NBody(True), TypeError, "n_bodies must be an int"),
        (lambda: NBody(3, masses=(1, 1)), ValueError, "one mass per body"),
        (lambda: NBody(2, masses=(1, 0)), ValueError, "masses > 0"),
        (lambda: TwoBody(masses=-1), ValueError, "masses > 0"),
        (lambda: NBody(2, masses="heavy"), TypeError, "masses must be a number or a sequence"),
        (lambda: TwoBody(g=0), ValueError, "g > 0"),
        (lambda: ThreeBody(g=float("nan")), ValueError, "g > 0"),
    ],
)
def test_invalid_parameters(make, error, match):
    """Bad N, masses or g are refused with a message naming what was expected."""
    with pytest.raises(error, match=match):
        make()


def test_bad_states():
    """A state of the wrong size (8 coordinates for three bodies) or a bad q/p shape is refused."""
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 12\)"):
        ThreeBody().hamiltonian(np.zeros((4, 8)))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 8\)"):
        TwoBody().time_derivative(torch.zeros(12))
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, 2\)"):
        ThreeBody().state(np.zeros((2, 2)), np.zeros((2, 2)))


# --- physics of the simulated orbits --------------------------------------------------------------

@pytest.mark.parametrize("masses", [(1.0, 1.0), (1.0, 3.0)])
def test_circular_two_body_orbit_obeys_keplers_third_law(masses):
    """With orbit_noise = 0 the separation stays constant and the state returns after T = 2 pi sqrt(d^3 / g M)."""
    system = TwoBody(masses, g=1.5)
    x0 = sample_two_body_states(3, rng(1), system=system, orbit_noise=0.0)
    q, _ = system.bodies(x0)
    d = np.linalg.norm(q[:, 0] - q[:, 1], axis=-1)
    for i in range(3):
        period = 2 * np.pi * np.sqrt(d[i] ** 3 / (1.5 * sum(masses)))
        traj = solve_ivp_batched(system.time_derivative, x0[i], np.linspace(0, period, 40), rtol=1e-11, atol=1e-12)
        qt, _ = system.bodies(traj)
        np.testing.assert_allclose(np.linalg.norm(qt[:, 0] - qt[:, 1], axis=-1), d[i], rtol=1e-7)
        np.testing.assert_allclose(traj[-1], x0[i], atol=1e-7)


@pytest.mark.parametrize("n_bodies", [2, 3, 4])
def test_ring_without_noise_rotates_rigidly(n_bodies):
    """The unperturbed ring is a relative equilibrium: every body keeps its distance r from the origin."""
    system = NBody(n_bodies)
    x0 = sample_ring_states(2, rng(2), system=system, orbit_noise=0.0)
    traj = solve_ivp_batched(system.time_derivative, x0, np.linspace(0, 2.0, 11), rtol=1e-11, atol=1e-12)
    q, _ = system.bodies(traj)
    r = np.linalg.norm(q, axis=-1)  # (2, 11, N)
    np.testing.assert_allclose(r, np.broadcast_to(r[:, :1, :1], r.shape), rtol=1e-6)


# --- the batched integrator -----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["two_body", "three_body"])
def test_batched_rk45_matches_scipy_per_trajectory(name):
    """Same steps (nfev) and same trajectories as one solve_ivp(RK45, rtol 1e-9) call per state."""
    system = get_system(name)
    x0 = sample_nbody_states(system, 12, rng(3))
    t = np.linspace(0, 20 if name == "two_body" else 5, 30)
    ours, stats = solve_ivp_batched(system.time_derivative, x0, t, rtol=1e-9, return_stats=True)
    ref, nfev = scipy_rk45(system.time_derivative, x0, t)
    np.testing.assert_array_equal(stats["nfev"], nfev)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9)
    assert (stats["n_steps"] > 10).all()


def test_batched_rk45_shared_steps_differ():
    """solve_ivp_rollout(batched=True) shares one step size; solve_ivp_batched does not, and agrees with scipy far better."""
    system = TwoBody()
    x0 = sample_two_body_states(30, rng(4), orbit_noise=0.3)
    t = np.linspace(0, 20, 21)
    ref, _ = scipy_rk45(system.time_derivative, x0, t, rtol=1e-6)
    ours = solve_ivp_batched(system.time_derivative, x0, t, rtol=1e-6)
    shared = solve_ivp_rollout(system.time_derivative, x0, t, rtol=1e-6, batched=True)
    assert np.abs(ours - ref).max() < 1e-10 < np.abs(shared - ref).max()


def test_batched_rk45_shapes_dtype_and_single_state():
    """A single state gives (T, D); T = 1 returns x0; a float32 model is evaluated in float32."""
    system = TwoBody()
    x0 = sample_two_body_states(2, rng(), system=system)
    single, stats = solve_ivp_batched(system.time_derivative, x0[0], [0.0, 1.0, 2.0], return_stats=True)
    assert single.shape == (3, 8) and np.isscalar(stats["nfev"]) and stats["nfev"] > 6
    np.testing.assert_array_equal(solve_ivp_batched(system.time_derivative, x0, [0.0]), x0[:, None])
    set_seed(0)
    model = BaselineNN(8, 16)
    seen = []

    def field(x):
        seen.append(x.dtype)
        return model.time_derivative(x)

    out = solve_ivp_batched(field, x0, np.linspace(0, 1, 5), dtype=torch.float32)
    assert out.shape == (2, 5, 8) and set(seen) == {torch.float32}
    np.testing.assert_allclose(out, solve_ivp_rollout(model.time_derivative, x0, np.linspace(0, 1, 5)), rtol=1e-4, atol=1e-6)


def test_batched_rk45_reports_collision_like_scipy():
    """Two bodies released at rest collide at t = pi / 2 sqrt(2): scipy fails, and so do we, naming the trajectory."""
    system = TwoBody()
    x0 = np.array([[0.5, 0, -0.5, 0, 0, 0, 0, 0], [1.0, 0, -1, 0, 0, 1, 0, -1]])
    assert not scipy.integrate.solve_ivp(lambda _t, y: system.time_derivative(y), (0, 2), x0[0], rtol=1e-9).success
    with pytest.raises(RuntimeError, match=r"trajectories \[0\]"):
        solve_ivp_batched(system.time_derivative, x0, np.linspace(0, 2, 5))


def test_batched_rk45_bad_input():
    """Bad tolerances, max_steps, time grids or fields are refused."""
    f = TwoBody().time_derivative
    x0 = sample_two_body_states(2, rng())
    with pytest.raises(ValueError, match="rtol > 0"):
        solve_ivp_batched(f, x0, [0, 1], rtol=0)
    with pytest.raises(ValueError, match="max_steps"):
        solve_ivp_batched(f, x0, [0, 1], max_steps=0)
    with pytest.raises(RuntimeError, match="max_steps=3"):
        solve_ivp_batched(f, x0, [0, 10], max_steps=3)
    with pytest.raises(ValueError, match="strictly increasing"):
        solve_ivp_batched(f, x0, [0, 2, 1])
    with pytest.raises(ValueError, match="same shape"):
        solve_ivp_batched(lambda x: x[:, :4], x0, [0, 1])


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


# --- datasets -------------------------------------------------------------------------------------

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


# --- Table 2 --------------------------------------------------------------------------------------

def test_table2_constants_and_comparison():
    """Table 2 of the paper (x1e2) and the side-by-side text table."""
    row = paper.TABLE_2["three_body"]
    assert row["scale"] == 1e-2
    assert row["train_loss"] == {"baseline": (9.6, 7), "hnn": (8.0, 2)}
    assert row["test_loss"] == {"baseline": (38, 40), "hnn": (49, 48)}
    assert row["energy_mse"] == {"baseline": (1.1e4, 8e3), "hnn": (4.2, 3)}
    ours = {m: {"baseline": MeanWithError(0.1, 0.01, 10), "hnn": MeanWithError(0.05, 0.01, 10)} for m in paper.METRIC_NAMES}
    text = paper.table2_comparison(ours)
    assert text.splitlines()[0] == "Task 4b: Three body (values x 1e+02)"
    assert "11000 +- 8000" in text and "10 +- 1" in text and "5 +- 1" in text
    assert paper.table1_comparison("three_body", ours) == text
    with pytest.raises(ValueError, match="three_body"):
        paper.table1_comparison("four_body", ours)


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
