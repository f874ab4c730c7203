"""DGNet's ODE protocol as registered tasks: learning from observed trajectories, four ways, many seeds.

The protocol of Matsubara, Ishikawa & Yaguchi, "Deep energy-based modeling of discrete-time physics"
(NeurIPS 2020), read from their public code (``experiment-spring``, ``-pend``, ``-2body``):

- mass-spring and pendulum: 50 trajectories (25 train, 25 test) of 100 points over 20 time units
  (``h = 20/99``), Gaussian noise 0.1 on ``q`` and ``p``; full batch (2475 pairs), 2000 Adam steps,
  learning rate 1e-3, weight decay 1e-4, 200 hidden units.
- two bodies: 1000 orbits (800 train) of 500 points over 25 time units (``h = 25/499``), no noise;
  minibatches of 200, 10,000 steps, no weight decay.
- metrics: the *derivative* error, the MSE of the model's ``dx/dt`` at the (noisy) test states against
  the exact derivatives; the *energy* error, the MSE between the energy along 15 true orbits and along
  the model's orbits from the same starts, over the same horizon and grid, rolled out with the method's
  own integrator. The energy is ``q^2 + p^2`` for both one-body tasks (also for the pendulum, as in
  the HNN reference code) and the true ``H`` for two bodies. Each number is the mean over 15 trials (seeds).

:data:`PROTOCOLS` holds that protocol (``"dgnet"``) and the book's lighter one (``"book"``, which
chapter 10 runs in CI; its departures are listed in :data:`BOOK_DEPARTURES`). :data:`METHODS` are the
ways to train: the four of the literature, and one of this book's (``"leapfrog_cosine"``, the SRNN loss
with a cosine learning-rate decay). :func:`train_method` trains all seeds of one method at once (:mod:`hnnlib.stacked`)
and caches the models; :func:`evaluate_method` computes the two metrics per seed. From a shell::

    python -m hnnlib.experiments trajectories --protocol dgnet --task mass_spring --seeds 0-14
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .. import steppers
from .._checks import check_seed
from .._io import json_sha256
from ..checkpoints import load_checkpoint, save_checkpoint
from ..data import sample_two_body_states
from ..metrics import MeanWithError, q2_plus_p2, sample_metric_states
from ..models import HNN, SeparableHNN
from ..observed import ObservedSplit, make_observed_trajectories
from ..rk45_batched import solve_ivp_batched
from ..stacked import member_sum, stack
from ..systems import get_system
from ..trajectory_losses import discrete_gradient_loss, finite_difference_loss, k_step_loss, one_step_loss
from ..training import TrainingHistory, log_training, optimize
from . import workers as _workers
from .cache import default_cache_dir, source_hash

__all__ = ["BOOK_DEPARTURES", "METHODS", "PROTOCOLS", "Method", "MethodResult", "TrajectoryProtocol", "evaluate_method",
           "get_protocol", "main", "make_data", "protocol_for", "train_method", "train_methods"]


@dataclass(frozen=True)
class TrajectoryProtocol:
    """Data, training and metric settings of one task under one protocol."""

    task: str
    system: str
    n_trajectories: int
    n_times: int
    t_span: tuple[float, float]
    noise_std: float
    radius: tuple[float, float]
    test_fraction: float
    hidden_dim: int
    steps: int
    batch_size: int | None
    learning_rate: float
    weight_decay: float
    energy: str  # "q2_plus_p2" or "hamiltonian"
    metric_states: int = 15
    orbit_noise: float = 0.05

    @property
    def time_step(self) -> float:
        return (self.t_span[1] - self.t_span[0]) / (self.n_times - 1)

    def replace(self, **changes: Any) -> "TrajectoryProtocol":
        return dataclasses.replace(self, **changes)


_ONE_BODY = dict(n_trajectories=50, n_times=100, t_span=(0.0, 20.0), noise_std=0.1, test_fraction=0.5, hidden_dim=200,
                 steps=2000, batch_size=None, learning_rate=1e-3, weight_decay=1e-4, energy="q2_plus_p2")
_DGNET = {
    "mass_spring": TrajectoryProtocol("mass_spring", "mass_spring", radius=(0.1, 1.0), **_ONE_BODY),
    "pendulum": TrajectoryProtocol("pendulum", "pendulum", radius=(1.3, 2.3), **_ONE_BODY),
    "two_body": TrajectoryProtocol("two_body", "two_body", n_trajectories=1000, n_times=500, t_span=(0.0, 25.0), noise_std=0.0,
                                   radius=(0.5, 1.5), test_fraction=0.2, hidden_dim=200, steps=10_000, batch_size=200,
                                   learning_rate=1e-3, weight_decay=0.0, energy="hamiltonian"),
}
#: What the book's protocol changes, and why (chapter 10's reproducibility note prints it).
BOOK_DEPARTURES = {
    "hidden_dim": "64 hidden units instead of 200, to fit 60 trainings into the CI budget",
    "batch_size": "minibatches of 200 pairs for the one-body tasks instead of the full batch of 2475",
    "two_body": "200 orbits (160 train) instead of 1000, and 500 steps instead of 10,000",
    "steps": "1000 steps instead of 2000 for the 4-step leapfrog loss (four steps per sample)",
    "seeds": "5 seeds instead of 15",
    "leapfrog_cosine": "this book's method (not DGNet's): the SRNN loss with a cosine learning rate, 2000 steps on two bodies",
}
_BOOK = {
    "mass_spring": _DGNET["mass_spring"].replace(hidden_dim=64, batch_size=200),
    "pendulum": _DGNET["pendulum"].replace(hidden_dim=64, batch_size=200),
    "two_body": _DGNET["two_body"].replace(hidden_dim=64, n_trajectories=200),
}
#: The protocols by name, then by task.
PROTOCOLS: dict[str, dict[str, TrajectoryProtocol]] = {"dgnet": _DGNET, "book": _BOOK}
#: The book protocol's training steps where a method or task gets other than the protocol's (the CI budget), by
#: (task, method); "*" = any. The first key that matches, in the order (task, method), (task, "*"), ("*", method), wins.
BOOK_STEPS: dict[tuple[str, str], int] = {("*", "leapfrog_k4"): 1000, ("two_body", "*"): 500,
                                          ("two_body", "leapfrog_cosine"): 2000}


#: The training loss is recorded on at most this many samples per seed (equally spaced over the training set).
EVAL_SAMPLES = 2500


def get_protocol(name: str, task: str) -> TrajectoryProtocol:
    """``PROTOCOLS[name][task]``, with a clear error naming the valid choices."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; expected one of {sorted(PROTOCOLS)}")
    if task not in PROTOCOLS[name]:
        raise ValueError(f"unknown task {task!r}; expected one of {sorted(PROTOCOLS[name])}")
    return PROTOCOLS[name][task]


