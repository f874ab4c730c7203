"""hnnlib.pixel_data: the pixel pendulum of Task 5 (true states, frames, dataset, cache, estimator).

The datasets here are small (a few trajectories of a few frames); the tolerances of the angle
estimator were measured on frames of the default renderer (``screen_dim = 264``, 28x28): over 600
random angles in [-0.55, 0.55] rad its error is 0.0033 rad RMS and 0.012 rad at worst. Rendering at
the renderer's own 500 pixels gives 0.0017 / 0.006, so most of that error is the 28x28 frames'
rasterisation, not the estimator.
"""

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from scipy.ndimage import gaussian_filter  # noqa: E402

from hnnlib import pixel_data as pd  # noqa: E402
from hnnlib import realdata  # noqa: E402

SIDE = 28
P = SIDE * SIDE


def small(**kwargs):
    """A small dataset: 5 trajectories (4 train, 1 test) of 10 samples (13 frames)."""
    args = dict(n_trajectories=5, n_frames=10, seed=0, progress=False)
    args.update(kwargs)
    return pd.make_pixel_pendulum_dataset(**args)


@pytest.fixture(scope="module")
def data():
    return small()


@pytest.fixture(scope="module")
def random_frames():
    """Frames of 200 random angles within the crop's range, and the angles."""
    phi = np.random.default_rng(5).uniform(-0.55, 0.55, 200)
    return pd.render_states(np.stack([phi, np.zeros_like(phi)], axis=-1)), phi


# --- true states ------------------------------------------------------------------------------


def test_module_constants_are_the_environments():
    env = gym.make("Pendulum-v1", g=pd.GRAVITY)
    u = env.unwrapped
    assert (u.g, u.l, u.m, u.dt, u.max_speed) == (pd.GRAVITY, pd.LENGTH, pd.MASS, pd.DT, pd.MAX_SPEED)
    assert u.screen_dim == pd.GYM_SCREEN_DIM
    env.close()


@pytest.mark.parametrize(
    "phi0, phi_dot0",
    [(0.3, 0.0), (-np.pi / 6, 0.0), (0.1, -1.5), (np.pi - 0.05, 7.9), (2.5, -3.0)],
)
def test_states_follow_env_step(phi0, phi_dot0):
    """The vectorised update equals env.step(0) frame by frame (including the speed clip at 8 rad/s)."""
    n = 60
    env = gym.make("Pendulum-v1", g=pd.GRAVITY)
    env.reset(seed=0)
    u = env.unwrapped
    u.state = np.array([phi0 + np.pi, phi_dot0])
    expected = [(pd.theta_to_phi(u.state[0]), u.state[1])]
    for _ in range(n - 1):
        env.step(np.array([0.0]))
        expected.append((pd.theta_to_phi(u.state[0]), u.state[1]))
    env.close()
    expected = np.array(expected)
    got = pd.gym_pendulum_states(phi0, phi_dot0, n)
    assert got.shape == (n, 2)
    np.testing.assert_allclose(pd.wrap_angle(got[:, 0] - expected[:, 0]), 0.0, atol=1e-12)
    np.testing.assert_allclose(got[:, 1], expected[:, 1], rtol=0, atol=1e-12)
    assert np.all(np.abs(got[:, 1]) <= pd.MAX_SPEED)


def test_states_broadcast_and_conventions():
    phi0 = np.array([[0.1, -0.2, 0.3]])
    states = pd.gym_pendulum_states(phi0, np.array([[0.0], [1.0]]), 7)
    assert states.shape == (2, 3, 7, 2) and states.dtype == np.float64
    np.testing.assert_array_equal(states[0, :, 0, 0], phi0[0])
    np.testing.assert_allclose(states[1, :, 0, 1], 1.0)
    # Angles stay in (-pi, pi]; theta and phi conventions invert each other.
    wild = pd.gym_pendulum_states(3.0, 6.0, 200)[:, 0]
    assert np.all(wild > -np.pi) and np.all(wild <= np.pi)
    np.testing.assert_allclose(pd.theta_to_phi(pd.phi_to_theta(wild)), wild, atol=1e-12)
    assert pd.theta_to_phi(0.0) == np.pi and pd.theta_to_phi(np.pi) == 0.0


