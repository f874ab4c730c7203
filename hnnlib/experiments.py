"""Every experiment of the paper through one code path: task registry, configurations, model cache, CLI.

Each task of the paper (Table 1 and Table 2) is one entry of :data:`TASKS`: a :class:`Task` that
names its default configuration and the functions that make its data and measure its energy
error. A configuration is a frozen dataclass (:class:`OscillatorConfig`,
:class:`RealPendulumConfig`, :class:`NBodyConfig`) that holds *everything* that determines the
result, with the values the book's chapters use as defaults, so that

>>> from hnnlib import experiments
>>> result = experiments.run_experiment("mass_spring", seed=0)  # doctest: +SKIP
>>> print(result.table())  # doctest: +SKIP

reproduces the Table 1 row of chapter 2 for the same seed. :func:`run_experiment` builds the
data, trains (or loads) the baseline and the HNN exactly as the chapters do (``set_seed(seed)``
before each model, :func:`hnnlib.training.fit` with the chapter's options, one torch thread) and
recomputes every metric from the models. :func:`run_many` repeats it over seeds and aggregates.

Trained models are cached on disk (:class:`ModelCache`), keyed by a hash of the full
configuration, the model kind, ``hnnlib.__version__`` and a hash of hnnlib's source files, so
that changing the library or any setting invalidates an entry. Metrics are never cached: they
are recomputed from the models, so a result is the same whether a model was trained now or
loaded.

From a shell::

    python -m hnnlib.experiments mass_spring pendulum --seeds 0 1 2 --csv table1.csv
    python -m hnnlib.experiments all --seeds 0 --json results.json
    python -m hnnlib.experiments --help
"""

from __future__ import annotations

import argparse
import ast
import csv
import dataclasses
import functools
import hashlib
import json
import logging
import math
import os
import re
import sys
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from . import __version__, paper, realdata
from .data import TrajectoryDataset, make_nbody_dataset, make_trajectory_dataset, sample_nbody_states
from .metrics import MeanWithError, RolloutComparison, compare_rollouts, compare_to_observed, derivative_loss, energy_mse, sample_metric_states
from .models import HNN, BaselineNN, load_checkpoint, save_checkpoint
from .pixel_data import make_pixel_pendulum_dataset
from .pixel_models import PixelDynamicsModel, compare_pixel_rollouts, fit_pixel_model, pixel_loss
from .plotting import BASELINE, HNN_LABEL
from .systems import HamiltonianSystem, get_system
from .training import TrainingHistory, fit, set_seed

logger = logging.getLogger(__name__)

#: The two models every task trains, in this order, and their labels in the book's figures.
MODEL_KINDS: tuple[str, ...] = ("baseline", "hnn")
MODEL_LABELS: dict[str, str] = {"baseline": BASELINE, "hnn": HNN_LABEL}
#: The metrics of a Table 1 row.
METRICS: tuple[str, ...] = ("train_loss", "test_loss", "energy_mse")
#: Environment variable naming the model cache folder.
CACHE_ENV_VAR = "HNNLIB_CACHE_DIR"
#: Seeds must fit every generator the experiments use (NumPy's legacy RandomState: < 2**32).
MAX_SEED = 2**32 - 1


class CacheWarning(UserWarning):
    """A cached model could not be used (unreadable, foreign key, wrong shapes) and is retrained."""


# --- configurations ---------------------------------------------------------------------------


def _freeze(value: Any) -> Any:
    """Lists (also nested) as tuples, so that a configuration stays hashable."""
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _plain(value: Any) -> Any:
    """A JSON-ready copy: tuples as lists, NumPy scalars as Python numbers, non-finite floats as None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def check_seed(seed: Any) -> int:
    """Return ``seed`` if it is an int in ``[0, 2**32 - 1]``, else raise a clear error.

    Raises
    ------
    TypeError
        If ``seed`` is not an int (bools are refused).
    ValueError
        If it is negative or too large for NumPy's generators.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {seed!r}")
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must lie in [0, {MAX_SEED}], got {seed}")
    return int(seed)


@dataclass(frozen=True, kw_only=True)
class ExperimentConfig:
    """Settings shared by every task: seed, threads, models, training, energy protocols.

    Every field enters the cache key (:func:`config_hash`). Subclasses add the data and metric
    settings of their kind of task. Lists given for tuple fields are stored as tuples.

    Attributes
    ----------
    task : str
        Registry name of the task (a key of :data:`TASKS`).
    seed : int
        Seeds the data (where random), the models' initial weights (``set_seed(seed)`` before
        each model), the minibatch sampler and, for Tasks 1-2, the metric's initial states.
    threads : int
        torch threads while the experiment runs (the chapters use 1, so that numbers reproduce).
    hidden_dim, nonlinearity, bias_init
        Of both models (:class:`hnnlib.models.BaselineNN`, :class:`hnnlib.models.HNN`).
    steps, learning_rate, weight_decay, batch_size, eval_every, eval_samples, sampler
        Options of :func:`hnnlib.training.fit` (``batch_size=None``: full batch).
    energies : tuple of str
        Energy functions of the energy metric, names of :data:`ENERGY_LABELS`; the first one is
        the headline ``energy_mse`` of the result, the others are reported beside it.
    """

    task: str
    seed: int = 0
    threads: int = 1
    hidden_dim: int = 200
    nonlinearity: str = "tanh"
    bias_init: str = "torch"
    steps: int = 2000
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int | None = None
    eval_every: int = 50
    eval_samples: int | None = None
    sampler: str = "randperm"
    energies: tuple[str, ...] = ("hamiltonian",)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _freeze(getattr(self, f.name)))
        check_seed(self.seed)
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise ValueError(f"threads must be a positive int, got {self.threads!r}")
        if not self.energies or any(e not in ENERGY_LABELS for e in self.energies):
            raise ValueError(f"energies must be a non-empty tuple of names from {sorted(ENERGY_LABELS)}, got {self.energies!r}")

    def fit_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`hnnlib.training.fit` (without data, seed and progress)."""
        return dict(
            steps=self.steps, learning_rate=self.learning_rate, weight_decay=self.weight_decay,
            batch_size=self.batch_size, eval_every=self.eval_every, eval_samples=self.eval_samples, sampler=self.sampler,
        )

    def model_options(self) -> dict[str, Any]:
        """Keyword arguments of the model classes, besides ``input_dim``."""
        return dict(hidden_dim=self.hidden_dim, nonlinearity=self.nonlinearity, bias_init=self.bias_init)

    def protocol(self) -> str:
        """One line describing how the energy metric is measured."""
        return ""

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain JSON values (tuples as lists)."""
        return _plain(dataclasses.asdict(self))


