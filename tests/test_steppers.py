"""One-step integrators: orders fitted by regression, symplecticity, exact energy conservation,
closed forms on the mass-spring, automatic discrete differentiation, gradients, input checks."""

import math

import numpy as np
import pytest
import torch

from hnnlib import NonFiniteError, steppers
from hnnlib.checkpoints import load_checkpoint, save_checkpoint
from hnnlib.hamiltonian import gradient, symplectic_from_gradient
from hnnlib.integrators import solve_ivp_rollout
from hnnlib.models import HNN, BaselineNN, SeparableHNN
from hnnlib.steppers import (
    ScalarHamiltonian,
    SeparableField,
    discrete_gradient,
    discrete_gradient_step,
    euler,
    implicit_midpoint,
    leapfrog,
    mlp_discrete_gradient,
    rk2,
    rk4,
    rollout,
)
from hnnlib.systems import MassSpring, Pendulum, TwoBody

F64 = torch.float64
PENDULUM, SPRING = Pendulum(), MassSpring()
X0 = torch.tensor([[1.0, 0.3], [-0.5, 0.8]], dtype=F64)


def random_biases(model, seed=0):
    """Random (not zero) biases, so every term of a network's gradient is exercised."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 1:
                p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * 0.5)
    return model


def make(cls, dim=2, hidden=16, nonlinearity="tanh", seed=0, speed=8.0):
    """A float64 model with random biases and its output weights scaled by ``speed``, so that its flow moves about
    as fast as the pendulum's (an untrained network's H is nearly flat)."""
    torch.manual_seed(seed)
    model = random_biases(cls(dim, hidden, nonlinearity).double(), seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("net.4.weight"):
                p.mul_(speed)
    return model


def nonseparable_energy(x):
    """H = (1 + q^2)(1 + p^2) / 2: q and p coupled."""
    return 0.5 * (1 + x[..., 0] ** 2) * (1 + x[..., 1] ** 2)


NONSEPARABLE = ScalarHamiltonian(nonseparable_energy)


# ---------------------------------------------------------------------------------------------
# Orders, fitted by regression


def fitted_order(step, model, x0, horizon=1.0, counts=(8, 16, 32, 64, 128)):
    """Slope of log(error at t = horizon) against log(h), error against a tight DOP853 solve."""
    reference = torch.as_tensor(
        solve_ivp_rollout(steppers.vector_field(model), x0, [0.0, horizon], rtol=1e-13, atol=1e-14, method="DOP853")[:, -1]
    )
    errors = [(rollout(step, model, x0, horizon / n, n)[:, -1] - reference).abs().max().item() for n in counts]
    return float(np.polyfit(np.log([horizon / n for n in counts]), np.log(errors), 1)[0])


@pytest.mark.parametrize(
    "step, model, tolerance",
    [
        (euler, PENDULUM, 0.15),
        (rk2, PENDULUM, 0.15),
        (rk4, PENDULUM, 0.2),
        (leapfrog, PENDULUM, 0.15),
        (implicit_midpoint, PENDULUM, 0.15),
        (implicit_midpoint, NONSEPARABLE, 0.15),
        (discrete_gradient_step, PENDULUM, 0.15),
        (discrete_gradient_step, NONSEPARABLE, 0.15),
        (rk4, "hnn", 0.2),
        (discrete_gradient_step, "hnn", 0.15),
        (leapfrog, "separable", 0.15),
        (discrete_gradient_step, "separable", 0.15),
    ],
    ids=["euler", "rk2", "rk4", "leapfrog", "implicit_midpoint", "implicit_midpoint-nonseparable", "dg-pendulum",
         "dg-nonseparable", "rk4-hnn", "dg-hnn", "leapfrog-separable_hnn", "dg-separable_hnn"],
)
def test_convergence_order(step, model, tolerance):
    """The global error falls like h^order, the order each stepper states, on known and learned Hamiltonians."""
    if model in ("hnn", "separable"):
        model = make(HNN if model == "hnn" else SeparableHNN)
    assert fitted_order(step, model, X0) == pytest.approx(step.order, abs=tolerance)


def test_stated_properties():
    """The properties each stepper states, in one place."""
    table = {name: (s.order, s.symplectic, s.conserves_energy, s.explicit) for name, s in steppers.STEPPERS.items()}
    assert table == {
        "euler": (1, False, False, True), "rk2": (2, False, False, True), "rk4": (4, False, False, True),
        "leapfrog": (2, True, False, True), "implicit_midpoint": (2, True, False, False),
        "discrete_gradient": (2, False, True, False),
    }


# ---------------------------------------------------------------------------------------------
# Closed forms on the mass-spring: x' = M(h) x with known matrices (H = q^2 + p^2, omega = 2)


def spring_matrix(name, h, omega=2.0):
    """The one-step matrix of each method on dq/dt = 2 p, dp/dt = -2 q, in (q, p) coordinates."""
    a = torch.tensor([[0.0, omega], [-omega, 0.0]], dtype=F64)
    eye = torch.eye(2, dtype=F64)
    if name == "euler":
        return eye + h * a
    if name == "rk2":
        return eye + h * a + (h * a) @ (h * a) / 2
    if name == "rk4":
        ha = h * a
        return eye + ha + ha @ ha / 2 + ha @ ha @ ha / 6 + ha @ ha @ ha @ ha / 24
    if name == "leapfrog":  # kick (p), drift (q), kick (p): for H = k q^2 / 2 + p^2 / (2 m) with k = 2, m = 1/2
        kick = torch.tensor([[1.0, 0.0], [-h, 1.0]], dtype=F64)  # p += h/2 (-k q)
        drift = torch.tensor([[1.0, 2 * h], [0.0, 1.0]], dtype=F64)  # q += h p / m
        return kick @ drift @ kick
    # implicit midpoint = discrete gradient step for a quadratic H: the Cayley transform, a rotation by 2 atan(omega h / 2)
    angle = 2 * math.atan(omega * h / 2)
    return torch.tensor([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]], dtype=F64)


@pytest.mark.parametrize("name", ["euler", "rk2", "rk4", "leapfrog", "implicit_midpoint", "discrete_gradient"])
def test_mass_spring_closed_form(name):
    """Each step on the mass-spring equals its known matrix, to round-off, at a large and a small step."""
    for h in (0.3, 0.01):
        expected = X0 @ spring_matrix(name, h).T
        torch.testing.assert_close(steppers.STEPPERS[name](SPRING, X0, h), expected, rtol=1e-13, atol=1e-13)


def test_mass_spring_exact_solution_and_phase():
    """Against the exact rotation by 2 h: RK4's one-step error is O(h^5); the discrete gradient step rotates by
    2 atan(h) < 2 h exactly (a phase lag) and keeps q^2 + p^2 over 300 steps to round-off."""
    for h in (0.2, 0.1, 0.05):
        exact = X0 @ torch.tensor([[math.cos(2 * h), math.sin(2 * h)], [-math.sin(2 * h), math.cos(2 * h)]], dtype=F64).T
        assert (rk4(SPRING, X0, h) - exact).abs().max() < (2 * h) ** 5 / 120 * 1.5
    with torch.no_grad():
        traj = rollout("discrete_gradient", SPRING, X0, 0.2, 300)
    energy = SPRING.hamiltonian(traj)
    assert (energy - energy[:, :1]).abs().max() < 1e-12
    angle = float(torch.atan2(traj[0, -1, 1], traj[0, -1, 0]) - torch.atan2(X0[0, 1], X0[0, 0]))
    assert math.cos(angle) == pytest.approx(math.cos(-300 * 2 * math.atan(0.2)), abs=1e-10)


# ---------------------------------------------------------------------------------------------
# Symplecticity: the one-step Jacobian J satisfies J^T S J = S (in 2-D: det J = 1, area kept)

OMEGA4 = torch.tensor([[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0], [-1.0, 0.0, 0.0, 0.0], [0.0, -1.0, 0.0, 0.0]], dtype=F64)


def step_jacobian(step, model, x, h):
    return torch.autograd.functional.jacobian(lambda y: step(model, y[None], h)[0], x)


def symplecticity_defect(step, model, x, h):
    jac = step_jacobian(step, model, x, h)
    n = x.shape[-1] // 2
    s = torch.zeros(2 * n, 2 * n, dtype=F64)
    s[:n, n:], s[n:, :n] = torch.eye(n, dtype=F64), -torch.eye(n, dtype=F64)
    return (jac.T @ s @ jac - s).abs().max().item()


@pytest.mark.parametrize("model", ["pendulum", "separable", "two_body"])
def test_leapfrog_is_symplectic(model):
    """Leapfrog's step Jacobian is symplectic to round-off (pendulum, a learned separable H, the two-body problem);
    RK4's is not."""
    if model == "pendulum":
        model, x = PENDULUM, torch.tensor([1.2, -0.4], dtype=F64)
    elif model == "separable":
        model, x = make(SeparableHNN), torch.tensor([0.7, 0.9], dtype=F64)
    else:
        model, x = TwoBody(), torch.tensor([1.0, 0.1, -1.0, -0.1, 0.05, 0.45, -0.05, -0.45], dtype=F64)
    assert symplecticity_defect(leapfrog, model, x, 0.3) < 1e-12
    assert symplecticity_defect(rk4, model, x, 0.3) > 1e-8


