"""Tests of the double pendulum (hnnlib.systems.DoublePendulum) and the Euler-Lagrange machinery (hnnlib.lagrangian)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import hnnlib
from hnnlib.hamiltonian import symplectic_gradient
from hnnlib.lagrangian import LNN, MechanicalLNN, SingularHessianError, euler_lagrange, euler_lagrange_loop, lagrangian_vector_field
from hnnlib.systems import DoublePendulum, get_system


def _states(n: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.uniform(-np.pi, np.pi, (n, 2)), rng.uniform(-5, 5, (n, 2))], 1)


def _true_lagrangian(dp: DoublePendulum):
    """``L = T - V`` for ONE state, unchecked (``torch.func`` cannot run the public method's input checks)."""
    return lambda state: dp._kinetic(state) - dp._potential(state)


def _reference_acceleration(s: np.ndarray, m1=1.0, m2=1.0, l1=1.0, l2=1.0, g=9.8) -> np.ndarray:
    """The textbook closed form of the double pendulum's accelerations (eliminating one equation from the other)."""
    t1, t2, w1, w2 = s.T
    a1 = (l2 / l1) * (m2 / (m1 + m2)) * np.cos(t1 - t2)
    a2 = (l1 / l2) * np.cos(t1 - t2)
    f1 = -(l2 / l1) * (m2 / (m1 + m2)) * w2**2 * np.sin(t1 - t2) - (g / l1) * np.sin(t1)
    f2 = (l1 / l2) * w1**2 * np.sin(t1 - t2) - (g / l2) * np.sin(t2)
    return np.stack([(f1 - a1 * f2) / (1 - a1 * a2), (f2 - a2 * f1) / (1 - a1 * a2)], 1)


# --- the system -------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [{}, dict(m1=2.0, m2=0.5, l1=1.5, l2=0.7, g=3.0)])
def test_acceleration_matches_the_closed_form(params):
    s = _states()
    np.testing.assert_allclose(DoublePendulum(**params).acceleration(s), _reference_acceleration(s, **params), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("params", [{}, dict(m1=1.3, m2=0.7, l1=0.9, l2=1.4, g=9.81)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n", [1, 2, 15, 40])
def test_acceleration_is_the_euler_lagrange_solve_of_its_parts_bit_for_bit(params, dtype, n):
    """The field (every rollout of the true double pendulum), which hands ``_dl_dq`` the sine it has already
    computed, is bit for bit ``M^-1 (dL/dtheta - dM/dt theta_dot)`` with ``_dl_dq`` computing it again, so
    sharing the sine moves none of its data."""
    dp = DoublePendulum(**params)
    s = torch.tensor(_states(n, seed=n), dtype=dtype)
    t1, t2, w1, w2 = s.unbind(-1)
    c = dp.m2 * dp.l1 * dp.l2 * torch.sin(t1 - t2) * (w1 - w2)
    rhs = (dp._dl_dq(s) - torch.stack([-c * w2, -c * w1], -1)).unsqueeze(-1)
    composed = torch.linalg.solve(dp._mass_matrix(s[..., :2]), rhs)[..., 0]
    assert torch.equal(dp._acceleration(s), composed)


def test_hamiltonian_and_lagrangian_forms_agree():
    dp = DoublePendulum(m1=1.3, m2=0.8, l1=1.1, l2=0.9)
    s = _states()
    x = dp.to_canonical(s)
    np.testing.assert_allclose(dp.to_velocity(x), s, atol=1e-12)
    np.testing.assert_allclose(dp.hamiltonian(x), dp.energy(s), rtol=1e-12)
    # Hamilton's equations of H(theta, p) (autograd) are the analytic time derivative ...
    xt = torch.tensor(x)
    np.testing.assert_allclose(symplectic_gradient(dp.hamiltonian, xt).numpy(), dp.time_derivative(x), atol=1e-10)
    # ... and d/dt of p = M theta_dot along the Lagrangian flow is dp/dt.
    ds = dp.velocity_derivative(s)
    h = 1e-6
    dx_fd = (dp.to_canonical(s + h * ds) - dp.to_canonical(s - h * ds)) / (2 * h)
    np.testing.assert_allclose(dx_fd, dp.time_derivative(x), rtol=1e-6, atol=1e-6)


def test_mass_matrix_is_symmetric_positive_definite():
    dp = DoublePendulum(m1=0.2, m2=3.0)
    m = dp.mass_matrix(_states(64))
    np.testing.assert_allclose(m, np.swapaxes(m, -1, -2))
    assert (np.linalg.eigvalsh(m) > 0).all()
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        dp.mass_matrix(np.zeros((3, 3)))


def test_energy_is_conserved_along_accurate_rollouts():
    dp = DoublePendulum()
    x0 = _states(6, seed=1)
    t = np.linspace(0, 10, 101)
    traj = hnnlib.solve_ivp_batched(dp.velocity_derivative, x0, t, rtol=1e-11, atol=1e-11)
    e = dp.energy(traj)
    assert np.abs(e - e[:, :1]).max() / dp.potential_scale < 1e-8


@pytest.mark.parametrize("mode", [0, 1])
def test_small_angle_periods_are_the_normal_modes(mode):
    """A small-amplitude normal mode swings with period 2 pi / omega_mode (omega^2 = g (2 -+ sqrt 2) / l for equal masses)."""
    dp = DoublePendulum()
    w_slow, w_fast = dp.normal_mode_frequencies()
    np.testing.assert_allclose([w_slow**2, w_fast**2], [9.8 * (2 - np.sqrt(2)), 9.8 * (2 + np.sqrt(2))], rtol=1e-12)
    omega = (w_slow, w_fast)[mode]
    m0 = dp.mass_matrix(np.zeros(2))
    w2, vectors = np.linalg.eig(np.linalg.solve(m0, np.diag([2 * 9.8, 9.8])))
    shape = vectors[:, np.argsort(w2)[mode]].real
    amplitude = 1e-4
    x0 = np.concatenate([amplitude * shape / np.abs(shape).max(), [0.0, 0.0]])
    period = 2 * np.pi / omega
    t = np.linspace(0, 3 * period, 3001)
    traj = hnnlib.solve_ivp_batched(dp.velocity_derivative, x0, t, rtol=1e-12, atol=1e-14)
    theta1 = traj[:, 0]
    # Zero crossings from + to - of theta_1: consecutive ones are one period apart.
    idx = np.nonzero((theta1[:-1] > 0) & (theta1[1:] <= 0))[0]
    crossings = t[idx] + (t[idx + 1] - t[idx]) * theta1[idx] / (theta1[idx] - theta1[idx + 1])
    np.testing.assert_allclose(np.diff(crossings), period, rtol=1e-5)


def test_the_system_is_registered_and_checks_its_parameters():
    assert isinstance(get_system("double_pendulum"), DoublePendulum)
    with pytest.raises(ValueError, match="m2"):
        DoublePendulum(m2=0.0)
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        DoublePendulum().energy(np.zeros((2, 3)))


# --- the Euler-Lagrange equation ---------------------------------------------------------------


def test_euler_lagrange_on_the_true_lagrangian_gives_the_true_accelerations():
    dp = DoublePendulum(m1=1.5, l2=0.8)
    s = torch.tensor(_states())
    for fn in (euler_lagrange, euler_lagrange_loop):
        np.testing.assert_allclose(fn(_true_lagrangian(dp), s).detach().numpy(), dp.acceleration(s.numpy()), rtol=1e-10, atol=1e-10)
    field = lagrangian_vector_field(_true_lagrangian(dp))
    np.testing.assert_allclose(field(s).numpy(), dp.velocity_derivative(s.numpy()), rtol=1e-10, atol=1e-10)


def test_euler_lagrange_batches_over_leading_axes():
    dp = DoublePendulum()
    s = torch.tensor(_states(12)).reshape(3, 4, 4)
    assert euler_lagrange(_true_lagrangian(dp), s).shape == (3, 4, 2)


def test_a_singular_velocity_hessian_names_the_states():
    s = torch.tensor(_states(4))

    def degenerate(state):  # only theta_dot_1 enters: d2L/dq_dot2 has rank 1 everywhere
        return 0.5 * state[2] ** 2 + torch.cos(state[0])

    with pytest.raises(SingularHessianError, match=r"singular .* at 4 of 4 states: row 0: s = ") as err:
        euler_lagrange(degenerate, s)
    assert err.value.rows == [0, 1, 2, 3]
    assert err.value.states.shape == (4, 4)


# --- the LNN ------------------------------------------------------------------------------------


@pytest.mark.parametrize("nonlinearity", ["softplus", "tanh"])
@pytest.mark.parametrize("periodic", [False, True])
def test_fused_and_torch_func_accelerations_agree(nonlinearity, periodic):
    torch.manual_seed(0)
    model = LNN(4, hidden_dim=32, nonlinearity=nonlinearity, periodic=periodic, velocity_scale=2.5).double()
    s = torch.tensor(_states(10))
    fused, func = model.acceleration(s, "fused"), model.acceleration(s, "func")
    np.testing.assert_allclose(fused.detach().numpy(), func.detach().numpy(), rtol=1e-9, atol=1e-9)
    loop = euler_lagrange_loop(model._single, s)
    np.testing.assert_allclose(loop.detach().numpy(), func.detach().numpy(), rtol=1e-9, atol=1e-9)


def test_fused_gradients_match_torch_func():
    torch.manual_seed(1)
    model = LNN(4, hidden_dim=16, periodic=True, velocity_scale=2.0).double()
    s = torch.tensor(_states(8))
    grads = []
    for method in ("fused", "func"):
        model.zero_grad()
        model.acceleration(s, method).pow(2).sum().backward()
        grads.append(torch.cat([(torch.zeros_like(p) if p.grad is None else p.grad).flatten() for p in model.parameters()]))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-8, atol=1e-10)


def test_lnn_conserves_its_learned_energy():
    """dE_theta/dt = grad(E_theta) . ds/dt vanishes at every state, for any weights (here: untrained)."""
    torch.manual_seed(2)
    model = LNN(4, hidden_dim=32, periodic=True).double()
    s = torch.tensor(_states(32)).requires_grad_(True)
    (grad_e,) = torch.autograd.grad(model.energy(s).sum(), s)
    rate = (grad_e * model.time_derivative(s).detach()).sum(-1)
    scale = grad_e.abs().sum(-1) * model.time_derivative(s).detach().abs().amax(-1)
    assert (rate.abs() <= 1e-9 * scale).all()


def test_lnn_checks_its_arguments():
    with pytest.raises(ValueError, match="even input_dim"):
        LNN(3)
    with pytest.raises(ValueError, match="twice-differentiable"):
        LNN(4, nonlinearity="relu")
    with pytest.raises(ValueError, match="velocity_scale"):
        LNN(4, velocity_scale=0.0)
    model = LNN(4)
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        model.time_derivative(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="method"):
        model.acceleration(torch.zeros(2, 4), method="loop")


def test_lnn_saves_and_loads_through_checkpoints(tmp_path):
    torch.manual_seed(3)
    model = LNN(4, hidden_dim=24, periodic=True, velocity_scale=4.0)
    path = tmp_path / "lnn.pt"
    hnnlib.save_checkpoint(model, path, {"seed": 3})
    loaded = hnnlib.load_checkpoint(path)
    assert isinstance(loaded, LNN) and loaded.config == model.config and loaded.metadata == {"seed": 3}
    s = torch.tensor(_states(5), dtype=torch.float32)
    torch.testing.assert_close(loaded.time_derivative(s), model.time_derivative(s))


# --- the mechanical LNN -----------------------------------------------------------------------


@pytest.mark.parametrize("nonlinearity", ["tanh", "softplus"])
@pytest.mark.parametrize("periodic", [False, True])
@pytest.mark.parametrize("n_dof", [1, 2, 3])
def test_mechanical_fused_and_torch_func_accelerations_agree(nonlinearity, periodic, n_dof):
    torch.manual_seed(4)
    model = MechanicalLNN(2 * n_dof, hidden_dim=24, nonlinearity=nonlinearity, periodic=periodic, potential_scale=3.0).double()
    s = torch.randn(12, 2 * n_dof, dtype=torch.float64) * 2
    fused, func = model.acceleration(s, "fused"), model.acceleration(s, "func")
    np.testing.assert_allclose(fused.detach().numpy(), func.detach().numpy(), rtol=1e-9, atol=1e-9)
    model.zero_grad()
    fused.pow(2).sum().backward()
    grad_fused = torch.cat([p.grad.flatten() for p in model.parameters()])
    model.zero_grad()
    model.acceleration(s, "func").pow(2).sum().backward()
    torch.testing.assert_close(grad_fused, torch.cat([p.grad.flatten() for p in model.parameters()]), rtol=1e-8, atol=1e-10)


def test_mechanical_mass_matrix_is_the_velocity_hessian_and_positive_definite():
    torch.manual_seed(5)
    model = MechanicalLNN(4, hidden_dim=16, periodic=True).double()
    s = torch.tensor(_states(6))
    mass = model.mass_matrix(s)
    for i in range(6):
        hessian = torch.autograd.functional.hessian(lambda x: model.lagrangian(x), s[i])[2:, 2:]
        torch.testing.assert_close(mass[i], hessian)
    assert (torch.linalg.eigvalsh(mass) > 0).all()
    # Far outside any data, the diagonal of C stays >= min_diagonal: M is never singular.
    big = torch.tensor([[1e3, -1e3, 0.0, 0.0]], dtype=torch.float64)
    assert torch.linalg.eigvalsh(model.mass_matrix(big)).min() > 0


def test_mechanical_energy_is_conserved_by_its_flow_and_is_the_legendre_transform():
    torch.manual_seed(6)
    model = MechanicalLNN(4, hidden_dim=32, periodic=True, potential_scale=5.0).double()
    s = torch.tensor(_states(32)).requires_grad_(True)
    (grad_e,) = torch.autograd.grad(model.energy(s).sum(), s)
    field = model.time_derivative(s).detach()
    rate = (grad_e * field).sum(-1)
    assert (rate.abs() <= 1e-9 * grad_e.abs().sum(-1) * field.abs().amax(-1)).all()
    (grad_l,) = torch.autograd.grad(model.lagrangian(s).sum(), s)
    legendre = (s[:, 2:] * grad_l[:, 2:]).sum(-1) - model.lagrangian(s)
    torch.testing.assert_close(model.energy(s), legendre)


def test_mechanical_lnn_learns_the_pendulum():
    """300 Adam steps on the ideal pendulum's accelerations cut the error by 100x."""
    torch.manual_seed(7)
    q = torch.rand(512, 1) * 2 * np.pi
    v = (torch.rand(512, 1) - 0.5) * 8
    s = torch.cat([q, v], 1)
    target = -9.8 * torch.sin(q)
    model = MechanicalLNN(2, hidden_dim=32, periodic=True, potential_scale=10.0)
    loss = lambda: (model.acceleration(s) - target).pow(2).mean()  # noqa: E731
    with torch.no_grad():
        first = float(loss())
    hnnlib.training.optimize(model, lambda idx: loss(), lambda: (float(loss().detach()), float("nan")), [None] * 300, steps=300,
                             learning_rate=1e-2, weight_decay=0.0, eval_every=300, progress=False, description=None)
    with torch.no_grad():
        assert float(loss()) < first / 100


def test_mechanical_lnn_checks_its_arguments_and_saves(tmp_path):
    with pytest.raises(ValueError, match="even input_dim"):
        MechanicalLNN(3)
    with pytest.raises(ValueError, match="tanh"):
        MechanicalLNN(4, nonlinearity="relu")
    with pytest.raises(ValueError, match="potential_scale"):
        MechanicalLNN(4, potential_scale=0.0)
    with pytest.raises(ValueError, match="min_diagonal"):
        MechanicalLNN(4, min_diagonal=-1.0)
    model = MechanicalLNN(4, hidden_dim=8, periodic=True)
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        model.time_derivative(torch.zeros(2, 3))
    with pytest.raises(TypeError, match="dtype"):
        model.time_derivative(torch.zeros(2, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="method"):
        model.acceleration(torch.zeros(2, 4), method="loop")
    path = tmp_path / "mechanical.pt"
    hnnlib.save_checkpoint(model, path, {"seed": 7})
    loaded = hnnlib.load_checkpoint(path)
    assert isinstance(loaded, MechanicalLNN) and loaded.config == model.config
    s = torch.tensor(_states(5), dtype=torch.float32)
    torch.testing.assert_close(loaded.time_derivative(s), model.time_derivative(s))