@dataclass(frozen=True, kw_only=True)
class OscillatorConfig(ExperimentConfig):
    """Tasks 1 and 2: simulated one-degree-of-freedom systems (chapters 2 and 3).

    Data: :func:`hnnlib.data.make_trajectory_dataset` with the ``n_trajectories`` ...
    ``data_atol`` fields. Metric: ``metric_states`` states drawn by
    :func:`hnnlib.metrics.sample_metric_states` (each coordinate ``+-U[metric_magnitude]``,
    NumPy ``default_rng(seed)``), rolled out by :func:`hnnlib.metrics.compare_rollouts` on
    ``metric_points`` times spanning ``metric_t_span``.
    """

    system: str = "mass_spring"
    system_params: tuple[tuple[str, Any], ...] = ()
    n_trajectories: int = 50
    n_times: int = 30
    t_span: tuple[float, float] = (0.0, 3.0)
    radius: tuple[float, float] = (0.1, 1.0)
    noise_std: float = 0.1
    test_fraction: float = 0.5
    data_rtol: float = 1e-10
    data_atol: float = 1e-12
    metric_states: int = 15
    metric_magnitude: tuple[float, float] = (0.2, 1.0)
    metric_t_span: tuple[float, float] = (0.0, 20.0)
    metric_points: int = 100
    metric_rtol_true: float = 1e-12
    metric_rtol_model: float = 1e-9
    metric_atol: float = 1e-6
    metric_batched: bool = False

    def protocol(self) -> str:
        t0, t1 = self.metric_t_span
        energies = ", ".join(ENERGY_LABELS[e] for e in self.energies)
        return (
            f"{self.metric_states} states, each coordinate +-U[{self.metric_magnitude[0]:g}, {self.metric_magnitude[1]:g}]; "
            f"RK45 on {self.metric_points} points of t in [{t0:g}, {t1:g}], rtol {self.metric_rtol_true:g} (truth) / "
            f"{self.metric_rtol_model:g} (models); energy: {energies}; +- over rollouts"
        )


@dataclass(frozen=True, kw_only=True)
class RealPendulumConfig(ExperimentConfig):
    """Task 3: the recorded real pendulum (chapter 4).

    Data: :func:`hnnlib.realdata.load_real_pendulum` with ``split`` (the recording is fixed and
    sha256-checked, so ``seed`` only sets the models' initial weights). Metric: one rollout of
    each model from the first test sample over the test times,
    :func:`hnnlib.metrics.compare_to_observed` with ``metric_rtol_model``; energy
    ``energy_coefficient (1 - cos q) + p^2``.
    """

    weight_decay: float = 1e-5
    split: str = "paper"
    metric_rtol_model: float = 1e-3
    metric_atol: float = 1e-6
    energy_coefficient: float = realdata.ENERGY_COEFFICIENT
    energies: tuple[str, ...] = ("fitted_pendulum",)

    def protocol(self) -> str:
        return (
            f"one rollout from the first test sample over the test times ({self.split} split), RK45 rtol "
            f"{self.metric_rtol_model:g}; energy {self.energy_coefficient:g}(1 - cos q) + p^2; one rollout, so one run has no +-"
        )


@dataclass(frozen=True, kw_only=True)
class NBodyConfig(ExperimentConfig):
    """Task 4 and Appendix B: N-body orbits (chapters 5 and 6).

    Data: :func:`hnnlib.data.make_nbody_dataset`. Metric: ``metric_states`` initial states, the
    ``k``-th drawn by :func:`hnnlib.data.sample_nbody_states` from
    ``numpy.random.RandomState(metric_first_seed + k)`` (as the reference code does, independent
    of ``seed``), rolled out by :func:`hnnlib.metrics.compare_rollouts`.
    """

    system: str = "two_body"
    system_params: tuple[tuple[str, Any], ...] = ()
    n_trajectories: int = 1000
    n_times: int = 50
    t_span: tuple[float, float] = (0.0, 20.0)
    radius: tuple[float, float] = (0.5, 1.5)
    orbit_noise: float = 0.05
    noise_std: float = 0.0
    test_fraction: float = 0.2
    data_rtol: float = 1e-9
    data_atol: float = 1e-6
    steps: int = 10_000
    batch_size: int | None = 200
    weight_decay: float = 0.0
    eval_every: int = 500
    eval_samples: int | None = 5_000
    sampler: str = "choice"
    metric_states: int = 15
    metric_first_seed: int = 0
    metric_t_span: tuple[float, float] = (0.0, 25.0)
    metric_points: int = 500
    metric_rtol_true: float = 1e-9
    metric_rtol_model: float = 1e-9
    metric_atol: float = 1e-6
    metric_batched: bool = True

    def protocol(self) -> str:
        t0, t1 = self.metric_t_span
        last = self.metric_first_seed + self.metric_states - 1
        return (
            f"{self.metric_states} states from RandomState({self.metric_first_seed}..{last}); RK45 on {self.metric_points} "
            f"points of t in [{t0:g}, {t1:g}], rtol {self.metric_rtol_true:g} (truth) / {self.metric_rtol_model:g} (models); "
            f"energy: {', '.join(ENERGY_LABELS[e] for e in self.energies)}; +- over rollouts"
        )


