"""Tiny configurations for the experiment tests: every run takes well under a second.

The tests check the plumbing, not the paper's numbers (the results chapter does that).
"""

import dataclasses

from hnnlib import realdata
from hnnlib.experiments import TASKS, NBodyConfig, OscillatorConfig, RealPendulumConfig

PAPER_TASKS = ("mass_spring", "pendulum", "real_pendulum", "two_body", "three_body")

#: Per config class: settings that make a run take well under a second.
TINY = {
    OscillatorConfig: dict(steps=20, eval_every=10, hidden_dim=16, n_trajectories=6, n_times=8, metric_states=2,
                           metric_points=10, metric_t_span=(0.0, 1.0)),
    RealPendulumConfig: dict(steps=20, eval_every=10, hidden_dim=16),
    NBodyConfig: dict(steps=20, eval_every=10, hidden_dim=16, n_trajectories=10, n_times=5, batch_size=8, eval_samples=None,
                      metric_states=2, metric_points=10, metric_t_span=(0.0, 0.5), metric_rtol_true=1e-6, metric_rtol_model=1e-6),
}
TINY_CLI = ["--set", "n_trajectories=6", "--set", "n_times=8", "--set", "hidden_dim=16", "--set", "metric_states=2",
            "--set", "metric_points=10", "--set", "metric_t_span=(0.0, 1.0)", "--set", "eval_every=10", "--steps", "20"]


def tiny(task="mass_spring", **overrides):
    """The task's configuration, shrunk to a sub-second run."""
    config = TASKS[task].config
    return dataclasses.replace(config, **{**TINY[type(config)], **overrides})


def has_real_data():
    try:
        realdata.find_real_pendulum_file(download=False)
    except (FileNotFoundError, ValueError):
        return False
    return True


def no_fit(*args, **kwargs):
    raise AssertionError("fit was called although the model should come from the cache")
