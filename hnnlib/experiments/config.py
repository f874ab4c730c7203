"""Experiment configurations: frozen dataclasses holding everything that determines a result.

A field's default is read from the signature of the library function that uses it
(:func:`default_of`): ``OscillatorConfig().n_times`` *is* the default of
:func:`hnnlib.data.make_trajectory_dataset`'s ``n_times``, so a default lives in one place. A
task's registration (:mod:`hnnlib.experiments.tasks`) states only its departures from them.
Defaults are read when a configuration is created, so a changed signature reaches every new one.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np

from .. import realdata
from .._io import json_sha256
from ..data import make_nbody_dataset, make_trajectory_dataset
from ..labels import ENERGY_LABELS
from ..metrics import compare_rollouts, compare_to_observed
from ..models import HNN
from ..pixel.dataset import make_pixel_pendulum_dataset
from ..pixel.models import PixelDynamicsModel, fit_pixel_model
from ..training import fit
from .fields import check_fields

__all__ = [
    "ExperimentConfig", "NBodyConfig", "OscillatorConfig", "PixelConfig", "RealPendulumConfig", "SimulatedConfig",
    "VectorFieldConfig",
    "config_hash", "default_of", "plain",
]


def default_of(function: Callable[..., Any], name: str) -> Any:
    """A dataclass field whose default is that of parameter ``name`` of ``function``, read at creation time.

    Raises
    ------
    ValueError
        If ``function`` has no parameter ``name`` with a default (a renamed argument fails at import).
    """
    parameter = inspect.signature(function).parameters.get(name)
    if parameter is None or parameter.default is inspect.Parameter.empty:
        raise ValueError(f"{function.__qualname__} has no parameter {name!r} with a default")
    return field(default_factory=lambda: inspect.signature(function).parameters[name].default)


def _freeze(value: Any) -> Any:
    """Lists (also nested) as tuples, so that a configuration stays hashable."""
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def plain(value: Any) -> Any:
    """A JSON-ready copy: tuples as lists, NumPy scalars as Python numbers, non-finite floats as None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True, kw_only=True)
