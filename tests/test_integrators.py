"""Integrators: convergence orders, energy behaviour, symplecticity, shapes, input checks."""

import numpy as np
import pytest
import torch

from hnnlib import NonFiniteError
from hnnlib.integrators import leapfrog, rk4, solve_ivp_rollout
from hnnlib.systems import MassSpring, Pendulum

F64 = torch.float64
PENDULUM = Pendulum()


def nonseparable(x: torch.Tensor) -> torch.Tensor:
    """Hamiltonian vector field of the non-separable H = (1 + q^2)(1 + p^2) / 2."""
    q, p = x[..., :1], x[..., 1:]
    return torch.cat([(1 + q**2) * p, -q * (1 + p**2)], -1)


def nonseparable_energy(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1 + x[..., 0] ** 2) * (1 + x[..., 1] ** 2)


METHODS = {
    "rk4": lambda f, x0, t, n: rk4(f, x0, t, substeps=n),
    "leapfrog_separable": lambda f, x0, t, n: leapfrog(f, x0, t, substeps=n, separable=True),
    "leapfrog_implicit": lambda f, x0, t, n: leapfrog(f, x0, t, substeps=n),
}


def fitted_order(method, field, x0: np.ndarray, horizon: float = 2.0) -> float:
    """Slope of log(error at t = horizon) against log(step) over 5 step sizes, error vs a tight DOP853 solve."""
    reference = solve_ivp_rollout(field, x0, [0.0, horizon], rtol=1e-13, atol=1e-14, method="DOP853")[:, -1]
    steps, errors = [], []
    for n in (10, 20, 40, 80, 160):
        end = method(field, torch.tensor(x0), torch.tensor([0.0, horizon], dtype=F64), n)[:, -1].numpy()
        steps.append(horizon / n)
        errors.append(np.abs(end - reference).max())
    return float(np.polyfit(np.log(steps), np.log(errors), 1)[0])


X0 = np.array([[1.0, 0.3], [-0.5, 0.8]])


@pytest.mark.parametrize(
    "method, field, order, tolerance",
    [
        ("rk4", PENDULUM.time_derivative, rk4.order, 0.3),
        ("rk4", nonseparable, rk4.order, 0.3),
        ("leapfrog_separable", PENDULUM.time_derivative, leapfrog.order, 0.2),
        ("leapfrog_implicit", PENDULUM.time_derivative, leapfrog.order, 0.2),
        ("leapfrog_implicit", nonseparable, leapfrog.order, 0.2),
    ],
    ids=["rk4-pendulum", "rk4-nonseparable", "leapfrog_separable-pendulum", "leapfrog_implicit-pendulum",
         "leapfrog_implicit-nonseparable"],
)
def test_convergence_order(method, field, order, tolerance):
    """The global error falls like h^order, the order each integrator states (``rk4.order``, ``leapfrog.order``)."""
    assert (rk4.order, leapfrog.order) == (4, 2)
    assert fitted_order(METHODS[method], field, X0) == pytest.approx(order, abs=tolerance)


def test_implicit_and_explicit_leapfrog_agree_on_separable_h():
    """For separable H the implicit Stormer-Verlet scheme reduces to kick-drift-kick (to round-off)."""
    t = np.linspace(0, 3, 16)
    explicit = leapfrog(PENDULUM.time_derivative, X0, t, separable=True)
    implicit = leapfrog(PENDULUM.time_derivative, X0, t)
    torch.testing.assert_close(implicit, explicit, rtol=1e-12, atol=1e-12)


def energy_error(trajectory: torch.Tensor, energy) -> torch.Tensor:
    e = energy(trajectory)
    return (e - e[..., :1]).abs()


def test_leapfrog_energy_error_bounded_rk4_drifts():
    """Over 10^4 steps (pendulum, h = 0.1) leapfrog's energy error stays bounded, RK4's grows steadily."""
    t = np.arange(10_001) * 0.1
    x0 = torch.tensor([1.0, 0.0], dtype=F64)
    lf = energy_error(leapfrog(PENDULUM.time_derivative, x0, t, separable=True), PENDULUM.hamiltonian)
    rk = energy_error(rk4(PENDULUM.time_derivative, x0, t), PENDULUM.hamiltonian)
    assert lf[-1000:].max() <= 2 * lf[:1000].max()
    assert rk[-1000:].max() > 5 * rk[:1000].max()
    # RK4 is more accurate per step but is overtaken by its own drift
    assert rk[-1000:].max() > lf[-1000:].max()