def test_true_energy_bounded_and_modified_energy_conserved():
    """Semi-implicit Euler: E oscillates by about omega dt (no drift); the modified energy is constant."""
    phi0 = np.r_[np.linspace(-np.pi / 6, -0.05, 5), np.linspace(0.05, np.pi / 6, 5)]
    states = pd.gym_pendulum_states(phi0, 0.0, 2000)
    energy = pd.gym_pendulum_energy(states)
    spread = (energy.max(axis=1) - energy.min(axis=1)) / energy.mean(axis=1)
    omega_dt = np.sqrt(pd.GRAVITY_TERM) * pd.DT  # 0.194
    assert np.all(spread < 1.05 * omega_dt), spread
    drift = np.abs(energy[:, :1000].mean(axis=1) - energy[:, 1000:].mean(axis=1)) / energy.mean(axis=1)
    assert np.all(drift < 2e-3), drift
    modified = pd.gym_pendulum_energy(states, modified=True)
    assert np.all((modified.max(axis=1) - modified.min(axis=1)) / modified.mean(axis=1) < 1e-3)
    # Released at rest: the swing never exceeds its start by more than the step's 0.5 %.
    assert np.all(np.abs(states[..., 0]).max(axis=1) <= 1.006 * np.abs(phi0))


def test_energy_values_and_types():
    states = np.array([[0.0, 0.0], [np.pi / 2, 0.0], [0.0, 2.0], [np.pi, 1.0]])
    np.testing.assert_allclose(pd.gym_pendulum_energy(states), [0.0, 15.0, 2.0, 30.5])
    t = torch.tensor(states, dtype=torch.float32)
    e = pd.gym_pendulum_energy(t)
    assert isinstance(e, torch.Tensor) and e.dtype == torch.float32
    np.testing.assert_allclose(e.numpy(), [0.0, 15.0, 2.0, 30.5], rtol=1e-6)
    np.testing.assert_allclose(pd.gym_pendulum_energy(t, modified=True).numpy(), pd.gym_pendulum_energy(states, modified=True), rtol=1e-5, atol=1e-6)
    assert pd.gym_pendulum_energy(states.reshape(2, 2, 2)).shape == (2, 2)
    assert np.isnan(pd.gym_pendulum_energy(np.array([np.nan, 0.0])))


def test_dataset_energy_matches_states(data):
    np.testing.assert_allclose(data.energy, pd.gym_pendulum_energy(data.trajectory_states))
    assert data.energy.shape == data.trajectory_states.shape[:2]


# --- frames -----------------------------------------------------------------------------------


def test_render_shapes_range_and_orientation():
    states = np.array([[0.0, 0.0], [0.4, 0.0], [-0.4, 1.0]])
    frames = pd.render_states(states)
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
    assert pd.render_states(np.zeros((2, 1, 2)), side=16).shape == (2, 1, 16, 16)
    # Same states from torch: equal to round-off (the batch path may round differently).
    np.testing.assert_allclose(pd.render_states(torch.tensor(states)), frames, rtol=0, atol=1e-6)


