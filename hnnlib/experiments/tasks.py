"""The task registry: every task of the paper, the settings where it departs from the library's defaults, and its steps.

Each entry of :data:`TASKS` is a :class:`Task`. Its :attr:`Task.config` is built on every access
from the configuration class (whose defaults are the library functions' own, see
:mod:`hnnlib.experiments.config`) and the task's few ``overrides``: the registry below is the one
place where, say, Task 1's weight decay of ``1e-4`` is written.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from torch import nn

from .. import paper
from .._checks import check_seed
from ..metrics import MeanWithError
from ..training import TrainingHistory
from . import steps
from .config import ExperimentConfig, NBodyConfig, OscillatorConfig, PixelConfig, RealPendulumConfig

__all__ = ["TASKS", "Task", "get_task", "make_config", "register_task"]


@dataclass(frozen=True)
class Task:
    """One task of the paper: its configuration and the functions that run it.

    Attributes
    ----------
    name : str
        Registry name (also the key of :data:`hnnlib.paper.TABLE_1` / ``TABLE_2``).
    title : str
    table : str
        ``"Table 1"`` or ``"Table 2"``.
    config_class : type
        A subclass of :class:`~hnnlib.experiments.config.ExperimentConfig`.
    overrides : dict
        The task's departures from ``config_class``'s defaults.
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
    config_class: type[ExperimentConfig]
    make_data: Callable[[Any], Any]
    evaluate: Callable[[Any, Mapping[str, nn.Module], Any], steps.Evaluation]
    overrides: Mapping[str, Any] = field(default_factory=dict)
    make_model: Callable[[Any, str, Any], nn.Module] = steps.build_model
    train_model: Callable[..., TrainingHistory] = steps.train_model
    losses: Callable[[nn.Module, Any], dict[str, MeanWithError]] = steps.derivative_losses
    chapter: str = ""

    @property
    def config(self) -> ExperimentConfig:
        """The chapter's settings: ``config_class(task=name, **overrides)``, built now."""
        return self.config_class(task=self.name, **self.overrides)

    @property
    def paper(self) -> dict[str, Any]:
        """The paper's published row (:data:`hnnlib.paper.TABLE_1` or ``TABLE_2``)."""
        return {**paper.TABLE_1, **paper.TABLE_2}[self.name]


#: Every task, by name, in the paper's order. Add one with :func:`register_task`.
TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Add ``task`` to :data:`TASKS` (replacing one of the same name) and return it.

    The task's name must have a row in :mod:`hnnlib.paper`, and its overrides must be fields of
    its configuration class.
    """
    if task.name not in {**paper.TABLE_1, **paper.TABLE_2}:
        raise ValueError(f"task {task.name!r} has no row in hnnlib.paper.TABLE_1 or TABLE_2")
    _ = task.config  # built once here, so that a wrong override fails at registration
    TASKS[task.name] = task
    return task


#: Tasks 1 and 2 train with the reference code's weight decay and record the losses every 50 steps.
_DERIVATIVE_TRAINING = dict(weight_decay=1e-4, eval_every=50)
#: Task 4 and Appendix B: minibatches, 10,000 steps, losses recorded on 5,000 samples.
_NBODY_TRAINING = dict(steps=10_000, batch_size=200, eval_every=500, eval_samples=5_000, sampler="choice")

register_task(Task(
    "mass_spring", "Task 1: Ideal mass-spring", "Table 1", OscillatorConfig, steps.make_oscillator_data,
    steps.evaluate_oscillator, overrides=_DERIVATIVE_TRAINING, chapter="02_mass_spring",
))
register_task(Task(
    "pendulum", "Task 2: Ideal pendulum", "Table 1", OscillatorConfig, steps.make_oscillator_data, steps.evaluate_oscillator,
    overrides=dict(_DERIVATIVE_TRAINING, system="pendulum", n_times=45, radius=(1.3, 2.3), energies=("hamiltonian", "q2_plus_p2")),
    chapter="03_ideal_pendulum",
))
register_task(Task(
    "real_pendulum", "Task 3: Real pendulum", "Table 1", RealPendulumConfig, steps.make_real_pendulum_data,
    steps.evaluate_real_pendulum, overrides=dict(weight_decay=1e-5, eval_every=50), chapter="04_real_pendulum",
))
register_task(Task(
    "two_body", "Task 4: Two body", "Table 1", NBodyConfig, steps.make_nbody_data, steps.evaluate_nbody,
    overrides=_NBODY_TRAINING, chapter="05_two_body",
))
register_task(Task(
    "three_body", "Task 4b: Three body", "Table 2", NBodyConfig, steps.make_nbody_data, steps.evaluate_nbody,
    overrides=dict(_NBODY_TRAINING, system="three_body", batch_size=600, weight_decay=1e-4, metric_t_span=(0.0, 3.0)),
    chapter="06_three_body",
))
register_task(Task(
    "pixel_pendulum", "Task 5: Pixel pendulum", "Table 1", PixelConfig, steps.make_pixel_data, steps.evaluate_pixels,
    overrides=dict(eval_every=2000), make_model=steps.build_pixel_model, train_model=steps.train_pixel_model,
    losses=steps.pixel_losses, chapter="07_pixel_pendulum",
))


def get_task(name: str) -> Task:
    """The registered task called ``name``.

    Raises
    ------
    TypeError
        If ``name`` is not a string.
    ValueError
        If there is none; the message lists the valid names.
    """
    if not isinstance(name, str):
        raise TypeError(f"a task name must be a str, one of {', '.join(TASKS)}; got {name!r}")
    if name not in TASKS:
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

from . import lagrangian as _lagrangian  # noqa: E402,F401  chapter 13: the double pendulum (its own registry)
from . import trajectories as _trajectories  # noqa: E402,F401  chapter 10: DGNet's protocol (its own registry)


from . import friction as _friction  # noqa: E402,F401  chapter 12: the dissipative HNN (its own registry)
