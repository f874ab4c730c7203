"""The type and range of every configuration field, checked when a configuration is created.

A wrong value fails at once, naming the field, instead of deep inside a run: ``steps=-1``,
``hidden_dim=0``, ``learning_rate=inf`` or ``nonlinearity="sigmoid"`` are refused by
:func:`check_fields`, which :class:`~hnnlib.experiments.config.ExperimentConfig` calls on creation.
Every field of every configuration class has a rule here (a test checks that).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from .. import realdata
from .._checks import check_finite_number, check_positive_int, check_range, check_seed
from ..labels import ENERGY_LABELS
from ..models import BIAS_INITS, NONLINEARITIES
from ..systems import SYSTEMS

Rule = Callable[[Any, str], Any]


def task_name(value: Any, name: str) -> None:
    """A string; whether a task of that name is registered is checked by the registry (:func:`~hnnlib.experiments.tasks.get_task`)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a task name (str), got {value!r}")


def positive_int(value: Any, name: str) -> None:
    check_positive_int(value, name)


def seed(value: Any, name: str) -> None:
    check_seed(value, name)


def number(minimum: float = 0.0, *, strict: bool = True, below: float | None = None) -> Rule:
    """A finite real number ``> minimum`` (``>=`` with ``strict=False``), and ``< below`` if given."""

    def rule(value: Any, name: str) -> None:
        value = check_finite_number(value, name, minimum=minimum, strict=strict)
        if below is not None and not value < below:
            raise ValueError(f"{name} must be < {below:g}, got {value}")

    return rule


def choice(options: Any) -> Rule:
    def rule(value: Any, name: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str, one of {sorted(options)}, got {value!r}")
        if value not in options:
            raise ValueError(f"{name} must be one of {sorted(options)}, got {value!r}")

    return rule


def interval(value: Any, name: str) -> None:
    """A pair ``(low, high)`` of finite numbers with ``low < high``."""
    low, high = check_range(value, name)
    if not low < high:
        raise ValueError(f"{name} must be (low, high) with low < high, got {value!r}")


def flag(value: Any, name: str) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")


def parameters(value: Any, name: str) -> None:
    """System parameters: pairs ``(name, number)``."""
    for item in value:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
            raise TypeError(f"{name} must be pairs (name, value), got {item!r}")
        check_finite_number(item[1], f"{name}[{item[0]!r}]", minimum=float("-inf"))


def energy_names(value: Any, name: str) -> None:
    if not isinstance(value, tuple) or not value or any(e not in ENERGY_LABELS for e in value):
        raise ValueError(f"{name} must be a non-empty tuple of names from {sorted(ENERGY_LABELS)}, got {value!r}")


#: The rule of every field, by name (the same name means the same thing in every configuration class).
RULES: dict[str, Rule] = {
    "task": task_name,
    "seed": seed,
    "threads": positive_int,
    "energies": energy_names,
    # models
    "hidden_dim": positive_int,
    "latent_dim": positive_int,
    "nonlinearity": choice(NONLINEARITIES),
    "bias_init": choice(BIAS_INITS),
    # training
    "steps": positive_int,
    "learning_rate": number(0.0),
    "weight_decay": number(0.0, strict=False),
    "batch_size": positive_int,
    "eval_every": positive_int,
    "eval_samples": positive_int,
    "sampler": choice(("randperm", "choice")),
    # data
    "system": choice(SYSTEMS),
    "system_params": parameters,
    "n_trajectories": positive_int,
    "n_times": positive_int,
    "n_frames": positive_int,
    "side": positive_int,
    "t_span": interval,
    "radius": interval,
    "orbit_noise": number(0.0, strict=False),
    "noise_std": number(0.0, strict=False),
    "test_fraction": number(0.0, below=1.0),
    "max_angle": number(0.0),
    "data_rtol": number(0.0),
    "data_atol": number(0.0, strict=False),
    "data_cache": flag,
    "split": choice(realdata.SPLITS),
    # metric
    "metric_states": positive_int,
    "metric_first_seed": seed,
    "metric_magnitude": interval,
    "metric_t_span": interval,
    "metric_points": positive_int,
    "metric_steps": positive_int,
    "metric_rtol_true": number(0.0),
    "metric_rtol_model": number(0.0),
    "metric_atol": number(0.0, strict=False),
    "metric_batched": flag,
    "energy_coefficient": number(0.0),
}


def check_fields(config: Any) -> None:
    """Check every field of a configuration dataclass against its rule; ``None`` passes where the field allows it.

    Raises
    ------
    TypeError
        For a value of the wrong type (a string where a number is expected, say).
    ValueError
        For a value out of range, naming the field and the allowed range.
    KeyError
        If a field has no rule (a programming error: add one to :data:`RULES`).
    """
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if value is None and "None" in str(f.type):
            continue
        RULES[f.name](value, f.name)
