"""The steps of an experiment for each kind of task: make the data, build and train a model, measure it.

:mod:`hnnlib.experiments.tasks` names, for every task of the paper, which of these it uses; they
call the library functions exactly as the chapters do.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
from torch import nn

from .. import realdata
from ..data import TrajectoryDataset, make_nbody_dataset, make_trajectory_dataset, sample_nbody_states
from ..labels import ENERGY_LABELS
from ..metrics import (
    MeanWithError, RolloutComparison, compare_rollouts, compare_to_observed, derivative_loss, energy_mse_under, q2_plus_p2,
    sample_metric_states,
)
from ..models import HNN, BaselineNN
from ..pixel import PixelDynamicsModel, compare_pixel_rollouts, fit_pixel_model, make_pixel_pendulum_dataset, pixel_loss
from ..systems import HamiltonianSystem, get_system
from ..training import TrainingHistory, fit
from .config import ExperimentConfig, NBodyConfig, OscillatorConfig, PixelConfig, RealPendulumConfig, SimulatedConfig, VectorFieldConfig


@dataclass(frozen=True)
class Evaluation:
    """What a task's energy metric returns.

    Attributes
    ----------
    energy_mse : dict
        ``energy_mse[energy][kind]``: one entry per name in the configuration's ``energies``.
    comparisons : dict
        ``comparisons[kind]``: the rollouts behind it (:class:`hnnlib.metrics.RolloutComparison`).
    """

    energy_mse: dict[str, dict[str, MeanWithError]]
    comparisons: dict[str, RolloutComparison]


def energy_function(name: str, config: ExperimentConfig, system: HamiltonianSystem | None) -> Callable[[np.ndarray], np.ndarray]:
    """The energy function called ``name`` (see :data:`ENERGY_LABELS`) for a task's system."""
    if name == "hamiltonian":
        if system is None:
            raise ValueError("energy 'hamiltonian' needs a simulated system")
        return system.hamiltonian
    if name == "q2_plus_p2":
        return q2_plus_p2
    if name == "fitted_pendulum":
        return functools.partial(realdata.pendulum_energy, coefficient=getattr(config, "energy_coefficient", realdata.ENERGY_COEFFICIENT))
    raise ValueError(f"unknown energy {name!r}; expected one of {sorted(ENERGY_LABELS)}")


# --- Tasks 1-4: vector fields -----------------------------------------------------------------


def _system(config: SimulatedConfig) -> HamiltonianSystem:
    return get_system(config.system, **dict(config.system_params))


def make_oscillator_data(config: OscillatorConfig) -> TrajectoryDataset:
    """Task 1-2 data, as chapters 2 and 3 make it."""
    return make_trajectory_dataset(_system(config), **config.data_options())


def make_real_pendulum_data(config: RealPendulumConfig) -> TrajectoryDataset:
    """Task 3 data, as chapter 4 loads it (the file is found through ``$HNNLIB_DATA_DIR``, the cache or a download)."""
    return realdata.load_real_pendulum(split=config.split)


def make_nbody_data(config: NBodyConfig) -> TrajectoryDataset:
    """Task 4 / Appendix B data, as chapters 5 and 6 make it."""
    return make_nbody_dataset(_system(config), **config.data_options())


def _energies(config: ExperimentConfig, comparisons: Mapping[str, RolloutComparison], system: HamiltonianSystem | None,
              native: str) -> dict[str, dict[str, MeanWithError]]:
    """Energy MSE of each comparison under each of ``config.energies`` (``native``: the one already measured)."""
    out: dict[str, dict[str, MeanWithError]] = {}
    for name in config.energies:
        if name == native:
            out[name] = {kind: c.energy_mse for kind, c in comparisons.items()}
        else:
            fn = energy_function(name, config, system)
            out[name] = {kind: energy_mse_under(c, fn) for kind, c in comparisons.items()}
    return out


def _evaluate_rollouts(config: SimulatedConfig, models: Mapping[str, nn.Module], system: HamiltonianSystem,
                       x0: np.ndarray) -> Evaluation:
    """Roll out the true system and each model from ``x0`` (:func:`hnnlib.metrics.compare_rollouts`, the config's tolerances)."""
    t_eval = np.linspace(*config.metric_t_span, config.metric_points)
    comparisons = {
        kind: compare_rollouts(system, model, x0, t_eval, rtol_true=config.metric_rtol_true, rtol_model=config.metric_rtol_model,
                               atol=config.metric_atol, batched=config.metric_batched)
        for kind, model in models.items()
    }
    return Evaluation(_energies(config, comparisons, system, native="hamiltonian"), comparisons)


def evaluate_oscillator(config: OscillatorConfig, models: Mapping[str, nn.Module], data: TrajectoryDataset) -> Evaluation:
    """Table 1's energy metric for Tasks 1-2, as chapters 2 and 3 measure it."""
    x0 = sample_metric_states(config.metric_states, config.metric_magnitude, np.random.default_rng(config.seed))
    return _evaluate_rollouts(config, models, data.system, x0)


