"""Chapter 13, second experiment: the double pendulum under the LNN paper's own protocol.

The chapter's first experiment (:mod:`hnnlib.experiments.lagrangian`) stays at small energies.
The LNN paper trains on the whole state space and averages the energy error at t = 100 s over
40 initial states released almost at rest from anywhere (:data:`hnnlib.followups.LNN_DOUBLE_PENDULUM_ENERGY_ERROR`
states the protocol and its sources). This module runs that protocol on three models:

- ``"baseline"``: a :class:`~hnnlib.models.BaselineNN` on ``(theta, theta_dot)``;
- ``"lnn"``: the paper's general :class:`~hnnlib.lagrangian.LNN`, ``L_theta(q, q_dot)``;
- ``"mechanical"``: a :class:`~hnnlib.lagrangian.MechanicalLNN`,
  ``L_theta = q_dot^T M_theta(q) q_dot / 2 - V_theta(q)``.

The registered task :data:`LNN_PROTOCOL` holds the settings (an :class:`LNNProtocolConfig`);
:func:`trained_models` gets the models through the model cache, :func:`energy_errors` measures
the metric, :func:`run` does both. From a shell::

    python -m hnnlib.experiments lnn_protocol --seeds 0
"""

from __future__ import annotations

import argparse
import copy
import sys
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from .. import followups
from .._checks import check_seed
from ..lagrangian import LNN, MechanicalLNN
from ..metrics import MeanWithError
from ..models import LOSSES, BaselineNN
from ..optim import LR_SCHEDULES
from ..rk45_batched import solve_ivp_batched
from ..systems import DoublePendulum
from ..training import TrainingHistory, fit, torch_threads
from . import fields
from .config import ExperimentConfig
from .lagrangian import cached_models

__all__ = [
    "KINDS", "LABELS", "LNN_PROTOCOL", "LNNProtocolConfig", "ProtocolData", "ProtocolErrors", "build_model", "energy_errors",
    "main", "make_config", "make_data", "metric_states", "run", "trained_models",
]

#: The three models, in this order, and their labels.
KINDS: tuple[str, ...] = ("baseline", "lnn", "mechanical")
LABELS: dict[str, str] = {"baseline": "baseline NN", "lnn": "Lagrangian NN", "mechanical": "mechanical LNN"}

fields.RULES.update({
    "pool_size": fields.positive_int,
    "test_size": fields.positive_int,
    "max_velocity": fields.number(0.0),
    "lnn_steps": fields.positive_int,
    "lr_schedule": fields.choice(LR_SCHEDULES),
    "loss": fields.choice(LOSSES),
    "potential_scale": fields.number(0.0),
    "metric_max_velocity": fields.number(0.0),
    "metric_rtol": fields.number(0.0),
    "metric_time": fields.number(0.0),
})


