"""hnnlib.pixel.render: frames drawn by the environment's renderer, cropped and downsampled."""

import numpy as np
import pytest
import torch

from hnnlib.pixel import estimate, render

from .helpers import SIDE


def test_render_shapes_range_and_orientation():
    states = np.array([[0.0, 0.0], [0.4, 0.0], [-0.4, 1.0]])
    frames = render.render_states(states)
    assert frames.shape == (3, SIDE, SIDE) and frames.dtype == np.float32
    assert frames.min() >= 0.0 and frames.max() <= 1.0
    assert frames[:, 0, 0].max() == 0.0 and frames[:, -1, 0].max() == 0.0  # dark background
    assert frames.max(axis=(1, 2)).min() == 1.0  # the rod is bright
    columns = np.arange(SIDE) + 0.5
    centroid = (frames.sum(axis=1) * columns).sum(axis=1) / frames.sum(axis=(1, 2))
    assert abs(centroid[0] - SIDE / 2) < 0.3  # hanging: centred, to a fraction of a pixel
    assert centroid[1] > SIDE / 2 + 3 and centroid[2] < SIDE / 2 - 3  # phi > 0 swings to the right
    # The bob is at the bottom: the lowest rows are dark, the rod reaches row ~ 0.9 * side.
    rows = np.nonzero(frames[0].max(axis=1) > 0.5)[0]
    assert rows.min() <= 3 and 24 <= rows.max() <= 25
    # Leading axes are kept; another side works; torch states work.
    assert render.render_states(np.zeros((2, 1, 2)), side=16).shape == (2, 1, 16, 16)
    # Same states from torch: equal to round-off (the batch path may round differently).
    np.testing.assert_allclose(render.render_states(torch.tensor(states)), frames, rtol=0, atol=1e-6)


def test_render_is_deterministic_and_independent_of_velocity():
    """Same call twice: bitwise equal. Two rows of one batch: equal to round-off only.

    The velocity must not change a frame, but OpenBLAS's einsum may round a row differently
    by its position in a batch (6e-8 apart seen on an AMD AVX2 CPU), so the rows are compared
    to 1e-6, far below one grey level (1/255).
    """
    a = render.render_states(np.array([[0.2, 0.0], [0.2, 5.0]]))
    np.testing.assert_allclose(a[0], a[1], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(a, render.render_states(np.array([[0.2, 0.0], [0.2, 5.0]])))


def test_render_mirror_symmetry(random_frames):
    """phi -> -phi flips the frame left-right, up to the renderer's whole-pixel vertices.

    Measured on 200 angles: mean |difference| 0.0023 and at most 1/3 (one column of the 3x3 screen
    pixels of an output pixel); without the half-pixel centring of the crop, 0.018 on average.
    """
    frames, phi = random_frames
    mirrored = render.render_states(np.stack([-phi, np.zeros_like(phi)], axis=-1))[:, :, ::-1]
    diff = np.abs(frames - mirrored)
    assert diff.mean() < 0.004
    assert diff.max() < 0.34


def test_render_resolution_changes_little(random_frames):
    """Frames drawn at the renderer's own 500 pixels look the same as at the default 264.

    Measured: mean |difference| 0.007 (500 vs 1000 pixels: 0.004), and the angles read back agree.
    """
    frames, phi = random_frames
    full = render.render_states(np.stack([phi[:40], np.zeros(40)], axis=-1), screen_dim=render.GYM_SCREEN_DIM)
    assert np.abs(full - frames[:40]).mean() < 0.012
    assert np.abs(estimate.estimate_angles(full) - phi[:40]).max() < 0.008


def test_the_lean_renderer_draws_the_same_pixels():
    """Decoding the arrow once and copying only the crop's pixels change nothing drawn, and both patches are undone."""
    import pygame
    import pygame.surfarray

    originals = pygame.image.load, pygame.surfarray.pixels3d
    phi = np.linspace(-0.7, 0.7, 9)  # beyond the crop's whole-rod range too
    for screen_dim, crop in ((render.SCREEN_DIM, render.CROP), (render.GYM_SCREEN_DIM, (-0.9, 0.5, -0.3, 1.25))):
        with render._FrameRenderer(SIDE, screen_dim, crop, lean=False) as plain:
            expected = plain.render(phi)
        with render._FrameRenderer(SIDE, screen_dim, crop) as lean:
            got = lean.render(phi)
        np.testing.assert_array_equal(got, expected)
        assert (pygame.image.load, pygame.surfarray.pixels3d) == originals
    assert expected.max() > 0.5  # the rod is there


def test_pixel_coordinates_put_the_pivot_in_place():
    x, y = render.pixel_coordinates()
    assert x.shape == y.shape == (SIDE, SIDE)
    np.testing.assert_allclose(x[0, [13, 14]], [-0.025, 0.025])  # pivot between columns 13 and 14
    np.testing.assert_allclose(y[[3, 4], 0], [-0.025, 0.025])  # and between rows 3 and 4


def test_bad_input_to_render_states():
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        render.render_states(np.zeros(5))
    with pytest.raises(ValueError, match="finite"):
        render.render_states(np.array([[np.nan, 0.0]]))
    with pytest.raises(ValueError, match="crop"):
        render.render_states(np.zeros((1, 2)), crop=(0.5, -0.5, 0.0, 1.0))
