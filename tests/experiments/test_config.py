"""Configurations: hashable, hashed by every field, defaults read from the library's signatures."""

import dataclasses
import subprocess
import sys

import pytest

from hnnlib import data, training
from hnnlib.labels import ENERGY_LABELS
from hnnlib.experiments import TASKS, OscillatorConfig, config_hash, make_config
from hnnlib.experiments.config import default_of

from .tiny import PAPER_TASKS, tiny


def test_config_lists_become_tuples():
    """Configs stay hashable and hash the same whether a list or a tuple was given."""
    a = dataclasses.replace(TASKS["mass_spring"].config, t_span=[0.0, 3.0])
    assert a.t_span == (0.0, 3.0) and hash(a) == hash(TASKS["mass_spring"].config)
    assert config_hash(a) == config_hash(TASKS["mass_spring"].config)


def test_config_hash_is_stable_across_processes():
    """The hash depends on the configuration only, not on the process (no id(), no set order)."""
    code = "from hnnlib import experiments as e; print(' '.join(e.config_hash(t.config) for t in e.TASKS.values()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [config_hash(t.config) for t in TASKS.values()]
    assert config_hash(tiny()) == config_hash(tiny())


CHOICES = {"nonlinearity": ("tanh", "relu"), "bias_init": ("torch", "zeros"), "sampler": ("randperm", "choice"),
           "system": ("mass_spring", "pendulum"), "split": ("paper", "reference")}


def perturbed(name, value):
    """A different value of the same kind, valid for the field."""
    if name in CHOICES:
        return next(option for option in CHOICES[name] if option != value)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value / 2 if name == "test_fraction" else value * 2 + 1
    if value is None:
        return (0.5, 1.5) if name in ("t_span", "radius") else 7
    if isinstance(value, str):
        return value + "x"
    if name == "energies":
        return value + tuple(e for e in ENERGY_LABELS if e not in value)[:1]
    if name == "system_params":
        return value + (("k", 1.0),)
    if isinstance(value, tuple):
        return (value[0], value[1] + 1)
    raise TypeError(value)


@pytest.mark.parametrize("task", PAPER_TASKS)
def test_config_hash_changes_with_every_field(task):
    config = TASKS[task].config
    base = config_hash(config)
    for f in dataclasses.fields(config):
        changed = dataclasses.replace(config, **{f.name: perturbed(f.name, getattr(config, f.name))})
        assert config_hash(changed) != base, f"{task}: the hash ignores field {f.name}"


@pytest.mark.parametrize("task", PAPER_TASKS + ("pixel_pendulum",))
def test_a_field_is_its_override_or_the_library_default(task):
    """Each config field not overridden by the registry equals the default of the function that uses it."""
    spec = TASKS[task]
    config = spec.config
    fresh = spec.config_class(task=task)
    for f in dataclasses.fields(config):
        expected = spec.overrides.get(f.name, getattr(fresh, f.name))
        assert getattr(config, f.name) == (tuple(expected) if isinstance(expected, list) else expected), f.name


def test_a_default_changed_in_its_signature_reaches_every_new_config(monkeypatch):
    """The one place of a default is its function's signature: changing it changes the registry's configs."""
    monkeypatch.setitem(data.make_trajectory_dataset.__kwdefaults__, "n_trajectories", 7)
    monkeypatch.setitem(training.fit.__kwdefaults__, "learning_rate", 0.5)
    spring = make_config("mass_spring")
    assert (spring.n_trajectories, spring.learning_rate) == (7, 0.5)
    assert make_config("pendulum").n_trajectories == 7
    assert make_config("two_body").learning_rate == 0.5
    assert OscillatorConfig(task="mass_spring").n_trajectories == 7


def test_default_of_refuses_a_missing_parameter():
    with pytest.raises(ValueError, match="no parameter 'no_such'"):
        default_of(training.fit, "no_such")
    with pytest.raises(ValueError, match="with a default"):
        default_of(training.fit, "model")


@pytest.mark.parametrize("change, error, match", [
    (dict(steps=0), ValueError, "steps must be a positive int"),
    (dict(learning_rate="fast"), TypeError, "learning_rate must be a real number"),
    (dict(weight_decay=float("nan")), ValueError, "weight_decay must be a finite number >= 0"),
    (dict(metric_t_span=(1.0, 1.0)), ValueError, "metric_t_span must be \\(low, high\\) with low < high"),
    (dict(sampler="shuffle"), ValueError, "sampler must be one of"),
    (dict(energies=()), ValueError, "energies must be a non-empty tuple"),
])
def test_configs_check_their_fields_on_creation(change, error, match):
    """A wrong setting is refused when the config is made, naming the field, before any run."""
    with pytest.raises(error, match=match):
        make_config("mass_spring", **change)
