"""Shared test setup: headless matplotlib, one thread (deterministic, fast), hypothesis profiles."""

import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import settings  # noqa: E402

torch.set_num_threads(1)

# "ci" (default) keeps the property tests quick; HYPOTHESIS_PROFILE=thorough runs many more examples.
# No example database: the tests write nothing into the working tree.
settings.register_profile("ci", max_examples=30, deadline=None, database=None)
settings.register_profile("thorough", max_examples=500, deadline=None, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _no_training_log(monkeypatch):
    """Unit tests train tiny models, some several times on purpose: they write nothing to
    $HNNLIB_TRAINING_LOG, so that the log of a whole `make test` counts the chapters' trainings
    only (benchmarks/training_counts.py). A test of the log sets the variable itself."""
    monkeypatch.delenv("HNNLIB_TRAINING_LOG", raising=False)


@pytest.fixture(autouse=True)
def _close_figures():
    """Close every matplotlib figure a test opened."""
    yield
    plt.close("all")
