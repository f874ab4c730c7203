"""Losses for learning from observed states: an integrator inside the loss instead of derivative targets.

Four ways to train on the same observations ``x_0, x_1, ...`` at a time step ``h``:

- :func:`finite_difference_loss`: the paper's L2 loss (Eq. 3) on targets ``(x_{n+1} - x_n) / h``
  (:meth:`hnnlib.observed.ObservedTrajectories.finite_differences`), biased by O(h) (forward) or O(h^2) (central).
- :func:`one_step_loss`: one step of an integrator from ``x_n`` should land on ``x_{n+1}``
  (RK2 or RK4 for an HNN as in HNN++, leapfrog for a separable HNN as in SRNN).
- :func:`k_step_loss`: ``k`` steps of an integrator from ``x_n`` should pass through ``x_{n+1..n+k}``.
- :func:`discrete_gradient_loss`: DGNet's loss (Matsubara et al. 2020): Eq. 6 with both observed
  states put in, ``(x_{n+1} - x_n) / h = S grad_bar H(x_n, x_{n+1})``; nothing is solved.

Every loss is the mean over samples and coordinates of a squared error scaled to a derivative,
``|(x_pred - x_obs) / h|^2``, as in DGNet's code, so the four are comparable in size.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from ._checks import as_state_tensor, check_finite_number, check_positive_int
from .hamiltonian import symplectic_from_gradient
from .models import l2_loss
from .steppers import discrete_gradient, get_stepper, vector_field

__all__ = ["discrete_gradient_loss", "finite_difference_loss", "k_step_loss", "one_step_loss"]


def _pairs(x: Any, y: Any, names: tuple[str, str]) -> tuple[torch.Tensor, torch.Tensor]:
    x = as_state_tensor(x, None, names[0])
    y = as_state_tensor(y, x.shape[-1], names[1])
    if x.ndim != 2 or y.shape != x.shape:
        raise ValueError(f"{names[0]} and {names[1]} must both have shape (B, D), got {tuple(x.shape)} and {tuple(y.shape)}")
    return x, y


def _step(stepper: Any) -> Callable[..., torch.Tensor]:
    step = get_stepper(stepper) if isinstance(stepper, str) else stepper
    if not callable(step):
        raise TypeError(f"stepper must be a stepper of hnnlib.steppers or its name, got {stepper!r}")
    return step


def finite_difference_loss(model: Any, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The paper's loss (Eq. 3) on finite-difference targets: ``mean |f_theta(inputs) - targets|^2``.

    Parameters
    ----------
    model : model or callable
        Anything :func:`hnnlib.steppers.vector_field` accepts.
    inputs, targets : torch.Tensor, shape (B, D)
        From :meth:`~hnnlib.observed.ObservedTrajectories.finite_differences`.
    """
    inputs, targets = _pairs(inputs, targets, ("inputs", "targets"))
    return l2_loss(vector_field(model)(inputs), targets)


def one_step_loss(stepper: Any, model: Any, x: torch.Tensor, x_next: torch.Tensor, h: float) -> torch.Tensor:
    """``mean |(step(model, x, h) - x_next) / h|^2``: one integrator step should reach the next observation.

    Parameters
    ----------
    stepper : callable or str
        A stepper of :mod:`hnnlib.steppers` (or its name): ``"rk2"``, ``"rk4"``, ``"leapfrog"``, ...
    model : model
        What the stepper takes (a separable model for leapfrog).
    x, x_next : torch.Tensor, shape (B, D)
        Consecutive observations (:meth:`~hnnlib.observed.ObservedTrajectories.pairs`).
    h : float
        The time step between them, > 0.
    """
    x, x_next = _pairs(x, x_next, ("x", "x_next"))
    h = check_finite_number(h, "the time step h", minimum=0.0, strict=True)
    return l2_loss(_step(stepper)(model, x, h) / h, x_next / h)


def k_step_loss(stepper: Any, model: Any, x: torch.Tensor, following: torch.Tensor, h: float) -> torch.Tensor:
    """``k`` steps from each start should pass through the next ``k`` observations: the mean over all of them of
    ``|(x_pred_j - x_obs_j) / h|^2``, one graph through all ``k`` steps (back-propagation through time).

    Parameters
    ----------
    stepper : callable or str
    model : model
    x : torch.Tensor, shape (B, D)
        Starting observations.
    following : torch.Tensor, shape (B, k, D)
        The ``k`` observations after each start (:meth:`~hnnlib.observed.ObservedTrajectories.windows`).
    h : float
        > 0.
    """
    x = as_state_tensor(x, None, "x")
    following = as_state_tensor(following, x.shape[-1], "following")
    if x.ndim != 2 or following.ndim != 3 or following.shape[0] != x.shape[0]:
        raise ValueError(f"x must have shape (B, D) and following (B, k, D), got {tuple(x.shape)} and {tuple(following.shape)}")
    h = check_finite_number(h, "the time step h", minimum=0.0, strict=True)
    step, k = _step(stepper), check_positive_int(following.shape[1], "k")
    states = []
    for _ in range(k):
        x = step(model, x, h)
        states.append(x)
    return l2_loss(torch.stack(states, dim=1) / h, following / h)


def discrete_gradient_loss(model: Any, x: torch.Tensor, x_next: torch.Tensor, h: float) -> torch.Tensor:
    """DGNet's training loss: ``mean |(x_next - x) / h - S grad_bar H_theta(x, x_next)|^2``.

    Eq. 6 of Matsubara, Ishikawa & Yaguchi (NeurIPS 2020) with both observed states put in: the
    discrete gradient (:func:`hnnlib.steppers.discrete_gradient`, automatic discrete differentiation for
    an HNN) needs no implicit solve in training. Its cost is two forward passes and one discrete backward pass.

    Parameters
    ----------
    model : HNN or SeparableHNN (anything with a Hamiltonian)
    x, x_next : torch.Tensor, shape (B, D)
    h : float
        > 0.
    """
    x, x_next = _pairs(x, x_next, ("x", "x_next"))
    h = check_finite_number(h, "the time step h", minimum=0.0, strict=True)
    return l2_loss(symplectic_from_gradient(discrete_gradient(model, x, x_next)), (x_next - x) / h)