def protocol_for(name: str, task: str, method: str) -> TrajectoryProtocol:
    """The protocol ``name`` of ``task`` as ``method`` trains under it (the book's protocol shortens some runs, :data:`BOOK_STEPS`)."""
    protocol = get_protocol(name, task)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {sorted(METHODS)}")
    if name == "book":
        steps = [BOOK_STEPS[key] for key in ((task, method), (task, "*"), ("*", method)) if key in BOOK_STEPS]
        if steps:
            protocol = protocol.replace(steps=steps[0])
    return protocol


@dataclass(frozen=True)
class Method:
    """One way to train on observed trajectories, and the integrator its model is rolled out with."""

    name: str
    label: str
    model: str  # "hnn" or "separable"
    loss: str  # "finite_differences", "one_step", "k_step" or "discrete_gradient"
    stepper: str | None  # the integrator in the loss
    rollout: str  # the integrator of the energy metric
    k: int = 1
    lr_schedule: str = "constant"  # :data:`hnnlib.optim.LR_SCHEDULES`


#: The methods, by name: (a) finite differences, (b) HNN++ (RK2, RK4), (c) SRNN (leapfrog), (d) DGNet.
METHODS: dict[str, Method] = {m.name: m for m in (
    Method("finite_differences", "HNN, finite differences", "hnn", "finite_differences", None, "discrete_gradient"),
    Method("rk2", "HNN++, RK2", "hnn", "one_step", "rk2", "rk2"),
    Method("rk4", "HNN++, RK4", "hnn", "one_step", "rk4", "rk4"),
    Method("leapfrog", "SRNN, leapfrog", "separable", "one_step", "leapfrog", "leapfrog"),
    Method("leapfrog_k4", "SRNN, leapfrog, 4 steps", "separable", "k_step", "leapfrog", "leapfrog", k=4),
    Method("discrete_gradient", "DGNet, discrete gradient", "hnn", "discrete_gradient", None, "discrete_gradient"),
    # This book's: the SRNN loss with the learning rate decayed along a cosine (hnnlib.optim).
    Method("leapfrog_cosine", "SRNN, leapfrog, cosine rate", "separable", "one_step", "leapfrog", "leapfrog",
           lr_schedule="cosine"),
)}