def test_implicit_midpoint_is_symplectic_for_a_learned_nonseparable_h():
    """The implicit midpoint rule on an HNN's H_theta(q, p) (not separable): J^T S J = S to the solver's tolerance;
    the discrete gradient step, which conserves H instead, is not symplectic there."""
    model, x = make(HNN), torch.tensor([0.4, -0.6], dtype=F64)
    assert symplecticity_defect(implicit_midpoint, model, x, 0.3) < 1e-10
    assert symplecticity_defect(discrete_gradient_step, model, x, 0.3) > 1e-6


def test_leapfrog_preserves_phase_space_area():
    """The area of a small polygon of pendulum states is kept by 50 leapfrog steps (to 1e-6), not by explicit Euler."""
    theta = torch.linspace(0, 2 * math.pi, 401, dtype=F64)[:-1]
    ring = torch.stack([1.0 + 0.1 * torch.cos(theta), 0.1 * torch.sin(theta)], dim=-1)

    def area(points):
        q, p = points[:, 0], points[:, 1]
        return 0.5 * (q * p.roll(-1) - q.roll(-1) * p).sum().abs().item()

    start = area(ring)
    assert area(rollout(leapfrog, PENDULUM, ring, 0.1, 50)[:, -1]) == pytest.approx(start, rel=1e-4)
    assert area(rollout(euler, PENDULUM, ring, 0.1, 50)[:, -1]) > 1.5 * start


