"""Chapter 13's experiment: the double pendulum, a baseline, an HNN in canonical coordinates and an LNN.

The registered task :data:`DOUBLE_PENDULUM` holds the chapter's settings (a
:class:`DoublePendulumConfig`). :func:`trained_models` gives the chapter its three models through
the model cache (loaded, or trained exactly as the chapter describes and stored), so no model is
trained twice; :func:`energy_errors` measures the LNN paper's metric, and :func:`run` both. From a
shell::

    python -m hnnlib.experiments lagrangian --seeds 0        # the chapter's table
    python -m hnnlib.experiments lagrangian --seeds 0 1 2 --no-cache

The task is kept in a registry of its own, :data:`LAGRANGIAN_TASKS`: the paper's registry
(:data:`hnnlib.experiments.TASKS`) holds rows of the HNN paper's Table 1 with two models each,
while this one has three models and a follow-up's published numbers (:mod:`hnnlib.followups`).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from .. import __version__, followups
from .._checks import check_seed
from .._io import json_sha256
from ..checkpoints import save_checkpoint
from ..data import Split
from ..integrators import rk4
from ..lagrangian import LNN
from ..metrics import MeanWithError
from ..models import HNN, BaselineNN
from ..rk45_batched import solve_ivp_batched
from ..systems import DoublePendulum
from ..training import TrainingHistory, fit, set_seed, torch_threads
from . import fields
from . import workers as _workers
from .cache import ModelCache, _history_from_plain, _history_to_plain, as_cache, source_hash
from .config import ExperimentConfig, config_hash

__all__ = [
    "DOUBLE_PENDULUM", "KINDS", "LABELS", "LAGRANGIAN_TASKS", "DoublePendulumConfig", "DoublePendulumData", "EnergyErrors",
    "cached_models", "energy_errors", "main", "make_data", "run", "trained_models",
]

#: The chapter's three models, in this order, and their labels.
KINDS: tuple[str, ...] = ("baseline", "hnn", "lnn")
LABELS: dict[str, str] = {"baseline": "baseline NN", "hnn": "Hamiltonian NN", "lnn": "Lagrangian NN"}

fields.RULES.update({
    "n_test_trajectories": fields.positive_int,
    "velocity_scale": fields.number(0.0),
    "kinetic_prior": fields.number(0.0, strict=False),
    "lnn_nonlinearity": fields.choice(("softplus", "tanh")),
    "metric_substeps": fields.positive_int,
})


@dataclass(frozen=True, kw_only=True)
class DoublePendulumConfig(ExperimentConfig):
    """Chapter 13's settings.

    Data: ``n_trajectories`` training and ``n_test_trajectories`` test trajectories of
    :class:`~hnnlib.systems.DoublePendulum` (defaults), each released at rest from angles drawn
    ``U[-max_angle, max_angle]`` (NumPy ``default_rng(seed)``), integrated by
    :func:`~hnnlib.rk45_batched.solve_ivp_batched` at ``data_rtol`` / ``data_atol`` and observed at
    ``n_times`` points of ``t_span``; targets are the exact derivatives. Models: a
    :class:`~hnnlib.models.BaselineNN` on ``(theta, theta_dot)``, an :class:`~hnnlib.models.HNN` on
    ``(theta, p)`` with ``p`` from the known mass matrix, an :class:`~hnnlib.lagrangian.LNN` on
    ``(theta, theta_dot)``; all ``hidden_dim`` wide, each trained by :func:`hnnlib.training.fit`
    for ``steps`` full-batch Adam steps. Metric: ``metric_states`` states drawn like the data's
    from ``default_rng(metric_first_seed + seed)``, rolled out by RK4 to ``metric_t_span[1]``
    (``metric_points`` outputs, ``metric_substeps`` steps each); the relative energy error
    ``|E(t) - E(0)| / potential_scale`` of the true energy along each rollout.
    """

    n_trajectories: int = 50
    n_test_trajectories: int = 10
    n_times: int = 20
    t_span: tuple[float, float] = (0.0, 10.0)
    max_angle: float = float(np.pi / 4)
    data_rtol: float = 1e-10
    data_atol: float = 1e-10
    hidden_dim: int = 128
    nonlinearity: str = "tanh"
    lnn_nonlinearity: str = "softplus"
    velocity_scale: float = 1.5
    kinetic_prior: float = 1.0
    steps: int = 2000
    learning_rate: float = 1e-3
    eval_every: int = 100
    metric_states: int = 16
    metric_first_seed: int = 1000
    metric_t_span: tuple[float, float] = (0.0, 100.0)
    metric_points: int = 1001
    metric_substeps: int = 5
    energies: tuple[str, ...] = ("hamiltonian",)

    def protocol(self) -> str:
        t0, t1 = self.metric_t_span
        h = (t1 - t0) / (self.metric_points - 1) / self.metric_substeps
        return (
            f"{self.metric_states} states at rest, angles U[-{self.max_angle:.3g}, {self.max_angle:.3g}] rad; RK4, step {h:g} s, "
            f"to t = {t1:g} s; |E(t) - E(0)| / 29.4 J, mean over the states"
        )


#: The chapter's registered task.
DOUBLE_PENDULUM = "double_pendulum"
LAGRANGIAN_TASKS: dict[str, type[DoublePendulumConfig]] = {DOUBLE_PENDULUM: DoublePendulumConfig}


def make_config(seed: int | None = None, **overrides: Any) -> DoublePendulumConfig:
    """The chapter's configuration, with ``seed`` and any field replaced."""
    if seed is not None:
        overrides["seed"] = check_seed(seed)
    return DoublePendulumConfig(task=DOUBLE_PENDULUM, **overrides)