def test_render_is_deterministic_and_independent_of_velocity():
    """Same call twice: bitwise equal. Two rows of one batch: equal to round-off only.

    The velocity must not change a frame, but OpenBLAS's einsum may round a row differently
    by its position in a batch (6e-8 apart seen on an AMD AVX2 CPU), so the rows are compared
    to 1e-6, far below one grey level (1/255).
    """
    a = pd.render_states(np.array([[0.2, 0.0], [0.2, 5.0]]))
    np.testing.assert_allclose(a[0], a[1], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(a, pd.render_states(np.array([[0.2, 0.0], [0.2, 5.0]])))


def test_render_mirror_symmetry(random_frames):
    """phi -> -phi flips the frame left-right, up to the renderer's whole-pixel vertices.

    Measured on 200 angles: mean |difference| 0.0023 and at most 1/3 (one column of the 3x3 screen
    pixels of an output pixel); without the half-pixel centring of the crop, 0.018 on average.
    """
    frames, phi = random_frames
    mirrored = pd.render_states(np.stack([-phi, np.zeros_like(phi)], axis=-1))[:, :, ::-1]
    diff = np.abs(frames - mirrored)
    assert diff.mean() < 0.004
    assert diff.max() < 0.34


def test_render_resolution_changes_little(random_frames):
    """Frames drawn at the renderer's own 500 pixels look the same as at the default 264.

    Measured: mean |difference| 0.007 (500 vs 1000 pixels: 0.004), and the angles read back agree.
    """
    frames, phi = random_frames
    full = pd.render_states(np.stack([phi[:40], np.zeros(40)], axis=-1), screen_dim=pd.GYM_SCREEN_DIM)
    assert np.abs(full - frames[:40]).mean() < 0.012
    assert np.abs(pd.estimate_angles(full) - phi[:40]).max() < 0.008


def test_decoding_the_arrow_once_draws_the_same_pixels():
    import pygame

    original = pygame.image.load
    phi = np.linspace(-0.5, 0.5, 9)
    with pd._FrameRenderer(SIDE, pd.SCREEN_DIM, pd.CROP, decode_once=False) as plain:
        expected = plain.render(phi)
    with pd._FrameRenderer(SIDE, pd.SCREEN_DIM, pd.CROP) as fast:
        got = fast.render(phi)
    np.testing.assert_array_equal(got, expected)
    assert pygame.image.load is original


# --- the dataset ------------------------------------------------------------------------------


def test_dataset_shapes_dtypes_ranges(data):
    n_traj, n_frames = 5, 10
    assert data.frames.shape == (n_traj, n_frames + 3, SIDE, SIDE) and data.frames.dtype == np.float32
    assert data.frames.min() >= 0.0 and data.frames.max() <= 1.0
    assert data.trajectory_states.shape == (n_traj, n_frames + 3, 2) and data.trajectory_states.dtype == np.float64
    for split, n in ((data.train, 4), (data.test, 1)):
        assert len(split) == n * n_frames
        assert split.x.shape == split.x_next.shape == (n * n_frames, 2 * P)
        assert split.x.dtype == split.x_next.dtype == np.float32
        assert split.states.shape == split.next_states.shape == (n * n_frames, 2)
        assert split.trajectory.shape == split.frame.shape == (n * n_frames,)
    assert data.dt == pd.DT == 0.05 and data.side == SIDE
    # Released at rest within max_angle.
    np.testing.assert_array_equal(data.trajectory_states[:, 0, 1], 0.0)
    assert np.all(np.abs(data.trajectory_states[:, 0, 0]) <= np.pi / 6)
    x, x_next = data.train.to_torch()
    assert x.dtype == torch.float32 and x.shape == data.train.x.shape
    np.testing.assert_array_equal(x_next.numpy(), data.train.x_next)
    assert data.train.to_torch(dtype=torch.float64)[0].dtype == torch.float64


def test_dataset_pairs_are_consecutive_frames(data):
    for split in (data.train, data.test):
        traj, t = split.trajectory, split.frame
        np.testing.assert_array_equal(split.x[:, :P], data.frames[traj, t].reshape(-1, P))
        np.testing.assert_array_equal(split.x[:, P:], data.frames[traj, t + 1].reshape(-1, P))
        np.testing.assert_array_equal(split.x_next[:, :P], split.x[:, P:])  # frame t + 1 in both
        np.testing.assert_array_equal(split.x_next[:, P:], data.frames[traj, t + 2].reshape(-1, P))
        same = traj[1:] == traj[:-1]
        np.testing.assert_array_equal(split.x[1:][same], split.x_next[:-1][same])
        np.testing.assert_array_equal(split.states, data.trajectory_states[traj, t])
        np.testing.assert_array_equal(split.next_states, data.trajectory_states[traj, t + 1])
        np.testing.assert_array_equal(np.unique(t), np.arange(10))


def test_dataset_frames_are_the_rendered_states(data):
    # One trajectory rendered alone against the whole batch: equal to round-off, far below
    # one grey level (OpenBLAS may round a row differently by its position in a batch).
    np.testing.assert_allclose(data.frames[2], pd.render_states(data.trajectory_states[2]), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(data.trajectory_states, pd.gym_pendulum_states(data.trajectory_states[:, 0, 0], 0.0, 13))


def test_progress_bar(capsys):
    small(n_frames=1, progress=True)
    assert "rendering frames" in capsys.readouterr().err


def test_dataset_split_by_whole_trajectories():
    d = pd.make_pixel_pendulum_dataset(n_trajectories=10, n_frames=2, test_fraction=0.3, progress=False)
    train, test = set(d.train_trajectories), set(d.test_trajectories)
    assert len(test) == 3 and len(train) == 7 and not train & test and train | test == set(range(10))
    assert set(d.train.trajectory) == train and set(d.test.trajectory) == test


def test_dataset_seeded(data):
    again = small()
    np.testing.assert_array_equal(again.frames, data.frames)
    np.testing.assert_array_equal(again.train.x, data.train.x)
    other = small(seed=1)
    assert not np.array_equal(other.trajectory_states[:, 0, 0], data.trajectory_states[:, 0, 0])
    assert other.settings["key"] != data.settings["key"]
    assert data.settings["seed"] == 0 and data.settings["gymnasium"] == gym.__version__


def test_dataset_max_angle():
    d = pd.make_pixel_pendulum_dataset(n_trajectories=40, n_frames=1, max_angle=0.2, progress=False)
    phi0 = d.trajectory_states[:, 0, 0]
    assert np.abs(phi0).max() <= 0.2 and np.abs(phi0).max() > 0.15 and phi0.min() < 0 < phi0.max()
    with pytest.warns(UserWarning, match="crop"):
        pd.make_pixel_pendulum_dataset(n_trajectories=2, n_frames=1, max_angle=1.0, test_fraction=0.5, progress=False)


# --- reading states back from pixels -----------------------------------------------------------


def test_estimated_angles_on_rendered_frames(random_frames):
    """Measured on these 200 frames: 0.0033 rad RMS, 0.012 at worst."""
    frames, phi = random_frames
    error = pd.estimate_angles(frames) - phi
    assert np.sqrt(np.mean(error**2)) < 0.005
    assert np.abs(error).max() < 0.02
    assert abs(error.mean()) < 0.002  # unbiased
    # Flattened frames, torch tensors and leading axes give the same.
    np.testing.assert_allclose(pd.estimate_angles(frames.reshape(4, 50, P)).reshape(-1), phi + error)
    np.testing.assert_allclose(pd.estimate_angles(torch.from_numpy(frames)), phi + error)


def test_frame_pair_states(data):
    """Midpoint angle and difference velocity; the velocity is the env's theta_dot of the second frame."""
    pairs = pd.frame_pair_states(data.trajectory_states)
    assert pairs.shape == (5, 12, 2)
    s = data.trajectory_states
    np.testing.assert_allclose(pairs[..., 0], (s[:, :-1, 0] + s[:, 1:, 0]) / 2, atol=1e-12)
    np.testing.assert_allclose(pairs[..., 1], s[:, 1:, 1], atol=1e-12)
    np.testing.assert_array_equal(data.train.pair_states, pairs[data.train.trajectory, data.train.frame])
    # Across the wrap at +-pi the midpoint stays near pi.
    across = pd.frame_pair_states(np.array([[np.pi - 0.01, 0.0], [-np.pi + 0.01, 0.0]]))
    np.testing.assert_allclose(np.abs(across[0]), [np.pi, 0.4], atol=1e-12)
    # Their plain energy is conserved to O(dt^2): measured 0.94 % relative spread.
    phi0 = np.r_[np.linspace(-np.pi / 6, -0.05, 5), np.linspace(0.05, np.pi / 6, 5)]
    energy = pd.gym_pendulum_energy(pd.frame_pair_states(pd.gym_pendulum_states(phi0, 0.0, 2000)))
    assert np.all((energy.max(axis=1) - energy.min(axis=1)) / energy.mean(axis=1) < 0.012)


def test_estimated_states_on_dataset(data):
    """Against the true pair states. On the default dataset (20,600 frames) measured: angle 0.003 rad
    RMS (0.012 max), phi_dot 0.11 rad/s RMS (0.48 max); phi_dot is a difference of two angles over dt,
    so its error is at most 2 x 0.02 / dt."""
    for split in (data.train, data.test):
        est = pd.estimate_states_from_pixels(split.x)
        assert est.shape == (len(split), 2)
        error = est - split.pair_states
        assert np.abs(error[:, 0]).max() < 0.02
        assert np.abs(error[:, 1]).max() < 2 * 0.02 / pd.DT
        assert np.sqrt(np.mean(error[:, 1] ** 2)) < 0.2
    np.testing.assert_array_equal(data.estimate_states(data.test.x), pd.estimate_states_from_pixels(data.test.x))
    est_t = pd.estimate_states_from_pixels(torch.from_numpy(data.test.x))
    np.testing.assert_allclose(est_t, pd.estimate_states_from_pixels(data.test.x))


def test_estimator_robust_to_blur_haze_and_contrast(random_frames):
    """Decoded frames are blurry, hazy and dimmer; measured RMS errors 0.004-0.007 rad on these."""
    frames, phi = random_frames
    rng = np.random.default_rng(0)
    for sigma, haze, noise, gain in [(1.0, 0.0, 0.0, 1.0), (1.5, 0.1, 0.05, 1.0), (1.0, 0.2, 0.1, 1.0), (2.5, 0.05, 0.05, 0.6), (1.0, -0.05, 0.03, 1.1)]:
        decoded = gain * gaussian_filter(frames, (0, sigma, sigma)) + haze + noise * rng.standard_normal(frames.shape)
        error = pd.estimate_angles(decoded.astype(np.float32)) - phi
        assert np.sqrt(np.mean(error**2)) < 0.012, (sigma, haze, noise, gain)


def test_estimator_blank_frames_give_nan():
    blank = np.zeros((2, 2 * P), dtype=np.float32)
    assert np.isnan(pd.estimate_states_from_pixels(blank)).all()
    assert np.isnan(pd.gym_pendulum_energy(pd.estimate_states_from_pixels(blank))).all()


def test_pixel_coordinates_put_the_pivot_in_place():
    x, y = pd.pixel_coordinates()
    assert x.shape == y.shape == (SIDE, SIDE)
    np.testing.assert_allclose(x[0, [13, 14]], [-0.025, 0.025])  # pivot between columns 13 and 14
    np.testing.assert_allclose(y[[3, 4], 0], [-0.025, 0.025])  # and between rows 3 and 4


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(n_frames=0), ValueError, "n_frames"),
        (dict(n_frames=2.5), TypeError, "n_frames"),
        (dict(n_trajectories=-1), ValueError, "n_trajectories"),
        (dict(max_angle=0.0), ValueError, r"max_angle must lie in \(0, pi\)"),
        (dict(max_angle=np.pi), ValueError, "max_angle"),
        (dict(max_angle=-0.1), ValueError, "max_angle"),
        (dict(max_angle="0.5"), TypeError, "max_angle"),
        (dict(test_fraction=0.0), ValueError, r"test_fraction must lie in \(0, 1\)"),
        (dict(test_fraction=1.0), ValueError, "test_fraction"),
        (dict(test_fraction=1.5), ValueError, "test_fraction"),
        (dict(n_trajectories=2, test_fraction=0.2), ValueError, "empty split"),
        (dict(side=0), ValueError, "side"),
        (dict(seed=-1), TypeError, "seed"),
        (dict(seed=1.5), TypeError, "seed"),
        (dict(cache_dir=3), TypeError, "cache_dir"),
        (dict(screen_dim=10), ValueError, "screen_dim"),
        (dict(progress="yes"), TypeError, "progress"),
    ],
)
def test_dataset_bad_arguments(kwargs, error, match):
    args = dict(n_trajectories=5, n_frames=2, progress=False)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        pd.make_pixel_pendulum_dataset(**args)