# ---------------------------------------------------------------------------------------------
# Exact energy conservation of the discrete gradient step


@pytest.mark.parametrize("model", ["pendulum", "nonseparable", "two_body", "hnn", "separable"])
def test_discrete_gradient_step_conserves_energy(model):
    """Over 200 steps of h = 0.1 the discrete gradient step keeps H (the true one, or the model's H_theta) to 1e-12
    relative; RK4 and leapfrog, at the same step, change it by far more."""
    x = X0
    if model == "pendulum":
        model, energy = PENDULUM, PENDULUM.hamiltonian
    elif model == "nonseparable":
        model, energy = NONSEPARABLE, nonseparable_energy
    elif model == "two_body":
        model = TwoBody()
        x = torch.tensor([[1.0, 0.0, -1.0, 0.0, 0.0, 0.5, 0.0, -0.5]], dtype=F64)
        energy = model.hamiltonian
    else:
        model = make(HNN if model == "hnn" else SeparableHNN)
        energy = model.hamiltonian
    with torch.no_grad():
        e_dg = energy(rollout(discrete_gradient_step, model, x, 0.1, 200))
        e_rk4 = energy(rollout(rk4, model, x, 0.1, 200))
    scale = e_dg[:, :1].abs() + 1
    assert ((e_dg - e_dg[:, :1]).abs() / scale).max() < 1e-12
    assert ((e_rk4 - e_rk4[:, :1]).abs() / scale).max() > 1e-9


