"""Every experiment of the paper through one code path.

Modules, one job each:

- :mod:`~hnnlib.experiments.config`: the configuration classes; every default is read from the
  library function that uses it.
- :mod:`~hnnlib.experiments.steps`: the steps of an experiment (data, model, training, metric) for
  each kind of task.
- :mod:`~hnnlib.experiments.tasks`: the task registry :data:`TASKS`, with each task's departures
  from the defaults.
- :mod:`~hnnlib.experiments.cache`: trained models on disk (:class:`ModelCache`).
- :mod:`~hnnlib.experiments.runner`: :func:`trained_models` (the chapters' models, cached), :func:`run_experiment` and :func:`run_many`.
- :mod:`~hnnlib.experiments.workers`: a model trained in a second process, for ``trained_models(..., workers=2)``.
- :mod:`~hnnlib.experiments.report`: text, CSV and JSON summaries.
- :mod:`~hnnlib.experiments.cli`: ``python -m hnnlib.experiments``.
- The chapters beyond the paper, each with its own protocol, table and command line:
  :mod:`~hnnlib.experiments.trajectories` (chapter 10), :mod:`~hnnlib.experiments.friction`
  (chapter 12), :mod:`~hnnlib.experiments.lagrangian` and :mod:`~hnnlib.experiments.lnn_protocol`
  (chapter 13).

>>> from hnnlib import experiments
>>> result = experiments.run_experiment("mass_spring", seed=0)  # doctest: +SKIP
>>> print(result.table())  # doctest: +SKIP

reproduces the Table 1 row of chapter 2 for the same seed. From a shell::

    python -m hnnlib.experiments mass_spring pendulum --seeds 0 1 2 --csv table1.csv
    python -m hnnlib.experiments all --seeds 0 --json results.json
    python -m hnnlib.experiments --help
"""

from ..labels import ENERGY_LABELS, MODEL_KINDS, MODEL_LABELS
from .cache import CACHE_ENV_VAR, CacheWarning, ModelCache, default_cache_dir, model_key, source_hash
from .cli import build_parser, main
from .config import (
    ExperimentConfig, NBodyConfig, OscillatorConfig, PixelConfig, RealPendulumConfig, SimulatedConfig, VectorFieldConfig, config_hash,
)
from .report import format_summary, summary_records, write_csv, write_json
from ..training import torch_threads
from .runner import METRICS, ExperimentResult, SeedSummary, run_experiment, run_many, trained_models
from .steps import Evaluation
from .tasks import TASKS, Task, get_task, make_config, register_task

__all__ = [
    "CACHE_ENV_VAR", "ENERGY_LABELS", "METRICS", "MODEL_KINDS", "MODEL_LABELS", "TASKS", "CacheWarning", "Evaluation",
    "ExperimentConfig", "ExperimentResult", "ModelCache", "NBodyConfig", "OscillatorConfig", "PixelConfig",
    "RealPendulumConfig", "SeedSummary", "SimulatedConfig", "Task", "VectorFieldConfig", "build_parser", "config_hash", "default_cache_dir",
    "format_summary", "get_task", "main", "make_config", "model_key", "register_task", "run_experiment", "run_many",
    "source_hash", "summary_records", "torch_threads", "trained_models", "write_csv", "write_json",
]
