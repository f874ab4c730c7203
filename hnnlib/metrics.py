"""The numbers of the paper's Table 1: derivative losses, energy and coordinate errors of rollouts.

Every metric comes as a :class:`MeanWithError` (mean and standard error of the mean), so a
table can print ``value +- error`` as the paper does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from ._checks import as_state_tensor, check_dynamics_model, check_positive_int, check_range
from ._rollout import time_grid
from .integrators import solve_ivp_rollout
from .rk45_batched import solve_ivp_batched
from .systems import HamiltonianSystem


@dataclass(frozen=True)
class MeanWithError:
    """A mean over ``n`` independent values and its standard error ``std / sqrt(n)``.

    ``format(m, ".2e")`` gives ``"1.23e-02 +- 4.56e-03"``; :meth:`scaled` multiplies both
    numbers, e.g. by 1e3 to compare with the paper's Table 1. A single value has no standard
    error (NaN): it prints as ``"370 (n = 1)"``, never as ``"370 +- nan"``.
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

    def text(self, spec: str = ".3g", error_figures: int | None = None) -> str:
        """``"mean +- stderr"``, both in format ``spec``; the error first rounded to ``error_figures``.

        ``m.text(".3g", 2)`` gives ``"38.4 +- 0.64"`` (three significant figures of the mean, two
        of its error) and ``"632 +- 130"`` (where ``format(130, ".2g")`` would give ``1.3e+02``).
        With a single value (``n == 1``, NaN error) the text is the mean and ``" (n = 1)"``; any
        other NaN error is printed as ``nan``.
        """
        mean = format(self.mean, spec)
        if self.n == 1 and math.isnan(self.stderr):
            return f"{mean} (n = 1)"
        error = self.stderr
        if error_figures is not None:
            error_figures = check_positive_int(error_figures, "error_figures")
            if math.isfinite(error) and error != 0:
                error = float(f"{error:.{error_figures}g}")
        return f"{mean} +- {format(error, spec)}"

    def __format__(self, spec: str) -> str:
        return self.text(spec or ".3g")

    def __str__(self) -> str:
        return format(self)


def derivative_loss(model: nn.Module, x: torch.Tensor, dx: torch.Tensor) -> MeanWithError:
    """L2 loss of predicted time derivatives (the train/test loss of Table 1).

    The squared error is averaged over the ``D`` coordinates of each sample; the result is the
    mean over the ``n`` samples (equal to :func:`hnnlib.models.l2_loss`) and its standard error.

    Parameters
    ----------
    model : BaselineNN or HNN, or a HamiltonianSystem (the loss of the true field: the noise floor)
    x, dx : torch.Tensor, shape (n, D)

    Returns
    -------
    MeanWithError

    Raises
    ------
    TypeError
        If ``model`` has no ``time_derivative``, or ``x``/``dx`` are not floating tensors.
    ValueError
        If ``x`` and ``dx`` (or the model's prediction and ``dx``) differ in shape: never broadcast.
    """
    if not callable(getattr(model, "time_derivative", None)):
        raise TypeError(f"model must have a time_derivative(x) method (a BaselineNN, an HNN or a system), got {type(model).__name__}")
    x = as_state_tensor(x, None, "x")
    dx = as_state_tensor(dx, x.shape[-1], "dx")
    if x.ndim != 2 or dx.shape != x.shape:
        raise ValueError(f"x and dx must both have shape (n, D), got {tuple(x.shape)} and {tuple(dx.shape)}")
    with torch.no_grad():
        prediction = model.time_derivative(x)
        if prediction.shape != dx.shape:
            raise ValueError(f"the model's derivatives have shape {tuple(prediction.shape)}, the targets {tuple(dx.shape)}")
        per_sample = (prediction - dx).pow(2).mean(-1)
    return MeanWithError.of(per_sample)


def table1_row(models: Mapping[str, nn.Module], data: Any, comparisons: Mapping[str, RolloutComparison]) -> dict[str, dict[str, MeanWithError]]:
    """The three numbers of a Table 1 row for each model: ``row[metric][name]``.

    Parameters
    ----------
    models : dict
        ``models[name]``, e.g. ``{"baseline": ..., "hnn": ...}`` (the layout of
        :func:`hnnlib.paper.table1_comparison`; :func:`hnnlib.labels.by_kind` re-keys a dict keyed by label).
    data : TrajectoryDataset
        Its train and test splits give the losses.
    comparisons : dict
        ``comparisons[name]``: each model's rollouts (:func:`compare_rollouts` or :func:`compare_to_observed`).

    Returns
    -------
    dict
        ``row["train_loss" | "test_loss" | "energy_mse"][name]``: :class:`MeanWithError`.
    """
    return {
        "train_loss": {name: derivative_loss(model, data.train.inputs, data.train.targets) for name, model in models.items()},
        "test_loss": {name: derivative_loss(model, data.test.inputs, data.test.targets) for name, model in models.items()},
        "energy_mse": {name: comparisons[name].energy_mse for name in models},
    }


