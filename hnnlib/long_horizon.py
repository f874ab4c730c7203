"""Long rollouts: what a fixed-step integrator conserves, and how far it drifts.

Backward error analysis (Hairer, Lubich & Wanner, *Geometric Numerical Integration*, Ch. IX): a
symplectic method of order ``r`` with step ``h`` follows, up to exponentially small terms over
exponentially long times, the exact flow of a *modified Hamiltonian*
``H~ = H + h^r H_r + h^(r+1) H_(r+1) + ...``. It conserves ``H~``, not ``H``: ``H`` oscillates
around its initial value by ``O(h^r)`` without drifting. A non-symplectic method such as RK4
conserves no such quantity, and its energy error grows with time.

- :func:`leapfrog_modified_hamiltonian`: ``H~`` of :func:`hnnlib.leapfrog` (kick-drift-kick) for a
  separable ``H = T(p) + V(q)``, to order ``h^2``.
- :func:`midpoint_modified_hamiltonian`: ``H~`` of :func:`hnnlib.integrators.implicit_midpoint`
  for any ``H``, to order ``h^2``.
- :func:`phase` and :func:`phase_error`: the angle travelled around an orbit of one degree of
  freedom, and how far a rollout's angle is from a reference's.
- :func:`energy_error`: ``|H(x_t) - H(x_0)|`` along rollouts.
- :func:`fitted_order`: the slope of ``log error`` against ``log h``, by least squares.
- :func:`rollout_field`: an HNN's vector field as a plain torch function, for rollouts of many steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ._checks import as_state_tensor, check_finite_number
from ._typing import ScalarField, VectorField
from .hamiltonian import split_state
from .models import HNN

__all__ = [
    "energy_error", "fitted_order", "leapfrog_modified_hamiltonian", "midpoint_modified_hamiltonian",
    "phase", "phase_error", "rollout_field",
]


def _energy_and_gradient(hamiltonian: ScalarField, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``H(x)`` of shape (B,) and ``grad H(x)`` of shape (B, D), with a graph for a second derivative."""
    energy = hamiltonian(x)
    if energy.ndim == x.ndim:  # (B, 1) -> (B,)
        energy = energy[..., 0]
    if energy.shape != x.shape[:-1]:
        raise ValueError(f"the Hamiltonian must map states {tuple(x.shape)} to energies {tuple(x.shape[:-1])}, "
                         f"got {tuple(energy.shape)}")
    (grad,) = torch.autograd.grad(energy.sum(), x, create_graph=True, materialize_grads=True)
    return energy, grad