def config_hash(config: ExperimentConfig) -> str:
    """sha256 (hex) of a configuration: its class name and every field, as canonical JSON.

    Stable across processes and machines; any changed field (or another config class) changes it.
    """
    payload = {"class": type(config).__qualname__, "fields": config.to_dict()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def source_hash() -> str:
    """sha256 (hex) over the names and bytes of hnnlib's source files (``hnnlib/*.py``).

    Computed once per process. Editing any module of the library changes it, which invalidates
    every cached model.
    """
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def model_key(config: ExperimentConfig, kind: str) -> str:
    """The cache key of one trained model: sha256 of the config hash, the model kind,
    ``hnnlib.__version__`` and :func:`source_hash`."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {MODEL_KINDS}")
    payload = {"config": config_hash(config), "model": kind, "hnnlib_version": __version__, "source": source_hash()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


# --- energy functions of the metric -----------------------------------------------------------


def q2_plus_p2(x: np.ndarray) -> np.ndarray:
    """``q^2 + p^2`` of states ``(..., 2)``: the energy the reference code uses for Tasks 1 and 2."""
    return x[..., 0] ** 2 + x[..., 1] ** 2


#: Names of the energy functions a configuration may list in ``energies``, and their labels.
ENERGY_LABELS: dict[str, str] = {
    "hamiltonian": "true H",
    "q2_plus_p2": "q^2 + p^2",
    "fitted_pendulum": "2.4(1 - cos q) + p^2",
}


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


# --- the steps of an experiment ---------------------------------------------------------------


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


def _system(config: OscillatorConfig | NBodyConfig) -> HamiltonianSystem:
    return get_system(config.system, **dict(config.system_params))


def make_oscillator_data(config: OscillatorConfig) -> TrajectoryDataset:
    """Task 1-2 data, as chapters 2 and 3 make it."""
    return make_trajectory_dataset(
        _system(config), n_trajectories=config.n_trajectories, n_times=config.n_times, t_span=config.t_span,
        radius=config.radius, noise_std=config.noise_std, test_fraction=config.test_fraction,
        rtol=config.data_rtol, atol=config.data_atol, seed=config.seed,
    )


def make_real_pendulum_data(config: RealPendulumConfig) -> TrajectoryDataset:
    """Task 3 data, as chapter 4 loads it (the file is found through ``$HNNLIB_DATA_DIR``, the cache or a download)."""
    return realdata.load_real_pendulum(split=config.split)


def make_nbody_data(config: NBodyConfig) -> TrajectoryDataset:
    """Task 4 / Appendix B data, as chapters 5 and 6 make it."""
    return make_nbody_dataset(
        _system(config), n_trajectories=config.n_trajectories, n_times=config.n_times, t_span=config.t_span,
        radius=config.radius, orbit_noise=config.orbit_noise, noise_std=config.noise_std,
        test_fraction=config.test_fraction, rtol=config.data_rtol, atol=config.data_atol, seed=config.seed,
    )


def _energies(config: ExperimentConfig, comparisons: Mapping[str, RolloutComparison], system: HamiltonianSystem | None,
              native: str) -> dict[str, dict[str, MeanWithError]]:
    """Energy MSE of each comparison under each of ``config.energies`` (``native``: the one already measured)."""
    out: dict[str, dict[str, MeanWithError]] = {}
    for name in config.energies:
        if name == native:
            out[name] = {kind: c.energy_mse for kind, c in comparisons.items()}
        else:
            fn = energy_function(name, config, system)
            out[name] = {kind: energy_mse(c, fn) for kind, c in comparisons.items()}
    return out


def evaluate_oscillator(config: OscillatorConfig, models: Mapping[str, nn.Module], data: TrajectoryDataset) -> Evaluation:
    """Table 1's energy metric for Tasks 1-2, as chapters 2 and 3 measure it."""
    system = data.system
    x0 = sample_metric_states(config.metric_states, config.metric_magnitude, np.random.default_rng(config.seed))
    t_eval = np.linspace(*config.metric_t_span, config.metric_points)
    comparisons = {
        kind: compare_rollouts(system, model, x0, t_eval, rtol_true=config.metric_rtol_true, rtol_model=config.metric_rtol_model,
                               atol=config.metric_atol, batched=config.metric_batched)
        for kind, model in models.items()
    }
    return Evaluation(_energies(config, comparisons, system, native="hamiltonian"), comparisons)


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
    system = data.system
    seeds = range(config.metric_first_seed, config.metric_first_seed + config.metric_states)
    x0 = np.concatenate([
        sample_nbody_states(system, 1, np.random.RandomState(s), radius=config.radius, orbit_noise=config.orbit_noise) for s in seeds
    ])
    t_eval = np.linspace(*config.metric_t_span, config.metric_points)
    comparisons = {
        kind: compare_rollouts(system, model, x0, t_eval, rtol_true=config.metric_rtol_true, rtol_model=config.metric_rtol_model,
                               atol=config.metric_atol, batched=config.metric_batched)
        for kind, model in models.items()
    }
    return Evaluation(_energies(config, comparisons, system, native="hamiltonian"), comparisons)


def build_model(config: ExperimentConfig, kind: str, data: TrajectoryDataset) -> nn.Module:
    """A fresh, untrained model of ``kind`` for ``data`` (call :func:`hnnlib.training.set_seed` first)."""
    model_class = {"baseline": BaselineNN, "hnn": HNN}[kind]
    return model_class(input_dim=data.train.x.shape[-1], **config.model_options())


def train_model(config: ExperimentConfig, model: nn.Module, data: TrajectoryDataset, *, progress: bool, description: str) -> TrainingHistory:
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


# --- the task registry ------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """One task of the paper: its default configuration and the functions that run it.

    Attributes
    ----------
    name : str
        Registry name (also the key of :data:`hnnlib.paper.TABLE_1` / ``TABLE_2``).
    title : str
    table : str
        ``"Table 1"`` or ``"Table 2"``.
    config : ExperimentConfig
        The chapter's settings (``config.task == name``).
    make_data : callable
        ``make_data(config) -> data``.
    evaluate : callable
        ``evaluate(config, models, data) -> Evaluation``.
    make_model, train_model, losses : callable
        ``make_model(config, kind, data) -> model`` (after ``set_seed(config.seed)``),
        ``train_model(config, model, data, progress=..., description=...) -> TrainingHistory``,
        ``losses(model, data) -> {"train_loss": ..., "test_loss": ...}``. The defaults serve
        every task whose models are :class:`~hnnlib.models.BaselineNN` and :class:`~hnnlib.models.HNN`.
    chapter : str
        The chapter that shows the task in detail.
    """

    name: str
    title: str
    table: str
    config: ExperimentConfig
    make_data: Callable[[Any], Any]
    evaluate: Callable[[Any, Mapping[str, nn.Module], Any], Evaluation]
    make_model: Callable[[Any, str, Any], nn.Module] = build_model
    train_model: Callable[..., TrainingHistory] = train_model
    losses: Callable[[nn.Module, Any], dict[str, MeanWithError]] = derivative_losses
    chapter: str = ""

    @property
    def paper(self) -> dict[str, Any]:
        """The paper's published row (:data:`hnnlib.paper.TABLE_1` or ``TABLE_2``)."""
        return {**paper.TABLE_1, **paper.TABLE_2}[self.name]


#: Every task, by name, in the paper's order. Add one with :func:`register_task`.
TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Add ``task`` to :data:`TASKS` (replacing one of the same name) and return it.

    The task's name must have a row in :mod:`hnnlib.paper` and its config must name it.
    """
    if task.name not in {**paper.TABLE_1, **paper.TABLE_2}:
        raise ValueError(f"task {task.name!r} has no row in hnnlib.paper.TABLE_1 or TABLE_2")
    if task.config.task != task.name:
        raise ValueError(f"task {task.name!r}: its config names task {task.config.task!r}")
    TASKS[task.name] = task
    return task


register_task(Task(
    "mass_spring", "Task 1: Ideal mass-spring", "Table 1", OscillatorConfig(task="mass_spring"),
    make_oscillator_data, evaluate_oscillator, chapter="02_mass_spring",
))
register_task(Task(
    "pendulum", "Task 2: Ideal pendulum", "Table 1",
    OscillatorConfig(task="pendulum", system="pendulum", n_times=45, radius=(1.3, 2.3), energies=("hamiltonian", "q2_plus_p2")),
    make_oscillator_data, evaluate_oscillator, chapter="03_ideal_pendulum",
))
register_task(Task(
    "real_pendulum", "Task 3: Real pendulum", "Table 1", RealPendulumConfig(task="real_pendulum"),
    make_real_pendulum_data, evaluate_real_pendulum, chapter="04_real_pendulum",
))
register_task(Task(
    "two_body", "Task 4: Two body", "Table 1", NBodyConfig(task="two_body"),
    make_nbody_data, evaluate_nbody, chapter="05_two_body",
))
register_task(Task(
    "three_body", "Task 4b: Three body", "Table 2",
    NBodyConfig(
        task="three_body", system="three_body", n_trajectories=5000, n_times=20, t_span=(0.0, 5.0), radius=(0.9, 1.2),
        orbit_noise=0.2, batch_size=600, weight_decay=1e-4, metric_t_span=(0.0, 3.0),
    ),
    make_nbody_data, evaluate_nbody, chapter="06_three_body",
))


# --- Task 5: the pixel pendulum (chapter 7) --------------------------------------------------------

ENERGY_LABELS["pixels"] = "E read from pixels"


@dataclass(frozen=True, kw_only=True)
class PixelConfig(ExperimentConfig):
    """Task 5: gymnasium's pendulum seen in 28x28 frames (chapter 7).

    Data: :func:`hnnlib.pixel_data.make_pixel_pendulum_dataset` with the fields ``n_trajectories``
    ... ``side`` (cached on disk with ``data_cache``). Models: :class:`hnnlib.pixel_models.PixelDynamicsModel`
    trained by :func:`hnnlib.pixel_models.fit_pixel_model`. Metric:
    :func:`hnnlib.pixel_models.compare_pixel_rollouts` over the test trajectories, ``metric_steps``
    frames.
    """

    n_trajectories: int = 200
    n_frames: int = 100
    max_angle: float = float(np.pi / 6)
    test_fraction: float = 0.2
    side: int = 28
    latent_dim: int = 2
    steps: int = 10_000
    batch_size: int | None = 200
    weight_decay: float = 1e-5
    eval_every: int = 1000
    metric_steps: int = 100
    energies: tuple[str, ...] = ("pixels",)
    data_cache: bool = True

    def protocol(self) -> str:
        return (f"latent RK4 rollouts of {self.metric_steps} frames from the first input of each test trajectory, decoded; "
                "energy read from the decoded frames vs read the same way from the true frames; +- over trajectories")


def make_pixel_data(config: PixelConfig) -> Any:
    """Task 5 data, as chapter 7 makes it (cached on disk when ``config.data_cache``)."""
    return make_pixel_pendulum_dataset(
        n_trajectories=config.n_trajectories, n_frames=config.n_frames, max_angle=config.max_angle,
        test_fraction=config.test_fraction, side=config.side, seed=config.seed, progress=False,
        cache_dir=True if config.data_cache else None,
    )


def build_pixel_model(config: PixelConfig, kind: str, data: Any) -> nn.Module:
    """A fresh pixel model of ``kind`` (call :func:`hnnlib.training.set_seed` first)."""
    return PixelDynamicsModel(kind, input_dim=2 * config.side**2, hidden_dim=config.hidden_dim, latent_dim=config.latent_dim)


def train_pixel_model(config: PixelConfig, model: nn.Module, data: Any, *, progress: bool, description: str) -> TrainingHistory:
    """Train as chapter 7 calls :func:`hnnlib.pixel_models.fit_pixel_model`."""
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


register_task(Task(
    "pixel_pendulum", "Task 5: Pixel pendulum", "Table 1", PixelConfig(task="pixel_pendulum"),
    make_pixel_data, evaluate_pixels, make_model=build_pixel_model, train_model=train_pixel_model, losses=pixel_losses,
    chapter="07_pixel_pendulum",
))


def get_task(name: str) -> Task:
    """The registered task called ``name``.

    Raises
    ------
    ValueError
        If there is none; the message lists the valid names.
    """
    if not isinstance(name, str) or name not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(TASKS)}")
    return TASKS[name]


def make_config(task: str | ExperimentConfig, seed: int | None = None, **overrides: Any) -> ExperimentConfig:
    """A task's configuration: its defaults (or the given config), with ``seed`` and ``overrides`` replaced.

    Parameters
    ----------
    task : str or ExperimentConfig
    seed : int, optional
        Replaces the config's seed.
    **overrides
        Field names of the config and their new values, e.g. ``steps=20``.

    Raises
    ------
    ValueError
        For an unknown task or a field the task's config does not have (the message lists them).
    """
    config = task if isinstance(task, ExperimentConfig) else get_task(task).config
    get_task(config.task)
    if seed is not None:
        overrides["seed"] = check_seed(seed)
    names = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"{type(config).__name__} of task {config.task!r} has no field(s) {unknown}; fields: {sorted(names)}")
    if "task" in overrides and overrides["task"] != config.task:
        raise ValueError("the task of a config cannot be overridden; start from the other task's config")
    return dataclasses.replace(config, **overrides) if overrides else config


# --- the model cache --------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """``$HNNLIB_CACHE_DIR`` if set, else the per-user hnnlib cache (:func:`hnnlib.realdata.cache_dir`) ``/ "models"``."""
    env = os.environ.get(CACHE_ENV_VAR)
    return Path(env).expanduser() if env else realdata.cache_dir() / "models"


def _history_to_plain(history: TrainingHistory) -> dict[str, list]:
    return {
        "step": [int(s) for s in history.step],
        "train_loss": [float(v) for v in history.train_loss],
        "test_loss": [float(v) for v in history.test_loss],
        "batch_loss": [float(v) for v in history.batch_loss],
    }


def _history_from_plain(plain: Any) -> TrainingHistory:
    if not isinstance(plain, dict):
        raise ValueError(f"history must be a dict, got {type(plain).__name__}")
    history = TrainingHistory(
        step=[int(s) for s in plain["step"]],
        train_loss=[float(v) for v in plain["train_loss"]],
        test_loss=[float(v) for v in plain["test_loss"]],
        batch_loss=[float(v) for v in plain["batch_loss"]],
    )
    if not len(history.step) == len(history.train_loss) == len(history.test_loss):
        raise ValueError("history lists have different lengths")
    return history


class ModelCache:
    """Trained models on disk, one checkpoint per (configuration, model kind).

    File ``<directory>/<generation>/<task>-<kind>-<key[:32]>.pt``, where ``generation`` is
    ``<hnnlib version>-<source_hash()[:16]>`` (so that :meth:`prune` can drop the entries of other
    library versions without reading them), written by
    :func:`hnnlib.models.save_checkpoint` (atomically: a temporary file, then a rename) with
    metadata ``key`` (the full :func:`model_key`), ``task``, ``model``, ``config``
    (:meth:`ExperimentConfig.to_dict`), ``hnnlib_version``, ``source_hash`` and the training
    ``history`` as plain floats. Loaded with ``weights_only=True``
    (:func:`hnnlib.models.load_checkpoint`). An entry that cannot be read, holds another key, or
    whose model does not match the expected class, configuration and weight shapes is reported
    with a :class:`CacheWarning` and ignored (the caller retrains and overwrites it).

    Parameters
    ----------
    directory : path-like, optional
        Default: :func:`default_cache_dir`. Created when the first model is saved.
    """

    def __init__(self, directory: str | os.PathLike | None = None):
        self.directory = Path(directory).expanduser() if directory is not None else default_cache_dir()

    def __repr__(self) -> str:
        return f"ModelCache({str(self.directory)!r})"

    @staticmethod
    def generation() -> str:
        """Name of the sub-folder for this hnnlib: ``<version>-<first 16 hex digits of source_hash()>``."""
        return f"{__version__}-{source_hash()[:16]}"

    def path(self, config: ExperimentConfig, kind: str) -> Path:
        """Where the model ``kind`` trained with ``config`` is (or would be) stored."""
        return self.directory / self.generation() / f"{config.task}-{kind}-{model_key(config, kind)[:32]}.pt"

    @contextmanager
    def lock(self, config: ExperimentConfig, kind: str) -> Iterator[None]:
        """Hold an exclusive lock on one entry while it is loaded, or trained and stored.

        Two processes that need the same model (two notebooks run in parallel by pytest-xdist, say)
        then train it once: the second waits, and finds the first one's entry. The lock is an
        ``fcntl.flock`` on ``<entry>.lock``, released by the operating system if its holder dies.
        Where locking is unavailable (no ``fcntl``, or an unwritable folder), nothing is locked.
        """
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            yield
            return
        path = self.path(config, kind)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path.with_name(path.name + ".lock"), "a")
        except OSError:
            yield
            return
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def prune(self) -> list[Path]:
        """Delete the entries of other hnnlib versions or sources (they can never be loaded again).

        Only sub-folders named like a generation (``<version>-<16 hex digits>``) are touched, and
        in them only ``*.pt``, ``*.part`` and ``*.lock`` files; a folder left empty is removed.

        Returns
        -------
        list of pathlib.Path
            The files deleted.
        """
        removed: list[Path] = []
        if not self.directory.is_dir():
            return removed
        current = self.generation()
        for folder in sorted(self.directory.iterdir()):
            if not folder.is_dir() or folder.name == current or not _GENERATION.fullmatch(folder.name):
                continue
            for path in sorted(folder.iterdir()):
                if path.is_file() and path.suffix in (".pt", ".part", ".lock"):
                    path.unlink()
                    removed.append(path)
            if not any(folder.iterdir()):
                folder.rmdir()
        return removed

    def load(self, config: ExperimentConfig, kind: str, like: nn.Module) -> tuple[nn.Module, TrainingHistory] | None:
        """The cached model and its training history, or None if absent or unusable (with a warning).

        Parameters
        ----------
        like : nn.Module
            A freshly built model of the expected class and configuration; the cached weights
            must have exactly its parameter names and shapes.
        """
        path = self.path(config, kind)
        if not path.is_file():
            return None
        try:
            model = load_checkpoint(path)
            self._check(model, config, kind, like)
            history = _history_from_plain(model.metadata.get("history"))
        except (ValueError, KeyError, TypeError, OSError) as err:
            warnings.warn(f"ignoring the cached model {path}: {err}; retraining it and overwriting the entry", CacheWarning, stacklevel=3)
            return None
        return model, history

    @staticmethod
    def _check(model: nn.Module, config: ExperimentConfig, kind: str, like: nn.Module) -> None:
        key = model_key(config, kind)
        if model.metadata.get("key") != key:
            raise ValueError(f"its key {str(model.metadata.get('key'))[:16]}... is not the expected {key[:16]}...")
        if type(model) is not type(like) or model.config != like.config:
            raise ValueError(f"it holds a {type(model).__name__} {model.config}, expected a {type(like).__name__} {like.config}")
        got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        want = {k: tuple(v.shape) for k, v in like.state_dict().items()}
        if got != want:
            raise ValueError(f"its weight shapes {got} differ from the expected {want}")
        dtypes = {v.dtype for v in model.state_dict().values()} | {v.dtype for v in like.state_dict().values()}
        if len(dtypes) != 1:
            raise ValueError(f"its weights have dtype {sorted(map(str, dtypes))}, expected that of a fresh model")

    def save(self, config: ExperimentConfig, kind: str, model: nn.Module, history: TrainingHistory) -> Path | None:
        """Store ``model`` and its ``history``; returns the path, or None (with a warning) if the folder is not writable."""
        path = self.path(config, kind)
        metadata = {
            "key": model_key(config, kind), "task": config.task, "model": kind, "config_class": type(config).__qualname__,
            "config": config.to_dict(), "hnnlib_version": __version__, "source_hash": source_hash(),
            "history": _history_to_plain(history),
        }
        partial = path.with_name(f"{path.name}.{os.getpid()}.part")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_checkpoint(model, partial, metadata)
            os.replace(partial, path)
        except (OSError, RuntimeError) as err:  # torch.save reports some file errors as RuntimeError
            warnings.warn(f"could not write the model cache entry {path}: {err}", CacheWarning, stacklevel=3)
            try:
                partial.unlink(missing_ok=True)
            except OSError:
                pass
            return None
        return path


_GENERATION = re.compile(r"\d[\w.+-]*-[0-9a-f]{16}")


def _as_cache(cache: bool | str | os.PathLike | ModelCache | None) -> ModelCache | None:
    if cache is None or cache is False:
        return None
    if cache is True:
        return ModelCache()
    if isinstance(cache, ModelCache):
        return cache
    if isinstance(cache, (str, os.PathLike)):
        return ModelCache(cache)
    raise TypeError(f"cache must be a bool, a folder or a ModelCache, got {type(cache).__name__}")


# --- running ----------------------------------------------------------------------------------


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)``, then restore the previous count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass
class ExperimentResult:
    """One run of one task with one seed: the trained models and the Table 1 row they give.

    Attributes
    ----------
    config : ExperimentConfig
    models : dict
        ``models[kind]`` for ``kind`` in ``("baseline", "hnn")``, in eval mode.
    histories : dict
        ``histories[kind]``: :class:`~hnnlib.training.TrainingHistory` (from the cache when loaded).
    losses : dict
        ``losses[kind]["train_loss" | "test_loss"]``: :class:`~hnnlib.metrics.MeanWithError`.
    energy_mse_by_energy : dict
        ``energy_mse_by_energy[energy][kind]`` for every energy function in ``config.energies``.
    comparisons : dict
        ``comparisons[kind]``: the metric's rollouts.
    data : TrajectoryDataset
    from_cache : dict
        ``from_cache[kind]``: whether the model was loaded rather than trained.
    seconds : float
        Wall time of the whole run.
    """

    config: ExperimentConfig
    models: dict[str, nn.Module]
    histories: dict[str, TrainingHistory]
    losses: dict[str, dict[str, MeanWithError]]
    energy_mse_by_energy: dict[str, dict[str, MeanWithError]]
    comparisons: dict[str, RolloutComparison]
    data: Any
    from_cache: dict[str, bool]
    seconds: float

    @property
    def task(self) -> str:
        return self.config.task

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def energy_mse(self) -> dict[str, MeanWithError]:
        """``energy_mse[kind]`` under the headline energy (the first of ``config.energies``)."""
        return self.energy_mse_by_energy[self.config.energies[0]]

    @property
    def row(self) -> dict[str, dict[str, MeanWithError]]:
        """``row[metric][kind]``, the layout of :func:`hnnlib.paper.table1_comparison`."""
        return {
            "train_loss": {k: self.losses[k]["train_loss"] for k in MODEL_KINDS},
            "test_loss": {k: self.losses[k]["test_loss"] for k in MODEL_KINDS},
            "energy_mse": dict(self.energy_mse),
        }

    def table(self) -> str:
        """This run's row beside the paper's (:func:`hnnlib.paper.table1_comparison`)."""
        return paper.table1_comparison(self.task, self.row)


def _trained_model(task: Task, config: ExperimentConfig, kind: str, data: Any, store: ModelCache | None,
                   progress: bool) -> tuple[nn.Module, TrainingHistory, bool]:
    """Build the model as the chapters do (``set_seed`` first), then load it from the cache or train and cache it."""
    if store is None:
        return _train_or_load(task, config, kind, data, None, progress)
    with store.lock(config, kind):  # a parallel run of the same experiment waits, then loads
        return _train_or_load(task, config, kind, data, store, progress)


def _train_or_load(task: Task, config: ExperimentConfig, kind: str, data: Any, store: ModelCache | None,
                   progress: bool) -> tuple[nn.Module, TrainingHistory, bool]:
    set_seed(config.seed)  # the same initial weights for both models, as in every chapter
    model = task.make_model(config, kind, data)
    cached = store.load(config, kind, model) if store is not None else None
    if cached is not None:
        loaded, history = cached
        model.load_state_dict(loaded.state_dict())
        model.eval()
        logger.info("%s, seed %d, %s: loaded from %s", config.task, config.seed, MODEL_LABELS[kind], store.path(config, kind))
        return model, history, True
    description = f"{config.task}, seed {config.seed}: {MODEL_LABELS[kind]}"
    history = task.train_model(config, model, data, progress=progress, description=description)
    if store is not None:
        path = store.save(config, kind, model, history)
        if path is not None:
            logger.info("%s, seed %d, %s: trained, saved to %s", config.task, config.seed, MODEL_LABELS[kind], path)
    return model, history, False


def run_experiment(
    task: str | ExperimentConfig,
    seed: int | None = None,
    *,
    cache: bool | str | os.PathLike | ModelCache | None = True,
    progress: bool = True,
    **overrides: Any,
) -> ExperimentResult:
    """Run one task with one seed through the chapters' code path and measure its Table 1 row.

    Steps: make the data; for the baseline, then the HNN: ``set_seed(seed)``, build the model,
    load it from the cache or train it (:func:`hnnlib.training.fit` with the config's options);
    then the train and test losses and the energy metric, always recomputed from the models.
    Everything runs with ``config.threads`` torch threads (restored afterwards).

    Parameters
    ----------
    task : str or ExperimentConfig
        A name from :data:`TASKS`, or a full configuration.
    seed : int, optional
        Replaces the config's seed (default: the config's, 0 for the registered defaults).
    cache : bool, path-like or ModelCache
        True: :func:`default_cache_dir`; a folder; a :class:`ModelCache`; False: no cache.
    progress : bool
        Show a tqdm progress bar for each model trained.
    **overrides
        Config fields to replace, e.g. ``steps=20`` (see :func:`make_config`).

    Returns
    -------
    ExperimentResult

    Raises
    ------
    ValueError
        For an unknown task, an unknown field or a bad seed.
    """
    config = make_config(task, seed, **overrides)
    spec = get_task(config.task)
    store = _as_cache(cache)
    start = time.perf_counter()
    with torch_threads(config.threads):
        data = spec.make_data(config)
        models, histories, from_cache = {}, {}, {}
        for kind in MODEL_KINDS:
            models[kind], histories[kind], from_cache[kind] = _trained_model(spec, config, kind, data, store, progress)
        losses = {kind: spec.losses(models[kind], data) for kind in MODEL_KINDS}
        evaluation = spec.evaluate(config, models, data)
    return ExperimentResult(
        config=config, models=models, histories=histories, losses=losses, energy_mse_by_energy=evaluation.energy_mse,
        comparisons=evaluation.comparisons, data=data, from_cache=from_cache, seconds=time.perf_counter() - start,
    )


@dataclass
class SeedSummary:
    """Runs of one task over several seeds, aggregated.

    The aggregate of a metric is a :class:`~hnnlib.metrics.MeanWithError` over seeds: the mean of
    the per-seed means and their standard error (``std / sqrt(n_seeds)``, ``ddof=1``). With a
    single seed there is no spread over seeds, so the aggregate is that run's own value and
    standard error (over samples for the losses, over rollouts for the energy), which makes a
    one-seed summary print exactly like the chapter's row.

    Attributes
    ----------
    task : str
    results : list of ExperimentResult
        One per seed, in the order run.
    """

    task: str
    results: list[ExperimentResult]

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(r.seed for r in self.results)

    @property
    def config(self) -> ExperimentConfig:
        """The configuration of the first seed (the others differ only in ``seed``)."""
        return self.results[0].config

    @property
    def spread(self) -> str:
        """What the ``+-`` of :meth:`aggregate` means for this number of seeds."""
        if len(self.results) > 1:
            return f"standard error over {len(self.results)} seeds"
        return "one seed: the run's own standard error (over samples; energy: over rollouts)"

    def _value(self, result: ExperimentResult, metric: str, kind: str, energy: str | None) -> MeanWithError:
        if metric == "energy_mse":
            return result.energy_mse_by_energy[energy or result.config.energies[0]][kind]
        if metric in ("train_loss", "test_loss"):
            return result.losses[kind][metric]
        raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")

    def values(self, metric: str, kind: str, energy: str | None = None) -> np.ndarray:
        """The per-seed means of ``metric`` for model ``kind`` (``energy``: which energy function, default the headline one)."""
        return np.array([self._value(r, metric, kind, energy).mean for r in self.results])

    def aggregate(self, metric: str, kind: str, energy: str | None = None) -> MeanWithError:
        """Mean over seeds and its standard error (see the class docstring for one seed)."""
        if len(self.results) == 1:
            return self._value(self.results[0], metric, kind, energy)
        return MeanWithError.of(self.values(metric, kind, energy))

    def row(self, energy: str | None = None) -> dict[str, dict[str, MeanWithError]]:
        """``row[metric][kind]`` aggregated over seeds, for :func:`hnnlib.paper.table1_comparison`."""
        return {metric: {kind: self.aggregate(metric, kind, energy) for kind in MODEL_KINDS} for metric in METRICS}

    def table(self, energy: str | None = None) -> str:
        """The aggregated row beside the paper's, in the paper's units."""
        return paper.table1_comparison(self.task, self.row(energy))


def run_many(
    task: str | ExperimentConfig,
    seeds: Sequence[int],
    *,
    cache: bool | str | os.PathLike | ModelCache | None = True,
    progress: bool = True,
    **overrides: Any,
) -> SeedSummary:
    """:func:`run_experiment` for each seed in ``seeds``; aggregate with :class:`SeedSummary`.

    Raises
    ------
    ValueError
        If ``seeds`` is empty or repeats a seed, or a seed is out of range.
    """
    seeds = [check_seed(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds}")
    config = make_config(task, **overrides)
    return SeedSummary(config.task, [run_experiment(config, s, cache=cache, progress=progress) for s in seeds])


# --- reporting --------------------------------------------------------------------------------


def summary_records(summary: SeedSummary) -> list[dict[str, Any]]:
    """One flat record per (metric, model, energy function): the rows of the CSV and JSON outputs.

    Values are unscaled; ``*_scaled`` columns and the paper's value are in the paper's units
    (multiplied by ``1 / scale``).
    """
    spec = get_task(summary.task)
    published = spec.paper
    scale = published["scale"]
    records = []
    for metric in METRICS:
        energies = summary.config.energies if metric == "energy_mse" else (None,)
        for energy in energies:
            for kind in MODEL_KINDS:
                value = summary.aggregate(metric, kind, energy)
                paper_value, paper_error = published[metric][kind]
                records.append({
                    "task": summary.task, "table": spec.table, "metric": metric, "model": kind,
                    "energy": ENERGY_LABELS[energy] if energy else "",
                    "seeds": " ".join(map(str, summary.seeds)), "n_seeds": len(summary.seeds),
                    "mean": value.mean, "spread": value.stderr, "spread_kind": summary.spread,
                    "scale": scale, "mean_scaled": value.mean / scale, "spread_scaled": value.stderr / scale,
                    "paper_value": paper_value, "paper_error": paper_error,
                    "per_seed": " ".join(f"{v:.6g}" for v in summary.values(metric, kind, energy)),
                })
    return records


def format_summary(summary: SeedSummary) -> str:
    """Text block of a task: title, seeds, protocol, the Table-1-style rows, other energy functions."""
    config = summary.config
    lines = [
        f"== {summary.task}: seeds {' '.join(map(str, summary.seeds))}; +- is the {summary.spread}",
        f"   protocol: {config.protocol()}",
        summary.table(),
    ]
    scale = get_task(summary.task).paper["scale"]
    for energy in config.energies[1:]:
        values = ", ".join(f"{MODEL_LABELS[k]} {format(summary.aggregate('energy_mse', k, energy).scaled(1 / scale), '.3g')}"
                           for k in MODEL_KINDS)
        lines.append(f"energy MSE with {ENERGY_LABELS[energy]} (x {1 / scale:.0e}): {values}")
    return "\n".join(lines)


def write_csv(summaries: Sequence[SeedSummary], path: str | os.PathLike) -> None:
    """Write :func:`summary_records` of every summary to a CSV file (standard library ``csv``)."""
    records = [r for s in summaries for r in summary_records(s)]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)


def write_json(summaries: Sequence[SeedSummary], path: str | os.PathLike) -> None:
    """Write every summary (config, protocol, aggregated rows, per-seed results) as strict JSON (NaN as null)."""
    document = {"hnnlib_version": __version__, "source_hash": source_hash(), "tasks": {}}
    for s in summaries:
        document["tasks"][s.task] = {
            "title": get_task(s.task).title, "table": get_task(s.task).table, "seeds": list(s.seeds),
            "config": s.config.to_dict(), "protocol": s.config.protocol(), "spread": s.spread,
            "rows": summary_records(s),
            "runs": [
                {"seed": r.seed, "seconds": r.seconds, "from_cache": dict(r.from_cache),
                 "metrics": {m: {k: dataclasses.asdict(v) for k, v in by_kind.items()} for m, by_kind in r.row.items()},
                 "energy_mse": {e: {k: dataclasses.asdict(v) for k, v in by_kind.items()} for e, by_kind in r.energy_mse_by_energy.items()}}
                for r in s.results
            ],
        }
    with open(path, "w") as f:
        json.dump(_plain(document), f, indent=1, allow_nan=False)


# --- command line -----------------------------------------------------------------------------


def _parse_override(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE, got {text!r}")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw  # a bare word: a string
    return name.strip(), value


def _seed_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid seed {text!r}: not an integer") from None
    try:
        return check_seed(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"invalid seed {text!r}: {err}") from None


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of ``python -m hnnlib.experiments``."""
    tasks = ", ".join(TASKS)
    parser = argparse.ArgumentParser(
        prog="python -m hnnlib.experiments",
        description=(
            "Reproduce the paper's Table 1 / Table 2: train the baseline and the HNN of each task with the "
            "book's settings (the chapters' code path), measure train loss, test loss and energy MSE, and print them "
            "beside the paper's values (mean +- standard error over seeds, in the paper's units). Trained models are "
            f"cached (in ${CACHE_ENV_VAR}, else the per-user hnnlib cache /models), so a second run only re-measures."
        ),
        epilog=(
            f"tasks: {tasks}, or 'all'.\n"
            "examples:\n"
            "  python -m hnnlib.experiments mass_spring --seeds 0 1 2\n"
            "  python -m hnnlib.experiments all --seeds 0 --csv table1.csv --json table1.json\n"
            "  python -m hnnlib.experiments pendulum --set steps=200 --no-cache   # a quick, non-paper run\n"
            "Task 3 reads the real-pendulum recording from $HNNLIB_DATA_DIR (see hnnlib.realdata)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("tasks", nargs="+", metavar="TASK", help=f"task names ({tasks}) or 'all'")
    parser.add_argument("--seeds", nargs="+", type=_seed_arg, default=[0], metavar="SEED",
                        help="seeds to run and aggregate (default: 0)")
    parser.add_argument("--csv", metavar="PATH", help="also write the rows as CSV")
    parser.add_argument("--json", metavar="PATH", help="also write configs, rows and per-seed results as JSON")
    parser.add_argument("--no-cache", action="store_true", help="train every model; read and write no cache")
    parser.add_argument("--cache-dir", metavar="DIR", help=f"cache folder (default: ${CACHE_ENV_VAR}, else the per-user cache)")
    parser.add_argument("--prune-cache", action="store_true",
                        help="first delete the cache entries of other hnnlib versions or sources (they are never loaded again)")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="torch threads for training and metrics (default: each config's, 1; part of the cache key)")
    parser.add_argument("--steps", type=int, metavar="N",
                        help="override the training steps of every task (smoke tests; the results are then not the paper's)")
    parser.add_argument("--set", dest="overrides", action="append", type=_parse_override, default=[], metavar="FIELD=VALUE",
                        help="override a config field of every task, e.g. --set metric_states=3 (repeatable; values are Python literals)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars and no cache messages")
    return parser


def _expand_tasks(names: Sequence[str], parser: argparse.ArgumentParser) -> list[str]:
    tasks: list[str] = []
    for name in names:
        expanded = list(TASKS) if name == "all" else [name]
        for task in expanded:
            if task not in TASKS:
                parser.error(f"unknown task {task!r}; valid tasks: {', '.join(TASKS)}, or 'all'")
            if task not in tasks:
                tasks.append(task)
    return tasks


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m hnnlib.experiments``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    tasks = _expand_tasks(args.tasks, parser)
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f"--seeds must be distinct, got {' '.join(map(str, args.seeds))}")
    overrides = dict(args.overrides)
    if args.steps is not None:
        if args.steps < 1:
            parser.error(f"--steps must be a positive int, got {args.steps}")
        overrides["steps"] = args.steps
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be a positive int, got {args.threads}")
        overrides["threads"] = args.threads
    cache: bool | str = False if args.no_cache else (args.cache_dir or True)
    if not args.quiet:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.prune_cache and cache is not False:
        store = _as_cache(cache)
        removed = store.prune()
        logger.info("pruned %d stale cache file(s) from %s", len(removed), store.directory)

    summaries = []
    start = time.perf_counter()
    for task in tasks:
        try:
            config = make_config(task, **overrides)
        except (TypeError, ValueError) as err:
            parser.error(str(err))
        summary = run_many(config, args.seeds, cache=cache, progress=not args.quiet)
        summaries.append(summary)
        print(format_summary(summary), end="\n\n", flush=True)
    if args.csv:
        write_csv(summaries, args.csv)
    if args.json:
        write_json(summaries, args.json)
    print(f"{len(tasks)} task(s) x {len(args.seeds)} seed(s) in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