# ---------------------------------------------------------------------------------------------
# Automatic discrete differentiation


@pytest.mark.parametrize("nonlinearity", ["tanh", "softplus", "relu"])
@pytest.mark.parametrize("cls", [HNN, SeparableHNN])
def test_discrete_gradient_properties(cls, nonlinearity):
    """The discrete chain rule H(y) - H(x) = g . (y - x) holds to round-off; g is symmetric in x and y;
    g(x, x) = grad H(x)."""
    model = make(cls, 4, 16, nonlinearity)
    generator = torch.Generator().manual_seed(3)
    x, y = (torch.randn(64, 4, dtype=F64, generator=generator) for _ in range(2))
    g = discrete_gradient(model, x, y)
    torch.testing.assert_close(model.hamiltonian(y) - model.hamiltonian(x), (g * (y - x)).sum(-1), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(discrete_gradient(model, y, x), g, rtol=1e-12, atol=1e-12)
    if nonlinearity != "relu":  # relu's gradient is discontinuous; its discrete gradient is not compared with it
        torch.testing.assert_close(discrete_gradient(model, x, x), gradient(model.hamiltonian, x), rtol=1e-10, atol=1e-12)


def test_tanh_discrete_gradient_is_stable_in_float32():
    """For nearly equal states the float32 discrete gradient of a tanh MLP stays close to the float64 one:
    the difference quotient of tanh is formed without cancellation."""
    model = make(HNN, 2, 32)
    x = torch.randn(128, 2, dtype=F64, generator=torch.Generator().manual_seed(5))
    for gap in (1e-3, 1e-5, 1e-7):
        y = x + gap
        exact = discrete_gradient(model, x, y)
        single = mlp_discrete_gradient(model.mlp.float(), x.float(), y.float()).double()
        model.mlp.double()
        assert (single - exact).abs().max() < 1e-5 * (1 + exact.abs().max())


def test_gonzalez_discrete_gradient_on_a_known_h():
    """For a system (no MLP) the discrete gradient is Gonzalez's: the discrete chain rule holds, and for the
    quadratic mass-spring energy it is the gradient at the midpoint."""
    generator = torch.Generator().manual_seed(1)
    x, y = (torch.randn(32, 2, dtype=F64, generator=generator) for _ in range(2))
    g = discrete_gradient(PENDULUM, x, y)
    torch.testing.assert_close(PENDULUM.hamiltonian(y) - PENDULUM.hamiltonian(x), (g * (y - x)).sum(-1), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(discrete_gradient(SPRING, x, y), gradient(SPRING.hamiltonian, (x + y) / 2), rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(discrete_gradient(PENDULUM, x, x), gradient(PENDULUM.hamiltonian, x), rtol=1e-13, atol=1e-13)


# ---------------------------------------------------------------------------------------------
# Gradients: every step is differentiable; implicit steps get the implicit-function gradient


@pytest.mark.parametrize("name", sorted(steppers.STEPPERS))
def test_steps_are_differentiable_in_the_weights(name):
    """A loss on one step back-propagates into every weight that moves the step, and gradcheck passes in x."""
    model = make(SeparableHNN if name == "leapfrog" else HNN, 2, 8)
    step = steppers.STEPPERS[name]
    loss = step(model, X0, 0.1).pow(2).sum()
    grads = torch.autograd.grad(loss, [p for n, p in model.named_parameters() if not n.endswith("net.4.bias")])
    assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)
    x = X0.clone().requires_grad_(True)
    if step.explicit:
        assert torch.autograd.gradcheck(lambda y: step(model, y, 0.1), (x,), eps=1e-6, atol=1e-7)
    else:
        assert torch.autograd.gradcheck(lambda y: step(model, y, 0.1, tol=1e-14), (x,), eps=1e-6, atol=1e-7,
                                        check_undefined_grad=False)


@pytest.mark.parametrize("step", [implicit_midpoint, discrete_gradient_step])
def test_implicit_gradient_equals_unrolled_iterations(step):
    """The implicit-function gradient with respect to the weights equals the gradient through 80 unrolled iterations."""
    model, h = make(HNN, 2, 8), 0.2
    params = list(model.parameters())[:-1]  # the output bias does not enter the dynamics
    implicit = torch.autograd.grad(step(model, X0, h, tol=1e-15).pow(2).sum(), params)
    y = X0.clone()
    for _ in range(80):
        if step is implicit_midpoint:
            y = X0 + h * model.time_derivative((X0 + y) / 2)
        else:
            y = X0 + h * symplectic_from_gradient(discrete_gradient(model, X0, y))
    unrolled = torch.autograd.grad(y.pow(2).sum(), params)
    for a, b in zip(implicit, unrolled):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_no_graph_without_grad():
    """Under torch.no_grad the steps return plain tensors (evaluation rollouts build no graph)."""
    model = make(HNN, 2, 8)
    with torch.no_grad():
        for name, step in steppers.STEPPERS.items():
            target = make(SeparableHNN, 2, 8) if name == "leapfrog" else model
            assert not step(target, X0, 0.1).requires_grad


# ---------------------------------------------------------------------------------------------
# Rollouts, float32, and the separable model


def test_rollout_shapes_and_agreement_with_steps():
    """rollout returns (B, k + 1, D), x0 first, each row the stepper applied again; names work like functions."""
    traj = rollout("rk4", PENDULUM, X0, 0.1, 5)
    assert traj.shape == (2, 6, 2)
    torch.testing.assert_close(traj[:, 0], X0)
    torch.testing.assert_close(traj[:, 2], rk4(PENDULUM, rk4(PENDULUM, X0, 0.1), 0.1))
    torch.testing.assert_close(rollout(rk4, PENDULUM, X0, 0.1, 5), traj)


def test_float32_models_stay_float32():
    """A float32 model and float32 states give float32 steps, for every stepper."""
    torch.manual_seed(0)
    hnn, sep = HNN(2, 8), SeparableHNN(2, 8)
    x = X0.float()
    for name, step in steppers.STEPPERS.items():
        out = step(sep if name == "leapfrog" else hnn, x, 0.1)
        assert out.dtype == torch.float32 and out.shape == x.shape


def test_separable_hnn_model():
    """SeparableHNN: H = V(q) + T(p), its field is (dT/dp, -dV/dq) = the symplectic gradient of H, and it round-trips
    through a checkpoint."""
    model = make(SeparableHNN, 4, 8)
    x = torch.randn(6, 4, dtype=F64, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(model.hamiltonian(x), model.potential(x[:, :2]) + model.kinetic(x[:, 2:]))
    torch.testing.assert_close(model.time_derivative(x), symplectic_from_gradient(gradient(model.hamiltonian, x)))
    moved = x.clone()
    moved[:, 2:] += 1.0  # changing p leaves dp/dt alone
    torch.testing.assert_close(model.time_derivative(moved)[:, 2:], model.time_derivative(x)[:, 2:])
    with pytest.raises(ValueError, match="even input_dim"):
        SeparableHNN(3)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        model.velocity(torch.zeros(3, 4, dtype=F64))


def test_separable_hnn_checkpoint(tmp_path):
    model = make(SeparableHNN, 2, 8)
    save_checkpoint(model, tmp_path / "sep.pt", {"seed": 0})
    loaded = load_checkpoint(tmp_path / "sep.pt")
    assert type(loaded) is SeparableHNN and loaded.config == model.config
    torch.testing.assert_close(loaded.time_derivative(X0), model.time_derivative(X0), rtol=0, atol=0)


# ---------------------------------------------------------------------------------------------
# Input checks


@pytest.mark.parametrize("h", [0.0, -0.1, float("nan"), float("inf")])
def test_time_step_must_be_positive_and_finite(h):
    for name, step in steppers.STEPPERS.items():
        with pytest.raises(ValueError, match="time step h"):
            step(PENDULUM, X0, h)
    with pytest.raises(ValueError, match="time step h"):
        rollout("rk4", PENDULUM, X0, h, 3)


def test_bad_inputs_give_clear_errors():
    with pytest.raises(TypeError, match="time step h must be a real number"):
        rk4(PENDULUM, X0, "0.1")
    with pytest.raises(ValueError, match=r"shape \(B, D\)"):
        rk4(PENDULUM, X0[0], 0.1)
    with pytest.raises(ValueError, match=r"shape \(B, D\)"):
        rk4(PENDULUM, X0[None], 0.1)
    with pytest.raises(ValueError, match="NaN or inf"):
        rk4(PENDULUM, torch.tensor([[float("nan"), 0.0]], dtype=F64), 0.1)
    with pytest.raises(TypeError, match="expected a vector field"):
        euler(3.0, X0, 0.1)
    with pytest.raises(ValueError, match="same shape"):
        rk2(lambda x: x[:, :1], X0, 0.1)
    with pytest.raises(ValueError, match="n_steps must be a positive int"):
        rollout("rk4", PENDULUM, X0, 0.1, 0)
    with pytest.raises(ValueError, match="unknown stepper"):
        rollout("rk5", PENDULUM, X0, 0.1, 2)
    with pytest.raises(ValueError, match="same shape"):
        discrete_gradient(PENDULUM, X0, X0[:1])


def test_leapfrog_refuses_non_separable_models():
    """Leapfrog needs H = T(p) + V(q): an HNN, a baseline, a plain field are refused with what to use instead;
    a SeparableField of two callables is accepted."""
    for model in (make(HNN), make(BaselineNN), PENDULUM.time_derivative, NONSEPARABLE):
        with pytest.raises(TypeError, match=r"separable Hamiltonian H = T\(p\) \+ V\(q\).*implicit_midpoint"):
            leapfrog(model, X0, 0.1)
    halves = SeparableField(velocity=lambda p: 2 * p, force=lambda q: -2 * q)
    torch.testing.assert_close(leapfrog(halves, X0, 0.1), leapfrog(SPRING, X0, 0.1))


def test_discrete_gradient_needs_a_hamiltonian():
    for model in (make(BaselineNN), PENDULUM.time_derivative):
        with pytest.raises(TypeError, match="needs a Hamiltonian"):
            discrete_gradient_step(model, X0, 0.1)


def test_implicit_steps_report_non_convergence():
    """A step far too large for the fixed-point iteration stops with an error saying to shrink it."""
    for step in (implicit_midpoint, discrete_gradient_step):
        with pytest.raises(RuntimeError, match="smaller time step"):
            step(PENDULUM, X0 * 3, 5.0)
        with pytest.raises(RuntimeError, match="did not converge in 2 iterations"):
            step(PENDULUM, X0, 0.1, max_iterations=2)


def test_rollout_stops_at_non_finite_states():
    with pytest.raises(NonFiniteError, match="step 2 of 3"):
        calls = iter([1.0, float("inf")])
        rollout(lambda model, x, h: x * next(calls), None, X0, 0.1, 3)


def test_fused_separable_gradient_gradcheck():
    """SeparableHNN's fused tanh gradient (TanhMLPGradient) passes gradcheck in the input and every weight."""
    from hnnlib.models import TanhMLPGradient

    mlp = make(SeparableHNN, 4, 6).potential_mlp
    first, _, second, _, last = mlp.net
    y = torch.randn(5, 2, dtype=F64, generator=torch.Generator().manual_seed(4), requires_grad=True)
    assert torch.autograd.gradcheck(TanhMLPGradient.apply, (y, first.weight, first.bias, second.weight, second.bias,
                                                            last.weight))