def test_implicit_leapfrog_energy_bounded_nonseparable():
    """On a non-separable H (500 steps, h = 0.2) implicit leapfrog's energy error stays bounded, RK4's grows."""
    t = np.arange(501) * 0.2
    x0 = torch.tensor([0.8, 0.2], dtype=F64)
    lf = energy_error(leapfrog(nonseparable, x0, t), nonseparable_energy)
    rk = energy_error(rk4(nonseparable, x0, t), nonseparable_energy)
    assert lf[-50:].max() <= 2 * lf[:50].max()
    assert lf.max() < 1e-2
    assert rk[-50:].max() > 5 * rk[:50].max()


def one_step_jacobian(step, x: torch.Tensor) -> torch.Tensor:
    return torch.autograd.functional.jacobian(step, x)


def omega() -> torch.Tensor:
    return torch.tensor([[0.0, 1.0], [-1.0, 0.0]], dtype=F64)


@pytest.mark.parametrize(
    "field, separable",
    [(PENDULUM.time_derivative, True), (PENDULUM.time_derivative, False), (nonseparable, False)],
    ids=["pendulum-separable", "pendulum-implicit", "nonseparable-implicit"],
)
def test_leapfrog_step_is_symplectic(field, separable):
    """The Jacobian M of one leapfrog step satisfies M^T omega M = omega; RK4's does not."""
    x = torch.tensor([0.9, -0.4], dtype=F64)
    t = torch.tensor([0.0, 0.3], dtype=F64)
    m = one_step_jacobian(lambda y: leapfrog(field, y, t, separable=separable)[-1], x)
    torch.testing.assert_close(m.T @ omega() @ m, omega(), rtol=0, atol=1e-9)
    m_rk4 = one_step_jacobian(lambda y: rk4(field, y, t)[-1], x)
    assert (m_rk4.T @ omega() @ m_rk4 - omega()).abs().max() > 1e-5


@pytest.mark.parametrize("separable", [True, False])
def test_leapfrog_is_time_reversible(separable):
    """Integrate forward, flip the momentum, integrate again, flip back: leapfrog returns to the start."""
    t = np.linspace(0, 5, 51)
    x0 = torch.tensor([[1.2, 0.1], [-0.3, 0.9]], dtype=F64)
    flip = torch.tensor([1.0, -1.0], dtype=F64)
    forward = leapfrog(PENDULUM.time_derivative, x0, t, separable=separable)[:, -1]
    back = leapfrog(PENDULUM.time_derivative, forward * flip, t, separable=separable)[:, -1] * flip
    torch.testing.assert_close(back, x0, rtol=0, atol=1e-11)


