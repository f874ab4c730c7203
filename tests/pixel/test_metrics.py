"""hnnlib.pixel.metrics: the latent probe, and energies read from pixels along latent rollouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hnnlib.pixel.metrics import compare_pixel_rollouts, latent_probe
from hnnlib.pixel.models import PixelDynamicsModel


def test_latent_probe_recovers_an_affine_map():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(50, 2))
    a = np.array([[2.0, -1.0], [0.5, 3.0], [0.1, -0.2]])
    states = np.c_[z, np.ones(50)] @ a
    np.testing.assert_allclose(latent_probe(z, states), a, atol=1e-10)
    with pytest.raises(ValueError, match="same N"):
        latent_probe(z, states[:-1])


def test_states_read_from_true_frames_and_rollout_comparison():
    from hnnlib.pixel import gym, render

    states = gym.gym_pendulum_states(0.4, 0.0, n_frames=31)  # (31, 2)
    frames = render.render_states(states)  # (31, 28, 28)
    flat = frames.reshape(31, -1)
    pairs = np.concatenate([flat[:-1], flat[1:]], axis=1)[None]  # (1, 30, 1568)
    read = states_read_from(pairs)
    # the angle to a few hundredths of a radian; the velocity, a difference quotient of two such
    # angles 0.1 s apart, to a few tenths of a rad/s (of up to 1.5 rad/s here)
    assert np.abs(read[0, :, 0] - states[:30, 0]).max() < 0.03
    assert np.abs(read[0, 1:-1, 1] - states[1:29, 1]).max() < 0.25
    torch.manual_seed(0)
    model = PixelDynamicsModel("hnn")
    comparison = compare_pixel_rollouts(model, frames[None], states[None], gym.DT, n_steps=20)
    assert comparison.decoded.shape == (1, 20, 2 * 28 * 28) and comparison.latent.shape == (1, 20, 2)
    assert comparison.observed_energy.shape == comparison.predicted_energy.shape == comparison.true_energy.shape == (1, 20)
    assert comparison.yardstick_mse.mean < 0.05 * comparison.true_energy.mean() ** 2
    assert comparison.energy_mse.mean >= 0
    with pytest.raises(ValueError, match="needs 32 frames"):
        compare_pixel_rollouts(model, frames[None], states[None], gym.DT, n_steps=31)
    with pytest.raises(ValueError, match=r"\(B, F, side, side\)"):
        compare_pixel_rollouts(model, frames, states, gym.DT)


def states_read_from(pairs):
    from hnnlib.pixel.metrics import states_along_rollout

    return states_along_rollout(pairs, 0.05)
