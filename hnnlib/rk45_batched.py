"""Batched RK45: SciPy's ``solve_ivp(method="RK45")`` on many initial states at once.

Each trajectory keeps its own step size and takes the steps its own ``solve_ivp`` call would take;
at every stage the vector field is called once on all trajectories still running. The algorithm is
split into its steps: :func:`initial_step`, :func:`attempt_step`, :func:`next_step_size` and
:func:`dense_output`; the coefficients are in :mod:`hnnlib._dormand_prince`.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from . import _dormand_prince as dp
from ._checks import check_positive_int
from ._rollout import call_field, field_dtype, time_grid, with_batch_axis
from ._typing import VectorField

#: ``fun(rows, states, times) -> derivatives``: the vector field on some trajectories, float64 arrays.
RowField = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _rms(v: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean(v * v, axis=-1))


def _combine(coefficients: np.ndarray, stages: np.ndarray) -> np.ndarray:
    """``sum_i coefficients[i] * stages[i]``, shape ``stages.shape[1:]``: ``np.tensordot(coefficients, stages, axes=1)``.

    The same ``np.dot`` call that ``tensordot`` makes (so the same sums, bit for bit), without its
    Python-level axis bookkeeping, about 15 us of every field call of a rollout.
    """
    return np.dot(coefficients.reshape(1, -1), stages.reshape(coefficients.size, -1)).reshape(stages.shape[1:])


def initial_step(fun: RowField, t0: float, y: np.ndarray, fy: np.ndarray, interval: float, rtol: float, atol: float) -> np.ndarray:
    """SciPy's first step size (``select_initial_step``; Hairer, Norsett & Wanner, Sec. II.4), per trajectory.

    Parameters
    ----------
    fun : callable
        The field on rows, see :data:`RowField`.
    t0 : float
        Start time.
    y, fy : numpy.ndarray, shape (B, D)
        Initial states and their derivatives.
    interval : float
        Length of the integration interval; no step is longer.

    Returns
    -------
    numpy.ndarray, shape (B,)
    """
    scale = atol + np.abs(y) * rtol
    d0, d1 = _rms(y / scale), _rms(fy / scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        h0 = np.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / d1)
        h0 = np.minimum(h0, interval)
        d2 = _rms((fun(np.arange(y.shape[0]), y + h0[:, None] * fy, t0 + h0) - fy) / scale) / h0
        h1 = np.where((d1 <= 1e-15) & (d2 <= 1e-15), np.maximum(1e-6, h0 * 1e-3), (0.01 / np.maximum(d1, d2)) ** (1 / 5))
    return np.minimum(np.minimum(100 * h0, h1), interval)


def attempt_step(
    fun: RowField, rows: np.ndarray, t: np.ndarray, y: np.ndarray, fy: np.ndarray, h: np.ndarray, rtol: float, atol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One Dormand-Prince 5(4) step of size ``h`` from ``(t, y)``, row by row.

    Returns
    -------
    y_new : numpy.ndarray, shape (B, D)
        The 5th-order solution at ``t + h``.
    k : numpy.ndarray, shape (7, B, D)
        The stages; ``k[6]`` is the derivative at ``y_new`` (first same as last).
    error_norm : numpy.ndarray, shape (B,)
        SciPy's error norm: RMS over coordinates of the error estimate scaled by ``atol + rtol |y|``;
        the step is accepted where it is below 1.
    """
    hc = h[:, None]
    k = np.empty((7,) + y.shape)
    k[0] = fy
    for s in range(1, 6):
        k[s] = fun(rows, y + _combine(dp.A[s, :s], k[:s]) * hc, t + dp.C[s] * h)
    y_new = y + hc * _combine(dp.B, k[:6])
    k[6] = fun(rows, y_new, t + h)
    scale = atol + np.maximum(np.abs(y), np.abs(y_new)) * rtol
    error_norm = _rms(_combine(dp.E, k) * hc / scale)
    return y_new, k, error_norm


def next_step_size(h: np.ndarray, error_norm: np.ndarray, after_rejection: np.ndarray) -> np.ndarray:
    """SciPy's step-size update: grow (at most 10x, not at all right after a rejection) or shrink (at least 0.2x)."""
    with np.errstate(divide="ignore"):
        grow = np.where(error_norm == 0, dp.MAX_FACTOR, np.minimum(dp.MAX_FACTOR, dp.SAFETY * error_norm**dp.ERROR_EXPONENT))
        shrink = np.maximum(dp.MIN_FACTOR, dp.SAFETY * error_norm**dp.ERROR_EXPONENT)
    grow = np.where(after_rejection, np.minimum(1.0, grow), grow)
    return h * np.where(error_norm < 1, grow, shrink)


