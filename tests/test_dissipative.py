"""The damped oscillator, the dissipative HNN (Sosanya & Greydanus 2022) and chapter 12's tasks."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hnnlib.checkpoints import load_checkpoint, save_checkpoint
from hnnlib.hamiltonian import symplectic_gradient
from hnnlib.integrators import rk4, solve_ivp_rollout
from hnnlib.models import ConservativePart, DissipativeHNN, HNN
from hnnlib.systems import DampedOscillator, MassSpring

F64 = torch.float64
coordinate = st.floats(-2.0, 2.0, allow_nan=False)
states = st.lists(st.tuples(coordinate, coordinate), min_size=1, max_size=5)


# --- DampedOscillator --------------------------------------------------------------------------

@given(states, st.floats(0.0, 1.0))
def test_damped_field_is_helmholtz_sum(xs, gamma):
    """dx/dt = S_H + grad D, with S_H the symplectic gradient of H and grad D autograd's."""
    system = DampedOscillator(gamma=gamma)
    x = torch.tensor(xs, dtype=F64, requires_grad=True)
    (grad_d,) = torch.autograd.grad(system.dissipation(x).sum(), x)
    expected = symplectic_gradient(system.hamiltonian, x.detach()) + grad_d
    torch.testing.assert_close(system.time_derivative(x.detach()), expected, rtol=1e-12, atol=1e-12)


def test_zero_friction_is_the_mass_spring_and_conserves_energy():
    """gamma = 0: the same field as MassSpring, and energy is conserved along a long rollout."""
    system, spring = DampedOscillator(gamma=0.0), MassSpring()
    x = np.random.default_rng(0).normal(size=(7, 2))
    np.testing.assert_allclose(system.time_derivative(x), spring.time_derivative(x), rtol=0, atol=0)
    traj = solve_ivp_rollout(system.time_derivative, x, np.linspace(0, 50, 200), rtol=1e-11, atol=1e-12,
                             dtype=F64, batched=True)
    energy = system.hamiltonian(traj)
    assert np.abs(energy / energy[:, :1] - 1).max() < 1e-8


@pytest.mark.parametrize("gamma", [0.05, 0.2, 1.0])
def test_solution_matches_numerical_integration(gamma):
    """The analytic underdamped trajectory agrees with a tight RK45 rollout."""
    system = DampedOscillator(gamma=gamma)
    x0, t = np.array([[0.8, -0.3], [-0.2, 1.1]]), np.linspace(0, 10, 101)
    numeric = solve_ivp_rollout(system.time_derivative, x0, t, rtol=1e-11, atol=1e-13, dtype=F64)
    np.testing.assert_allclose(system.solution(x0, t), numeric, rtol=0, atol=1e-8)


@pytest.mark.parametrize("gamma", [0.05, 0.2, 1.0])
def test_analytic_energy_decay(gamma):
    """dH/dt = -gamma p^2 / m along the exact solution, and H decays like exp(-gamma t) per period."""
    system = DampedOscillator(gamma=gamma)
    t = np.linspace(0, 4 * system.period, 4001)
    x = system.solution(np.array([1.0, 0.0]), t)
    energy = system.hamiltonian(x)
    rate = np.gradient(energy, t)
    exact = system.energy_rate(x)
    np.testing.assert_allclose(rate[5:-5], exact[5:-5], rtol=0, atol=1e-4 * np.abs(exact).max())
    # after each whole period the state's phase repeats, so the energy has shrunk by exactly e^(-gamma T)
    ratio = system.hamiltonian(system.solution(np.array([1.0, 0.0]), system.period * np.arange(0, 4)))
    np.testing.assert_allclose(ratio[1:] / ratio[:-1], np.exp(-gamma * system.period), rtol=1e-10)
    assert np.all(np.diff(energy) <= 1e-15), "energy must never increase"


@pytest.mark.parametrize("k,m", [(2.0, 0.5), (1.0, 1.0), (3.0, 2.0)])
def test_small_oscillation_period(k, m):
    """The period from zero crossings of a rollout is 2 pi / omega_d, and 2 pi sqrt(m / k) as gamma -> 0."""
    gammas = [1e-4, 0.1, 0.5]
    for gamma in gammas:
        system = DampedOscillator(k=k, m=m, gamma=gamma)
        t = np.linspace(0, 6 * system.period, 20001)
        q = solve_ivp_rollout(system.time_derivative, np.array([0.01, 0.0]), t, rtol=1e-11, atol=1e-14, dtype=F64)[:, 0]
        down = np.where((q[:-1] > 0) & (q[1:] <= 0))[0]
        crossings = t[down] - q[down] * (t[down + 1] - t[down]) / (q[down + 1] - q[down])
        measured = np.diff(crossings).mean()
        assert measured == pytest.approx(system.period, rel=1e-6)
    assert DampedOscillator(k=k, m=m, gamma=1e-6).period == pytest.approx(2 * np.pi * np.sqrt(m / k), rel=1e-9)