@dataclass(frozen=True, kw_only=True)
class LNNProtocolConfig(ExperimentConfig):
    """The LNN paper's protocol as this book runs it.

    Data: ``pool_size`` training and ``test_size`` test states of :class:`~hnnlib.systems.DoublePendulum`
    drawn over the whole state space, angles ``U[0, 2 pi)`` and velocities
    ``U[-max_velocity, max_velocity]`` (NumPy ``default_rng(seed)``), each with its exact
    accelerations. Training: :func:`hnnlib.training.fit` on the ``loss`` (default L1, as the LNN
    paper's notebook), minibatches of ``batch_size`` drawn from
    the pool (``sampler="choice"``), Adam at ``learning_rate`` with ``lr_schedule``, ``steps``
    steps (the general LNN: ``lnn_steps``, its step costs about twice the others'). Models
    ``hidden_dim`` wide; the general LNN with the chapter's settings (softplus, periodic, a
    kinetic prior, ``velocity_scale``), the mechanical LNN periodic with ``potential_scale``.
    Metric: ``metric_states`` states, angles ``U[0, 2 pi)``, velocities ``U[0, metric_max_velocity)``
    (``default_rng(metric_first_seed + seed)``), rolled out by
    :func:`~hnnlib.rk45_batched.solve_ivp_batched` at ``rtol = atol = metric_rtol`` in float64 to
    ``metric_time`` (``metric_points`` outputs); the error ``|E(t) - E(0)| / 29.4 J`` of the true
    energy (the true system conserves ``E(0)``).
    """

    pool_size: int = 200_000
    test_size: int = 5_000
    max_velocity: float = 10.0
    hidden_dim: int = 128
    lnn_nonlinearity: str = "softplus"
    velocity_scale: float = 5.0
    kinetic_prior: float = 1.0
    potential_scale: float = 10.0
    batch_size: int = 512
    steps: int = 5000
    lnn_steps: int = 2000
    learning_rate: float = 3e-3
    lr_schedule: str = "cosine"
    loss: str = "l1"
    eval_every: int = 1000
    metric_states: int = 40
    metric_first_seed: int = 1000
    metric_max_velocity: float = 0.1
    metric_time: float = 100.0
    metric_points: int = 1001
    metric_rtol: float = 1e-6

    def protocol(self) -> str:
        return (
            f"{self.metric_states} states, angles U[0, 2 pi), velocities U[0, {self.metric_max_velocity:g}); adaptive RK45 "
            f"(rtol = atol = {self.metric_rtol:g}) to t = {self.metric_time:g} s; |E(t) - E(0)| / 29.4 J, mean over the states"
        )

    def training(self) -> str:
        """One line: the data and training of every model."""
        return (
            f"{self.pool_size:,} states over the whole state space (velocities U[-{self.max_velocity:g}, {self.max_velocity:g}]), "
            f"exact accelerations; {self.loss.upper()} loss, minibatches of {self.batch_size}, Adam {self.learning_rate:g} "
            f"({self.lr_schedule}), "
            f"{self.steps} steps ({self.lnn_steps} for the general LNN); {self.hidden_dim} hidden units"
        )


#: The registered task.
LNN_PROTOCOL = "double_pendulum_lnn_protocol"
PROTOCOL_TASKS: dict[str, type[LNNProtocolConfig]] = {LNN_PROTOCOL: LNNProtocolConfig}


def make_config(seed: int | None = None, **overrides: Any) -> LNNProtocolConfig:
    """The protocol's configuration, with ``seed`` and any field replaced."""
    if seed is not None:
        overrides["seed"] = check_seed(seed)
    return LNNProtocolConfig(task=LNN_PROTOCOL, **overrides)


@dataclass
class ProtocolData:
    """Training and test states with their exact time derivatives (float32), velocity coordinates.

    Attributes
    ----------
    x, dx : torch.Tensor, shape (pool_size, 4)
    x_test, dx_test : torch.Tensor, shape (test_size, 4)
    """

    x: torch.Tensor
    dx: torch.Tensor
    x_test: torch.Tensor
    dx_test: torch.Tensor


def _whole_space(n: int, max_velocity: float, rng: np.random.Generator) -> np.ndarray:
    return np.concatenate([rng.uniform(0.0, 2 * np.pi, (n, 2)), rng.uniform(-max_velocity, max_velocity, (n, 2))], 1)


def make_data(config: LNNProtocolConfig, system: DoublePendulum | None = None) -> ProtocolData:
    """The training pool and the test states (see :class:`LNNProtocolConfig`)."""
    system = DoublePendulum() if system is None else system
    rng = np.random.default_rng(config.seed)
    states = _whole_space(config.pool_size + config.test_size, config.max_velocity, rng)
    derivatives = system.velocity_derivative(states)
    as_t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)  # noqa: E731
    n = config.pool_size
    return ProtocolData(as_t(states[:n]), as_t(derivatives[:n]), as_t(states[n:]), as_t(derivatives[n:]))