@dataclass
class DoublePendulumData:
    """Trajectories of the double pendulum in both coordinate systems.

    Attributes
    ----------
    system : DoublePendulum
    t : numpy.ndarray, shape (T,)
    trajectories : numpy.ndarray, shape (n_trajectories + n_test_trajectories, T, 4)
        Velocity states ``(theta_1, theta_2, theta_dot_1, theta_dot_2)``, training ones first.
    velocity : Split
        ``x = (theta, theta_dot)``, ``dx = (theta_dot, theta_ddot)``: the baseline's and the LNN's data.
    canonical : Split
        ``x = (theta, p)``, ``dx = (theta_dot, p_dot)``: the HNN's data (``p = M(theta) theta_dot``).
    """

    system: DoublePendulum
    t: np.ndarray
    trajectories: np.ndarray
    velocity: dict[str, Split] = field(default_factory=dict)
    canonical: dict[str, Split] = field(default_factory=dict)


def rest_states(n: int, max_angle: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` states at rest with both angles ``U[-max_angle, max_angle]``: shape ``(n, 4)``."""
    return np.concatenate([rng.uniform(-max_angle, max_angle, (n, 2)), np.zeros((n, 2))], 1)


def make_data(config: DoublePendulumConfig) -> DoublePendulumData:
    """The chapter's data (see :class:`DoublePendulumConfig`), float32 tensors for training."""
    system = DoublePendulum()
    rng = np.random.default_rng(config.seed)
    x0 = rest_states(config.n_trajectories + config.n_test_trajectories, config.max_angle, rng)
    t = np.linspace(*config.t_span, config.n_times)
    traj = solve_ivp_batched(system.velocity_derivative, x0, t, rtol=config.data_rtol, atol=config.data_atol)
    data = DoublePendulumData(system, t, traj)
    for name, rows in (("train", slice(0, config.n_trajectories)), ("test", slice(config.n_trajectories, None))):
        s = traj[rows]
        x = system.to_canonical(s)
        times = np.broadcast_to(t, s.shape[:2])
        as_t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)  # noqa: E731
        data.velocity[name] = Split(as_t(s), as_t(system.velocity_derivative(s)), as_t(times), as_t(system.energy(s)))
        data.canonical[name] = Split(as_t(x), as_t(system.time_derivative(x)), as_t(times), as_t(system.energy(s)))
    return data


def _coordinates(kind: str) -> str:
    return "canonical" if kind == "hnn" else "velocity"


def build_model(config: DoublePendulumConfig, kind: str) -> nn.Module:
    """A fresh model of ``kind`` (call :func:`hnnlib.training.set_seed` first)."""
    if kind == "baseline":
        return BaselineNN(4, hidden_dim=config.hidden_dim, nonlinearity=config.nonlinearity)
    if kind == "hnn":
        return HNN(4, hidden_dim=config.hidden_dim, nonlinearity=config.nonlinearity)
    if kind == "lnn":
        return LNN(4, hidden_dim=config.hidden_dim, nonlinearity=config.lnn_nonlinearity, periodic=True,
                   velocity_scale=config.velocity_scale, kinetic_prior=config.kinetic_prior)
    raise ValueError(f"unknown model kind {kind!r}; expected one of {KINDS}")


def train_model(config: DoublePendulumConfig, model: nn.Module, kind: str, data: DoublePendulumData, *,
                progress: bool = True) -> TrainingHistory:
    """Train ``model`` as the chapter does: :func:`hnnlib.training.fit`, full batch, on its coordinates' split."""
    splits = getattr(data, _coordinates(kind))
    return fit(model, splits["train"].inputs, splits["train"].targets, x_test=splits["test"].inputs, dx_test=splits["test"].targets,
               steps=config.steps, learning_rate=config.learning_rate, eval_every=config.eval_every, seed=config.seed,
               progress=progress, description=f"double pendulum, seed {config.seed}: {LABELS[kind]}")


def _key(config: ExperimentConfig, kind: str) -> str:
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"a model kind must be a non-empty str, got {kind!r}")
    return json_sha256({"config": config_hash(config), "model": kind, "hnnlib_version": __version__, "source": source_hash()})


class _Cache(ModelCache):
    """The model cache of :mod:`hnnlib.experiments.cache`, keyed for this chapter's model kinds."""

    def path(self, config: ExperimentConfig, kind: str):  # noqa: D102
        return self.directory / self.generation() / f"{config.task}-{kind}-{_key(config, kind)[:32]}.pt"

    @staticmethod
    def _check(model: nn.Module, config: ExperimentConfig, kind: str, like: nn.Module) -> None:
        if model.metadata.get("key") != _key(config, kind):
            raise ValueError("its key is not the expected one")
        if type(model) is not type(like) or model.config != like.config:
            raise ValueError(f"it holds a {type(model).__name__} {model.config}, expected a {type(like).__name__} {like.config}")

    def save(self, config: ExperimentConfig, kind: str, model: nn.Module, history: TrainingHistory):  # noqa: D102
        path = self.path(config, kind)
        metadata = {"key": _key(config, kind), "task": config.task, "model": kind, "config": config.to_dict(),
                    "hnnlib_version": __version__, "source_hash": source_hash(), "history": _history_to_plain(history)}
        try:
            save_checkpoint(model, path, metadata)
        except (OSError, RuntimeError):
            return None
        return path


def trained_models(config: DoublePendulumConfig, data: DoublePendulumData | None = None, *, cache: Any = True,
                   progress: bool = True, workers: int = 1) -> tuple[dict[str, nn.Module], dict[str, TrainingHistory], dict[str, bool]]:
    """The baseline, the HNN and the LNN: loaded from the model cache, or trained (``set_seed(seed)`` first) and stored.

    ``workers=2`` trains the LNN in a second process meanwhile (see :func:`cached_models`).

    Returns
    -------
    models, histories, from_cache : dict
        Keyed by :data:`KINDS`.
    """
    with torch_threads(config.threads):
        data = make_data(config) if data is None else data
        return cached_models(config, KINDS, build_model, train_model, data, cache=cache, progress=progress,
                             title=f"double pendulum, seed {config.seed}", labels=LABELS, workers=workers)


def cached_models(config: ExperimentConfig, kinds: Sequence[str], build: Callable[[Any, str], nn.Module],
                  train: Callable[..., TrainingHistory], data: Any, *, cache: Any, progress: bool, title: str,
                  labels: dict[str, str], workers: int = 1) -> tuple[dict[str, nn.Module], dict[str, TrainingHistory], dict[str, bool]]:
    """For each of ``kinds``: ``set_seed(seed)``, ``build(config, kind)``, then load it from the model cache or
    ``train(config, model, kind, data, progress=progress)`` and store it.

    The loop of :func:`trained_models`, shared with the LNN paper's protocol
    (:mod:`hnnlib.experiments.lnn_protocol`). A cache hit shows a finished progress bar with the
    recorded losses, so a cell prints the same whether it trained or loaded. With ``workers`` > 1,
    the last ``workers - 1`` kinds that need training are trained in other processes
    (:mod:`hnnlib.experiments.workers`; ``build`` and ``train`` must then be module-level
    functions) while this one does the rest: the same weights bit for bit.
    """
    _workers.check_workers(workers)
    store = as_cache(cache)
    store = _Cache(store.directory) if store is not None else None
    job = (config, build, train, data, str(store.directory) if store is not None else None, progress, title, labels)
    needs_training = lambda kind: store is None or not store.path(config, kind).is_file()  # noqa: E731
    started = {kind: _workers.start(_cached_state, kind, *job, name=f"{title}: {labels[kind]}")
               for kind in _workers.kinds_for_workers(kinds, needs_training, workers)}
    models, histories, from_cache = {}, {}, {}
    try:
        for kind in kinds:  # the bars are drawn in this order, as without workers
            if kind in started:
                weights, plain_history, loaded = started[kind].result()
                set_seed(config.seed)
                model = build(config, kind)
                model.load_state_dict(weights)
                models[kind], histories[kind], from_cache[kind] = model.eval(), _history_from_plain(plain_history), loaded
            else:
                models[kind], histories[kind], from_cache[kind] = _cached_model(kind, *job[:4], store, *job[5:])
    finally:
        for worker in started.values():
            worker.stop()  # a worker still running when something failed here
    return models, histories, from_cache


def _cached_model(kind: str, config: ExperimentConfig, build: Callable[[Any, str], nn.Module], train: Callable[..., TrainingHistory],
                  data: Any, store: _Cache | None, progress: bool, title: str, labels: dict[str, str]
                  ) -> tuple[nn.Module, TrainingHistory, bool]:
    """One kind of :func:`cached_models`: built, then loaded from ``store`` or trained and stored; in eval mode."""
    set_seed(config.seed)
    model = build(config, kind)
    cached = None
    if store is not None:
        with store.lock(config, kind):
            cached = store.load(config, kind, model)
            if cached is None:
                history = train(config, model, kind, data, progress=progress)
                store.save(config, kind, model, history)
    else:
        history = train(config, model, kind, data, progress=progress)
    if cached is not None:
        model.load_state_dict(cached[0].state_dict())
        history = cached[1]
        if progress:
            from .runner import _show_finished

            _show_finished(history, f"{title}: {labels[kind]} (loaded from the model cache)")
    return model.eval(), history, cached is not None


def _cached_state(kind: str, config: ExperimentConfig, build: Callable[[Any, str], nn.Module], train: Callable[..., TrainingHistory],
                  data: Any, cache_directory: str | None, progress: bool, title: str, labels: dict[str, str]
                  ) -> tuple[dict, dict, bool]:
    """In a worker process: :func:`_cached_model`, returned as weights and a plain history (to be sent back)."""
    store = _Cache(cache_directory) if cache_directory is not None else None
    with torch_threads(config.threads):
        model, history, loaded = _cached_model(kind, config, build, train, data, store, progress, title, labels)
    return model.state_dict(), _history_to_plain(history), loaded


@dataclass
class EnergyErrors:
    """The LNN paper's metric for each model and for the true system under the same integrator.

    Attributes
    ----------
    t : numpy.ndarray, shape (T,)
    x0 : numpy.ndarray, shape (n_states, 4)
        Initial velocity states.
    trajectories : dict
        ``trajectories[kind]``: velocity states ``(n_states, T, 4)``; ``"truth"``: the true system's.
    errors : dict
        ``errors[kind]``: ``|E(t) - E(0)| / potential_scale``, shape ``(n_states, T)``.
    """

    t: np.ndarray
    x0: np.ndarray
    trajectories: dict[str, np.ndarray]
    errors: dict[str, np.ndarray]

    def at(self, kind: str, time: float) -> MeanWithError:
        """Mean (and standard error over states) of ``kind``'s error at the output time nearest ``time``."""
        return MeanWithError.of(self.errors[kind][:, int(np.argmin(np.abs(self.t - time)))])


def energy_errors(config: DoublePendulumConfig, models: dict[str, nn.Module], system: DoublePendulum | None = None) -> EnergyErrors:
    """Roll out the true system and every model from the metric's states; the relative energy error over time."""
    system = DoublePendulum() if system is None else system
    x0 = rest_states(config.metric_states, config.max_angle, np.random.default_rng(config.metric_first_seed + config.seed))
    t = np.linspace(*config.metric_t_span, config.metric_points)
    trajectories = {}
    with torch_threads(config.threads), torch.no_grad():
        trajectories["truth"] = rk4(system.velocity_derivative, torch.as_tensor(x0), torch.as_tensor(t),
                                    substeps=config.metric_substeps).numpy()
        for kind, model in models.items():
            start = system.to_canonical(x0) if kind == "hnn" else x0
            traj = rk4(model.time_derivative, torch.as_tensor(start, dtype=torch.float32), torch.as_tensor(t, dtype=torch.float32),
                       substeps=config.metric_substeps).double().numpy()
            trajectories[kind] = system.to_velocity(traj) if kind == "hnn" else traj
    errors = {}
    for kind, traj in trajectories.items():
        e = system.energy(traj)
        errors[kind] = np.abs(e - e[:, :1]) / system.potential_scale
    return EnergyErrors(t, x0, trajectories, errors)


@dataclass
class Result:
    """One seed's run: models, histories, metric."""

    config: DoublePendulumConfig
    models: dict[str, nn.Module]
    histories: dict[str, TrainingHistory]
    metric: EnergyErrors

    def table(self, time: float = 100.0) -> str:
        """This run's relative energy errors at ``time`` beside the LNN paper's, each under its protocol."""
        published = {"baseline": followups.LNN_BASELINE_DOUBLE_PENDULUM_ENERGY_ERROR, "lnn": followups.LNN_DOUBLE_PENDULUM_ENERGY_ERROR}
        lines = [f"relative energy error at t = {time:g} s", f"{'model':<16}{'this book':>22}{'LNN paper':>12}"]
        for kind in ("truth", *KINDS):
            label = "true (RK4)" if kind == "truth" else LABELS[kind]
            value = self.metric.at(kind, time)
            paper = f"{published[kind].value:.1e}" if kind in published else "-"
            lines.append(f"{label:<16}{value.mean:>12.3g} +- {value.stderr:<7.2g}{paper:>12}")
        lines.append(f"this book: {self.config.protocol()}")
        lines.append(f"LNN paper: {followups.LNN_DOUBLE_PENDULUM_ENERGY_ERROR.protocol}")
        return "\n".join(lines)


def run(seed: int = 0, *, cache: Any = True, progress: bool = True, **overrides: Any) -> Result:
    """The chapter's experiment for one seed: data, the three models (cached), the energy metric."""
    config = make_config(seed, **overrides)
    data = make_data(config)
    models, histories, _ = trained_models(config, data, cache=cache, progress=progress)
    return Result(config, models, histories, energy_errors(config, models, data.system))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hnnlib.experiments lagrangian``: print the chapter's table for each seed."""
    parser = argparse.ArgumentParser(prog="python -m hnnlib.experiments lagrangian", description="Chapter 13's table.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--no-cache", action="store_true", help="train every model, ignoring the model cache")
    parser.add_argument("--time", type=float, default=100.0, help="time of the table's energy error (s)")
    args = parser.parse_args(argv)
    for seed in args.seeds:
        result = run(seed, cache=not args.no_cache, progress=False)
        print(f"seed {seed}\n{result.table(args.time)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
