"""The batched RK45: the same steps and trajectories as one SciPy solve_ivp(RK45) call per state."""

import numpy as np
import pytest
import scipy.integrate
import torch

from hnnlib import NonFiniteError
from hnnlib.data import sample_nbody_states, sample_two_body_states
from hnnlib.integrators import solve_ivp_rollout
from hnnlib.models import HNN, BaselineNN
from hnnlib.rk45_batched import solve_ivp_batched
from hnnlib.systems import TwoBody, get_system
from hnnlib.training import set_seed


def rng(seed=0):
    return np.random.default_rng(seed)


def scipy_rk45(f, x0, t, rtol=1e-9, atol=1e-6):
    """Reference: one solve_ivp(RK45) call per initial state."""
    sols = [scipy.integrate.solve_ivp(lambda _t, y: f(y), (t[0], t[-1]), y0, t_eval=t, rtol=rtol, atol=atol) for y0 in x0]
    return np.stack([s.y.T for s in sols]), np.array([s.nfev for s in sols])



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


def test_batched_rk45_reports_a_non_finite_field_at_once():
    """A NaN field is reported at its first stage, naming the trajectory, its time and state, not after max_steps."""
    x0 = np.array([[0.0, 0.1], [0.0, 1.0], [0.0, 0.2]])  # q moves at speed p; only trajectory 1 passes q = 2.5 by t = 5

    def nan_beyond(x):
        return torch.where(x[:, :1] > 2.5, torch.nan, torch.cat([x[:, 1:], torch.zeros_like(x[:, 1:])], 1))

    with pytest.raises(NonFiniteError, match=r"nan_beyond returned NaN or inf at t = ([3-5]|2\.[5-9])[0-9.]* for the state \[[2-5]\.[0-9]+, 1\.0\] \(trajectory 1\)"):
        solve_ivp_batched(nan_beyond, x0, np.linspace(0, 5, 6), max_steps=10**9)
    with pytest.raises(NonFiniteError, match="at t = 0 "):
        solve_ivp_batched(lambda x: x * float("nan"), x0, [0.0, 1.0])


def test_batched_rk45_dtype_must_be_float32_or_64():
    f = TwoBody().time_derivative
    with pytest.raises(ValueError, match="float32 or torch.float64"):
        solve_ivp_batched(f, sample_two_body_states(1, rng()), [0.0, 1.0], dtype=torch.int64)


@pytest.mark.parametrize("model_class", [BaselineNN, HNN])
def test_batched_rk45_on_a_model_takes_scipys_steps(model_class):
    """The energy metric's model rollouts: 15 starts at once take the same steps as 15 solve_ivp calls (float64 model)."""
    set_seed(0)
    model = model_class(2, 32).double()
    x0 = rng(5).uniform(-1, 1, size=(15, 2))
    t = np.linspace(0, 20, 100)

    def field(y):
        with torch.no_grad():
            return model.time_derivative(torch.as_tensor(y[None], dtype=torch.float64))[0].numpy()

    ours, stats = solve_ivp_batched(model.time_derivative, x0, t, rtol=1e-9, return_stats=True)
    ref, nfev = scipy_rk45(field, x0, t, rtol=1e-9)
    np.testing.assert_array_equal(stats["nfev"], nfev)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9)


def test_stage_combination_is_tensordot_bit_for_bit(monkeypatch):
    """The stages are combined by the very np.dot call np.tensordot makes: the same bits, also over a whole rollout."""
    from hnnlib import rk45_batched

    rng = np.random.default_rng(0)
    for s, batch, dim in [(1, 1, 2), (3, 40, 4), (6, 7, 12), (7, 15, 2)]:
        coefficients, stages = rng.normal(size=s), rng.normal(size=(s, batch, dim))
        np.testing.assert_array_equal(rk45_batched._combine(coefficients, stages),
                                      np.tensordot(coefficients, stages, axes=1))
    system = get_system("pendulum")
    x0, t = rng.uniform(-1, 1, size=(9, 2)), np.linspace(0, 20, 101)
    fast = solve_ivp_batched(system.time_derivative, x0, t, rtol=1e-9, atol=1e-9)
    monkeypatch.setattr(rk45_batched, "_combine", lambda c, k: np.tensordot(c, k, axes=1))
    np.testing.assert_array_equal(fast, solve_ivp_batched(system.time_derivative, x0, t, rtol=1e-9, atol=1e-9))
