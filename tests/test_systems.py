"""The analytic systems: energies, Hamilton's equations, NumPy/torch interop, batching."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from hnnlib.hamiltonian import symplectic_gradient
from hnnlib.integrators import solve_ivp_rollout
from hnnlib.systems import SYSTEMS, MassSpring, Pendulum, get_system

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


@pytest.mark.parametrize("name", ["double_pendulum", "", None, 3])
def test_get_system_unknown_name(name):
    """An unknown name gives a ValueError that lists the known systems."""
    with pytest.raises(ValueError, match="unknown system.*mass_spring.*pendulum"):
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
