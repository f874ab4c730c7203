"""Fixtures of the pixel pendulum tests: a small dataset, and frames of random angles.

No window: pygame draws off-screen.
"""

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hnnlib.pixel import render  # noqa: E402

from .helpers import small  # noqa: E402


@pytest.fixture(scope="module")
def data():
    return small()


@pytest.fixture(scope="module")
def random_frames():
    """Frames of 200 random angles within the crop's range, and the angles."""
    phi = np.random.default_rng(5).uniform(-0.55, 0.55, 200)
    return render.render_states(np.stack([phi, np.zeros_like(phi)], axis=-1)), phi