def test_bad_input_to_functions():
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 1568\)"):
        pd.estimate_states_from_pixels(np.zeros((3, P), dtype=np.float32))
    with pytest.raises(TypeError, match="floating-point"):
        pd.estimate_states_from_pixels(np.zeros((3, 2 * P), dtype=np.int64))
    with pytest.raises(TypeError, match="numpy.ndarray or torch.Tensor"):
        pd.estimate_states_from_pixels([0.0] * (2 * P))
    with pytest.raises(ValueError, match="dt"):
        pd.estimate_states_from_pixels(np.zeros((1, 2 * P), dtype=np.float32), dt=0.0)
    with pytest.raises(ValueError, match=r"\(\.\.\., 784\)"):
        pd.estimate_angles(np.zeros((2, 27, 27), dtype=np.float32))
    with pytest.raises(ValueError, match="threshold"):
        pd.estimate_angles(np.zeros((1, P)), threshold=1.0)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        pd.gym_pendulum_energy(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        pd.gym_pendulum_energy(torch.zeros(4, 3))
    with pytest.raises(TypeError, match="numpy.ndarray or torch.Tensor"):
        pd.gym_pendulum_energy([0.0, 1.0])
    with pytest.raises(TypeError, match="modified"):
        pd.gym_pendulum_energy(np.zeros(2), modified=1)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        pd.render_states(np.zeros(5))
    with pytest.raises(ValueError, match="finite"):
        pd.render_states(np.array([[np.nan, 0.0]]))
    with pytest.raises(ValueError, match="crop"):
        pd.render_states(np.zeros((1, 2)), crop=(0.5, -0.5, 0.0, 1.0))
    with pytest.raises(ValueError, match="T >= 2"):
        pd.frame_pair_states(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="n_frames"):
        pd.gym_pendulum_states(0.1, 0.0, 0)
    with pytest.raises(ValueError, match="finite"):
        pd.gym_pendulum_states(np.inf, 0.0, 3)
    with pytest.raises(ValueError, match="broadcast"):
        pd.gym_pendulum_states(np.zeros(3), np.zeros(2), 3)


# --- the cache ----------------------------------------------------------------------------------


def test_cache_round_trip(tmp_path, monkeypatch):
    first = small(cache_dir=tmp_path)
    assert first.cache_path is not None and first.cache_path.parent == tmp_path and first.cache_path.is_file()

    def no_rendering(*args, **kwargs):
        raise AssertionError("rendered although the cache holds the frames")

    monkeypatch.setattr(pd, "_FrameRenderer", no_rendering)
    second = small(cache_dir=tmp_path)
    assert second.cache_path == first.cache_path
    for name in ("frames", "trajectory_states", "train_trajectories", "test_trajectories"):
        np.testing.assert_array_equal(getattr(second, name), getattr(first, name))
    np.testing.assert_array_equal(second.train.x, first.train.x)
    np.testing.assert_array_equal(second.test.x_next, first.test.x_next)
    assert second.settings == first.settings
    # Another split of the same frames: the same file.
    resplit = small(cache_dir=tmp_path, test_fraction=0.4)
    assert resplit.cache_path == first.cache_path and len(resplit.test_trajectories) == 2
    np.testing.assert_array_equal(resplit.frames, first.frames)
    # Other frames: another file.
    monkeypatch.undo()
    third = small(cache_dir=tmp_path, n_frames=4)
    assert third.cache_path != first.cache_path and len(list(tmp_path.glob("*.npz"))) == 2


def test_cache_true_uses_the_per_user_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(realdata, "cache_dir", lambda: tmp_path / "user-cache")
    d = small(cache_dir=True)
    assert d.cache_path.parent == tmp_path / "user-cache" / "pixel_pendulum"


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong key", "wrong shape", "out of range"])
def test_damaged_cache_is_regenerated(tmp_path, damage, data):
    path = small(cache_dir=tmp_path).cache_path
    key = data.settings["key"]
    stored = {
        "wrong key": dict(frames=data.frames, key=np.array("0" * 64)),
        "wrong shape": dict(frames=data.frames[:, :5], key=np.array(key)),
        "out of range": dict(frames=data.frames + 2.0, key=np.array(key)),
    }
    if damage == "garbage":
        path.write_bytes(b"not a zip file")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    else:
        with open(path, "wb") as f:
            np.savez(f, **stored[damage])
    with pytest.warns(pd.DatasetCacheWarning, match="regenerating"):
        again = small(cache_dir=tmp_path)
    np.testing.assert_array_equal(again.frames, data.frames)
    with np.load(path, allow_pickle=False) as stored:  # rewritten, correct
        assert str(stored["key"]) == key
        np.testing.assert_array_equal(stored["frames"], data.frames)


def test_unwritable_cache_warns_and_still_returns(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    with pytest.warns(pd.DatasetCacheWarning, match="could not write"):
        d = small(cache_dir=blocker / "sub")
    assert d.cache_path is None and d.frames.shape == (5, 13, SIDE, SIDE)