def test_rk4_substeps_equal_a_finer_grid():
    """substeps=k on grid t gives the same states as k-times finer output grid, subsampled."""
    t = np.linspace(0, 2, 6)
    fine = np.linspace(0, 2, 21)
    x0 = torch.tensor(X0)
    torch.testing.assert_close(rk4(PENDULUM.time_derivative, x0, t, substeps=4),
                               rk4(PENDULUM.time_derivative, x0, fine)[:, ::4], rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(leapfrog(nonseparable, x0, t, substeps=4),
                               leapfrog(nonseparable, x0, fine)[:, ::4], rtol=1e-12, atol=1e-12)


def test_rk4_exact_on_cubic_in_time():
    """RK4 integrates dx/dt = (1, 3 t^2)-like polynomial fields exactly: here x = (t, t^3) via x' = (1, 3 x0^2)."""
    field = lambda x: torch.stack([torch.ones_like(x[..., 0]), 3 * x[..., 0] ** 2], -1)  # noqa: E731
    traj = rk4(field, torch.zeros(2, dtype=F64), np.linspace(0, 2, 5))
    t = torch.linspace(0, 2, 5, dtype=F64)
    torch.testing.assert_close(traj, torch.stack([t, t**3], -1), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("name", ["rk4", "leapfrog_separable", "leapfrog_implicit"])
def test_fixed_step_shapes(name):
    """(D,) -> (T, D) and (B, D) -> (B, T, D); the first output is x0; NumPy input works; dtype kept."""
    method = METHODS[name]
    t = np.linspace(0, 1, 7)
    single = method(PENDULUM.time_derivative, torch.tensor([0.5, 0.1], dtype=F64), t, 1)
    assert single.shape == (7, 2)
    batch = method(PENDULUM.time_derivative, X0, t, 1)
    assert isinstance(batch, torch.Tensor) and batch.shape == (2, 7, 2) and batch.dtype == F64
    torch.testing.assert_close(batch[:, 0], torch.tensor(X0))
    torch.testing.assert_close(batch[0], method(PENDULUM.time_derivative, X0[0], t, 1))
    wide = method(PENDULUM.time_derivative, torch.zeros(5, 2, dtype=torch.float32), t, 1)
    assert wide.shape == (5, 7, 2) and wide.dtype == torch.float32
    assert method(PENDULUM.time_derivative, X0, [0.0], 1).shape == (2, 1, 2)


def test_two_degree_of_freedom_leapfrog():
    """Leapfrog splits (q1, q2, p1, p2) correctly: two uncoupled oscillators match their 1-D runs."""
    spring = MassSpring()

    def field(x):
        q, p = x[..., :2], x[..., 2:]
        return torch.cat([p / spring.m, -spring.k * q], -1)

    t = np.linspace(0, 2, 11)
    x0 = torch.tensor([0.3, -0.6, 0.2, 0.5], dtype=F64)
    both = leapfrog(field, x0, t, separable=True)
    first = leapfrog(spring.time_derivative, x0[[0, 2]], t, separable=True)
    second = leapfrog(spring.time_derivative, x0[[1, 3]], t, separable=True)
    torch.testing.assert_close(both[:, [0, 2]], first)
    torch.testing.assert_close(both[:, [1, 3]], second)


def test_solve_ivp_rollout_shapes_and_batched_agreement():
    """solve_ivp_rollout returns NumPy (T, D) / (B, T, D); batched=True agrees with batched=False."""
    t = np.linspace(0, 3, 16)
    x0 = np.random.default_rng(2).uniform(-1, 1, size=(5, 2))
    one = solve_ivp_rollout(PENDULUM.time_derivative, x0[0], t)
    assert isinstance(one, np.ndarray) and one.shape == (16, 2)
    separate = solve_ivp_rollout(PENDULUM.time_derivative, x0, t, rtol=1e-10, atol=1e-12)
    together = solve_ivp_rollout(PENDULUM.time_derivative, x0, t, rtol=1e-10, atol=1e-12, batched=True)
    assert separate.shape == together.shape == (5, 16, 2)
    np.testing.assert_allclose(separate[:, 0], x0)
    np.testing.assert_allclose(together, separate, rtol=0, atol=1e-8)


def test_solve_ivp_rollout_evaluates_field_in_model_dtype():
    """The field of a float32 module is called with float32 states (one state at a time), a plain function with float64."""
    seen = []

    class Recorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones((), dtype=torch.float32))

        def time_derivative(self, x):
            seen.append((x.dtype, tuple(x.shape)))
            return torch.stack([x[..., 1], -x[..., 0]], -1) * self.scale

    solve_ivp_rollout(Recorder().time_derivative, X0, np.linspace(0, 1, 3))
    assert {s for s in seen} == {(torch.float32, (1, 2))}
    seen.clear()
    solve_ivp_rollout(lambda x: seen.append(x.dtype) or -x, X0, np.linspace(0, 1, 3))
    assert set(seen) == {F64}


def test_solve_ivp_rollout_reports_solver_failure():
    """A solution that blows up in finite time makes solve_ivp fail: a RuntimeError with SciPy's message."""
    with pytest.raises(RuntimeError, match="solve_ivp failed"):
        solve_ivp_rollout(lambda x: x**2, np.array([1.0, 1.0]), [0.0, 2.0])


def test_implicit_leapfrog_reports_non_convergence():
    """If the fixed-point iteration cannot converge, leapfrog raises a RuntimeError suggesting a smaller step."""
    with pytest.raises(RuntimeError, match="smaller step"):
        leapfrog(nonseparable, torch.tensor([1.0, 1.0], dtype=F64), [0.0, 0.1], max_iterations=1)
    with pytest.raises(RuntimeError, match="did not converge"):
        leapfrog(nonseparable, torch.tensor([2.0, 2.0], dtype=F64), [0.0, 3.0])


ALL = {
    "solve_ivp": lambda f, x0, t: solve_ivp_rollout(f, x0, t),
    "rk4": lambda f, x0, t: rk4(f, x0, t),
    "leapfrog": lambda f, x0, t: leapfrog(f, x0, t),
    "leapfrog_separable": lambda f, x0, t: leapfrog(f, x0, t, separable=True),
}


@pytest.mark.parametrize("name", sorted(ALL))
def test_bad_time_grid(name):
    """Non-increasing, repeated, NaN or 2-D time grids are refused."""
    run = ALL[name]
    f = PENDULUM.time_derivative
    with pytest.raises(ValueError, match="strictly increasing"):
        run(f, X0, [0.0, 1.0, 0.5])
    with pytest.raises(ValueError, match="strictly increasing"):
        run(f, X0, [0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        run(f, X0, [1.0, 0.0])
    with pytest.raises(ValueError, match="NaN"):
        run(f, X0, [0.0, float("nan")])
    with pytest.raises(ValueError, match="1-D"):
        run(f, X0, [[0.0, 1.0]])


@pytest.mark.parametrize("name", sorted(ALL))
def test_bad_initial_states(name):
    """NaN/inf x0, integer x0 and x0 with more than two axes are refused."""
    run = ALL[name]
    f = PENDULUM.time_derivative
    with pytest.raises(ValueError, match="NaN"):
        run(f, np.array([[0.1, np.nan]]), [0.0, 1.0])
    with pytest.raises(ValueError, match="NaN or inf"):
        run(f, torch.tensor([np.inf, 0.0]), [0.0, 1.0])
    with pytest.raises(TypeError, match="floating"):
        run(f, torch.tensor([1, 0]), [0.0, 1.0])
    with pytest.raises(ValueError, match=r"\(D,\) or \(B, D\)"):
        run(f, np.zeros((2, 3, 2)), [0.0, 1.0])


@pytest.mark.parametrize("name", sorted(ALL))
def test_vector_field_of_wrong_shape(name):
    """A vector field that does not return (B, D) for states (B, D) is reported, not broadcast."""
    with pytest.raises(ValueError, match="same shape"):
        ALL[name](lambda x: x[..., :1], X0, [0.0, 1.0])
    with pytest.raises(ValueError, match="same shape"):
        ALL[name](lambda x: x.sum(), X0, [0.0, 1.0])
    with pytest.raises(ValueError, match="same shape"):
        ALL[name](lambda x: x.numpy(), X0, [0.0, 1.0])


@pytest.mark.parametrize("separable", [True, False])
def test_leapfrog_odd_dimension(separable):
    """Leapfrog needs (q, p) pairs: an odd number of coordinates is a ValueError saying so."""
    with pytest.raises(ValueError, match="even number of coordinates"):
        leapfrog(lambda x: -x, np.zeros((2, 3)), [0.0, 1.0], separable=separable)


@pytest.mark.parametrize("method", [rk4, leapfrog])
def test_bad_substeps(method):
    """substeps must be a positive int."""
    with pytest.raises(ValueError, match="substeps"):
        method(PENDULUM.time_derivative, X0, [0.0, 1.0], substeps=0)
    with pytest.raises(TypeError, match="substeps"):
        method(PENDULUM.time_derivative, X0, [0.0, 1.0], substeps=1.5)


@pytest.mark.parametrize("name", sorted(ALL))
def test_non_finite_field_is_reported_where_it_appears(name):
    """A field that turns NaN at q > 0.5 stops the rollout at once, naming the field, the time and the state."""

    def blows_up(x):
        return torch.where(x[..., :1] > 0.5, torch.nan, PENDULUM.time_derivative(x))

    with pytest.raises(NonFiniteError, match=r"blows_up returned NaN or inf at t = [0-9.]+ for the state \[(0\.[5-9]|1\.)"):
        ALL[name](blows_up, torch.tensor([0.0, 1.0], dtype=F64), np.linspace(0, 3, 7))
    with pytest.raises(NonFiniteError, match="at t = 0 for the state"):
        ALL[name](lambda x: x * float("nan"), X0, [0.0, 1.0])


def _rk4_every_call_checked(f, x, t, substeps):
    """RK4 as it was written before the block checks: call_field at every call, the same arithmetic."""
    from hnnlib._rollout import call_field, step_sizes

    out = [x]
    for t_i, h in zip(*step_sizes(t, substeps)):
        for j in range(substeps):
            s = t_i + j * h
            k1 = call_field(f, x, s)
            k2 = call_field(f, x + 0.5 * h * k1, s + 0.5 * h)
            k3 = call_field(f, x + 0.5 * h * k2, s + 0.5 * h)
            k4 = call_field(f, x + h * k3, s + h)
            x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(x)
    return torch.stack(out, dim=1)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("substeps", [1, 3])
def test_rk4_with_block_checks_takes_the_same_steps(dtype, substeps):
    """RK4 checks the field's values a block of steps at a time: the same numbers bit for bit, over many blocks."""
    x0 = torch.tensor([[0.3, -0.2], [1.0, 0.5], [2.5, 0.1]], dtype=dtype)
    t = torch.linspace(0, 30, 201, dtype=dtype)
    assert torch.equal(rk4(PENDULUM.time_derivative, x0, t, substeps=substeps),
                       _rk4_every_call_checked(PENDULUM.time_derivative, x0, t, substeps))


@pytest.mark.parametrize("name", ["rk4", "leapfrog_separable", "leapfrog_implicit"])
def test_late_non_finite_value_is_reported_as_a_check_at_every_call_would(name):
    """A value that turns NaN after many checked blocks, or only in the half of the field a leapfrog kick
    discards, or right before the field raises an error of its own: the first non-finite call is named
    (the same errors as the integrators checking every call raised, compared by hand)."""
    method = {"rk4": rk4, "leapfrog_separable": lambda *a, **k: leapfrog(*a, separable=True, **k),
              "leapfrog_implicit": leapfrog}[name]

    def late_nan(x):  # dq/dt = p = 1, dp/dt = 0, NaN once q > 40: at the 401st of 500 steps, in the 7th block
        return torch.where(x[..., :1] > 40, torch.nan, torch.cat([x[..., 1:], torch.zeros_like(x[..., :1])], -1))

    with pytest.raises(NonFiniteError, match=r"late_nan returned NaN or inf at t = 40(\.\d+)? for the state \[40\.\d+, 1\.0\]"):
        method(late_nan, torch.tensor([0.0, 1.0], dtype=F64), np.linspace(0, 50, 501))

    def nan_in_unused_half(x):  # NaN in dq/dt where q > 0.5: a kick reads dp/dt alone
        dx = PENDULUM.time_derivative(x)
        return torch.cat([torch.where(x[..., :1] > 0.5, torch.nan, dx[..., :1]), dx[..., 1:]], -1)

    with pytest.raises(NonFiniteError, match=r"nan_in_unused_half returned NaN or inf at t = [0-9.]+ for the state \[(0\.[5-9]|1\.)"):
        method(nan_in_unused_half, torch.tensor([0.0, 1.0], dtype=F64), np.linspace(0, 3, 7))

    def refuses_nan(x):  # raises on a non-finite state, as a learned model's checks do
        if not torch.isfinite(x).all():
            raise ValueError("refuses_nan: not a state")
        dx = PENDULUM.time_derivative(x)
        return torch.where(x[..., :1] > 0.5, torch.nan, dx)

    with pytest.raises(NonFiniteError, match="refuses_nan returned NaN or inf"):
        method(refuses_nan, torch.tensor([0.0, 1.0], dtype=F64), np.linspace(0, 3, 7))


def test_non_finite_field_in_a_batched_scipy_solve():
    """The shared-step SciPy path (one ODE of size B D) checks the field too, and names the row."""
    def second_row_nan(x):
        return torch.cat([-x[:1], x[1:] * float("nan")])

    with pytest.raises(NonFiniteError, match=r"trajectory 1"):
        solve_ivp_rollout(second_row_nan, np.ones((2, 2)), [0.0, 1.0], batched=True)


@pytest.mark.parametrize("name", sorted(ALL))
def test_time_grid_must_be_real(name):
    """Complex, boolean or string times are a TypeError, not a silently dropped imaginary part."""
    for t in (np.array([0, 1j]), torch.tensor([0.0, 1.0], dtype=torch.complex64), ["0", "1"], torch.tensor([False, True])):
        with pytest.raises(TypeError, match="real numbers"):
            ALL[name](PENDULUM.time_derivative, X0, t)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.int64, torch.complex64, torch.bool])
def test_solve_ivp_dtype_must_be_float32_or_64(dtype):
    """Half precision, integer, complex and bool evaluation dtypes are refused by name."""
    with pytest.raises(ValueError, match="float32 or torch.float64"):
        solve_ivp_rollout(PENDULUM.time_derivative, X0, [0.0, 1.0], dtype=dtype)
    with pytest.raises(TypeError, match="torch.dtype"):
        solve_ivp_rollout(PENDULUM.time_derivative, X0, [0.0, 1.0], dtype="float32")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_states_are_refused(dtype):
    """float16/bfloat16 are not supported (SciPy works in float64, Table 1's errors need more digits): a TypeError."""
    with pytest.raises(TypeError, match="float32 or float64"):
        rk4(PENDULUM.time_derivative, torch.as_tensor(X0).to(dtype), [0.0, 1.0])


def test_a_single_time_returns_the_initial_states():
    """t of one point: every integrator returns x0 as the one-point trajectory (no solver call, no obscure error)."""
    x0 = np.array([[0.1, 0.2], [0.3, 0.4]])
    for name, run in ALL.items():
        out = run(PENDULUM.time_derivative, x0, [0.5])
        np.testing.assert_array_equal(np.asarray(out), x0[:, None], err_msg=name)
        np.testing.assert_array_equal(np.asarray(run(PENDULUM.time_derivative, x0[0], [0.5])), x0[:1], err_msg=name)