def build_model(config: LNNProtocolConfig, kind: str) -> nn.Module:
    """A fresh model of ``kind`` (call :func:`hnnlib.training.set_seed` first)."""
    if kind == "baseline":
        return BaselineNN(4, hidden_dim=config.hidden_dim)
    if kind == "lnn":
        return LNN(4, hidden_dim=config.hidden_dim, nonlinearity=config.lnn_nonlinearity, periodic=True,
                   velocity_scale=config.velocity_scale, kinetic_prior=config.kinetic_prior)
    if kind == "mechanical":
        return MechanicalLNN(4, hidden_dim=config.hidden_dim, periodic=True, potential_scale=config.potential_scale)
    raise ValueError(f"unknown model kind {kind!r}; expected one of {KINDS}")


def train_model(config: LNNProtocolConfig, model: nn.Module, kind: str, data: ProtocolData, *,
                progress: bool = True) -> TrainingHistory:
    """Train ``model`` as the protocol says (:func:`hnnlib.training.fit` on minibatches of the pool)."""
    return fit(model, data.x, data.dx, x_test=data.x_test, dx_test=data.dx_test,
               steps=config.lnn_steps if kind == "lnn" else config.steps, learning_rate=config.learning_rate,
               batch_size=config.batch_size, sampler="choice", eval_every=config.eval_every, eval_samples=config.test_size,
               lr_schedule=config.lr_schedule, loss=config.loss, seed=config.seed, progress=progress,
               description=f"LNN protocol, seed {config.seed}: {LABELS[kind]}")


def trained_models(config: LNNProtocolConfig, data: ProtocolData | None = None, *, cache: Any = True,
                   progress: bool = True, workers: int = 1) -> tuple[dict[str, nn.Module], dict[str, TrainingHistory], dict[str, bool]]:
    """The three models, loaded from the model cache or trained (``set_seed(seed)`` first) and stored; keyed by :data:`KINDS`.

    ``workers=2`` trains the mechanical LNN in a second process meanwhile
    (:func:`hnnlib.experiments.lagrangian.cached_models`).
    """
    with torch_threads(config.threads):
        data = make_data(config) if data is None else data
        return cached_models(config, KINDS, build_model, train_model, data, cache=cache, progress=progress,
                             title=f"LNN protocol, seed {config.seed}", labels=LABELS, workers=workers)


def metric_states(config: LNNProtocolConfig) -> np.ndarray:
    """The metric's initial states, shape ``(metric_states, 4)``."""
    rng = np.random.default_rng(config.metric_first_seed + config.seed)
    return np.concatenate([rng.uniform(0.0, 2 * np.pi, (config.metric_states, 2)),
                           rng.uniform(0.0, config.metric_max_velocity, (config.metric_states, 2))], 1)


@dataclass
class ProtocolErrors:
    """The LNN paper's metric for each model (and the true system under the same integrator).

    Attributes
    ----------
    t : numpy.ndarray, shape (T,)
    x0 : numpy.ndarray, shape (n_states, 4)
    trajectories : dict
        ``trajectories[kind]``: velocity states ``(n_states, T, 4)`` (float64), ``"truth"`` too.
    errors : dict
        ``errors[kind]``: ``|E(t) - E(0)| / potential_scale`` of the true energy along each
        rollout, shape ``(n_states, T)``; ``"truth"``: the true system's own rollout.
    """

    t: np.ndarray
    x0: np.ndarray
    trajectories: dict[str, np.ndarray]
    errors: dict[str, np.ndarray]

    def at(self, kind: str, time: float | None = None) -> MeanWithError:
        """Mean (and standard error over states) of ``kind``'s error at ``time`` (default: the last output)."""
        column = -1 if time is None else int(np.argmin(np.abs(self.t - time)))
        return MeanWithError.of(self.errors[kind][:, column])

    def time_average(self, kind: str) -> MeanWithError:
        """Mean (and standard error over states) of ``kind``'s error averaged over the whole rollout.

        On a chaotic orbit the error at one time is one sample of a quantity that fluctuates along
        the orbit, and last-bit changes of the field move that sample (by up to half, measured);
        the average over the rollout is the stable summary of the same errors.
        """
        return MeanWithError.of(self.errors[kind].mean(axis=1))