class ExperimentConfig:
    """Settings shared by every task: seed, threads, training, the energy metric's functions.

    Every field enters the cache key (:func:`config_hash`). Subclasses add the data, model and
    metric settings of their kind of task. Lists given for tuple fields are stored as tuples.
    Every field is checked on creation (:func:`hnnlib.experiments.fields.check_fields`): a wrong
    type is a TypeError, a value out of range a ValueError, both naming the field.

    Attributes
    ----------
    task : str
        Registry name of the task (a key of :data:`hnnlib.experiments.TASKS`).
    seed : int
        Seeds the data (where random), the models' initial weights (``set_seed(seed)`` before
        each model), the minibatch sampler and, for Tasks 1-2, the metric's initial states.
    threads : int
        torch threads while the experiment runs (the chapters use 1, so that numbers reproduce).
    energies : tuple of str
        Energy functions of the energy metric, names of :data:`hnnlib.labels.ENERGY_LABELS`; the
        first one is the headline ``energy_mse`` of the result, the others are reported beside it.
    """

    task: str
    seed: int = 0
    threads: int = 1
    energies: tuple[str, ...] = ("hamiltonian",)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _freeze(getattr(self, f.name)))
        check_fields(self)

    def protocol(self) -> str:
        """One line describing how the energy metric is measured."""
        return ""

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain JSON values (tuples as lists)."""
        return plain(dataclasses.asdict(self))


@dataclass(frozen=True, kw_only=True)
class VectorFieldConfig(ExperimentConfig):
    """Tasks 1-4: a :class:`~hnnlib.models.BaselineNN` and an :class:`~hnnlib.models.HNN` fitted to time derivatives.

    Attributes
    ----------
    hidden_dim, nonlinearity, bias_init
        Of both models (defaults: :class:`hnnlib.models.HNN`'s).
    steps, learning_rate, weight_decay, batch_size, eval_every, eval_samples, sampler
        Options of :func:`hnnlib.training.fit` (defaults: its own; ``batch_size=None``: full batch).
    """

    hidden_dim: int = default_of(HNN, "hidden_dim")
    nonlinearity: str = default_of(HNN, "nonlinearity")
    bias_init: str = default_of(HNN, "bias_init")
    steps: int = default_of(fit, "steps")
    learning_rate: float = default_of(fit, "learning_rate")
    weight_decay: float = default_of(fit, "weight_decay")
    batch_size: int | None = default_of(fit, "batch_size")
    eval_every: int = default_of(fit, "eval_every")
    eval_samples: int | None = default_of(fit, "eval_samples")
    sampler: str = default_of(fit, "sampler")

    def fit_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`hnnlib.training.fit` (without data, seed and progress)."""
        return dict(
            steps=self.steps, learning_rate=self.learning_rate, weight_decay=self.weight_decay,
            batch_size=self.batch_size, eval_every=self.eval_every, eval_samples=self.eval_samples, sampler=self.sampler,
        )

    def model_options(self) -> dict[str, Any]:
        """Keyword arguments of the model classes, besides ``input_dim``."""
        return dict(hidden_dim=self.hidden_dim, nonlinearity=self.nonlinearity, bias_init=self.bias_init)


@dataclass(frozen=True, kw_only=True)
class SimulatedConfig(VectorFieldConfig):
    """Tasks 1, 2 and 4: a simulated system, whose true rollouts the energy metric compares with the models'.

    Attributes
    ----------
    system, system_params
        The system's registry name (:func:`hnnlib.systems.get_system`) and its parameters.
    data_rtol, data_atol
        Tolerances of the simulated data (the data function's ``rtol`` and ``atol``).
    metric_states, metric_t_span, metric_points
        The metric's number of initial states, and its time grid.
    metric_rtol_true, metric_rtol_model, metric_atol, metric_batched
        Options of :func:`hnnlib.metrics.compare_rollouts` (defaults: its own).
    """

    #: The data function's keyword arguments that are fields of the same name (besides rtol, atol, seed).
    DATA_FIELDS: ClassVar[tuple[str, ...]] = ()

    system: str
    system_params: tuple[tuple[str, Any], ...] = ()
    metric_states: int = 15
    metric_t_span: tuple[float, float]
    metric_points: int
    metric_rtol_true: float = default_of(compare_rollouts, "rtol_true")
    metric_rtol_model: float = default_of(compare_rollouts, "rtol_model")
    metric_atol: float = default_of(compare_rollouts, "atol")
    metric_batched: bool = default_of(compare_rollouts, "batched")

    def data_options(self) -> dict[str, Any]:
        """Keyword arguments of the task's data function (without the system)."""
        options = {name: getattr(self, name) for name in self.DATA_FIELDS}
        return {**options, "rtol": self.data_rtol, "atol": self.data_atol, "seed": self.seed}

    def _rollout_protocol(self, states: str) -> str:
        """The protocol line of the metric, which rolls out the true system and the models from ``states``."""
        t0, t1 = self.metric_t_span
        return (
            f"{states}; RK45 on {self.metric_points} points of t in [{t0:g}, {t1:g}], rtol {self.metric_rtol_true:g} "
            f"(truth) / {self.metric_rtol_model:g} (models); energy: {', '.join(ENERGY_LABELS[e] for e in self.energies)}; "
            "+- over rollouts"
        )


@dataclass(frozen=True, kw_only=True)
class OscillatorConfig(SimulatedConfig):
    """Tasks 1 and 2: simulated one-degree-of-freedom systems (chapters 2 and 3).

    Data: :func:`hnnlib.data.make_trajectory_dataset` with the ``n_trajectories`` ...
    ``data_atol`` fields (defaults: its own). Metric: ``metric_states`` states drawn by
    :func:`hnnlib.metrics.sample_metric_states` (each coordinate ``+-U[metric_magnitude]``,
    NumPy ``default_rng(seed)``), rolled out by :func:`hnnlib.metrics.compare_rollouts` on
    ``metric_points`` times spanning ``metric_t_span`` (tolerances: its defaults).
    """

    DATA_FIELDS: ClassVar[tuple[str, ...]] = ("n_trajectories", "n_times", "t_span", "radius", "noise_std", "test_fraction")

    system: str = "mass_spring"
    n_trajectories: int = default_of(make_trajectory_dataset, "n_trajectories")
    n_times: int = default_of(make_trajectory_dataset, "n_times")
    t_span: tuple[float, float] = default_of(make_trajectory_dataset, "t_span")
    radius: tuple[float, float] = default_of(make_trajectory_dataset, "radius")
    noise_std: float = default_of(make_trajectory_dataset, "noise_std")
    test_fraction: float = default_of(make_trajectory_dataset, "test_fraction")
    data_rtol: float = default_of(make_trajectory_dataset, "rtol")
    data_atol: float = default_of(make_trajectory_dataset, "atol")
    metric_magnitude: tuple[float, float] = (0.2, 1.0)
    metric_t_span: tuple[float, float] = (0.0, 20.0)
    metric_points: int = 100

    def protocol(self) -> str:
        low, high = self.metric_magnitude
        return self._rollout_protocol(f"{self.metric_states} states, each coordinate +-U[{low:g}, {high:g}]")


@dataclass(frozen=True, kw_only=True)
class RealPendulumConfig(VectorFieldConfig):
    """Task 3: the recorded real pendulum (chapter 4).

    Data: :func:`hnnlib.realdata.load_real_pendulum` with ``split`` (the recording is fixed and
    sha256-checked, so ``seed`` only sets the models' initial weights). Metric: one rollout of
    each model from the first test sample over the test times,
    :func:`hnnlib.metrics.compare_to_observed` with ``metric_rtol_model``; energy
    ``energy_coefficient (1 - cos q) + p^2``.
    """

    split: str = default_of(realdata.load_real_pendulum, "split")
    metric_rtol_model: float = default_of(compare_to_observed, "rtol_model")
    metric_atol: float = default_of(compare_to_observed, "atol")
    energy_coefficient: float = realdata.ENERGY_COEFFICIENT
    energies: tuple[str, ...] = ("fitted_pendulum",)

    def protocol(self) -> str:
        return (
            f"one rollout from the first test sample over the test times ({self.split} split), RK45 rtol "
            f"{self.metric_rtol_model:g}; energy {self.energy_coefficient:g}(1 - cos q) + p^2; one rollout, so one run has no +-"
        )


@dataclass(frozen=True, kw_only=True)
class NBodyConfig(SimulatedConfig):
    """Task 4 and Appendix B: N-body orbits (chapters 5 and 6).

    Data: :func:`hnnlib.data.make_nbody_dataset`; a data field left ``None`` takes that
    function's value for the number of bodies (:data:`hnnlib.data.NBODY_DEFAULTS`). Metric:
    ``metric_states`` initial states, the ``k``-th drawn by :func:`hnnlib.data.sample_nbody_states`
    from ``numpy.random.RandomState(metric_first_seed + k)`` (as the reference code does,
    independent of ``seed``), rolled out by :func:`hnnlib.metrics.compare_rollouts`.
    """

    DATA_FIELDS: ClassVar[tuple[str, ...]] = (
        "n_trajectories", "n_times", "t_span", "radius", "orbit_noise", "noise_std", "test_fraction",
    )

    system: str = "two_body"
    n_trajectories: int | None = default_of(make_nbody_dataset, "n_trajectories")
    n_times: int | None = default_of(make_nbody_dataset, "n_times")
    t_span: tuple[float, float] | None = default_of(make_nbody_dataset, "t_span")
    radius: tuple[float, float] | None = default_of(make_nbody_dataset, "radius")
    orbit_noise: float | None = default_of(make_nbody_dataset, "orbit_noise")
    noise_std: float = default_of(make_nbody_dataset, "noise_std")
    test_fraction: float = default_of(make_nbody_dataset, "test_fraction")
    data_rtol: float = default_of(make_nbody_dataset, "rtol")
    data_atol: float = default_of(make_nbody_dataset, "atol")
    metric_first_seed: int = 0
    metric_t_span: tuple[float, float] = (0.0, 25.0)
    metric_points: int = 500
    metric_rtol_true: float = 1e-9

    def protocol(self) -> str:
        last = self.metric_first_seed + self.metric_states - 1
        return self._rollout_protocol(f"{self.metric_states} states from RandomState({self.metric_first_seed}..{last})")


@dataclass(frozen=True, kw_only=True)
class PixelConfig(ExperimentConfig):
    """Task 5: gymnasium's pendulum seen in 28x28 frames (chapter 7).

    Data: :func:`hnnlib.pixel.make_pixel_pendulum_dataset` with the fields ``n_trajectories``
    ... ``side`` (cached on disk with ``data_cache``). Models:
    :class:`hnnlib.pixel.PixelDynamicsModel` trained by :func:`hnnlib.pixel.fit_pixel_model`
    (defaults: theirs). Metric: :func:`hnnlib.pixel.compare_pixel_rollouts` over the test
    trajectories, ``metric_steps`` frames.
    """

    n_trajectories: int = default_of(make_pixel_pendulum_dataset, "n_trajectories")
    n_frames: int = default_of(make_pixel_pendulum_dataset, "n_frames")
    max_angle: float = default_of(make_pixel_pendulum_dataset, "max_angle")
    test_fraction: float = default_of(make_pixel_pendulum_dataset, "test_fraction")
    side: int = default_of(make_pixel_pendulum_dataset, "side")
    hidden_dim: int = default_of(PixelDynamicsModel, "hidden_dim")
    latent_dim: int = default_of(PixelDynamicsModel, "latent_dim")
    steps: int = default_of(fit_pixel_model, "steps")
    batch_size: int = default_of(fit_pixel_model, "batch_size")
    learning_rate: float = default_of(fit_pixel_model, "learning_rate")
    weight_decay: float = default_of(fit_pixel_model, "weight_decay")
    eval_every: int = default_of(fit_pixel_model, "eval_every")
    metric_steps: int = 100
    energies: tuple[str, ...] = ("pixels",)
    data_cache: bool = True

    def data_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`hnnlib.pixel.make_pixel_pendulum_dataset` (without ``progress`` and ``cache_dir``)."""
        return dict(n_trajectories=self.n_trajectories, n_frames=self.n_frames, max_angle=self.max_angle,
                    test_fraction=self.test_fraction, side=self.side, seed=self.seed)

    def protocol(self) -> str:
        return (f"latent RK4 rollouts of {self.metric_steps} frames from the first input of each test trajectory, decoded; "
                "energy read from the decoded frames vs read the same way from the true frames; +- over trajectories")


def config_hash(config: ExperimentConfig) -> str:
    """sha256 (hex) of a configuration: its class name and every field, as canonical JSON.

    Stable across processes and machines; any changed field (or another config class) changes it.
    """
    return json_sha256({"class": type(config).__qualname__, "fields": config.to_dict()})
