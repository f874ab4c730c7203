"""Rollouts: integrate ``dx/dt = f(x)`` from many initial states.

Every integrator takes a *vector field* ``f`` that maps a tensor of states ``(B, D)`` to their
time derivatives ``(B, D)`` -- a :class:`~hnnlib.systems.HamiltonianSystem`'s
``time_derivative``, or a trained model's -- and returns trajectories of shape ``(B, T, D)``
(or ``(T, D)`` for a single initial state of shape ``(D,)``), batch first.

- :func:`solve_ivp_rollout`: SciPy's adaptive ``solve_ivp``, the paper's evaluation protocol.
- :func:`solve_ivp_batched`: the same RK45 algorithm, one step size per trajectory, all evaluated together.
- :func:`rk4`: classical Runge-Kutta, fixed step, order 4, torch-native and batched.
- :func:`leapfrog`: Stormer-Verlet, fixed step, order 2, symplectic, torch-native and batched.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import scipy.integrate
import torch

from ._checks import as_state_tensor, check_positive_int
from ._typing import VectorField


def _time_grid(t: Any, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(t, dtype=np.float64) if not isinstance(t, torch.Tensor) else t)
    if t.ndim != 1 or t.numel() < 1:
        raise ValueError(f"t must be a 1-D grid of times, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError("t contains NaN or inf values")
    if t.numel() > 1 and not (torch.diff(t) > 0).all():
        raise ValueError("t must be strictly increasing")
    return t.to(dtype=dtype, device=device)


def _batched(x0: Any, name: str = "x0") -> tuple[torch.Tensor, bool]:
    x0 = as_state_tensor(x0, None, name)
    if x0.ndim not in (1, 2):
        raise ValueError(f"{name} must have shape (D,) or (B, D), got {tuple(x0.shape)}")
    return (x0[None], True) if x0.ndim == 1 else (x0, False)


def _call(f: VectorField, x: torch.Tensor) -> torch.Tensor:
    dx = f(x)
    if not isinstance(dx, torch.Tensor) or dx.shape != x.shape:
        shape = tuple(dx.shape) if hasattr(dx, "shape") else type(dx).__name__
        raise ValueError(f"the vector field must map states {tuple(x.shape)} to derivatives of the same shape, got {shape}")
    return dx


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
    """
    x0, single = _batched(x0)
    if dtype is None:
        owner = getattr(f, "__self__", None)
        params = list(owner.parameters()) if isinstance(owner, torch.nn.Module) else []
        dtype = params[0].dtype if params else torch.float64
    t_eval = _time_grid(t_eval, torch.float64, torch.device("cpu")).numpy()
    device = x0.device
    n_batch, dim = x0.shape
    x0_np = x0.detach().cpu().double().numpy()

    def rhs(shape: tuple[int, ...]) -> Callable[[float, np.ndarray], np.ndarray]:
        def fun(_t: float, y: np.ndarray) -> np.ndarray:
            x = torch.as_tensor(y.reshape(shape), dtype=dtype, device=device)
            return _call(f, x).detach().cpu().double().numpy().ravel()

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
    """
    x, single = _batched(x0)
    substeps = check_positive_int(substeps, "substeps")
    t = _time_grid(t, x.dtype, x.device)
    out = [x]
    for i in range(t.numel() - 1):
        h = (t[i + 1] - t[i]) / substeps
        for _ in range(substeps):
            k1 = _call(f, x)
            k2 = _call(f, x + 0.5 * h * k1)
            k3 = _call(f, x + 0.5 * h * k2)
            k4 = _call(f, x + h * k3)
            x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(x)
    traj = torch.stack(out, dim=1)
    return traj[0] if single else traj


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
    """
    x, single = _batched(x0)
    if x.shape[-1] % 2:
        raise ValueError(f"leapfrog needs states with an even number of coordinates (q, p), got {tuple(x.shape)}")
    substeps = check_positive_int(substeps, "substeps")
    t = _time_grid(t, x.dtype, x.device)
    n = x.shape[-1] // 2
    tol = 8 * torch.finfo(x.dtype).eps

    def fq(q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:  # dH/dp
        return _call(f, torch.cat([q, p], dim=-1))[..., :n]

    def fp(q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:  # -dH/dq
        return _call(f, torch.cat([q, p], dim=-1))[..., n:]

    def fixed_point(g: Callable[[torch.Tensor], torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        for _ in range(max_iterations):
            y_new = g(y)
            if ((y_new - y).abs() <= tol * (1 + y.abs())).all():
                return y_new
            y = y_new
        raise RuntimeError(
            f"leapfrog: fixed-point iteration did not converge in {max_iterations} iterations; "
            "use a smaller step (more substeps)"
        )

    q, p = x[..., :n], x[..., n:]
    out = [x]
    for i in range(t.numel() - 1):
        h = (t[i + 1] - t[i]) / substeps
        for _ in range(substeps):
            if separable:
                p_half = p + 0.5 * h * fp(q, p)
                q = q + h * fq(q, p_half)
                p = p_half + 0.5 * h * fp(q, p_half)
            else:
                p_half = fixed_point(lambda ph: p + 0.5 * h * fp(q, ph), p)
                v0 = fq(q, p_half)
                q_new = fixed_point(lambda qn: q + 0.5 * h * (v0 + fq(qn, p_half)), q + h * v0)
                p = p_half + 0.5 * h * fp(q_new, p_half)
                q = q_new
        out.append(torch.cat([q, p], dim=-1))
    traj = torch.stack(out, dim=1)
    return traj[0] if single else traj


leapfrog.order = 2  # global error O(h^2); the tests fit it by regression


# --- Batched RK45: SciPy's algorithm, one step-size control per trajectory -------------------------

# Dormand & Prince 5(4) (J. Comput. Appl. Math. 6, 1980) with Shampine's dense output (Math. Comp. 46,
# 1986): the tableau SciPy's ``RK45`` uses. Row ``s`` of ``_DP_A`` combines stages ``0..s-1``.
# The stage times ``_DP_C`` are listed for completeness: the vector fields here are autonomous, f(x).
_DP_C = np.array([0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1])
_DP_A = np.array(
    [
        [0, 0, 0, 0, 0],
        [1 / 5, 0, 0, 0, 0],
        [3 / 40, 9 / 40, 0, 0, 0],
        [44 / 45, -56 / 15, 32 / 9, 0, 0],
        [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0],
        [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
    ]
)
_DP_B = np.array([35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84])
_DP_E = np.array([-71 / 57600, 0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40])
_DP_P = np.array(
    [
        [1, -8048581381 / 2820520608, 8663915743 / 2820520608, -12715105075 / 11282082432],
        [0, 0, 0, 0],
        [0, 131558114200 / 32700410799, -68118460800 / 10900136933, 87487479700 / 32700410799],
        [0, -1754552775 / 470086768, 14199869525 / 1410260304, -10690763975 / 1880347072],
        [0, 127303824393 / 49829197408, -318862633887 / 49829197408, 701980252875 / 199316789632],
        [0, -282668133 / 205662961, 2019193451 / 616988883, -1453857185 / 822651844],
        [0, 40617522 / 29380423, -110615467 / 29380423, 69997945 / 29380423],
    ]
)
_SAFETY, _MIN_FACTOR, _MAX_FACTOR, _ERROR_EXPONENT = 0.9, 0.2, 10.0, -1 / 5


def _rms(v: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean(v * v, axis=-1))


def solve_ivp_batched(
    f: VectorField,
    x0: Any,
    t_eval: Any,
    *,
    rtol: float = 1e-9,
    atol: float = 1e-6,
    dtype: torch.dtype | None = None,
    max_steps: int = 100_000,
    return_stats: bool = False,
) -> np.ndarray | tuple[np.ndarray, dict[str, np.ndarray]]:
    """SciPy's ``solve_ivp(method="RK45")`` on every initial state, all states evaluated together.

    Each trajectory is integrated exactly as its own ``solve_ivp`` call would integrate it: the
    Dormand-Prince 5(4) pair, SciPy's initial-step rule (Hairer, Norsett & Wanner, Sec. II.4), its
    error norm (RMS over that trajectory's ``D`` coordinates), safety factor 0.9, step-size change
    limits [0.2, 10], minimum step and the same 4th-order dense output at ``t_eval``. So each
    trajectory takes the same steps as alone (up to round-off; ``return_stats`` gives the counts).
    The difference is speed: at every stage the vector field is called once on all trajectories
    still running, shape ``(B_active, D)``, instead of ``B`` times on ``(1, D)``.

    :func:`solve_ivp_rollout` with ``batched=True`` instead solves one ODE of size ``B D`` with
    shared steps, which controls only the error averaged over all trajectories.

    Parameters
    ----------
    f : callable
        Vector field, tensor ``(B, D)`` -> tensor ``(B, D)``; called under ``torch.no_grad()``.
    x0 : array or tensor, shape (D,) or (B, D)
        Initial states.
    t_eval : array, shape (T,)
        Increasing output times; integration runs over ``[t_eval[0], t_eval[-1]]``.
    rtol, atol : float
        Tolerances, as for ``solve_ivp`` (SciPy's default ``atol`` is 1e-6).
    dtype : torch.dtype, optional
        Dtype in which ``f`` is evaluated (default: that of the first parameter of ``f``'s owner,
        else float64), as in :func:`solve_ivp_rollout`. The integrator itself works in float64.
    max_steps : int
        Step attempts allowed per trajectory before giving up.
    return_stats : bool
        Also return ``{"n_steps", "n_rejected", "nfev"}``, arrays of shape (B,) per trajectory
        (``nfev`` counts calls of ``f`` that included the trajectory, as ``solve_ivp``'s ``nfev``).

    Returns
    -------
    numpy.ndarray, shape (B, T, D) (or (T, D) for ``x0`` of shape (D,)); with ``return_stats``,
    a tuple ``(trajectories, stats)``.

    Raises
    ------
    RuntimeError
        If a trajectory needs a step below SciPy's minimum (``solve_ivp`` fails there too, e.g. at a
        collision) or more than ``max_steps`` attempts; the message names the trajectories.
    """
    x0, single = _batched(x0)
    max_steps = check_positive_int(max_steps, "max_steps")
    if not (rtol > 0 and atol >= 0):
        raise ValueError(f"need rtol > 0 and atol >= 0, got rtol={rtol}, atol={atol}")
    if dtype is None:
        owner = getattr(f, "__self__", None)
        params = list(owner.parameters()) if isinstance(owner, torch.nn.Module) else []
        dtype = params[0].dtype if params else torch.float64
    t_eval = _time_grid(t_eval, torch.float64, torch.device("cpu")).numpy()
    device = x0.device
    y = x0.detach().cpu().double().numpy().copy()
    n_batch, dim = y.shape
    n_times = t_eval.size
    out = np.empty((n_batch, n_times, dim))
    out[:, 0] = y
    stats = {k: np.zeros(n_batch, dtype=np.int64) for k in ("n_steps", "n_rejected", "nfev")}
    t0, t_bound = float(t_eval[0]), float(t_eval[-1])

    def fun(rows: np.ndarray, states: np.ndarray) -> np.ndarray:
        stats["nfev"][rows] += 1
        with torch.no_grad():
            dx = _call(f, torch.as_tensor(states, dtype=dtype, device=device))
        return dx.detach().cpu().double().numpy()

    if n_times == 1:
        return _finish(out, stats, single, return_stats)

    everyone = np.arange(n_batch)
    fy = fun(everyone, y)
    # Initial step (scipy.integrate._ivp.common.select_initial_step), per trajectory.
    interval = t_bound - t0
    scale = atol + np.abs(y) * rtol
    d0, d1 = _rms(y / scale), _rms(fy / scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        h0 = np.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / d1)
        h0 = np.minimum(h0, interval)
        d2 = _rms((fun(everyone, y + h0[:, None] * fy) - fy) / scale) / h0
        h1 = np.where((d1 <= 1e-15) & (d2 <= 1e-15), np.maximum(1e-6, h0 * 1e-3), (0.01 / np.maximum(d1, d2)) ** (1 / 5))
    h_abs = np.minimum(np.minimum(100 * h0, h1), interval)

    t = np.full(n_batch, t0)
    next_out = np.ones(n_batch, dtype=np.int64)  # t_eval[0] = t0 is already stored
    retry = np.zeros(n_batch, dtype=bool)  # the last attempt was rejected: still inside one SciPy step
    active = everyone
    while active.size:
        ta, ya, fa = t[active], y[active], fy[active]
        h_try = h_abs[active]
        min_step = 10 * np.abs(np.nextafter(ta, np.inf) - ta)
        h_try = np.where(~retry[active] & (h_try < min_step), min_step, h_try)
        if (small := h_try < min_step).any():
            raise RuntimeError(
                f"solve_ivp_batched: required step size is less than spacing between numbers for trajectories "
                f"{active[small][:10].tolist()} (at t = {ta[small][:10].tolist()}); solve_ivp fails there too"
            )
        if (stats["n_steps"][active] + stats["n_rejected"][active] >= max_steps).any():
            raise RuntimeError(f"solve_ivp_batched: more than max_steps={max_steps} step attempts for some trajectories")
        t_new = np.minimum(ta + h_try, t_bound)
        h = t_new - ta
        hc = h[:, None]
        k = np.empty((7,) + ya.shape)
        k[0] = fa
        for s in range(1, 6):
            k[s] = fun(active, ya + np.tensordot(_DP_A[s, :s], k[:s], axes=1) * hc)
        y_new = ya + hc * np.tensordot(_DP_B, k[:6], axes=1)
        k[6] = f_new = fun(active, y_new)
        scale = atol + np.maximum(np.abs(ya), np.abs(y_new)) * rtol
        error_norm = _rms(np.tensordot(_DP_E, k, axes=1) * hc / scale)
        accept = error_norm < 1
        with np.errstate(divide="ignore"):
            grow = np.where(error_norm == 0, _MAX_FACTOR, np.minimum(_MAX_FACTOR, _SAFETY * error_norm**_ERROR_EXPONENT))
            shrink = np.maximum(_MIN_FACTOR, _SAFETY * error_norm**_ERROR_EXPONENT)
        grow = np.where(retry[active], np.minimum(1.0, grow), grow)
        h_abs[active] = h * np.where(accept, grow, shrink)
        retry[active] = ~accept
        stats["n_rejected"][active[~accept]] += 1

        ia = np.flatnonzero(accept)
        if ia.size:
            rows = active[ia]
            stop = np.searchsorted(t_eval, t_new[ia], side="right")
            counts = stop - next_out[rows]
            if counts.sum():
                local = np.repeat(np.arange(ia.size), counts)
                cols = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(next_out[rows], counts)
                q = np.einsum("sbd,sk->bdk", k[:, ia], _DP_P)  # dense-output polynomial, (n_acc, D, 4)
                x = (t_eval[cols] - ta[ia][local]) / h[ia][local]
                powers = np.cumprod(np.repeat(x[:, None], 4, axis=1), axis=1)  # x, x^2, x^3, x^4
                out[rows[local], cols] = ya[ia][local] + h[ia][local, None] * np.einsum("rdk,rk->rd", q[local], powers)
            next_out[rows] = stop
            t[rows], y[rows], fy[rows] = t_new[ia], y_new[ia], f_new[ia]
            stats["n_steps"][rows] += 1
        active = active[~(accept & (t_new >= t_bound))]
    return _finish(out, stats, single, return_stats)


def _finish(out: np.ndarray, stats: dict, single: bool, return_stats: bool):
    out = out[0] if single else out
    if return_stats:
        return out, ({k: v[0] for k, v in stats.items()} if single else stats)
    return out
