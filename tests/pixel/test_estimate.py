"""hnnlib.pixel.estimate: states read back from pixels, against the true states.

The tolerances of the angle estimator were measured on frames of the default renderer
(``screen_dim = 264``, 28x28): over 600 random angles in [-0.55, 0.55] rad its error is 0.0033 rad
RMS and 0.012 rad at worst. Rendering at the renderer's own 500 pixels gives 0.0017 / 0.006, so
most of that error is the 28x28 frames' rasterisation, not the estimator.
"""

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from hnnlib.pixel import estimate, gym

from .helpers import P


def test_estimated_angles_on_rendered_frames(random_frames):
    """Measured on these 200 frames: 0.0033 rad RMS, 0.012 at worst."""
    frames, phi = random_frames
    error = estimate.estimate_angles(frames) - phi
    assert np.sqrt(np.mean(error**2)) < 0.005
    assert np.abs(error).max() < 0.02
    assert abs(error.mean()) < 0.002  # unbiased
    # Flattened frames, torch tensors and leading axes give the same.
    np.testing.assert_allclose(estimate.estimate_angles(frames.reshape(4, 50, P)).reshape(-1), phi + error)
    np.testing.assert_allclose(estimate.estimate_angles(torch.from_numpy(frames)), phi + error)


def test_frame_pair_states(data):
    """Midpoint angle and difference velocity; the velocity is the env's theta_dot of the second frame."""
    pairs = estimate.frame_pair_states(data.trajectory_states)
    assert pairs.shape == (5, 12, 2)
    s = data.trajectory_states
    np.testing.assert_allclose(pairs[..., 0], (s[:, :-1, 0] + s[:, 1:, 0]) / 2, atol=1e-12)
    np.testing.assert_allclose(pairs[..., 1], s[:, 1:, 1], atol=1e-12)
    np.testing.assert_array_equal(data.train.pair_states, pairs[data.train.trajectory, data.train.frame])
    # Across the wrap at +-pi the midpoint stays near pi.
    across = estimate.frame_pair_states(np.array([[np.pi - 0.01, 0.0], [-np.pi + 0.01, 0.0]]))
    np.testing.assert_allclose(np.abs(across[0]), [np.pi, 0.4], atol=1e-12)
    # Their plain energy is conserved to O(dt^2): measured 0.94 % relative spread.
    phi0 = np.r_[np.linspace(-np.pi / 6, -0.05, 5), np.linspace(0.05, np.pi / 6, 5)]
    energy = gym.gym_pendulum_energy(estimate.frame_pair_states(gym.gym_pendulum_states(phi0, 0.0, 2000)))
    assert np.all((energy.max(axis=1) - energy.min(axis=1)) / energy.mean(axis=1) < 0.012)


def test_estimated_states_on_dataset(data):
    """Against the true pair states. On the default dataset (20,600 frames) measured: angle 0.003 rad
    RMS (0.012 max), phi_dot 0.11 rad/s RMS (0.48 max); phi_dot is a difference of two angles over dt,
    so its error is at most 2 x 0.02 / dt."""
    for split in (data.train, data.test):
        est = estimate.estimate_states_from_pixels(split.x)
        assert est.shape == (len(split), 2)
        error = est - split.pair_states
        assert np.abs(error[:, 0]).max() < 0.02
        assert np.abs(error[:, 1]).max() < 2 * 0.02 / gym.DT
        assert np.sqrt(np.mean(error[:, 1] ** 2)) < 0.2
    np.testing.assert_array_equal(data.estimate_states(data.test.x), estimate.estimate_states_from_pixels(data.test.x))
    est_t = estimate.estimate_states_from_pixels(torch.from_numpy(data.test.x))
    np.testing.assert_allclose(est_t, estimate.estimate_states_from_pixels(data.test.x))


def test_estimator_robust_to_blur_haze_and_contrast(random_frames):
    """Decoded frames are blurry, hazy and dimmer; measured RMS errors 0.004-0.007 rad on these."""
    frames, phi = random_frames
    rng = np.random.default_rng(0)
    for sigma, haze, noise, gain in [(1.0, 0.0, 0.0, 1.0), (1.5, 0.1, 0.05, 1.0), (1.0, 0.2, 0.1, 1.0), (2.5, 0.05, 0.05, 0.6), (1.0, -0.05, 0.03, 1.1)]:
        decoded = gain * gaussian_filter(frames, (0, sigma, sigma)) + haze + noise * rng.standard_normal(frames.shape)
        error = estimate.estimate_angles(decoded.astype(np.float32)) - phi
        assert np.sqrt(np.mean(error**2)) < 0.012, (sigma, haze, noise, gain)


def test_estimator_blank_frames_give_nan():
    blank = np.zeros((2, 2 * P), dtype=np.float32)
    assert np.isnan(estimate.estimate_states_from_pixels(blank)).all()
    assert np.isnan(gym.gym_pendulum_energy(estimate.estimate_states_from_pixels(blank))).all()


def test_bad_input_to_estimators():
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 1568\)"):
        estimate.estimate_states_from_pixels(np.zeros((3, P), dtype=np.float32))
    with pytest.raises(TypeError, match="floating-point"):
        estimate.estimate_states_from_pixels(np.zeros((3, 2 * P), dtype=np.int64))
    with pytest.raises(TypeError, match="numpy.ndarray or torch.Tensor"):
        estimate.estimate_states_from_pixels([0.0] * (2 * P))
    with pytest.raises(ValueError, match="dt"):
        estimate.estimate_states_from_pixels(np.zeros((1, 2 * P), dtype=np.float32), dt=0.0)
    with pytest.raises(ValueError, match=r"\(\.\.\., 784\)"):
        estimate.estimate_angles(np.zeros((2, 27, 27), dtype=np.float32))
    with pytest.raises(ValueError, match="threshold"):
        estimate.estimate_angles(np.zeros((1, P)), threshold=1.0)
    with pytest.raises(ValueError, match="T >= 2"):
        estimate.frame_pair_states(np.zeros((1, 2)))
