"""The analytic systems: energies, Hamilton's equations, NumPy/torch interop, batching."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from hnnlib.data import sample_ring_states, sample_two_body_states
from hnnlib.hamiltonian import symplectic_gradient
from hnnlib.integrators import solve_ivp_rollout
from hnnlib.rk45_batched import solve_ivp_batched
from hnnlib.systems import SYSTEMS, MassSpring, NBody, Pendulum, ThreeBody, TwoBody, get_system

F64 = torch.float64
positive = st.floats(0.1, 5.0, allow_nan=False)
coordinate = st.floats(-3.0, 3.0, allow_nan=False)
states = st.lists(st.tuples(coordinate, coordinate), min_size=1, max_size=6)

systems = st.one_of(
    st.builds(MassSpring, k=positive, m=positive),
    st.builds(Pendulum, m=positive, g=positive, l=positive),
)


@given(systems, states)
def test_time_derivative_is_symplectic_gradient_of_hamiltonian(system, xs):
    """The hand-written dx/dt equals autograd's (dH/dp, -dH/dq) of the system's own H."""
    x = torch.tensor(xs, dtype=F64)
    expected = symplectic_gradient(system.hamiltonian, x)
    torch.testing.assert_close(system.time_derivative(x), expected, rtol=1e-12, atol=1e-12)


@given(systems, states)
def test_time_derivative_conserves_energy_pointwise(system, xs):
    """grad H . dx/dt = 0 at every state."""
    x = torch.tensor(xs, dtype=F64, requires_grad=True)
    (grad,) = torch.autograd.grad(system.hamiltonian(x).sum(), x)
    dot = (grad * system.time_derivative(x.detach())).sum(-1)
    assert torch.all(dot.abs() <= 1e-10 * (1 + (grad**2).sum(-1)))


def test_default_energies_match_reference_code():
    """Defaults give H = q^2 + p^2 (mass-spring) and H = 3 (1 - cos q) + p^2 (pendulum)."""
    x = torch.randn(10, 2, dtype=F64)
    q, p = x[:, 0], x[:, 1]
    torch.testing.assert_close(MassSpring().hamiltonian(x), q**2 + p**2)
    torch.testing.assert_close(Pendulum().hamiltonian(x), 3 * (1 - torch.cos(q)) + p**2)
    torch.testing.assert_close(MassSpring().time_derivative(x), torch.stack([2 * p, -2 * q], -1))
    torch.testing.assert_close(Pendulum().time_derivative(x), torch.stack([2 * p, -3 * torch.sin(q)], -1))


def test_paper_text_parameters():
    """Paper Eq. 4 with k = m = 1: H = (q^2 + p^2) / 2; Eq. 5 with m = l = 1, g = 3: H = 6 (1 - cos q) + p^2 / 2."""
    x = np.array([0.3, -0.7])
    assert MassSpring(k=1, m=1).hamiltonian(x) == pytest.approx(0.5 * (0.09 + 0.49))
    assert Pendulum(m=1, g=3, l=1).hamiltonian(x) == pytest.approx(6 * (1 - np.cos(0.3)) + 0.49 / 2)


@pytest.mark.parametrize("system", [MassSpring(), Pendulum()], ids=lambda s: s.name)
def test_numpy_in_numpy_out(system):
    """NumPy input gives NumPy float64 output with the right shapes and the same values as torch."""
    x = np.random.default_rng(0).normal(size=(5, 2))
    h, dx = system.hamiltonian(x), system.time_derivative(x)
    assert isinstance(h, np.ndarray) and isinstance(dx, np.ndarray)
    assert h.dtype == np.float64 and dx.dtype == np.float64
    assert h.shape == (5,) and dx.shape == (5, 2)
    np.testing.assert_allclose(dx, system.time_derivative(torch.from_numpy(x)).numpy(), rtol=1e-15)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("system", [MassSpring(), Pendulum()], ids=lambda s: s.name)
def test_torch_in_torch_out(system, dtype):
    """Tensor input gives tensor output of the same dtype."""
    x = torch.randn(5, 2, dtype=dtype)
    h, dx = system.hamiltonian(x), system.time_derivative(x)
    assert isinstance(h, torch.Tensor) and isinstance(dx, torch.Tensor)
    assert h.dtype == dtype and dx.dtype == dtype
    assert h.shape == (5,) and dx.shape == (5, 2)


@pytest.mark.parametrize("system", [MassSpring(k=1.3, m=0.7), Pendulum(m=0.9, g=2.0, l=1.4)], ids=lambda s: s.name)
def test_batched_leading_axes(system):
    """States of shape (3, 4, 2) give energies (3, 4) and derivatives (3, 4, 2), equal element-wise."""
    x = torch.randn(3, 4, 2, dtype=F64)
    h, dx = system.hamiltonian(x), system.time_derivative(x)
    assert h.shape == (3, 4) and dx.shape == (3, 4, 2)
    for i in range(3):
        for j in range(4):
            torch.testing.assert_close(h[i, j], system.hamiltonian(x[i, j]))
            torch.testing.assert_close(dx[i, j], system.time_derivative(x[i, j][None])[0])
    assert system.hamiltonian(x[0, 0]).shape == ()  # a single state (2,) gives a scalar


@pytest.mark.parametrize("system", [MassSpring(), Pendulum(), MassSpring(k=3.0, m=0.4), Pendulum(m=1.0, g=9.8, l=0.5)],
                         ids=["mass_spring", "pendulum", "mass_spring_k3", "pendulum_g9.8"])
def test_true_trajectories_conserve_energy(system):
    """solve_ivp at rtol 1e-10 keeps H constant along true trajectories (relative drift < 1e-8)."""
    x0 = np.random.default_rng(1).uniform(-1, 1, size=(3, 2))
    traj = solve_ivp_rollout(system.time_derivative, x0, np.linspace(0, 6, 61), rtol=1e-10, atol=1e-12)
    energy = system.hamiltonian(traj)  # (3, 61)
    drift = np.abs(energy - energy[:, :1]) / np.abs(energy[:, :1])
    assert drift.max() < 1e-8


def test_mass_spring_matches_closed_form():
    """The mass-spring oscillates as q = A cos(w t), p = -m A w sin(w t), w = sqrt(k / m)."""
    k, m, amp = 2.5, 0.8, 0.6
    w = np.sqrt(k / m)
    t = np.linspace(0, 5, 51)
    traj = solve_ivp_rollout(MassSpring(k, m).time_derivative, np.array([amp, 0.0]), t, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(traj[:, 0], amp * np.cos(w * t), atol=1e-8)
    np.testing.assert_allclose(traj[:, 1], -m * amp * w * np.sin(w * t), atol=1e-8)


def test_pendulum_small_oscillation_period():
    """For small angles H ~ (2 m g l) q^2 / 2 + (l^2 / m) p^2 / 2, so the period is 2 pi / w, w^2 = 2 g l^3."""
    m, g, l = 0.7, 2.0, 1.3
    w = np.sqrt(2 * g * l**3)
    t = np.linspace(0, 2 * np.pi / w, 2)
    traj = solve_ivp_rollout(Pendulum(m, g, l).time_derivative, np.array([1e-4, 0.0]), t, rtol=1e-11, atol=1e-16)
    np.testing.assert_allclose(traj[-1], [1e-4, 0.0], atol=1e-10)


def test_get_system_registry():
    """get_system builds each registered system by name and passes parameters through."""
    assert {"mass_spring", "pendulum"} <= set(SYSTEMS)  # N-body systems are tested in test_nbody.py
    assert isinstance(get_system("mass_spring"), MassSpring)
    pend = get_system("pendulum", g=9.81)
    assert isinstance(pend, Pendulum) and pend.g == 9.81
    assert pend.state_dim == 2 and pend.n_dof == 1
    assert "g=9.81" in repr(pend)


@pytest.mark.parametrize("name", ["triple_pendulum", ""])
def test_get_system_unknown_name(name):
    """An unknown name gives a ValueError that lists the known systems."""
    with pytest.raises(ValueError, match="unknown system.*mass_spring.*pendulum"):
        get_system(name)


@pytest.mark.parametrize("name", [None, 3, MassSpring])
def test_get_system_needs_a_string(name):
    """A name that is not a string is a TypeError (one error type per mistake), listing the known systems."""
    with pytest.raises(TypeError, match="system name must be a str, one of .*mass_spring"):
        get_system(name)


@pytest.mark.parametrize("make", [lambda: MassSpring(k=0), lambda: MassSpring(m=-1), lambda: Pendulum(g=0),
                                  lambda: Pendulum(l=-2), lambda: Pendulum(m=float("nan"))])
def test_invalid_parameters(make):
    """Non-positive (or NaN) physical parameters are refused."""
    with pytest.raises(ValueError, match="> 0"):
        make()


@pytest.mark.parametrize("system", [MassSpring(), Pendulum()], ids=lambda s: s.name)
def test_bad_states(system):
    """Wrong last axis, integer dtype, NaN, a scalar, a list: each refused with a message saying what was expected."""
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        system.time_derivative(torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        system.hamiltonian(np.zeros((4, 4)))
    with pytest.raises(TypeError, match="floating"):
        system.time_derivative(torch.zeros(4, 2, dtype=torch.int64))
    with pytest.raises(TypeError, match="floating"):
        system.hamiltonian(np.zeros((4, 2), dtype=np.int32))
    with pytest.raises(ValueError, match="NaN"):
        system.time_derivative(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="scalar"):
        system.hamiltonian(torch.tensor(1.0))
    with pytest.raises(TypeError, match="torch.Tensor or numpy.ndarray"):
        system.hamiltonian([0.0, 1.0])


# --- N bodies ------------------------------------------------------------------------------------

def rng(seed=0):
    return np.random.default_rng(seed)



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
        (lambda: TwoBody(g=0), ValueError, "gravitational constant g must be a finite number > 0"),
        (lambda: ThreeBody(g=float("nan")), ValueError, "gravitational constant g must be a finite number > 0"),
        (lambda: TwoBody(g="1"), TypeError, "gravitational constant g must be a real number"),
    ],
)
def test_invalid_nbody_parameters(make, error, match):
    """Bad N, masses or g are refused with a message naming what was expected."""
    with pytest.raises(error, match=match):
        make()


def test_bad_nbody_states():
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
