"""The implicit midpoint rule and the modified-Hamiltonian tools of hnnlib.long_horizon.

Orders are fitted by regression over several step sizes (log-log slope), never read off one number.
"""

import numpy as np
import pytest
import torch

from hnnlib import NonFiniteError
from hnnlib import long_horizon as lh
from hnnlib.integrators import implicit_midpoint, leapfrog, solve_ivp_rollout
from hnnlib.systems import MassSpring, Pendulum, TwoBody

F64 = torch.float64
PENDULUM = Pendulum()
X0 = np.array([[1.0, 0.3], [-0.5, 0.8]])
STEPS = (0.2, 0.1, 0.05, 0.025)


def nonseparable(x: torch.Tensor) -> torch.Tensor:
    """Hamiltonian vector field of the non-separable H = (1 + q^2)(1 + p^2) / 2."""
    q, p = x[..., :1], x[..., 1:]
    return torch.cat([(1 + q**2) * p, -q * (1 + p**2)], -1)


def nonseparable_energy(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1 + x[..., 0] ** 2) * (1 + x[..., 1] ** 2)


def grid(h: float, horizon: float) -> torch.Tensor:
    return torch.arange(round(horizon / h) + 1, dtype=F64) * h


@pytest.mark.parametrize("field", [PENDULUM.time_derivative, nonseparable], ids=["pendulum", "nonseparable"])
@pytest.mark.parametrize("solver", ["fixed_point", "newton"])
def test_midpoint_order(field, solver):
    """The global error at t = 2 falls like h^2 (slope fitted over 5 step sizes against a tight DOP853 solve)."""
    reference = solve_ivp_rollout(field, X0, [0.0, 2.0], rtol=1e-13, atol=1e-14, method="DOP853")[:, -1]
    steps, errors = [], []
    for n in (10, 20, 40, 80, 160):
        end = implicit_midpoint(field, torch.tensor(X0), torch.tensor([0.0, 2.0], dtype=F64), substeps=n, solver=solver)
        steps.append(2.0 / n)
        errors.append(np.abs(end[:, -1].numpy() - reference).max())
    assert implicit_midpoint.order == 2
    assert lh.fitted_order(steps, errors) == pytest.approx(implicit_midpoint.order, abs=0.1)


def test_solvers_agree_and_shapes():
    t = grid(0.1, 3.0)
    a = implicit_midpoint(nonseparable, torch.tensor(X0), t)
    b = implicit_midpoint(nonseparable, torch.tensor(X0), t, solver="newton")
    assert a.shape == (2, t.numel(), 2) and torch.allclose(a, b, atol=1e-13)
    single = implicit_midpoint(nonseparable, torch.tensor(X0[0]), t)
    assert single.shape == (t.numel(), 2) and torch.allclose(single, a[0], atol=1e-15)
    assert torch.equal(a[:, 0], torch.tensor(X0))


def test_midpoint_conserves_quadratic_invariants():
    """A harmonic oscillator's energy and the two-body angular momentum are conserved to round-off."""
    spring = MassSpring()
    traj = implicit_midpoint(spring.time_derivative, torch.tensor(X0), grid(0.3, 300.0))
    assert lh.energy_error(spring.hamiltonian, traj).max() < 1e-12
    # the same step with RK4-sized error elsewhere: leapfrog does not conserve this H exactly
    assert lh.energy_error(spring.hamiltonian, leapfrog(spring.time_derivative, torch.tensor(X0), grid(0.3, 300.0),
                                                        separable=True)).max() > 1e-3
    body = TwoBody()
    x0 = torch.tensor([[1.0, 0.0, -1.0, 0.0, 0.0, 0.45, 0.0, -0.45]], dtype=F64)
    orbit = implicit_midpoint(body.time_derivative, x0, grid(0.05, 20.0))
    q, p = body.bodies(orbit)
    angular = (q[..., 0] * p[..., 1] - q[..., 1] * p[..., 0]).sum(-1)  # L = sum q x p, quadratic
    assert (angular - angular[..., :1]).abs().max() < 1e-12
    assert lh.energy_error(body.hamiltonian, orbit).max() > 1e-6  # the energy, not quadratic, is not exact