def energy_errors(config: LNNProtocolConfig, models: dict[str, nn.Module], system: DoublePendulum | None = None) -> ProtocolErrors:
    """Roll out the true system and every model from the metric's states; the relative energy error over time.

    The models are rolled out in float64 (copies; the given models are left as they are).
    """
    system = DoublePendulum() if system is None else system
    x0 = metric_states(config)
    t = np.linspace(0.0, config.metric_time, config.metric_points)
    e0 = system.energy(x0)[:, None]
    trajectories, errors = {}, {}
    with torch_threads(config.threads):
        vector_fields = {"truth": system.velocity_derivative}
        vector_fields.update({kind: copy.deepcopy(model).double().time_derivative for kind, model in models.items()})
        for kind, field in vector_fields.items():
            trajectories[kind] = solve_ivp_batched(field, x0, t, rtol=config.metric_rtol, atol=config.metric_rtol,
                                                   dtype=torch.float64)
            errors[kind] = np.abs(system.energy(trajectories[kind]) - e0) / system.potential_scale
    return ProtocolErrors(t, x0, trajectories, errors)


@dataclass
class Result:
    """One seed's run: models, histories, metric."""

    config: LNNProtocolConfig
    models: dict[str, nn.Module]
    histories: dict[str, TrainingHistory]
    metric: ProtocolErrors

    def table(self) -> str:
        """This run's errors at the last time beside the LNN paper's, each under its protocol.

        A mean error above 1 (the energy changed by more than 29.4 J: the rollout ran away) prints
        as ``diverged (> 1)``; its digits would only say how fast it ran away.
        """
        published = {"baseline": followups.LNN_BASELINE_DOUBLE_PENDULUM_ENERGY_ERROR, "lnn": followups.LNN_DOUBLE_PENDULUM_ENERGY_ERROR}
        lines = [f"relative energy error at t = {self.config.metric_time:g} s (and averaged over the rollout)",
                 f"{'model':<16}{f'this book, t = {self.config.metric_time:g} s':>22}{'LNN paper':>12}{'average':>12}"]

        def shown(value: MeanWithError) -> str:
            if value.mean > 1:  # a rollout that ran away: its digits are the runaway's, not a measurement
                return "diverged (> 1)"
            return f"{value.mean:.2g} +- {value.stderr:.1g}"

        for kind in ("truth", *KINDS):
            label = "true (RK45)" if kind == "truth" else LABELS[kind]
            paper = f"{published[kind].value:.1e}" if kind in published else "-"
            average = self.metric.time_average(kind)
            lines.append(f"{label:<16}{shown(self.metric.at(kind)):>22}{paper:>12}"
                         f"{'diverged' if average.mean > 1 else f'{average.mean:.2g}':>12}")
        lines.append(f"this book: {self.config.training()}; {self.config.protocol()}")
        lines.append(f"LNN paper: {followups.LNN_DOUBLE_PENDULUM_ENERGY_ERROR.protocol}")
        return "\n".join(lines)


def run(seed: int = 0, *, cache: Any = True, progress: bool = True, **overrides: Any) -> Result:
    """The protocol for one seed: data, the three models (cached), the metric."""
    config = make_config(seed, **overrides)
    models, histories, _ = trained_models(config, cache=cache, progress=progress)
    return Result(config, models, histories, energy_errors(config, models))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hnnlib.experiments lnn_protocol``: print the table for each seed."""
    parser = argparse.ArgumentParser(prog="python -m hnnlib.experiments lnn_protocol",
                                     description="Chapter 13's second table: the LNN paper's protocol.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--no-cache", action="store_true", help="train every model, ignoring the model cache")
    args = parser.parse_args(argv)
    for seed in args.seeds:
        result = run(seed, cache=not args.no_cache, progress=False)
        print(f"seed {seed}\n{result.table()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