def make_data(protocol: TrajectoryProtocol, seed: int) -> ObservedSplit:
    """The observed trajectories of ``protocol`` for ``seed`` (each seed has its own data, as in DGNet)."""
    return make_observed_trajectories(
        protocol.system, n_trajectories=protocol.n_trajectories, n_times=protocol.n_times, t_span=protocol.t_span,
        noise_std=protocol.noise_std, radius=protocol.radius, orbit_noise=protocol.orbit_noise,
        test_fraction=protocol.test_fraction, seed=check_seed(seed),
    )


def _key(protocol: TrajectoryProtocol, method: Method, seeds: Sequence[int]) -> str:
    return json_sha256({"protocol": dataclasses.asdict(protocol), "method": dataclasses.asdict(method), "seeds": list(seeds),
                        "source": source_hash()})


def _samples(protocol: TrajectoryProtocol, method: Method, data: ObservedSplit) -> tuple[torch.Tensor, ...]:
    """Each training sample's tensors: (inputs, targets) for finite differences, (x, x_next) or (x, following)."""
    train = data.train
    if method.loss == "finite_differences":
        return train.finite_differences("central")
    if method.loss == "k_step":
        return train.windows(method.k)
    return train.pairs()


def _loss(method: Method, model: Any, tensors: Sequence[torch.Tensor], h: float) -> torch.Tensor:
    if method.loss == "finite_differences":
        return finite_difference_loss(model, *tensors)
    if method.loss == "one_step":
        return one_step_loss(method.stepper, model, *tensors, h)
    if method.loss == "k_step":
        return k_step_loss(method.stepper, model, *tensors, h)
    return discrete_gradient_loss(model, *tensors, h)