def test_midpoint_is_symplectic_and_reversible():
    """The one-step map's Jacobian M satisfies M^T J M = J; a step, a momentum flip and a step return home."""
    h, x = 0.3, torch.tensor([0.7, -0.4], dtype=F64)

    def step(y):
        return implicit_midpoint(nonseparable, y, torch.tensor([0.0, h], dtype=F64))[-1]

    eps, cols = 1e-6, []
    for d in range(2):
        e = torch.zeros(2, dtype=F64)
        e[d] = eps
        cols.append((step(x + e) - step(x - e)) / (2 * eps))
    m = torch.stack(cols, dim=1)
    j = torch.tensor([[0.0, 1.0], [-1.0, 0.0]], dtype=F64)
    assert torch.allclose(m.T @ j @ m, j, atol=1e-8)
    flip = torch.tensor([1.0, -1.0], dtype=F64)  # H(q, -p) = H(q, p): the flow is reversible
    assert torch.allclose(step(step(x) * flip) * flip, x, atol=1e-13)


def test_midpoint_input_checks():
    x0, t = torch.tensor(X0), grid(0.1, 1.0)
    with pytest.raises(ValueError, match="solver"):
        implicit_midpoint(nonseparable, x0, t, solver="picard")
    with pytest.raises(ValueError, match="tol"):
        implicit_midpoint(nonseparable, x0, t, tol=0.0)
    with pytest.raises(ValueError, match="substeps"):
        implicit_midpoint(nonseparable, x0, t, substeps=0)
    with pytest.raises(ValueError, match="increasing"):
        implicit_midpoint(nonseparable, x0, t.flip(0))
    with pytest.raises(RuntimeError, match="did not converge|diverged"):  # h L / 2 > 1: fixed point fails
        implicit_midpoint(nonseparable, x0 * 3, torch.tensor([0.0, 2.0], dtype=F64))
    with pytest.raises(RuntimeError, match="did not converge in 2 iterations"):
        implicit_midpoint(nonseparable, x0, t, max_iterations=2)
    with pytest.raises(NonFiniteError, match="NaN or inf"):
        implicit_midpoint(lambda x: x / 0.0, x0, t)


@pytest.mark.parametrize("h", [0.1, 0.37])
def test_leapfrog_modified_hamiltonian_of_the_harmonic_oscillator(h):
    """For H = (q^2 + p^2)/2 the formula is p^2 (1/2 + h^2/12) + q^2 (1/2 - h^2/24), and the step conserves it to O(h^4)."""
    x = torch.tensor(X0)
    energy = lambda x: 0.5 * (x**2).sum(-1)  # noqa: E731
    expected = x[:, 1] ** 2 * (0.5 + h**2 / 12) + x[:, 0] ** 2 * (0.5 - h**2 / 24)
    assert torch.allclose(lh.leapfrog_modified_hamiltonian(energy, x, h), expected, atol=1e-14)
    # the exactly conserved quadratic of kick-drift-kick is proportional to p^2 + (1 - h^2/4) q^2
    traj = leapfrog(lambda x: torch.cat([x[..., 1:], -x[..., :1]], -1), x, grid(h, 50 * h), separable=True)
    exact = traj[..., 1] ** 2 + (1 - h**2 / 4) * traj[..., 0] ** 2
    assert (exact - exact[:, :1]).abs().max() < 1e-13


def pendulum_rollouts(method: str, h: float) -> torch.Tensor:
    t = grid(h, 20.0)
    if method == "leapfrog":
        return leapfrog(PENDULUM.time_derivative, torch.tensor(X0), t, separable=True)
    return implicit_midpoint(PENDULUM.time_derivative, torch.tensor(X0), t)


