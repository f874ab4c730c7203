"""Running experiments: one task with one seed (:func:`run_experiment`), or over seeds (:func:`run_many`).

:func:`run_experiment` builds the data, trains (or loads from the cache) the baseline and the HNN
exactly as the chapters do (``set_seed(seed)`` before each model, the config's training options,
one torch thread) and recomputes every metric from the models, so a result is the same whether a
model was trained now or loaded.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from .. import paper
from .._checks import check_seed
from ..labels import MODEL_KINDS, MODEL_LABELS
from ..metrics import MeanWithError, RolloutComparison
from ..progress import finished_bar
from ..training import TrainingHistory, set_seed, torch_threads
from .cache import ModelCache, _history_from_plain, _history_to_plain, as_cache
from .config import ExperimentConfig
from .tasks import Task, get_task, make_config
from . import workers as _workers

__all__ = ["METRICS", "ExperimentResult", "SeedSummary", "run_experiment", "run_many", "trained_models"]

logger = logging.getLogger("hnnlib.experiments")

#: The metrics of a Table 1 row.
METRICS: tuple[str, ...] = ("train_loss", "test_loss", "energy_mse")


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
    description = f"{config.task}, seed {config.seed}: {MODEL_LABELS[kind]}"
    if cached is not None:
        loaded, history = cached
        model.load_state_dict(loaded.state_dict())
        model.eval()
        logger.info("%s, seed %d, %s: loaded from %s", config.task, config.seed, MODEL_LABELS[kind], store.path(config, kind))
        if progress:
            _show_finished(history, f"{description} (loaded from the model cache)")
        return model, history, True
    history = task.train_model(config, model, data, progress=progress, description=description)
    if store is not None:
        path = store.save(config, kind, model, history)
        if path is not None:
            logger.info("%s, seed %d, %s: trained, saved to %s", config.task, config.seed, MODEL_LABELS[kind], path)
    return model, history, False


def _show_finished(history: TrainingHistory, description: str) -> None:
    """A finished progress bar for a model loaded from the cache, with its last losses: a cell shows the same
    outputs whether it trained the model or loaded it."""
    losses = dict(train=f"{history.train_loss[-1]:.2e}", test=f"{history.test_loss[-1]:.2e}") if history.step else {}
    finished_bar(history.step[-1] if history.step else 0, description, **losses)


def _start_workers(spec: Task, config: ExperimentConfig, kinds: Sequence[str], data: Any, store: ModelCache | None,
                   progress: bool, workers: int) -> dict[str, _workers.Worker]:
    """Start one process for each of the last ``workers - 1`` kinds that need training (none if ``workers`` is 1)."""
    directory = str(store.directory) if store is not None else None
    needs_training = lambda kind: store is None or not store.path(config, kind).is_file()  # noqa: E731
    return {kind: _workers.start(_trained_state, spec, config, kind, data, directory, progress, name=f"{config.task}'s {kind} model")
            for kind in _workers.kinds_for_workers(kinds, needs_training, workers)}


def _trained_state(spec: Task, config: ExperimentConfig, kind: str, data: Any, cache_directory: str | None,
                   progress: bool) -> tuple[dict, dict, bool]:
    """In a worker process: :func:`_trained_model`, returned as weights and a plain history (to be sent back)."""
    store = ModelCache(cache_directory) if cache_directory is not None else None
    with torch_threads(config.threads):
        model, history, loaded = _trained_model(spec, config, kind, data, store, progress)
    return model.state_dict(), _history_to_plain(history), loaded


def _rebuilt(spec: Task, config: ExperimentConfig, kind: str, data: Any, state: tuple[dict, dict, bool]
             ) -> tuple[nn.Module, TrainingHistory, bool]:
    """A worker's model, built here as :func:`_train_or_load` builds it (``set_seed`` first), with its weights."""
    weights, plain_history, loaded = state
    set_seed(config.seed)
    model = spec.make_model(config, kind, data)
    model.load_state_dict(weights)
    return model.eval(), _history_from_plain(plain_history), loaded


def trained_models(
    task: str | ExperimentConfig,
    seed: int | None = None,
    *,
    data: Any = None,
    cache: bool | str | os.PathLike | ModelCache | None = True,
    progress: bool = True,
    kinds: Sequence[str] = MODEL_KINDS,
    workers: int = 1,
    **overrides: Any,
) -> tuple[dict[str, nn.Module], dict[str, TrainingHistory], dict[str, bool]]:
    """The baseline and the HNN of one task and seed: loaded from the model cache, or trained and cached.

    The chapters' way to get their models. Each model is trained as a chapter trains it by hand
    (``set_seed(seed)``, build, :func:`hnnlib.train` with the config's options, one torch
    thread), so the numbers are the same whichever way it came; the cache only makes sure that no
    model is trained twice, whichever chapter (or the results chapter, or the command line) asks first.

    Parameters
    ----------
    task, seed, cache, progress, **overrides
        As for :func:`run_experiment`.
    data : optional
        The task's data, if the caller made it already (it must be what the config makes; by
        default it is made here).
    kinds : sequence of str
        The models wanted, a subset of :data:`~hnnlib.labels.MODEL_KINDS` (default both). Each
        model is seeded on its own, so a model is the same whether or not the other is asked for.
    workers : int
        Processes that train at once (default 1: one model after the other). With 2, the HNN is
        trained in another process (:mod:`hnnlib.experiments.workers`) while this one trains the
        baseline: the same weights bit for bit, on two cores. Capped at the cores this process may
        use; a model already in the cache is loaded here, without a process.

    Returns
    -------
    models, histories, from_cache : dict
        Keyed by model kind (``"baseline"``, ``"hnn"``; :data:`hnnlib.labels.MODEL_LABELS` gives the labels).
    """
    if isinstance(kinds, str) or not kinds or any(kind not in MODEL_KINDS for kind in kinds):
        raise ValueError(f"kinds must be a non-empty sequence of {MODEL_KINDS}, got {kinds!r}")
    _workers.check_workers(workers)
    config = make_config(task, seed, **overrides)
    spec = get_task(config.task)
    store = as_cache(cache)
    wanted = [k for k in MODEL_KINDS if k in kinds]  # in MODEL_KINDS' order
    models, histories, from_cache = {}, {}, {}
    with torch_threads(config.threads):
        data = spec.make_data(config) if data is None else data
        started = _start_workers(spec, config, wanted, data, store, progress, workers)
        try:
            for kind in wanted:  # the bars are drawn in this order, as without workers
                if kind in started:
                    models[kind], histories[kind], from_cache[kind] = _rebuilt(spec, config, kind, data, started[kind].result())
                else:
                    models[kind], histories[kind], from_cache[kind] = _trained_model(spec, config, kind, data, store, progress)
        finally:
            for worker in started.values():
                worker.stop()  # a worker still running when something failed here
    return models, histories, from_cache


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
    start = time.perf_counter()
    with torch_threads(config.threads):
        data = spec.make_data(config)
        models, histories, from_cache = trained_models(config, data=data, cache=cache, progress=progress)
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
        rollouts = {v.n for by_kind in self.results[0].energy_mse_by_energy.values() for v in by_kind.values()}
        energy = "energy: one rollout, so none, '(n = 1)'" if rollouts == {1} else "energy: over rollouts"
        return f"one seed: the run's own standard error (over samples; {energy})"

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