def dense_output(
    t_eval: np.ndarray, first: np.ndarray, stop: np.ndarray, t: np.ndarray, y: np.ndarray, h: np.ndarray, k: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shampine's 4th-order interpolant of accepted steps at the output times they cover.

    Parameters
    ----------
    t_eval : numpy.ndarray, shape (T,)
    first, stop : numpy.ndarray of int, shape (B,)
        Step ``b`` covers the output times ``t_eval[first[b]:stop[b]]``.
    t, y, h : numpy.ndarray, shapes (B,), (B, D), (B,)
        Start time, start state and size of each step.
    k : numpy.ndarray, shape (7, B, D)
        The steps' stages.

    Returns
    -------
    local, cols : numpy.ndarray of int, shape (N,)
        For each interpolated state: the step it belongs to and its index in ``t_eval``.
    values : numpy.ndarray, shape (N, D)
        The interpolated states.
    """
    counts = stop - first
    local = np.repeat(np.arange(first.size), counts)
    cols = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(first, counts)
    q = np.einsum("sbd,sk->bdk", k, dp.P)  # dense-output polynomial, (B, D, 4)
    x = (t_eval[cols] - t[local]) / h[local]
    powers = np.cumprod(np.repeat(x[:, None], 4, axis=1), axis=1)  # x, x^2, x^3, x^4
    return local, cols, (y[local] + h[local, None] * np.einsum("rdk,rk->rd", q[local], powers))


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

    Adaptive step, one step-size control per trajectory. Order 5 (error estimate of order 4).
    Each trajectory is integrated exactly as its own ``solve_ivp`` call would integrate it: the
    Dormand-Prince 5(4) pair, SciPy's initial-step rule, its error norm (RMS over that trajectory's
    ``D`` coordinates), safety factor 0.9, step-size change limits [0.2, 10], minimum step and the
    same 4th-order dense output at ``t_eval``. So each trajectory takes the same steps as alone (up
    to round-off; ``return_stats`` gives the counts). The difference is speed: at every stage the
    vector field is called once on all trajectories still running, shape ``(B_active, D)``, instead
    of ``B`` times on ``(1, D)``.

    :func:`~hnnlib.integrators.solve_ivp_rollout` with ``batched=True`` instead solves one ODE of
    size ``B D`` with shared steps, which controls only the error averaged over all trajectories.

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
        Dtype in which ``f`` is evaluated, float32 or float64 (default: that of the first parameter
        of ``f``'s owner, else float64). The integrator itself works in float64.
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
    NonFiniteError
        If ``f`` returns NaN or inf, at the first stage where it does, naming the time and the state.
    """
    x0, single = with_batch_axis(x0)
    max_steps = check_positive_int(max_steps, "max_steps")
    if not (rtol > 0 and atol >= 0):
        raise ValueError(f"need rtol > 0 and atol >= 0, got rtol={rtol}, atol={atol}")
    dtype = field_dtype(f, dtype)
    t_eval = time_grid(t_eval, torch.float64, torch.device("cpu")).numpy()
    device = x0.device
    y = x0.detach().cpu().double().numpy().copy()
    n_batch, dim = y.shape
    out = np.empty((n_batch, t_eval.size, dim))
    out[:, 0] = y
    stats = {k: np.zeros(n_batch, dtype=np.int64) for k in ("n_steps", "n_rejected", "nfev")}
    if t_eval.size == 1:
        return _finish(out, stats, single, return_stats)

    def fun(rows: np.ndarray, states: np.ndarray, times: np.ndarray) -> np.ndarray:
        stats["nfev"][rows] += 1
        with torch.no_grad():
            dx = call_field(f, torch.as_tensor(states, dtype=dtype, device=device), times, rows)
        return dx.detach().cpu().double().numpy()

    t0, t_bound = float(t_eval[0]), float(t_eval[-1])
    everyone = np.arange(n_batch)
    fy = fun(everyone, y, np.full(n_batch, t0))
    h_abs = initial_step(fun, t0, y, fy, t_bound - t0, rtol, atol)
    t = np.full(n_batch, t0)
    next_out = np.ones(n_batch, dtype=np.int64)  # t_eval[0] = t0 is already stored
    retry = np.zeros(n_batch, dtype=bool)  # the last attempt was rejected: still inside one SciPy step
    active = everyone
    while active.size:
        ta = t[active]
        h_try = _checked_step(h_abs[active], ta, retry[active], active)
        if (stats["n_steps"][active] + stats["n_rejected"][active] >= max_steps).any():
            raise RuntimeError(f"solve_ivp_batched: more than max_steps={max_steps} step attempts for some trajectories")
        t_new = np.minimum(ta + h_try, t_bound)
        h = t_new - ta
        ya = y[active]
        y_new, k, error_norm = attempt_step(fun, active, ta, ya, fy[active], h, rtol, atol)
        accept = error_norm < 1
        h_abs[active] = next_step_size(h, error_norm, retry[active])
        retry[active] = ~accept
        stats["n_rejected"][active[~accept]] += 1

        ia = np.flatnonzero(accept)
        if ia.size:
            rows = active[ia]
            stop = np.searchsorted(t_eval, t_new[ia], side="right")
            if (stop - next_out[rows]).sum():
                local, cols, values = dense_output(t_eval, next_out[rows], stop, ta[ia], ya[ia], h[ia], k[:, ia])
                out[rows[local], cols] = values
            next_out[rows] = stop
            t[rows], y[rows], fy[rows] = t_new[ia], y_new[ia], k[6, ia]
            stats["n_steps"][rows] += 1
        active = active[~(accept & (t_new >= t_bound))]
    return _finish(out, stats, single, return_stats)


def _checked_step(h: np.ndarray, t: np.ndarray, after_rejection: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """SciPy's minimum step (10 ulps of t): raised to it after an accepted step, a failure after a rejected one."""
    min_step = 10 * np.abs(np.nextafter(t, np.inf) - t)
    h = np.where(~after_rejection & (h < min_step), min_step, h)
    if (small := h < min_step).any():
        raise RuntimeError(
            f"solve_ivp_batched: required step size is less than spacing between numbers for trajectories "
            f"{rows[small][:10].tolist()} (at t = {t[small][:10].tolist()}); solve_ivp fails there too"
        )
    return h


def _finish(out: np.ndarray, stats: dict, single: bool, return_stats: bool):
    out = out[0] if single else out
    if return_stats:
        return out, ({k: v[0] for k, v in stats.items()} if single else stats)
    return out