def train_method(
    protocol: TrajectoryProtocol,
    method: Method | str,
    seeds: Sequence[int],
    datas: Sequence[ObservedSplit] | None = None,
    *,
    cache: bool | str | os.PathLike = True,
    progress: bool = True,
) -> tuple[list[torch.nn.Module], TrainingHistory]:
    """Train one model per seed with ``method`` under ``protocol``, all seeds at once, or load them from the cache.

    Member ``s`` is built after ``torch.manual_seed(seeds[s])`` and trained on ``datas[s]`` with its own
    minibatches (seeded by its seed), as if alone (:mod:`hnnlib.stacked`). The history's losses are the
    members' mean, recorded 21 times on at most :data:`EVAL_SAMPLES` samples per seed.

    Returns
    -------
    models : list of HNN or SeparableHNN, one per seed, in eval mode
    history : TrainingHistory
    """
    method = METHODS[method] if isinstance(method, str) else method
    seeds = [check_seed(s) for s in seeds]
    if not seeds:
        raise ValueError("train_method needs at least one seed")
    datas = list(datas) if datas is not None else [make_data(protocol, s) for s in seeds]
    if len(datas) != len(seeds):
        raise ValueError(f"give one dataset per seed: {len(seeds)} seeds, {len(datas)} datasets")
    folder = None
    if cache:
        folder = (default_cache_dir() if cache is True else Path(cache)) / "trajectories" / _key(protocol, method, seeds)
        if (folder / "history.json").exists():
            try:
                models = [load_checkpoint(folder / f"seed{s}.pt") for s in seeds]
                plain = json.loads((folder / "history.json").read_text())
                return models, TrainingHistory(**plain)
            except (ValueError, OSError, KeyError, TypeError):
                pass  # unreadable: train again
    cls = SeparableHNN if method.model == "separable" else HNN
    members = []
    for s in seeds:
        torch.manual_seed(s)
        members.append(cls(datas[0].train.dim, protocol.hidden_dim))
    model = stack(members)
    samples = [_samples(protocol, method, d) for d in datas]
    stacked = [torch.stack([sample[i] for sample in samples]) for i in range(len(samples[0]))]  # each (S, N, ...)
    n, h = stacked[0].shape[1], datas[0].time_step
    rows = torch.arange(len(seeds))[:, None]
    generators = [torch.Generator().manual_seed(s) for s in seeds]

    def batches():
        for _ in range(protocol.steps):
            if protocol.batch_size is None:
                yield None
            else:
                yield torch.stack([torch.randperm(n, generator=g)[: protocol.batch_size] for g in generators])

    def gather(idx: torch.Tensor | None) -> list[torch.Tensor]:
        parts = stacked if idx is None else [t[rows, idx] for t in stacked]
        return [p.reshape(-1, *p.shape[2:]) for p in parts]

    def batch_loss(idx: torch.Tensor | None) -> torch.Tensor:
        return member_sum(_loss(method, model, gather(idx), h), len(seeds))

    eval_idx = torch.linspace(0, n - 1, min(n, EVAL_SAMPLES)).round().long().expand(len(seeds), -1)

    def eval_losses() -> tuple[float, float]:  # on a fixed subset of each member's samples, spread over its data
        with torch.no_grad():
            return float(_loss(method, model, gather(eval_idx), h)), float("nan")

    description = f"{protocol.task}: {method.label} ({len(seeds)} seeds)"
    log_training(model, stacked, dict(protocol=dataclasses.asdict(protocol), method=method.name, seeds=list(seeds)),
                 description)
    history = optimize(model, batch_loss, eval_losses, batches(), steps=protocol.steps, learning_rate=protocol.learning_rate,
                       weight_decay=protocol.weight_decay, eval_every=max(1, protocol.steps // 20), progress=progress,
                       description=description, lr_schedule=method.lr_schedule)
    models = model.unstack()
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        for s, m in zip(seeds, models):
            save_checkpoint(m, folder / f"seed{s}.pt", {"task": protocol.task, "method": method.name, "seed": s})
        (folder / "history.json").write_text(json.dumps(dataclasses.asdict(history)))
    return models, history


@dataclass(frozen=True)
class MethodResult:
    """The metrics of one method over seeds.

    Attributes
    ----------
    derivative_error, energy_error : numpy.ndarray, shape (n_seeds,)
        Per seed, DGNet's two metrics.
    t : numpy.ndarray, shape (T,)
    true, predicted : numpy.ndarray, shape (n_seeds, n_states, T, D)
        The metric's orbits.
    true_energy, predicted_energy : numpy.ndarray, shape (n_seeds, n_states, T)
    """

    method: str
    derivative_error: np.ndarray
    energy_error: np.ndarray
    t: np.ndarray
    true: np.ndarray
    predicted: np.ndarray
    true_energy: np.ndarray
    predicted_energy: np.ndarray

    @property
    def derivative(self) -> MeanWithError:
        return MeanWithError.of(self.derivative_error)

    @property
    def energy(self) -> MeanWithError:
        return MeanWithError.of(self.energy_error)



def train_methods(
    jobs: Sequence[tuple[TrajectoryProtocol, Method | str, Sequence[ObservedSplit] | None]],
    seeds: Sequence[int],
    *,
    cache: bool | str | os.PathLike = True,
    progress: bool = True,
    workers: int = 1,
) -> list[tuple[list[torch.nn.Module], TrainingHistory]]:
    """:func:`train_method` for each job ``(protocol, method, datas)``, in order; the results in the same order.

    With ``workers`` > 1, the jobs are cut into that many runs of consecutive jobs: this process
    trains the first, other processes the others, meanwhile, each with this process's torch
    threads (:func:`hnnlib.experiments.workers.map_in_order`). Every model is the same bit for bit
    as trained here (tested); the progress bars are drawn in the jobs' order.
    """
    return _workers.map_in_order(train_method, [(protocol, method, seeds, datas) for protocol, method, datas in jobs],
                                 workers, cache=cache, progress=progress)


def metric_states(protocol: TrajectoryProtocol, seed: int) -> np.ndarray:
    """The energy metric's starting states: DGNet's ``+-U[0.2, 1.0]`` per coordinate (one body, drawn per seed), or
    the two-body orbits of ``np.random.seed(i)`` for ``i = 0..14`` (the same for every seed, as in DGNet)."""
    if protocol.system == "two_body":
        return np.concatenate([sample_two_body_states(1, np.random.RandomState(i), position_range=protocol.radius,
                                                      orbit_noise=protocol.orbit_noise) for i in range(protocol.metric_states)])
    return sample_metric_states(protocol.metric_states, (0.2, 1.0), np.random.default_rng([check_seed(seed), 15]))


_TRUE_ORBITS: dict[tuple[str, bytes, bytes], np.ndarray] = {}  # the last few metric orbits, by system, starts, times


def _true_orbits(system_name: str, starts: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The true orbits from ``starts`` (S, n, D) at times ``t``, (S, n, T, D), RK45 at 1e-12.

    Every method of a task is measured on the same orbits: they are computed once and kept (the
    last 4 sets), so a chapter that evaluates six methods integrates them once, not six times.
    """
    key = (system_name, starts.tobytes() + str(starts.shape).encode(), t.tobytes())
    if key not in _TRUE_ORBITS:
        system = get_system(system_name)
        true = solve_ivp_batched(system.time_derivative, starts.reshape(-1, starts.shape[-1]), t, rtol=1e-12, atol=1e-12,
                                 dtype=torch.float64).reshape(*starts.shape[:2], len(t), -1)
        while len(_TRUE_ORBITS) >= 4:
            _TRUE_ORBITS.pop(next(iter(_TRUE_ORBITS)))
        _TRUE_ORBITS[key] = true
    return _TRUE_ORBITS[key].copy()  # each result its own array: what a caller changes stays its own


def evaluate_method(
    protocol: TrajectoryProtocol, method: Method | str, models: Sequence[torch.nn.Module], datas: Sequence[ObservedSplit],
    seeds: Sequence[int], *, rollout_with: str | None = None,
) -> MethodResult:
    """DGNet's derivative and energy errors of each seed's model (the rollouts of all seeds run as one stacked batch)."""
    method = METHODS[method] if isinstance(method, str) else method
    system = get_system(protocol.system)
    t = np.linspace(protocol.t_span[0], protocol.t_span[1], protocol.n_times)
    derivative = []
    for model, data in zip(models, datas):
        x, dx = data.test.states.reshape(-1, data.test.dim), data.test.derivatives.reshape(-1, data.test.dim)
        with torch.no_grad():
            derivative.append(float((model.time_derivative(x) - dx).pow(2).mean()))
    starts = np.stack([metric_states(protocol, s) for s in seeds])  # (S, n, D)
    true = _true_orbits(protocol.system, starts, t)
    stacked = stack(models)
    with torch.no_grad():
        x0 = torch.as_tensor(starts.reshape(-1, starts.shape[-1]), dtype=torch.float32)
        predicted = steppers.rollout(rollout_with or method.rollout, stacked, x0, protocol.time_step, len(t) - 1)
    predicted = predicted.double().numpy().reshape(true.shape)
    energy = q2_plus_p2 if protocol.energy == "q2_plus_p2" else system.hamiltonian
    true_e, pred_e = energy(true), energy(predicted)
    errors = ((true_e - pred_e) ** 2).mean(axis=(1, 2))
    return MethodResult(method.name, np.array(derivative), errors, t, true, predicted, true_e, pred_e)


def _seeds(text: str) -> list[int]:
    if "-" in text:
        low, high = (int(v) for v in text.split("-"))
        return list(range(low, high + 1))
    return [int(v) for v in text.split(",")]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hnnlib.experiments trajectories``: train and evaluate methods under a protocol, print a table."""
    parser = argparse.ArgumentParser(prog="python -m hnnlib.experiments trajectories", description=__doc__.split("\n")[0])
    parser.add_argument("--protocol", default="dgnet", choices=sorted(PROTOCOLS))
    parser.add_argument("--task", default="mass_spring", choices=sorted(_DGNET))
    parser.add_argument("--methods", default="rk2,leapfrog,discrete_gradient")
    parser.add_argument("--seeds", default="0-14", help="e.g. 0-14 or 0,1,2")
    parser.add_argument("--no-cache", action="store_true")
    args = parser.parse_args(argv)
    seeds = _seeds(args.seeds)
    datas = [make_data(get_protocol(args.protocol, args.task), s) for s in seeds]
    print(f"{args.task} under the {args.protocol} protocol, seeds {seeds}")
    for name in args.methods.split(","):
        if name not in METHODS:
            parser.error(f"unknown method {name!r}; expected one of {sorted(METHODS)}")
        protocol = protocol_for(args.protocol, args.task, name)
        models, _ = train_method(protocol, name, seeds, datas, cache=not args.no_cache, progress=False)
        result = evaluate_method(protocol, name, models, datas, seeds)
        print(f"{METHODS[name].label:30s} derivative {result.derivative:.2e}   energy {result.energy:.2e}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
