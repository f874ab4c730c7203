"""Configurations: hashable, hashed by every field, defaults read from the library's signatures."""

import dataclasses
import subprocess
import sys

import pytest

from hnnlib import data, training
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


def perturbed(value):
    """A different value of the same kind."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 2 + 1
    if value is None:
        return 7
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, tuple):
        return value + (value[-1],) if value else (("k", 1.0),)
    raise TypeError(value)


@pytest.mark.parametrize("task", PAPER_TASKS)
def test_config_hash_changes_with_every_field(task):
    config = TASKS[task].config
    base = config_hash(config)
    for f in dataclasses.fields(config):
        changed = dataclasses.replace(config, **{f.name: perturbed(getattr(config, f.name))})
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
