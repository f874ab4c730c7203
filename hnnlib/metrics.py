"""The numbers of the paper's Table 1: derivative losses, energy and coordinate errors of rollouts.

Every metric comes as a :class:`MeanWithError` (mean and standard error of the mean), so a
table can print ``value +- error`` as the paper does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from ._checks import as_state_tensor, check_positive_int, check_range
from .integrators import solve_ivp_rollout
from .systems import HamiltonianSystem


@dataclass(frozen=True)
class MeanWithError:
    """A mean over ``n`` independent values and its standard error ``std / sqrt(n)``.

    ``format(m, ".2e")`` gives ``"1.23e-02 +- 4.56e-03"``; :meth:`scaled` multiplies both
    numbers, e.g. by 1e3 to compare with the paper's Table 1.
    """

    mean: float
    stderr: float
    n: int

    @classmethod
    def of(cls, values: np.ndarray | torch.Tensor) -> "MeanWithError":
        """Mean and standard error (``ddof=1``) of a 1-D array of independent values."""
        v = np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values, dtype=np.float64).ravel()
        if v.size == 0:
            raise ValueError("MeanWithError.of needs at least one value")
        stderr = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else float("nan")
        return cls(float(v.mean()), stderr, int(v.size))

    def scaled(self, factor: float) -> "MeanWithError":
        return MeanWithError(self.mean * factor, self.stderr * factor, self.n)

    def __format__(self, spec: str) -> str:
        spec = spec or ".3g"
        return f"{self.mean:{spec}} +- {self.stderr:{spec}}"

    def __str__(self) -> str:
        return format(self)


def derivative_loss(model: nn.Module, x: torch.Tensor, dx: torch.Tensor) -> MeanWithError:
    """L2 loss of predicted time derivatives (the train/test loss of Table 1).

    The squared error is averaged over the ``D`` coordinates of each sample; the result is the
    mean over the ``n`` samples (equal to :func:`hnnlib.models.l2_loss`) and its standard error.

    Parameters
    ----------
    model : BaselineNN or HNN
    x, dx : torch.Tensor, shape (n, D)

    Returns
    -------
    MeanWithError
    """
    x = as_state_tensor(x, None, "x")
    dx = as_state_tensor(dx, x.shape[-1], "dx")
    with torch.no_grad():
        per_sample = (model.time_derivative(x) - dx).pow(2).reshape(-1, x.shape[-1]).mean(-1)
    return MeanWithError.of(per_sample)


def sample_metric_states(n: int, magnitude: tuple[float, float], rng: np.random.Generator, dim: int = 2) -> np.ndarray:
    """Initial states for the energy metric: each coordinate ``+-U[low, high]`` with a random sign.

    This is the reference code's Table 1 protocol for Tasks 1 and 2 (``magnitude = (0.2, 1.0)``).

    Returns
    -------
    numpy.ndarray, shape (n, dim)
    """
    n = check_positive_int(n, "n")
    low, high = check_range(magnitude, "magnitude", minimum=0.0)
    return rng.uniform(low, high, size=(n, dim)) * rng.choice([-1.0, 1.0], size=(n, dim))


@dataclass(frozen=True)
class RolloutComparison:
    """True and predicted rollouts from the same initial states, and their errors.

    Attributes
    ----------
    t : numpy.ndarray, shape (T,)
    true, predicted : numpy.ndarray, shape (B, T, D)
    true_energy, predicted_energy : numpy.ndarray, shape (B, T)
        The system's energy function evaluated along each rollout.
    energy_mse : MeanWithError
        Over trajectories, of each trajectory's mean of ``(E_pred(t) - E_true(t))^2``.
    coordinate_mse : MeanWithError
        Over trajectories, of each trajectory's mean of ``|x_pred(t) - x_true(t)|^2 / D``.
    coordinate_mse_over_time : numpy.ndarray, shape (T,)
        Mean over trajectories of the squared coordinate error at each time.
    """

    t: np.ndarray
    true: np.ndarray
    predicted: np.ndarray
    true_energy: np.ndarray
    predicted_energy: np.ndarray
    energy_mse: MeanWithError
    coordinate_mse: MeanWithError
    coordinate_mse_over_time: np.ndarray


def compare_rollouts(
    system: HamiltonianSystem,
    model: nn.Module,
    x0: np.ndarray,
    t_eval: np.ndarray,
    *,
    rtol_true: float = 1e-12,
    rtol_model: float = 1e-9,
    atol: float = 1e-6,
    energy: Callable[[np.ndarray], np.ndarray] | None = None,
) -> RolloutComparison:
    """Roll out the true system and a model from the same states and measure the drift.

    This is the energy metric of Table 1, as the paper's reference code computes it, minus two
    quirks (see the book's reproducibility notes): every rollout uses the same fixed time
    grid ``t_eval`` (the reference grows the horizon from sample to sample through an in-place
    bug, and stretches the model's horizon by 1.09). Protocol:

    1. integrate the true system from each state with ``solve_ivp`` (RK45, ``rtol_true``);
    2. integrate the model from each state with ``solve_ivp`` (RK45, ``rtol_model``, default
       ``atol`` 1e-6 as in SciPy), one state at a time, in the model's dtype;
    3. evaluate ``energy`` (default: the system's Hamiltonian) along both;
    4. per trajectory, the mean over time of the squared energy difference; then the mean and
       standard error over trajectories. The same for the coordinates.

    Parameters
    ----------
    system : HamiltonianSystem
    model : BaselineNN or HNN
    x0 : numpy.ndarray, shape (B, D)
    t_eval : numpy.ndarray, shape (T,)
    rtol_true, rtol_model, atol : float
    energy : callable, optional
        Maps states ``(..., D)`` (NumPy) to energies ``(...)``.

    Returns
    -------
    RolloutComparison
    """
    x0 = as_state_tensor(x0, system.state_dim, "x0").double().cpu().numpy()
    if x0.ndim != 2:
        raise ValueError(f"x0 must have shape (B, {system.state_dim}), got {x0.shape}")
    t_eval = np.asarray(t_eval, dtype=np.float64)
    energy = energy or system.hamiltonian
    true = solve_ivp_rollout(system.time_derivative, x0, t_eval, rtol=rtol_true, atol=atol, dtype=torch.float64)
    model_dtype = next(model.parameters()).dtype
    pred = solve_ivp_rollout(model.time_derivative, x0, t_eval, rtol=rtol_model, atol=atol, dtype=model_dtype)
    e_true, e_pred = np.asarray(energy(true)), np.asarray(energy(pred))
    sq = (pred - true) ** 2
    return RolloutComparison(
        t=t_eval,
        true=true,
        predicted=pred,
        true_energy=e_true,
        predicted_energy=e_pred,
        energy_mse=MeanWithError.of(((e_pred - e_true) ** 2).mean(axis=1)),
        coordinate_mse=MeanWithError.of(sq.mean(axis=(1, 2))),
        coordinate_mse_over_time=sq.mean(axis=(0, 2)),
    )