def q2_plus_p2(x: np.ndarray) -> np.ndarray:
    """``q^2 + p^2`` of states ``(..., 2)``: the energy the reference code measures for Tasks 1 and 2."""
    return x[..., 0] ** 2 + x[..., 1] ** 2


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


def _comparison(t: np.ndarray, true: np.ndarray, pred: np.ndarray, energy: Callable[[np.ndarray], np.ndarray]) -> RolloutComparison:
    """Errors of predicted rollouts ``(B, T, D)`` against true ones, as a :class:`RolloutComparison`."""
    e_true, e_pred = _energies(energy, true, pred)
    sq = (pred - true) ** 2
    return RolloutComparison(
        t=t,
        true=true,
        predicted=pred,
        true_energy=e_true,
        predicted_energy=e_pred,
        energy_mse=MeanWithError.of(((e_pred - e_true) ** 2).mean(axis=1)),
        coordinate_mse=MeanWithError.of(sq.mean(axis=(1, 2))),
        coordinate_mse_over_time=sq.mean(axis=(0, 2)),
    )


def _energies(energy: Callable[[np.ndarray], np.ndarray], true: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``energy`` along both rollouts ``(B, T, D)``; each must come back finite, of shape ``(B, T)``."""
    if not callable(energy):
        raise TypeError(f"energy must be a function of states (..., D), got {type(energy).__name__}")
    e_true, e_pred = np.asarray(energy(true)), np.asarray(energy(pred))
    for e, rollout in ((e_true, true), (e_pred, pred)):
        if e.shape != rollout.shape[:2]:
            raise ValueError(f"energy must map states {rollout.shape} to shape {rollout.shape[:2]}, got {e.shape}")
    if not np.isfinite(e_true).all():
        raise ValueError("the energy of the true rollout holds NaN or inf values")
    return e_true, e_pred


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
    batched: bool = True,
) -> RolloutComparison:
    """Roll out the true system and a model from the same states and measure the drift.

    This is the energy metric of Table 1, as the paper's reference code computes it, minus two
    quirks (see the book's reproducibility notes): every rollout uses the same fixed time
    grid ``t_eval`` (the reference grows the horizon from sample to sample through an in-place
    bug, and stretches the model's horizon by 1.09). Protocol:

    1. integrate the true system from each state with SciPy's RK45 (``rtol_true``);
    2. integrate the model from each state with SciPy's RK45 (``rtol_model``, default ``atol``
       1e-6 as in SciPy), in the model's dtype;
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
    batched : bool
        True (default): integrate with :func:`~hnnlib.rk45_batched.solve_ivp_batched`, SciPy's RK45
        with a separate step-size control per state, each state taking the steps its own
        ``solve_ivp`` call would take, but the field called once per stage on all states still
        running. False: one ``solve_ivp`` call per state, as the reference code loops. Same results
        up to round-off (a float32 model may round a batch differently from a single state), and much
        faster (measured in benchmarks/README.md).

    Returns
    -------
    RolloutComparison
    """
    if not isinstance(system, HamiltonianSystem):
        raise TypeError(f"system must be a HamiltonianSystem (e.g. hnnlib.get_system('pendulum')), got {type(system).__name__}")
    check_dynamics_model(model)
    x0 = as_state_tensor(x0, system.state_dim, "x0").double().cpu().numpy()
    if x0.ndim != 2:
        raise ValueError(f"x0 must have shape (B, {system.state_dim}), got {x0.shape}")
    t_eval = time_grid(t_eval, torch.float64, torch.device("cpu")).numpy()
    energy = energy or system.hamiltonian
    rollout = solve_ivp_batched if batched else solve_ivp_rollout
    true = rollout(system.time_derivative, x0, t_eval, rtol=rtol_true, atol=atol, dtype=torch.float64)
    model_dtype = next(model.parameters()).dtype
    pred = rollout(model.time_derivative, x0, t_eval, rtol=rtol_model, atol=atol, dtype=model_dtype)
    return _comparison(t_eval, true, pred, energy)


def tracking_error(comparison: RolloutComparison, until: float | None = None) -> MeanWithError:
    """How closely the predicted rollouts follow the true ones, relative to a model that never moves.

    An energy error alone cannot tell a good model from a dead one: a vector field of zeros keeps
    every state, and so its energy, fixed, and scores an energy MSE near 0 on a conservative system.
    This metric can: per trajectory, the mean over ``t <= until`` of ``|x_pred(t) - x_true(t)|^2``
    divided by the mean of ``|x_true(0) - x_true(t)|^2``, the error of standing still. 0 is perfect
    tracking, 1 is no better than standing still (a zero field scores exactly 1), above 1 is worse.

    Parameters
    ----------
    comparison : RolloutComparison
    until : float, optional
        Last time included (default: the whole grid); it must leave at least two times.

    Returns
    -------
    MeanWithError
        Over trajectories.
    """
    if not isinstance(comparison, RolloutComparison):
        raise TypeError(f"comparison must be a RolloutComparison, got {type(comparison).__name__}")
    keep = np.ones(comparison.t.shape, dtype=bool) if until is None else comparison.t <= until
    if keep.sum() < 2:
        raise ValueError(f"until={until} leaves fewer than two times of the grid [{comparison.t[0]:g}, {comparison.t[-1]:g}]")
    true, pred = comparison.true[:, keep], comparison.predicted[:, keep]
    still = ((true - true[:, :1]) ** 2).sum(axis=-1).mean(axis=1)
    if not (still > 0).all():
        raise ValueError("a true rollout never moves over this horizon: the ratio is undefined")
    return MeanWithError.of(((pred - true) ** 2).sum(axis=-1).mean(axis=1) / still)


def check_energy_claim(hnn: RolloutComparison, baseline: RolloutComparison, *, until: float,
                       max_tracking_error: float = 0.5) -> None:
    """Assert the paper's energy claim in a form a broken model cannot pass.

    The HNN's energy MSE is below the baseline's, *and* its rollouts follow the truth up to
    ``until`` (:func:`tracking_error` below ``max_tracking_error``): a model that never moves (error
    1) or wanders off fails, however small its energy error.

    Raises
    ------
    AssertionError
        Naming the part of the claim that fails and the numbers.
    """
    # Raised, not asserted: a library check must not vanish under ``python -O``.
    tracking = tracking_error(hnn, until).mean
    if not tracking < max_tracking_error:
        raise AssertionError(
            f"the HNN's rollouts do not follow the truth up to t = {until:g}: tracking error {tracking:.3g} "
            f"(1 = a model that never moves), allowed {max_tracking_error:g}"
        )
    if not hnn.energy_mse.mean < baseline.energy_mse.mean:
        raise AssertionError(
            f"the HNN's energy MSE {hnn.energy_mse.mean:.3g} is not below the baseline's {baseline.energy_mse.mean:.3g}"
        )


def energy_mse_under(comparison: RolloutComparison, energy: Callable[[np.ndarray], np.ndarray]) -> MeanWithError:
    """The energy MSE of an existing comparison, measured with another ``energy`` function.

    Re-uses the rollouts (no integration): per trajectory, the mean over time of
    ``(energy(predicted) - energy(true))^2``; then the mean and standard error over trajectories.
    Useful to report one set of rollouts under two protocols (e.g. the pendulum's true ``H``
    and the ``q^2 + p^2`` of the paper's reference code).

    Parameters
    ----------
    comparison : RolloutComparison
    energy : callable
        Maps states ``(..., D)`` (NumPy) to energies ``(...)``.
    """
    if not isinstance(comparison, RolloutComparison):
        raise TypeError(f"comparison must be a RolloutComparison, got {type(comparison).__name__}")
    e_true, e_pred = _energies(energy, comparison.true, comparison.predicted)
    return MeanWithError.of(((e_pred - e_true) ** 2).mean(axis=1))


def compare_to_observed(
    model: nn.Module,
    observed: np.ndarray,
    t_eval: np.ndarray,
    energy: Callable[[np.ndarray], np.ndarray],
    *,
    rtol_model: float = 1e-3,
    atol: float = 1e-6,
) -> RolloutComparison:
    """Roll a model out from the first observed state and compare it with the observations.

    For recorded data, where no true system can be integrated (Task 3, the real pendulum): the
    "true" rollout is the observed trajectory itself. The model is integrated with
    ``solve_ivp`` (RK45, ``rtol_model``; the reference code uses 1e-3 for this task) from
    ``observed[:, 0]`` and evaluated at ``t_eval``, which may be irregular (gaps in a recording).

    Parameters
    ----------
    model : BaselineNN or HNN
    observed : numpy.ndarray, shape (B, T, D) or (T, D)
        Observed states at the times ``t_eval``.
    t_eval : numpy.ndarray, shape (T,)
        Strictly increasing observation times.
    energy : callable
        Maps states ``(..., D)`` (NumPy) to energies ``(...)``; measured along both.
    rtol_model, atol : float

    Returns
    -------
    RolloutComparison
        With ``true`` the observations (always shape ``(B, T, D)``).
    """
    check_dynamics_model(model)
    observed = np.asarray(observed.detach().cpu() if isinstance(observed, torch.Tensor) else observed, dtype=np.float64)
    if observed.ndim == 2:
        observed = observed[None]
    if observed.ndim != 3:
        raise ValueError(f"observed must have shape (T, D) or (B, T, D), got {observed.shape}")
    as_state_tensor(observed, None, "observed")  # finite values
    t_eval = time_grid(t_eval, torch.float64, torch.device("cpu")).numpy()
    if t_eval.shape != observed.shape[1:2]:
        raise ValueError(f"t_eval must have shape ({observed.shape[1]},) to match observed {observed.shape}, got {t_eval.shape}")
    model_dtype = next(model.parameters()).dtype
    pred = solve_ivp_rollout(model.time_derivative, observed[:, 0], t_eval, rtol=rtol_model, atol=atol, dtype=model_dtype)
    return _comparison(t_eval, observed, pred, energy)