def test_damped_oscillator_rejects_bad_parameters():
    with pytest.raises(ValueError, match="gamma >= 0"):
        DampedOscillator(gamma=-0.1)
    with pytest.raises(ValueError, match="k > 0 and m > 0"):
        DampedOscillator(k=0.0)
    with pytest.raises(ValueError, match="not underdamped"):
        DampedOscillator(k=2.0, m=0.5, gamma=5.0).period
    with pytest.raises(ValueError, match="shape"):
        DampedOscillator().time_derivative(np.zeros((3, 3)))


# --- DissipativeHNN ----------------------------------------------------------------------------

@pytest.mark.parametrize("nonlinearity", ["tanh", "softplus"])
def test_dhnn_field_is_symplectic_gradient_plus_gradient(nonlinearity):
    """The field is S_{H_theta} + grad D_theta, against plain autograd on the two MLPs."""
    torch.manual_seed(0)
    model = DissipativeHNN(2, 16, nonlinearity=nonlinearity).double()
    x = torch.randn(9, 2, dtype=F64, requires_grad=True)
    (grad_d,) = torch.autograd.grad(model.dissipation(x).sum(), x)
    expected = symplectic_gradient(model.hamiltonian, x.detach()) + grad_d
    torch.testing.assert_close(model.time_derivative(x.detach()), expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(model.dissipative_field(x.detach()), grad_d, rtol=1e-10, atol=1e-12)


def test_dhnn_is_differentiable_for_training():
    """gradcheck through the fused field, with respect to the inputs and (by training) the weights."""
    torch.manual_seed(1)
    model = DissipativeHNN(2, 6).double()
    x = torch.randn(4, 2, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(model.time_derivative, (x,))
    loss = model(torch.randn(4, 2, dtype=F64)).pow(2).sum()
    loss.backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if not n.endswith("net.4.bias"))


def test_conservative_part_conserves_h_and_shares_weights():
    """Friction off: the field is tangent to the level sets of H_theta, and uses the same weights."""
    torch.manual_seed(2)
    model = DissipativeHNN(2, 16).double()
    part = model.conservative()
    assert isinstance(part, ConservativePart) and part.model is model
    x = torch.randn(20, 2, dtype=F64, requires_grad=True)
    (grad_h,) = torch.autograd.grad(model.hamiltonian(x).sum(), x)
    dot = (grad_h * part.time_derivative(x.detach())).sum(-1)
    assert dot.abs().max() < 1e-12
    traj = rk4(part.time_derivative, torch.tensor([0.5, 0.1], dtype=F64), torch.linspace(0, 5, 51), substeps=20)
    h = part.hamiltonian(traj).detach()
    assert (h - h[0]).abs().max() < 1e-7
    with pytest.raises(TypeError, match="DissipativeHNN"):
        ConservativePart(HNN(2, 4))


def test_dhnn_input_checks():
    model = DissipativeHNN(2, 8)
    with pytest.raises(ValueError, match="even input_dim"):
        DissipativeHNN(3, 8)
    with pytest.raises(ValueError):
        model.time_derivative(torch.zeros(4, 3))
    with pytest.raises(TypeError, match="dtype"):
        model.time_derivative(torch.zeros(4, 2, dtype=F64))


def test_dhnn_checkpoint_roundtrip(tmp_path):
    """Saved and loaded through the safe checkpoints: same class, config and field."""
    torch.manual_seed(3)
    model = DissipativeHNN(2, 12)
    path = tmp_path / "dhnn.pt"
    save_checkpoint(model, path, metadata={"seed": 3})
    loaded = load_checkpoint(path)
    assert type(loaded) is DissipativeHNN and loaded.config == model.config and loaded.metadata["seed"] == 3
    x = torch.randn(5, 2)
    torch.testing.assert_close(loaded.time_derivative(x), model.time_derivative(x).detach())


@settings(max_examples=3, deadline=None)
@given(st.floats(0.05, 0.5))
def test_dhnn_learns_a_linear_friction_exactly_representable(gamma):
    """A few hundred steps fit the damped oscillator's field on a small batch (a smoke test of training)."""
    torch.manual_seed(0)
    system = DampedOscillator(gamma=gamma)
    x = torch.rand(64, 2, dtype=F64) * 2 - 1
    dx = system.time_derivative(x)
    model = DissipativeHNN(2, 32).double()
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    first = None
    for _ in range(150):
        loss = (model(x) - dx).pow(2).mean()
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05 * first


# --- chapter 12's tasks ------------------------------------------------------------------------

def test_friction_tasks_are_registered_with_published_numbers():
    from hnnlib import followups
    from hnnlib.experiments import friction

    assert set(friction.FRICTION_TASKS) == {"damped_spring", "real_pendulum_dhnn", "real_pendulum_dhnn_cosine",
                                            "real_pendulum_dgnet"}
    cosine, constant = (friction.FRICTION_TASKS[n].settings for n in ("real_pendulum_dhnn_cosine", "real_pendulum_dhnn"))
    assert {k: v for k, v in cosine.items() if k != "lr_schedule"} == constant and cosine["lr_schedule"] == "cosine"
    assert friction.FRICTION_TASKS["real_pendulum_dhnn"].published["test_loss"] is followups.DHNN_REAL_PENDULUM_TEST_LOSS
    assert followups.DGNET_REAL_PENDULUM_ENERGY_MSE.value == pytest.approx(4.92e-4)
    with pytest.raises(ValueError, match="valid"):
        friction.get_friction_task("nope")


class OneWeight(torch.nn.Module):
    """A model with one weight ``w``: ``time_derivative(x) = field(x, w)``, calling ``record(x, w)`` at each
    training call (gradients on), so a test sees the batches and the weight step by step."""

    def __init__(self, field, record):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.field, self.record = field, record

    def time_derivative(self, x):
        if torch.is_grad_enabled():
            self.record(x, self.w)
        return self.field(x, self.w)


def test_train_in_order_takes_batches_in_order():
    """Batches [b, b + B) with b = s B mod n, as the D-HNN reference code; test records every test_every steps."""
    from hnnlib.experiments.friction import train_in_order

    seen = []
    probe = OneWeight(lambda x, w: x * w, lambda x, w: seen.append((int(x[0, 0]), len(x))))
    x = torch.arange(10.0).repeat(2, 1).T.contiguous()
    history = train_in_order(probe, x, x, x[:3], x[:3], steps=5, learning_rate=1e-3, batch_size=4, test_every=2,
                             progress=False)
    assert seen == [(0, 4), (4, 4), (8, 2), (2, 4), (6, 4)]
    assert history.step == [0, 2, 4] and len(history.batch_loss) == 5


def test_last_records_is_mean_and_std():
    from hnnlib.experiments.friction import last_records
    from hnnlib.training import TrainingHistory

    h = TrainingHistory(step=[0, 1, 2, 3], train_loss=[0.0] * 4, test_loss=[9.0, 1.0, 2.0, 3.0], batch_loss=[])
    mean, std = last_records(h, 3)
    assert mean == pytest.approx(2.0) and std == pytest.approx(np.std([1.0, 2.0, 3.0]))


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_train_in_order_learning_rate_schedule(schedule):
    """With a constant gradient every Adam step moves a weight by the step's learning rate: the moves
    follow lr (constant) or lr (1 + cos(pi s / steps)) / 2 (cosine)."""
    from hnnlib.experiments.friction import train_in_order

    weights = []

    def probe():
        return OneWeight(lambda x, w: torch.zeros_like(x) + w, lambda x, w: weights.append(float(w.detach())))

    x = torch.zeros(8, 2)
    target = torch.full((8, 2), 1e6)  # the gradient of the loss in w stays -2e6, to 1e-6
    steps, lr = 12, 1e-2
    train_in_order(probe(), x, target, x, target, steps=steps, learning_rate=lr, batch_size=4, test_every=100,
                   lr_schedule=schedule, progress=False)
    moves = np.diff(weights)
    expected = [lr if schedule == "constant" else lr * 0.5 * (1 + np.cos(np.pi * s / steps)) for s in range(steps - 1)]
    np.testing.assert_allclose(moves, expected, rtol=1e-5)
    with pytest.raises(ValueError, match="lr_schedule"):
        train_in_order(probe(), x, target, x, target, steps=2, learning_rate=lr, batch_size=4, test_every=1,
                       lr_schedule="linear", progress=False)
