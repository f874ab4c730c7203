"""Rollouts: integrate ``dx/dt = f(x)`` from many initial states.

Every integrator takes a *vector field* ``f`` that maps a tensor of states ``(B, D)`` to their
time derivatives ``(B, D)`` -- a :class:`~hnnlib.systems.HamiltonianSystem`'s
``time_derivative``, or a trained model's -- and returns trajectories of shape ``(B, T, D)``
(or ``(T, D)`` for a single initial state of shape ``(D,)``), batch first. A field that returns NaN
or inf stops the integration with a :class:`~hnnlib.NonFiniteError` naming the time and the state.
The batched RK45, :func:`~hnnlib.rk45_batched.solve_ivp_batched`, has a module of its own.

- :func:`solve_ivp_rollout`: SciPy's adaptive ``solve_ivp``, the paper's evaluation protocol.
- :func:`rk4`: classical Runge-Kutta, fixed step, order 4, torch-native and batched.
- :func:`leapfrog`: Stormer-Verlet, fixed step, order 2, symplectic, torch-native and batched.
- :func:`implicit_midpoint`: the implicit midpoint rule, fixed step, order 2, symplectic for any
  (non-separable) Hamiltonian, conserves quadratic invariants; torch-native and batched.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import scipy.integrate
import torch

from ._checks import NonFiniteError, check_finite_number, check_positive_int
from ._rollout import FieldAt, call_field, field_dtype, march, time_grid, with_batch_axis
from ._typing import VectorField


def solve_ivp_rollout(
    f: VectorField,
    x0: Any,
    t_eval: Any,
    *,
    rtol: float = 1e-9,
    atol: float = 1e-6,
    method: str = "RK45",
    dtype: torch.dtype | None = None,
    batched: bool = False,
) -> np.ndarray:
    """Integrate with ``scipy.integrate.solve_ivp``, as the paper's evaluation protocol does.

    Adaptive step. RK45 (Dormand-Prince 5(4)) by default, like the reference code (the paper's
    text says RK4). The vector field is called on one state at a time, shape ``(1, D)``.

    Parameters
    ----------
    f : callable
        Vector field, tensor ``(B, D)`` -> tensor ``(B, D)``.
    x0 : array or tensor, shape (D,) or (B, D)
        Initial states.
    t_eval : array, shape (T,)
        Increasing output times; integration runs over ``[t_eval[0], t_eval[-1]]``.
    rtol, atol : float
        Tolerances passed to ``solve_ivp`` (SciPy's default ``atol`` is 1e-6).
    method : str
        Any ``solve_ivp`` method name.
    dtype : torch.dtype, optional
        Dtype in which ``f`` is evaluated (default: that of the first parameter found on
        ``f``'s owner, else float64). SciPy itself always works in float64.
    batched : bool
        If True, integrate all ``B`` initial states as one ODE of size ``B D`` with shared
        steps (much faster for many states; the step control then uses the RMS error over
        all trajectories, so one trajectory may be less accurate than alone).

    Returns
    -------
    numpy.ndarray, shape (B, T, D) (or (T, D) for ``x0`` of shape (D,))

    Raises
    ------
    RuntimeError
        If the solver fails (its message is included).
    NonFiniteError
        If ``f`` returns NaN or inf, at the first call where it does, naming the time and the state.
    """
    x0, single = with_batch_axis(x0)
    dtype = field_dtype(f, dtype)
    t_eval = time_grid(t_eval, torch.float64, torch.device("cpu")).numpy()
    device = x0.device
    n_batch, dim = x0.shape
    x0_np = x0.detach().cpu().double().numpy()
    if t_eval.size == 1:  # nothing to integrate: the initial states, as the other integrators return
        return x0_np[0, None] if single else x0_np[:, None].copy()

    def rhs(shape: tuple[int, ...]) -> Callable[[float, np.ndarray], np.ndarray]:
        def fun(t: float, y: np.ndarray) -> np.ndarray:
            x = torch.as_tensor(y.reshape(shape), dtype=dtype, device=device)
            return call_field(f, x, t).detach().cpu().double().numpy().ravel()

        return fun

    def solve(y0: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        sol = scipy.integrate.solve_ivp(
            rhs(shape), (t_eval[0], t_eval[-1]), y0.ravel(), t_eval=t_eval, rtol=rtol, atol=atol, method=method
        )
        if not sol.success:
            raise RuntimeError(f"solve_ivp failed: {sol.message}")
        return sol.y  # (prod(shape), T)

    if batched:
        out = solve(x0_np, (n_batch, dim)).reshape(n_batch, dim, -1).transpose(0, 2, 1)
    else:
        out = np.stack([solve(x0_np[i], (1, dim)).T for i in range(n_batch)])
    return out[0] if single else out


def rk4(f: VectorField, x0: Any, t: Any, *, substeps: int = 1) -> torch.Tensor:
    """Classical Runge-Kutta method.

    Fixed step. Order 4. Explicit. Not symplectic: on a conservative system its energy error
    drifts steadily. Batched: all initial states advance together, four calls of ``f`` per step.

    Parameters
    ----------
    f : callable
        Vector field, tensor ``(B, D)`` -> tensor ``(B, D)``.
    x0 : tensor or array, shape (D,) or (B, D)
    t : array or tensor, shape (T,)
        Increasing output times; the step between ``t[i]`` and ``t[i+1]`` is split into
        ``substeps`` equal steps.
    substeps : int
        Steps per output interval.

    Returns
    -------
    torch.Tensor, shape (B, T, D) (or (T, D) for ``x0`` of shape (D,))

    Raises
    ------
    NonFiniteError
        If ``f`` returns NaN or inf, at the first stage where it does, naming the time and the state.
    """
    x, single = with_batch_axis(x0)
    substeps = check_positive_int(substeps, "substeps")
    traj = torch.stack(march(_rk4_step, f, x, time_grid(t, x.dtype, x.device), substeps), dim=1)
    return traj[0] if single else traj


def _rk4_step(field: FieldAt, x: torch.Tensor, s: float, h: float) -> torch.Tensor:
    """One step of :func:`rk4` from time ``s``."""
    k1 = field(x, s)
    k2 = field(x + 0.5 * h * k1, s + 0.5 * h)
    k3 = field(x + 0.5 * h * k2, s + 0.5 * h)
    k4 = field(x + h * k3, s + h)
    return x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


rk4.order = 4  # global error O(h^4); the tests fit it by regression


def leapfrog(
    f: VectorField,
    x0: Any,
    t: Any,
    *,
    substeps: int = 1,
    separable: bool = False,
    max_iterations: int = 100,
) -> torch.Tensor:
    """Stormer-Verlet (leapfrog) method for Hamiltonian vector fields ``f = (dH/dp, -dH/dq)``.

    Fixed step. Order 2. Symplectic and time-reversible: on a conservative system its energy
    error stays bounded over very long times instead of drifting.

    With ``separable=True`` (``H = T(p) + V(q)``) it is the explicit kick-drift-kick scheme. For a
    general ``H`` (a learned Hamiltonian, say) it is the implicit Stormer-Verlet scheme
    (Hairer, Lubich & Wanner, *Geometric Numerical Integration*, Eq. VI.3.4): the half-step
    momentum and the new position are found by fixed-point iteration to round-off.

    Parameters
    ----------
    f : callable
        Hamiltonian vector field, tensor ``(B, 2N)`` -> tensor ``(B, 2N)``.
    x0 : tensor or array, shape (2N,) or (B, 2N)
    t : array or tensor, shape (T,)
        Increasing output times, ``substeps`` equal steps between neighbours.
    substeps : int
        Steps per output interval.
    separable : bool
        Use the explicit scheme; only correct when ``dq/dt`` depends on ``p`` alone and
        ``dp/dt`` on ``q`` alone.
    max_iterations : int
        Fixed-point iterations allowed per implicit stage (implicit scheme only).

    Returns
    -------
    torch.Tensor, shape (B, T, 2N) (or (T, 2N) for ``x0`` of shape (2N,))

    Raises
    ------
    RuntimeError
        If a fixed-point iteration does not converge (the step is too large).
    NonFiniteError
        If ``f`` returns NaN or inf at a state of the trajectory.
    """
    x, single = with_batch_axis(x0)
    if x.shape[-1] % 2:
        raise ValueError(f"leapfrog needs states with an even number of coordinates (q, p), got {tuple(x.shape)}")
    substeps = check_positive_int(substeps, "substeps")
    grid = time_grid(t, x.dtype, x.device)
    n = x.shape[-1] // 2
    tol = 8 * torch.finfo(x.dtype).eps

    def fixed_point(g: Callable[[torch.Tensor], torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        for iteration in range(max_iterations):
            try:
                y_new = g(y)
            except NonFiniteError as error:
                if iteration == 0:  # the field is not finite at the current state itself
                    raise
                raise RuntimeError(
                    f"leapfrog: fixed-point iteration did not converge (it diverged: {error}); "
                    "use a smaller step (more substeps)"
                ) from error
            if ((y_new - y).abs() <= tol * (1 + y.abs())).all():
                return y_new
            y = y_new
        raise RuntimeError(
            f"leapfrog: fixed-point iteration did not converge in {max_iterations} iterations; "
            "use a smaller step (more substeps)"
        )

    def kick_drift_kick(field: FieldAt, qp: tuple[torch.Tensor, torch.Tensor], s: float, h: float) -> tuple[torch.Tensor, torch.Tensor]:
        q, p = qp
        p_half = p + 0.5 * h * field(torch.cat([q, p], dim=-1), s)[..., n:]
        q = q + h * field(torch.cat([q, p_half], dim=-1), s)[..., :n]
        return q, p_half + 0.5 * h * field(torch.cat([q, p_half], dim=-1), s)[..., n:]

    def implicit(field: FieldAt, qp: tuple[torch.Tensor, torch.Tensor], s: float, h: float) -> tuple[torch.Tensor, torch.Tensor]:
        q, p = qp

        def fq(q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:  # dH/dp
            return field(torch.cat([q, p], dim=-1), s)[..., :n]

        def fp(q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:  # -dH/dq
            return field(torch.cat([q, p], dim=-1), s)[..., n:]

        p_half = fixed_point(lambda ph: p + 0.5 * h * fp(q, ph), p)
        v0 = fq(q, p_half)
        q_new = fixed_point(lambda qn: q + 0.5 * h * (v0 + fq(qn, p_half)), q + h * v0)
        return q_new, p_half + 0.5 * h * fp(q_new, p_half)

    # Unchecked, a NaN never converges (RuntimeError after max_iterations): march then takes the
    # block again with checks, which raise what a check at every call raises.
    out = march(kick_drift_kick if separable else implicit, f, (x[..., :n], x[..., n:]), grid, substeps,
                output=lambda qp: torch.cat(qp, dim=-1))
    traj = torch.stack(out, dim=1)
    return traj[0] if single else traj


leapfrog.order = 2  # global error O(h^2); the tests fit it by regression


#: The iterations :func:`implicit_midpoint` can solve its equation with.
MIDPOINT_SOLVERS = ("fixed_point", "newton")


def implicit_midpoint(
    f: VectorField,
    x0: Any,
    t: Any,
    *,
    substeps: int = 1,
    solver: str = "fixed_point",
    tol: float | None = None,
    max_iterations: int = 100,
) -> torch.Tensor:
    """Implicit midpoint rule, ``x_{n+1} = x_n + h f((x_n + x_{n+1}) / 2)``.

    Fixed step. Order 2. Implicit. Symplectic and time-reversible for any Hamiltonian vector field,
    separable or not (a learned ``H_theta(q, p)``, say), and it conserves every quadratic invariant
    exactly (up to the solver's tolerance): the energy of a harmonic oscillator, the angular
    momentum of the N-body problem (Hairer, Lubich & Wanner, *Geometric Numerical Integration*,
    Sec. IV.2 and VI.3).

    Each step solves its equation for ``x_{n+1}``, starting from the previous step's increment
    (an explicit Euler step at the first step), either by fixed-point iteration, which converges
    when ``h L / 2 < 1`` for a field of Lipschitz constant ``L``, or by Newton's method, whose
    Jacobian of ``f`` is taken by autograd (one backward pass per coordinate). Either stops when
    the update of every coordinate is below ``tol (1 + |x|)``.

    Parameters
    ----------
    f : callable
        Vector field, tensor ``(B, D)`` -> tensor ``(B, D)``; differentiable by autograd for
        ``solver="newton"``.
    x0 : tensor or array, shape (D,) or (B, D)
    t : array or tensor, shape (T,)
        Increasing output times, ``substeps`` equal steps between neighbours.
    substeps : int
        Steps per output interval.
    solver : {"fixed_point", "newton"}
        How each step's equation is solved.
    tol : float, optional
        Relative tolerance of the solve (default: 8 machine epsilons of the state's dtype, round-off).
    max_iterations : int
        Iterations allowed per step.

    Returns
    -------
    torch.Tensor, shape (B, T, D) (or (T, D) for ``x0`` of shape (D,)); no gradient flows
    through the solve.

    Raises
    ------
    RuntimeError
        If a step's iteration does not converge in ``max_iterations`` or diverges (the step is too
        large); the message names the time and the step.
    NonFiniteError
        If ``f`` returns NaN or inf at a state of the trajectory.
    """
    x, single = with_batch_axis(x0)
    substeps = check_positive_int(substeps, "substeps")
    max_iterations = check_positive_int(max_iterations, "max_iterations")
    if solver not in MIDPOINT_SOLVERS:
        raise ValueError(f"solver must be one of {MIDPOINT_SOLVERS}, got {solver!r}")
    tol = 8 * torch.finfo(x.dtype).eps if tol is None else check_finite_number(tol, "tol")
    t = time_grid(t, x.dtype, x.device)
    x = x.detach()
    eye = torch.eye(x.shape[-1], dtype=x.dtype, device=x.device)

    def newton_update(x: torch.Tensor, y: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            mid = (0.5 * (x + y)).requires_grad_(True)
            dx = f(mid)
            rows = [torch.autograd.grad(dx[:, d].sum(), mid, retain_graph=True)[0] for d in range(x.shape[-1])]
        jacobian = torch.stack(rows, dim=1)  # (B, D, D): d f_d / d x_e
        residual = y - x - h * dx.detach()
        return y - torch.linalg.solve(eye - 0.5 * h * jacobian, residual)

    def solve(x: torch.Tensor, y: torch.Tensor, h: torch.Tensor, now: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            scale = tol * (1 + x.abs())
            for _ in range(max_iterations):
                y_new = newton_update(x, y, h) if solver == "newton" else x + h * f(0.5 * (x + y))
                change = float(((y_new - y).abs() - scale).max())  # NaN if y_new is not finite
                if change <= 0:
                    return y_new
                if not math.isfinite(change):
                    call_field(f, x, now)  # NonFiniteError if the field is not finite at the current state
                    raise RuntimeError(
                        f"implicit_midpoint: the {solver} iteration diverged at t = {float(now):.6g} (step h = "
                        f"{float(h):.3g}); use a smaller step (more substeps)"
                    )
                y = y_new
        raise RuntimeError(
            f"implicit_midpoint: the {solver} iteration did not converge in {max_iterations} iterations at "
            f"t = {float(now):.6g} (step h = {float(h):.3g}); use a smaller step (more substeps)"
            + (" or solver='newton'" if solver == "fixed_point" else "")
        )

    out = [x]
    increment = None  # the last step's x_{n+1} - x_n: the next step's first guess
    for i in range(t.numel() - 1):
        h = (t[i + 1] - t[i]) / substeps
        for j in range(substeps):
            now = t[i] + j * h
            if increment is None:
                increment = h * call_field(f, x, now).detach()
            x_new = solve(x, x + increment, h, now)
            increment, x = x_new - x, x_new
        out.append(x)
    traj = torch.stack(out, dim=1)
    return traj[0] if single else traj


implicit_midpoint.order = 2  # global error O(h^2); the tests fit it by regression
