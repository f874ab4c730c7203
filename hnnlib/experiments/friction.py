"""Chapter 12's tasks: the dissipative HNN (D-HNN) on a damped mass-spring and on the real pendulum.

Sosanya & Greydanus, "Dissipative Hamiltonian Neural Networks", 2022 (arXiv:2201.10085), learn
``H_theta`` and ``D_theta`` and the field ``S_H + grad D`` (:class:`hnnlib.models.DissipativeHNN`).
Four registered tasks (:data:`FRICTION_TASKS`), each with its protocol written once here:

- ``damped_spring``: a :class:`~hnnlib.systems.DampedOscillator` with known friction, Task 1's
  sampling and noise; the D-HNN must recover ``H`` (up to a constant) and ``D``.
- ``real_pendulum_dhnn``: the real pendulum (Task 3's recording) under the D-HNN paper's own
  protocol (its reference notebook ``analyze_realpend.ipynb``): centred finite differences, a
  444 / 111 split, 5000 Adam steps at ``5e-3`` on 128-sample minibatches taken in order; the
  metric is the mean +- std of the last three test-loss records (every 200 steps).
- ``real_pendulum_dhnn_cosine``: the same, with one change of this book's: the learning rate
  decays from ``5e-3`` to almost 0 along a cosine over the 5000 steps, so that the last records
  come from a settled model rather than from Adam's noise at a large constant step.
- ``real_pendulum_dgnet``: the real pendulum under DGNet's protocol (Matsubara, Ishikawa &
  Yaguchi, NeurIPS 2020; ``experiment-real/train_dgnet.py``), which is the HNN reference code's
  Task 3 (Table 1): forward differences, the reference split, 2000 full-batch Adam steps; the
  metric is the energy MSE of one rollout over the test span, averaged over trials (seeds).

Trained models are kept in the model cache folder (:func:`~hnnlib.experiments.cache.default_cache_dir`,
sub-folder ``friction``), keyed by the task's settings, the seed, hnnlib's version and its source
hash, and saved with :mod:`hnnlib.checkpoints`; so no model is trained twice. From a shell::

    python -m hnnlib.experiments friction --seed 0

prints chapter 12's table beside the published numbers (:mod:`hnnlib.followups`).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from .. import __version__, followups, realdata
from .._checks import check_positive_int, check_seed
from .._io import json_sha256
from ..checkpoints import load_checkpoint, save_checkpoint
from ..data import TrajectoryDataset, make_trajectory_dataset
from ..integrators import rk4
from ..metrics import MeanWithError, _comparison as observed_comparison, compare_to_observed
from ..models import DissipativeHNN
from ..optim import Adam, check_lr_schedule, scheduled_learning_rate
from ..progress import finished_bar, progress_bar
from ..systems import DampedOscillator
from ..training import TrainingHistory, fit, set_seed, torch_threads
from .cache import default_cache_dir, source_hash

__all__ = [
    "FRICTION_TASKS", "FrictionTask", "dhnn_protocol_data", "main", "protocol_row", "train_in_order", "trained_dhnn",
]


@dataclass(frozen=True)
class FrictionTask:
    """One of chapter 12's tasks: its settings, and the published numbers it is compared with.

    Attributes
    ----------
    name, title : str
    settings : dict
        Everything that determines a trained model besides the seed (the cache key hashes it).
    published : dict of str -> Published
        Metric name -> the published number under this task's protocol (may be empty).
    chapter : str
    """

    name: str
    title: str
    settings: Mapping[str, Any]
    published: Mapping[str, followups.Published] = field(default_factory=dict)
    chapter: str = "12_friction"


#: Chapter 12's tasks, by name.
FRICTION_TASKS: dict[str, FrictionTask] = {}


def _register(task: FrictionTask) -> FrictionTask:
    FRICTION_TASKS[task.name] = task
    return task


_register(FrictionTask(
    "damped_spring", "Damped mass-spring, known friction",
    dict(system=dict(k=2.0, m=0.5, gamma=0.2), n_trajectories=50, n_times=30, t_span=(0.0, 3.0), radius=(0.2, 1.0),
         noise_std=0.1, test_fraction=0.5, hidden_dim=100, steps=2000, learning_rate=1e-3, weight_decay=1e-4,
         eval_every=50),
))
_register(FrictionTask(
    "real_pendulum_dhnn", "Real pendulum, D-HNN paper's protocol",
    dict(data="dhnn", train_fraction=0.8, hidden_dim=256, steps=5000, learning_rate=5e-3, weight_decay=0.0,
         batch_size=128, test_every=200, last_records=3),
    published={"test_loss": followups.DHNN_REAL_PENDULUM_TEST_LOSS},
))
_register(FrictionTask(
    "real_pendulum_dhnn_cosine", "Real pendulum, D-HNN paper's protocol, cosine learning rate",
    dict(FRICTION_TASKS["real_pendulum_dhnn"].settings, lr_schedule="cosine"),
    published={"test_loss": followups.DHNN_REAL_PENDULUM_TEST_LOSS},
))
_register(FrictionTask(
    "real_pendulum_dgnet", "Real pendulum, DGNet's protocol",
    dict(data="reference", hidden_dim=200, steps=2000, learning_rate=1e-3, weight_decay=1e-5, eval_every=50,
         train_on="midpoints", trials=3),
    published={"energy_mse": followups.DGNET_REAL_PENDULUM_ENERGY_MSE},
))


def get_friction_task(name: str) -> FrictionTask:
    """The task called ``name``; ValueError listing the valid names otherwise."""
    if name not in FRICTION_TASKS:
        raise ValueError(f"unknown friction task {name!r}; valid: {', '.join(FRICTION_TASKS)}")
    return FRICTION_TASKS[name]


# --- data ----------------------------------------------------------------------------------------

def damped_spring_data(task: FrictionTask | None = None, seed: int = 0) -> TrajectoryDataset:
    """The damped mass-spring dataset of ``damped_spring`` (exact derivative targets, noisy states)."""
    s = dict((task or get_friction_task("damped_spring")).settings)
    system = DampedOscillator(**s["system"])
    return make_trajectory_dataset(
        system, n_trajectories=s["n_trajectories"], n_times=s["n_times"], t_span=s["t_span"], radius=s["radius"],
        noise_std=s["noise_std"], test_fraction=s["test_fraction"], seed=seed,
    )


def dhnn_protocol_data(train_fraction: float = 0.8, data_dir: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """Task 3's recording preprocessed as the D-HNN reference code does (``get_lipson_data``).

    The forward differences ``(x[i+1] - x[i]) / (t[i+1] - t[i])`` (actual time steps) are
    averaged pairwise, which centres them on ``x[i+1]`` (all but the last, which stays a forward
    difference); the first sample is dropped, leaving 555; the first ``int(556 * train_fraction)``
    = 444 train and the other 111 test, in time order.

    Returns
    -------
    dict
        ``x, dx`` (444, 2), ``x_test, dx_test`` (111, 2), float32; ``t, t_test`` their times (float64).
    """
    rec = realdata.read_recording(realdata.find_real_pendulum_file(data_dir), expected_rows=realdata.N_ROWS)
    x = np.stack([rec.angle, rec.velocity], axis=1)
    dx = np.diff(x, axis=0) / np.diff(rec.t)[:, None]
    dx[:-1] = (dx[:-1] + dx[1:]) / 2
    x, t = x[1:], rec.t[1:]
    split = int(len(rec.t) * train_fraction)

    def f32(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)

    return dict(x=f32(x[:split]), dx=f32(dx[:split]), x_test=f32(x[split:]), dx_test=f32(dx[split:]),
                t=torch.as_tensor(t[:split]), t_test=torch.as_tensor(t[split:]))


# --- training ------------------------------------------------------------------------------------

def train_in_order(
    model: torch.nn.Module, x: torch.Tensor, dx: torch.Tensor, x_test: torch.Tensor, dx_test: torch.Tensor, *,
    steps: int, learning_rate: float, batch_size: int, test_every: int, weight_decay: float = 0.0,
    lr_schedule: str = "constant", progress: bool = True, description: str | None = None,
) -> TrainingHistory:
    """Adam on minibatches taken in order, as the D-HNN reference code's ``train`` does.

    Adam is :class:`hnnlib.optim.Adam`, as for every model of the book (the D-HNN code's
    ``torch.optim.Adam``'s update in one fused kernel: the same algorithm, rounded differently).

    Step ``s`` uses the samples ``[b, b + batch_size)`` with ``b = s * batch_size mod n`` (so a
    batch near the end is shorter). The train loss recorded is that minibatch's, at every step
    (``batch_loss``); every ``test_every`` steps (from step 0) the full train and test losses are
    recorded too.

    ``lr_schedule``: ``"constant"`` (the reference code's) or ``"cosine"``, this book's change: step
    ``s`` (from 0) uses ``learning_rate * (1 + cos(pi s / steps)) / 2``
    (:func:`hnnlib.optim.cosine_learning_rate`), which decays to almost 0 by the last step.

    Returns
    -------
    TrainingHistory
    """
    steps, batch_size = check_positive_int(steps, "steps"), check_positive_int(batch_size, "batch_size")
    test_every = check_positive_int(test_every, "test_every")
    lr_schedule = check_lr_schedule(lr_schedule)
    if x.ndim != 2 or dx.shape != x.shape or x_test.ndim != 2 or dx_test.shape != x_test.shape:
        raise ValueError(f"x, dx and x_test, dx_test must be pairs of shape (n, D), got {tuple(x.shape)}, "
                         f"{tuple(dx.shape)}, {tuple(x_test.shape)}, {tuple(dx_test.shape)}")
    optimizer = Adam(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    history = TrainingHistory(step=[], train_loss=[], test_loss=[], batch_loss=[])
    n = x.shape[0]
    bar = progress_bar(range(steps), desc=description, disable=not progress)
    for step in bar:
        optimizer.set_learning_rate(scheduled_learning_rate(lr_schedule, learning_rate, step, steps))
        b = (step * batch_size) % n
        loss = (model.time_derivative(x[b:b + batch_size]) - dx[b:b + batch_size]).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.batch_loss.append(loss.item())
        if step % test_every == 0:
            with torch.no_grad():
                history.step.append(step)
                history.train_loss.append(float((model.time_derivative(x) - dx).pow(2).mean()))
                history.test_loss.append(float((model.time_derivative(x_test) - dx_test).pow(2).mean()))
    bar.close()
    return history


def midpoints(split: Any, data_dir: str | os.PathLike | None = None) -> torch.Tensor:
    """``(x_i + x_{i+1}) / 2`` for each sample ``x_i`` of a Task 3 split: where a forward difference is centred.

    The forward difference ``(x_{i+1} - x_i) / h`` is a second-order estimate of ``dx/dt`` at the
    midpoint of the two states, but only a first-order one at ``x_i``: there it carries an error
    ``(h / 2) d^2x/dt^2``, which for an oscillation points towards the centre, like friction.
    Training on the midpoints (DGNet's ``implicit_midpoint`` option) removes that bias. The next
    sample is found in the recording by time, so gaps and the reference split's last sample are handled.

    Returns
    -------
    torch.Tensor, shape (n, 2), the split's dtype
    """
    rec = realdata.read_recording(realdata.find_real_pendulum_file(data_dir), expected_rows=realdata.N_ROWS)
    x_all = np.stack([rec.angle, rec.velocity], axis=1)
    t = split.t[0].double().numpy()
    rows = np.abs(rec.t[None, :] - t[:, None]).argmin(axis=1)  # nearest: the split's times are float32
    if not (rows.max() + 1 < len(rec.t) and np.allclose(rec.t[rows], t, rtol=0, atol=1e-3)):
        raise ValueError("the split's times are not times of the recording (each needs a next sample)")
    mid = (x_all[rows] + x_all[rows + 1]) / 2
    return torch.as_tensor(mid, dtype=split.x.dtype)


def _history_plain(history: TrainingHistory) -> dict[str, list]:
    return {k: [float(v) for v in getattr(history, k)] for k in ("step", "train_loss", "test_loss", "batch_loss")}


def _history_from(plain: Mapping[str, list]) -> TrainingHistory:
    return TrainingHistory(step=[int(s) for s in plain["step"]], train_loss=list(plain["train_loss"]),
                           test_loss=list(plain["test_loss"]), batch_loss=list(plain["batch_loss"]))


def cache_path(task: FrictionTask, seed: int, directory: str | os.PathLike | None = None) -> Path:
    """Where the D-HNN of ``task`` and ``seed`` is cached: keyed by the settings, seed, version and source."""
    key = json_sha256({"task": task.name, "settings": dataclasses.asdict(task)["settings"], "seed": seed,
                       "hnnlib_version": __version__, "source": source_hash()})
    root = Path(directory).expanduser() if directory is not None else default_cache_dir()
    return root / "friction" / f"{__version__}-{source_hash()[:16]}" / f"{task.name}-seed{seed}-{key[:32]}.pt"


def _train(task: FrictionTask, seed: int, progress: bool) -> tuple[DissipativeHNN, TrainingHistory]:
    s = task.settings
    set_seed(seed)
    model = DissipativeHNN(2, s["hidden_dim"])
    description = f"D-HNN, {task.title}, seed {seed}"
    if task.name == "damped_spring":
        data = damped_spring_data(task, seed)
        history = fit(model, data.train.x.reshape(-1, 2), data.train.dx.reshape(-1, 2),
                      x_test=data.test.x.reshape(-1, 2), dx_test=data.test.dx.reshape(-1, 2), steps=s["steps"],
                      learning_rate=s["learning_rate"], weight_decay=s["weight_decay"], eval_every=s["eval_every"],
                      seed=seed, progress=progress, description=description)
    elif s["data"] == "dhnn":
        d = dhnn_protocol_data(s["train_fraction"])
        history = train_in_order(model, d["x"], d["dx"], d["x_test"], d["dx_test"], steps=s["steps"],
                                 learning_rate=s["learning_rate"], batch_size=s["batch_size"],
                                 test_every=s["test_every"], weight_decay=s["weight_decay"],
                                 lr_schedule=s.get("lr_schedule", "constant"), progress=progress,
                                 description=description)
    else:
        data = realdata.load_real_pendulum(split=s["data"])
        x, x_test = midpoints(data.train), midpoints(data.test)
        history = fit(model, x, data.train.dx[0], x_test=x_test, dx_test=data.test.dx[0],
                      steps=s["steps"], learning_rate=s["learning_rate"], weight_decay=s["weight_decay"],
                      eval_every=s["eval_every"], seed=seed, progress=progress, description=description)
    return model.eval(), history


def trained_dhnn(name: str, seed: int = 0, *, cache: bool = True, progress: bool = True,
                 cache_dir: str | os.PathLike | None = None) -> tuple[DissipativeHNN, TrainingHistory]:
    """The D-HNN of task ``name`` trained from ``seed`` (one torch thread): from the cache, or trained and cached.

    Parameters
    ----------
    name : str
        A key of :data:`FRICTION_TASKS`.
    seed : int
    cache : bool
        Use (and fill) the model cache.
    progress : bool
        Show a progress bar while training (a finished bar when loaded from the cache).
    cache_dir : path-like, optional
        Default: :func:`~hnnlib.experiments.cache.default_cache_dir`.
    """
    task, seed = get_friction_task(name), check_seed(seed)
    path = cache_path(task, seed, cache_dir)
    if cache and path.exists():
        try:
            model = load_checkpoint(path)
            if isinstance(model, DissipativeHNN) and model.metadata.get("task") == name:
                history = _history_from(model.metadata["history"])
                if progress:
                    finished_bar(1, f"D-HNN, {task.title}, seed {seed} (from the model cache)")
                return model, history
        except (ValueError, KeyError, OSError):
            pass  # unreadable or foreign: train again and overwrite
    with torch_threads(1):
        model, history = _train(task, seed, progress)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(model, path, metadata={"task": name, "seed": seed, "history": _history_plain(history)})
    return model, history


# --- metrics -------------------------------------------------------------------------------------

def last_records(history: TrainingHistory, k: int) -> tuple[float, float]:
    """Mean and standard deviation (``ddof=0``) of the last ``k`` test-loss records, as D-HNN's ``print_stats``."""
    values = np.asarray(history.test_loss[-k:], dtype=np.float64)
    return float(values.mean()), float(values.std())


def rollout_energy_mse(model: torch.nn.Module, data: TrajectoryDataset, *, rtol: float | None = None,
                       atol: float = 1e-9) -> float:
    """Energy MSE of one rollout from the first test state over the test times (DGNet's and HNN's Task 3 metric).

    By :func:`rollout_comparison` (RK4, fine fixed steps), or with ``rtol`` by ``solve_ivp`` (RK45) at
    ``rtol`` and ``atol``, the model in float64 (slow: one state per call).
    """
    c = rollout_comparison(model, data) if rtol is None else compare_to_observed(
        copy.deepcopy(model).double(), data.test.x[0].double().numpy(), data.test.t[0].double().numpy(),
        realdata.pendulum_energy, rtol_model=rtol, atol=atol)
    return float(c.energy_mse.mean)


def rollout_comparison(model: torch.nn.Module, data: TrajectoryDataset, *, substeps: int = 4) -> Any:
    """One rollout from the first test state over the test times, compared with the recording.

    Integrated by :func:`~hnnlib.integrators.rk4` with ``substeps`` steps per sample interval
    (``h = 1/24`` at the default), on a float64 copy of the model: accurate to far below the
    metric (the chapter checks it against ``solve_ivp`` at DGNet's ``rtol = 1e-7``) and about 50
    times cheaper than calling the model state by state from SciPy.

    Returns
    -------
    RolloutComparison
        As :func:`~hnnlib.metrics.compare_to_observed` returns, energy :func:`hnnlib.realdata.pendulum_energy`.
    """
    model64 = copy.deepcopy(model).double()
    x_test, t_test = data.test.x[0].double().numpy(), data.test.t[0].double().numpy()
    with torch.no_grad():
        pred = rk4(model64.time_derivative, torch.as_tensor(x_test[0]), t_test, substeps=substeps).numpy()
    return observed_comparison(t_test, x_test[None], pred[None], realdata.pendulum_energy)


def protocol_row(seed: int = 0, *, cache: bool = True, progress: bool = True) -> dict[str, dict[str, Any]]:
    """This run's numbers under the two published protocols, beside the published ones.

    Returns
    -------
    dict
        ``{"dhnn_test_loss": {...}, "dhnn_cosine_test_loss": {...}, "dgnet_energy_mse": {...}}``,
        each with ``mean`` and ``spread`` (the D-HNN paper's: std of the last three records of
        one run; DGNet's: the standard error over trials), ``published`` (a
        :class:`~hnnlib.followups.Published`) and ``trials`` (the per-seed values). The cosine
        row is the D-HNN paper's protocol with a cosine learning-rate decay (this book's change).
    """
    dhnn_task = get_friction_task("real_pendulum_dhnn")
    _, history = trained_dhnn(dhnn_task.name, seed, cache=cache, progress=progress)
    loss_mean, loss_std = last_records(history, dhnn_task.settings["last_records"])
    cosine_task = get_friction_task("real_pendulum_dhnn_cosine")
    _, cosine_history = trained_dhnn(cosine_task.name, seed, cache=cache, progress=progress)
    cosine_mean, cosine_std = last_records(cosine_history, cosine_task.settings["last_records"])
    dgnet_task = get_friction_task("real_pendulum_dgnet")
    s = dgnet_task.settings
    data = realdata.load_real_pendulum(split=s["data"])
    trials = []
    for trial in range(s["trials"]):
        model, _ = trained_dhnn(dgnet_task.name, seed + trial, cache=cache, progress=progress)
        trials.append(rollout_energy_mse(model, data))
    return {
        "dhnn_test_loss": dict(mean=loss_mean, spread=loss_std, published=dhnn_task.published["test_loss"],
                               trials=[loss_mean]),
        "dhnn_cosine_test_loss": dict(mean=cosine_mean, spread=cosine_std, published=cosine_task.published["test_loss"],
                                      trials=[cosine_mean]),
        "dgnet_energy_mse": dict(mean=float(np.mean(trials)), spread=MeanWithError.of(np.asarray(trials)).stderr,
                                 published=dgnet_task.published["energy_mse"], trials=trials),
    }


def format_row(row: Mapping[str, Mapping[str, Any]]) -> str:
    """The table of :func:`protocol_row` as text, three significant figures."""
    lines = [f"{'metric (protocol)':34s} {'this run':>22s} {'published':>22s}"]
    names = {"dhnn_test_loss": "test loss (D-HNN paper)", "dhnn_cosine_test_loss": "  the same, cosine learning rate",
             "dgnet_energy_mse": "energy MSE (DGNet)"}
    for key, entry in row.items():
        pub = entry["published"]
        pub_text = f"{pub.value:.3g}" + (f" +- {pub.error:.2g}" if pub.error is not None else "")
        lines.append(f"{names.get(key, key):34s} {entry['mean']:>12.3g} +- {entry['spread']:<7.2g} {pub_text:>22s}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hnnlib.experiments friction``: chapter 12's table under the published protocols."""
    parser = argparse.ArgumentParser(prog="python -m hnnlib.experiments friction", description=main.__doc__)
    parser.add_argument("--seed", type=int, default=0, help="first seed (DGNet's trials use seed, seed + 1, ...)")
    parser.add_argument("--no-cache", action="store_true", help="train again, do not read or write the model cache")
    args = parser.parse_args(argv)
    print(format_row(protocol_row(args.seed, cache=not args.no_cache, progress=False)))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