@pytest.mark.parametrize("method, modified", [("leapfrog", lh.leapfrog_modified_hamiltonian),
                                              ("midpoint", lh.midpoint_modified_hamiltonian)])
def test_modified_hamiltonian_orders(method, modified):
    """H varies along the rollout by O(h^2), the modified H~ by O(h^4); H~ - H itself is O(h^2)."""
    energy_var, modified_var, distance = [], [], []
    for h in STEPS:
        traj = pendulum_rollouts(method, h)
        h_tilde = modified(PENDULUM.hamiltonian, traj, h)
        energy_var.append(lh.energy_error(PENDULUM.hamiltonian, traj).max())
        modified_var.append((h_tilde - h_tilde[:, :1]).abs().max().item())
        distance.append((h_tilde - PENDULUM.hamiltonian(traj)).abs().max().item())
    assert lh.fitted_order(STEPS, energy_var) == pytest.approx(2, abs=0.1)
    assert lh.fitted_order(STEPS, modified_var) == pytest.approx(4, abs=0.15)
    assert lh.fitted_order(STEPS, distance) == pytest.approx(2, abs=0.05)


def test_modified_hamiltonian_checks():
    x = torch.tensor(X0)
    with pytest.raises(ValueError, match="separable"):
        lh.leapfrog_modified_hamiltonian(nonseparable_energy, x, 0.1)
    lh.leapfrog_modified_hamiltonian(nonseparable_energy, x, 0.1, check_separable=False)  # allowed when asked
    with pytest.raises(ValueError, match="h must be"):
        lh.midpoint_modified_hamiltonian(nonseparable_energy, x, -0.1)
    with pytest.raises(ValueError, match="even number"):
        lh.midpoint_modified_hamiltonian(nonseparable_energy, torch.zeros(3, 3, dtype=F64), 0.1)
    with pytest.raises(ValueError, match="energies"):
        lh.midpoint_modified_hamiltonian(lambda x: x.sum(), x, 0.1)
    linear = lh.midpoint_modified_hamiltonian(lambda x: x.sum(-1), x, 0.1)  # zero Hessian: H~ = H
    assert torch.allclose(linear, x.sum(-1))


def test_phase_and_errors():
    t = np.linspace(0, 10, 201)
    exact = np.stack([np.cos(2 * t), -np.sin(2 * t)], -1)  # the mass-spring, H = q^2 + p^2: omega = 2
    assert np.allclose(lh.phase(exact), 2 * t)
    late = np.stack([np.cos(2 * t - 0.1), -np.sin(2 * t - 0.1)], -1)
    assert np.allclose(lh.phase_error(late, exact)[1:], 0.1)
    with pytest.raises(ValueError, match="one degree of freedom"):
        lh.phase(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="same shape"):
        lh.phase_error(exact, exact[:5])
    assert np.allclose(lh.energy_error(MassSpring().hamiltonian, exact), 0, atol=1e-14)
    assert lh.fitted_order([1.0, 2.0, 4.0], [3.0, 12.0, 48.0]) == pytest.approx(2)
    with pytest.raises(ValueError, match="positive"):
        lh.fitted_order([1.0, 2.0, 4.0], [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="K >= 3"):
        lh.fitted_order([1.0, 2.0], [1.0, 2.0])


def test_rollout_field_is_the_hnn_field():
    from hnnlib.models import HNN, BaselineNN

    torch.manual_seed(0)
    model = HNN(4, hidden_dim=16).double()
    x = torch.randn(7, 4, dtype=F64)
    field = lh.rollout_field(model)
    assert torch.allclose(field(x), model.time_derivative(x), atol=1e-13)
    assert not field(x).requires_grad
    with pytest.raises(TypeError, match="HNN"):
        lh.rollout_field(BaselineNN(2, hidden_dim=4))
    with pytest.raises(ValueError, match="tanh"):
        lh.rollout_field(HNN(2, hidden_dim=4, nonlinearity="softplus"))