def evaluate_real_pendulum(config: RealPendulumConfig, models: Mapping[str, nn.Module], data: TrajectoryDataset) -> Evaluation:
    """Table 1's energy metric for Task 3, as chapter 4 measures it."""
    x_test = data.test.x[0].double().numpy()
    t_test = data.test.t[0].double().numpy()
    native = config.energies[0]
    energy = energy_function(native, config, None)
    comparisons = {
        kind: compare_to_observed(model, x_test, t_test, energy, rtol_model=config.metric_rtol_model, atol=config.metric_atol)
        for kind, model in models.items()
    }
    return Evaluation(_energies(config, comparisons, None, native=native), comparisons)


def evaluate_nbody(config: NBodyConfig, models: Mapping[str, nn.Module], data: TrajectoryDataset) -> Evaluation:
    """Table 1 / Table 2 energy metric for N bodies, as chapters 5 and 6 measure it."""
    seeds = range(config.metric_first_seed, config.metric_first_seed + config.metric_states)
    x0 = np.concatenate([
        sample_nbody_states(data.system, 1, np.random.RandomState(s), radius=config.radius, orbit_noise=config.orbit_noise)
        for s in seeds
    ])
    return _evaluate_rollouts(config, models, data.system, x0)


def build_model(config: VectorFieldConfig, kind: str, data: TrajectoryDataset) -> nn.Module:
    """A fresh, untrained model of ``kind`` for ``data`` (call :func:`hnnlib.training.set_seed` first)."""
    model_class = {"baseline": BaselineNN, "hnn": HNN}[kind]
    return model_class(input_dim=data.train.x.shape[-1], **config.model_options())


def train_model(config: VectorFieldConfig, model: nn.Module, data: TrajectoryDataset, *, progress: bool, description: str) -> TrainingHistory:
    """Train ``model`` on ``data``'s train split (tracking the test split) with the config's options,
    exactly as the chapters call :func:`hnnlib.train`."""
    return fit(
        model, data.train.inputs, data.train.targets, x_test=data.test.inputs, dx_test=data.test.targets,
        seed=config.seed, progress=progress, description=description, **config.fit_options(),
    )


def derivative_losses(model: nn.Module, data: TrajectoryDataset) -> dict[str, MeanWithError]:
    """Train and test L2 loss of the predicted derivatives (Table 1's first two metrics)."""
    return {
        "train_loss": derivative_loss(model, data.train.inputs, data.train.targets),
        "test_loss": derivative_loss(model, data.test.inputs, data.test.targets),
    }


# --- Task 5: the pixel pendulum ------------------------------------------------------------------


def make_pixel_data(config: PixelConfig) -> Any:
    """Task 5 data, as chapter 7 makes it (cached on disk when ``config.data_cache``)."""
    return make_pixel_pendulum_dataset(**config.data_options(), progress=False, cache_dir=True if config.data_cache else None)


def build_pixel_model(config: PixelConfig, kind: str, data: Any) -> nn.Module:
    """A fresh pixel model of ``kind`` (call :func:`hnnlib.training.set_seed` first)."""
    return PixelDynamicsModel(kind, input_dim=2 * config.side**2, hidden_dim=config.hidden_dim, latent_dim=config.latent_dim)


def train_pixel_model(config: PixelConfig, model: nn.Module, data: Any, *, progress: bool, description: str) -> TrainingHistory:
    """Train as chapter 7 calls :func:`hnnlib.pixel.fit_pixel_model`."""
    x, x_next = data.train.to_torch()
    x_test, x_next_test = data.test.to_torch()
    return fit_pixel_model(
        model, x, x_next, x_test=x_test, x_next_test=x_next_test, steps=config.steps, batch_size=config.batch_size,
        learning_rate=config.learning_rate, weight_decay=config.weight_decay, eval_every=config.eval_every,
        seed=config.seed, progress=progress, description=description,
    )


def pixel_losses(model: nn.Module, data: Any) -> dict[str, MeanWithError]:
    """Train and test total loss of the pixel model (Table 1's first two metrics for Task 5)."""
    return {"train_loss": pixel_loss(model, *data.train.to_torch()), "test_loss": pixel_loss(model, *data.test.to_torch())}


def evaluate_pixels(config: PixelConfig, models: Mapping[str, nn.Module], data: Any) -> Evaluation:
    """Table 1's energy metric for Task 5, as chapter 7 measures it."""
    frames = data.frames[data.test_trajectories]
    states = data.trajectory_states[data.test_trajectories]
    comparisons = {kind: compare_pixel_rollouts(model, frames, states, data.dt, n_steps=config.metric_steps)
                   for kind, model in models.items()}
    return Evaluation({"pixels": {kind: c.energy_mse for kind, c in comparisons.items()}}, comparisons)
