"""Losses that take an integrator: zero on exact data where they should be, sizes, gradients, stacked training, checks."""

import pytest
import torch

from hnnlib import stacked, steppers
from hnnlib.models import HNN, SeparableHNN
from hnnlib.observed import make_observed_trajectories
from hnnlib.systems import MassSpring
from hnnlib.trajectory_losses import discrete_gradient_loss, finite_difference_loss, k_step_loss, one_step_loss

F64 = torch.float64
SPRING = MassSpring()


@pytest.fixture(scope="module")
def clean():
    return make_observed_trajectories(SPRING, n_trajectories=6, n_times=11, t_span=(0.0, 2.0), noise_std=0.0, seed=0,
                                      dtype=F64).train


def test_losses_of_the_true_system(clean):
    """On noiseless mass-spring data, with the true H: the discrete gradient loss equals the central finite-difference
    loss (for a quadratic H the discrete gradient is the gradient at the midpoint), both are below RK2's one-step loss,
    RK4's is a thousand times smaller than RK2's and leapfrog's, and a one-window k-step loss is the one-step loss."""
    with torch.no_grad():
        h = clean.time_step
        x, y = clean.pairs()
        dg = discrete_gradient_loss(SPRING, x, y, h)
        rk2 = one_step_loss("rk2", SPRING, x, y, h)
        rk4 = one_step_loss("rk4", SPRING, x, y, h)
        lf = one_step_loss("leapfrog", SPRING, x, y, h)
        assert rk4 < 1e-3 * rk2 and rk4 < 1e-3 * lf
        assert dg < rk2  # second order with a smaller constant on the circle
        assert float(finite_difference_loss(SPRING, *clean.finite_differences("central"))) == pytest.approx(float(dg), rel=1e-9)
        start, following = clean.windows(3)
        assert float(k_step_loss("rk4", SPRING, start, following, h)) < 1e-6
        assert float(k_step_loss("rk4", SPRING, start, following[:, :1], h)) == pytest.approx(float(
            one_step_loss("rk4", SPRING, start, following[:, 0], h)), rel=1e-12)



def test_losses_train_a_model(clean):
    """A few Adam steps on each loss lower it and give finite gradients in every weight that moves the dynamics."""
    h = clean.time_step
    x, y = clean.pairs()
    start, following = clean.windows(2)
    for name, make, loss_fn in [
        ("fd", HNN, lambda m: finite_difference_loss(m, *clean.finite_differences())),
        ("rk2", HNN, lambda m: one_step_loss("rk2", m, x, y, h)),
        ("leapfrog", SeparableHNN, lambda m: one_step_loss(steppers.leapfrog, m, x, y, h)),
        ("k2", SeparableHNN, lambda m: k_step_loss("leapfrog", m, start, following, h)),
        ("dg", HNN, lambda m: discrete_gradient_loss(m, x, y, h)),
    ]:
        torch.manual_seed(0)
        model = make(2, 16).double()
        opt = torch.optim.Adam(model.parameters(), 1e-2)
        first = float(loss_fn(model).detach())
        for _ in range(30):
            opt.zero_grad()
            loss_fn(model).backward()
            opt.step()
        assert float(loss_fn(model).detach()) < 0.5 * first, name


def test_stacked_training_equals_one_by_one(clean):
    """Two seeds trained as one stacked model end where each ends alone (Adam, 20 steps, float64)."""
    h = clean.time_step
    x, y = clean.pairs()
    for cls, loss in [(HNN, lambda m, a, b: discrete_gradient_loss(m, a, b, h)), (SeparableHNN, lambda m, a, b: one_step_loss("leapfrog", m, a, b, h))]:
        alone = []
        for seed in (0, 1):
            torch.manual_seed(seed)
            alone.append(cls(2, 8).double())
        together = stacked.stack(alone)
        data = [(x, y), (x.flip(0), y.flip(0))]  # each member its own data
        for model, (a, b) in zip(alone, data):
            opt = torch.optim.Adam(model.parameters(), 1e-2, weight_decay=1e-4)
            for _ in range(20):
                opt.zero_grad()
                loss(model, a, b).backward()
                opt.step()
        opt = torch.optim.Adam(together.parameters(), 1e-2, weight_decay=1e-4)
        a_all, b_all = torch.cat([d[0] for d in data]), torch.cat([d[1] for d in data])
        for _ in range(20):
            opt.zero_grad()
            stacked.member_sum(loss(together, a_all, b_all), 2).backward()
            opt.step()
        for mine, theirs in zip(together.unstack(), alone):
            for p, q in zip(mine.parameters(), theirs.parameters()):
                torch.testing.assert_close(p, q, rtol=1e-9, atol=1e-10)


def test_checks(clean):
    x, y = clean.pairs()
    with pytest.raises(ValueError, match="same shape|shape \\(B, D\\)"):
        one_step_loss("rk2", SPRING, x, y[:3], 0.2)
    with pytest.raises(ValueError, match="time step h"):
        discrete_gradient_loss(SPRING, x, y, 0.0)
    with pytest.raises(ValueError, match="time step h"):
        one_step_loss("rk2", SPRING, x, y, -1.0)
    with pytest.raises(ValueError, match="unknown stepper"):
        one_step_loss("rk3", SPRING, x, y, 0.2)
    with pytest.raises(ValueError, match=r"following \(B, k, D\)"):
        k_step_loss("rk2", SPRING, x, y, 0.2)
    with pytest.raises(TypeError, match="separable"):
        one_step_loss("leapfrog", HNN(2, 4).double(), x, y, 0.2)
    with pytest.raises(TypeError, match="needs a Hamiltonian"):
        discrete_gradient_loss(SPRING.time_derivative, x, y, 0.2)