def _hessian_times(grad: torch.Tensor, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``(d^2 H / dx^2) v`` for each state, from ``grad = dH/dx`` built with a graph."""
    if not grad.requires_grad:  # H is linear in x: its Hessian is zero
        return torch.zeros_like(x)
    (hv,) = torch.autograd.grad((grad * v.detach()).sum(), x, retain_graph=True, materialize_grads=True)
    return hv


def _states(x: Any, h: Any) -> tuple[torch.Tensor, float]:
    x = as_state_tensor(x, None, "x")
    if x.shape[-1] % 2:
        raise ValueError(f"x must have an even number of coordinates (q, p) on its last axis, got shape {tuple(x.shape)}")
    h = check_finite_number(h, "h")
    return x.detach().reshape(-1, x.shape[-1]).requires_grad_(True), h


def leapfrog_modified_hamiltonian(hamiltonian: ScalarField, x: Any, h: float, *, check_separable: bool = True) -> torch.Tensor:
    """The quantity :func:`hnnlib.leapfrog` (kick-drift-kick) conserves, to order ``h^2``.

    For a separable ``H = T(p) + V(q)`` the Stormer-Verlet step "half kick, drift, half kick"
    is the exact flow, up to ``O(h^4)``, of (Hairer, Lubich & Wanner, Sec. IX.3)

    ``H~ = H + h^2 (T_p . V_qq T_p / 12 - V_q . T_pp V_q / 24) + O(h^4)``,

    with ``T_p = dH/dp``, ``V_q = dH/dq`` and the Hessian blocks ``V_qq``, ``T_pp`` of ``H``.
    For ``H = (q^2 + p^2)/2`` it gives ``p^2 (1/2 + h^2/12) + q^2 (1/2 - h^2/24)``, proportional
    to ``p^2 + (1 - h^2/4) q^2``, which the step conserves exactly. Computed by autograd
    (two Hessian-vector products), so it works for a learned separable ``H_theta`` too.

    Parameters
    ----------
    hamiltonian : callable
        ``H``, states ``(B, 2N)`` -> ``(B,)`` or ``(B, 1)``, differentiable twice by autograd.
    x : tensor or array, shape (..., 2N)
    h : float
        Step, > 0 (time units).
    check_separable : bool
        Refuse an ``H`` whose mixed derivatives ``d^2 H / dq dp`` do not vanish at ``x``.

    Returns
    -------
    torch.Tensor, shape (...): ``H~`` at each state (no graph).

    Raises
    ------
    ValueError
        If ``H`` is not separable at ``x`` (the formula holds only for ``T(p) + V(q)``), or ``h <= 0``.
    """
    shape = x.shape[:-1]
    xs, h = _states(x, h)
    n = xs.shape[-1] // 2
    energy, grad = _energy_and_gradient(hamiltonian, xs)
    h_q, h_p = split_state(grad)
    zeros = torch.zeros_like(h_q)
    # The Hessian [[H_qq, H_qp], [H_pq, H_pp]] times (T_p, 0) is (H_qq T_p, H_pq T_p), times (0, V_q) it is
    # (H_qp V_q, H_pp V_q): the formula's V_qq T_p and T_pp V_q, and two mixed terms that vanish if H is separable.
    along_tp = _hessian_times(grad, xs, torch.cat([h_p, zeros], -1))
    along_vq = _hessian_times(grad, xs, torch.cat([zeros, h_q], -1))
    v_qq_tp, t_pp_vq = along_tp[..., :n], along_vq[..., n:]
    if check_separable:
        mixed = torch.cat([along_tp[..., n:], along_vq[..., :n]], -1).abs().max()
        size = torch.cat([v_qq_tp, t_pp_vq, grad], -1).abs().max()
        if mixed > 1e-6 * (1 + size):
            raise ValueError(
                "leapfrog_modified_hamiltonian needs a separable H = T(p) + V(q): d^2H/dq dp does not vanish at "
                f"these states (largest mixed term {float(mixed):.3g}); use midpoint_modified_hamiltonian for a general H"
            )
    correction = (h_p * v_qq_tp).sum(-1) / 12 - (h_q * t_pp_vq).sum(-1) / 24
    return (energy + h**2 * correction).detach().reshape(shape)


def midpoint_modified_hamiltonian(hamiltonian: ScalarField, x: Any, h: float) -> torch.Tensor:
    """The quantity :func:`hnnlib.integrators.implicit_midpoint` conserves, to order ``h^2``.

    For any ``H`` (separable or not) the implicit midpoint rule is the exact flow, up to
    ``O(h^4)``, of (Hairer, Lubich & Wanner, Sec. IX.3)

    ``H~ = H - h^2 H''(f, f) / 24 + O(h^4)``,  with ``f = J grad H`` the Hamiltonian vector field

    and ``H''`` the Hessian of ``H``. For a quadratic ``H``, ``H''(f, f)`` is itself conserved,
    so ``H`` is conserved exactly, as the rule conserves every quadratic invariant.

    Parameters
    ----------
    hamiltonian : callable
        ``H``, states ``(B, 2N)`` -> ``(B,)`` or ``(B, 1)``, differentiable twice by autograd.
    x : tensor or array, shape (..., 2N)
    h : float
        Step, > 0 (time units).

    Returns
    -------
    torch.Tensor, shape (...): ``H~`` at each state (no graph).
    """
    shape = x.shape[:-1]
    xs, h = _states(x, h)
    energy, grad = _energy_and_gradient(hamiltonian, xs)
    h_q, h_p = split_state(grad)
    field = torch.cat([h_p, -h_q], -1)  # f = J grad H
    curvature = (field.detach() * _hessian_times(grad, xs, field)).sum(-1)
    return (energy - h**2 * curvature / 24).detach().reshape(shape)


def phase(x: Any, center: Any = (0.0, 0.0), scale: Any = (1.0, 1.0)) -> np.ndarray:
    """The angle travelled around an orbit of one degree of freedom, in radians, unwrapped.

    ``theta = atan2(-(p - p_c) / s_p, (q - q_c) / s_q)``, unwrapped along the time axis, so that
    it grows by ``2 pi`` per turn of a clockwise orbit (``dq/dt = dH/dp``: every oscillation
    around a minimum of ``H`` turns clockwise in the ``(q, p)`` plane).

    Parameters
    ----------
    x : array or tensor, shape (..., T, 2)
        Trajectories, time on the second-last axis.
    center, scale : pair of float
        The orbit's centre ``(q_c, p_c)`` and the axes' scales ``(s_q, s_p)`` (for a harmonic
        oscillator, the amplitudes, so the angle grows uniformly in time).

    Returns
    -------
    numpy.ndarray, shape (..., T)
    """
    x = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
    if x.ndim < 2 or x.shape[-1] != 2:
        raise ValueError(f"phase needs trajectories of one degree of freedom, shape (..., T, 2), got {x.shape}")
    (qc, pc), (sq, sp) = (float(v) for v in center), (float(v) for v in scale)
    if not (sq > 0 and sp > 0):
        raise ValueError(f"scale must be positive, got {scale!r}")
    return np.unwrap(np.arctan2(-(x[..., 1] - pc) / sp, (x[..., 0] - qc) / sq), axis=-1)


def phase_error(x: Any, reference: Any, **kwargs: Any) -> np.ndarray:
    """``|phase(x) - phase(reference)|``: how far, in radians, a rollout lags or leads along the orbit.

    Parameters
    ----------
    x, reference : array or tensor, shape (..., T, 2)
        Rollouts from the same initial states on the same time grid.
    **kwargs
        ``center`` and ``scale``, as for :func:`phase`.

    Returns
    -------
    numpy.ndarray, shape (..., T)
    """
    a, b = phase(x, **kwargs), phase(reference, **kwargs)
    if a.shape != b.shape:
        raise ValueError(f"x and reference must have the same shape, got {a.shape} and {b.shape}")
    return np.abs(a - b)


def energy_error(energy: ScalarField | Any, x: Any, *, relative: bool = False) -> np.ndarray:
    """``|E(x_t) - E(x_0)|`` along each trajectory (over ``|E(x_0)|`` when ``relative``).

    Parameters
    ----------
    energy : callable
        ``E``: states ``(..., D)`` -> ``(...)``, NumPy or torch (a system's ``hamiltonian``, a
        model's, a modified Hamiltonian).
    x : array or tensor, shape (..., T, D)

    Returns
    -------
    numpy.ndarray, shape (..., T)
    """
    values = energy(x)
    values = np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values, dtype=np.float64)
    if values.shape != tuple(x.shape[:-1]):
        raise ValueError(f"energy must map states {tuple(x.shape)} to {tuple(x.shape[:-1])}, got {values.shape}")
    change = np.abs(values - values[..., :1])
    return change / np.abs(values[..., :1]) if relative else change


def fitted_order(steps: Any, errors: Any) -> float:
    """The order ``r`` of ``error ~ C h^r``: the least-squares slope of ``log error`` on ``log h``.

    Parameters
    ----------
    steps, errors : array, shape (K,)
        ``K >= 3`` positive step sizes and the positive errors measured at them.

    Returns
    -------
    float
    """
    steps, errors = np.asarray(steps, dtype=np.float64), np.asarray(errors, dtype=np.float64)
    if steps.ndim != 1 or steps.shape != errors.shape or steps.size < 3:
        raise ValueError(f"need steps and errors of the same shape (K,), K >= 3, got {steps.shape} and {errors.shape}")
    if not (np.all(steps > 0) and np.all(errors > 0) and np.all(np.isfinite(errors))):
        raise ValueError("steps and errors must be positive and finite (a zero error has no order)")
    return float(np.polyfit(np.log(steps), np.log(errors), 1)[0])


def rollout_field(model: HNN) -> VectorField:
    """The vector field of a trained tanh :class:`~hnnlib.models.HNN` as a plain function, for long rollouts.

    Returns ``f(x) = S_H(x) = (dH_theta/dp, -dH_theta/dq)`` for states ``(B, D)``: the values of
    ``model.time_derivative``, in closed form for the paper's three-layer tanh MLP
    (``dH/dx = W1^T [(1 - h1^2) * (W2^T ((1 - h2^2) * w3))]``), on a frozen copy of the weights,
    without the per-call input checks and without an autograd graph. A rollout of ``10^5`` steps
    calls the field ``10^5`` to ``10^6`` times, and those per-call costs dominate for a small MLP.
    The integrators still check every derivative it returns for NaN and inf.

    Parameters
    ----------
    model : HNN
        With ``nonlinearity="tanh"``.

    Returns
    -------
    callable
        ``f(x)``, tensor ``(B, D)`` -> ``(B, D)``, in the model's dtype and on its device.

    Raises
    ------
    TypeError
        If ``model`` is not an HNN.
    ValueError
        If its nonlinearity is not tanh.
    """
    if not isinstance(model, HNN):
        raise TypeError(f"rollout_field needs an hnnlib.models.HNN, got {type(model).__name__}")
    if model.config["nonlinearity"] != "tanh":
        raise ValueError(f"rollout_field needs the tanh MLP, got nonlinearity {model.config['nonlinearity']!r}; "
                         "use model.time_derivative")
    first, _, second, _, last = model.mlp.net
    w1, b1, w2, b2 = (p.detach().clone() for p in (first.weight, first.bias, second.weight, second.bias))
    w3 = last.weight.detach().clone()  # (1, H)
    n = model.input_dim // 2

    w1t, w2t = w1.t(), w2.t()

    def field(x: torch.Tensor) -> torch.Tensor:
        h1 = torch.addmm(b1, x, w1t).tanh_()
        h2 = torch.addmm(b2, h1, w2t).tanh_()
        # torch.rsub(a, 1) is 1 - a without Python's reflected-operator wrapper (a few us a call)
        grad = ((torch.rsub(h2 * h2, 1) * w3) @ w2 * torch.rsub(h1 * h1, 1)) @ w1  # dH/dx, (B, D)
        return torch.cat([grad[:, n:], -grad[:, :n]], dim=-1)

    field.__qualname__ = "rollout_field(HNN)"
    return field
