"""hnnlib.pixel.dataset: the seeded dataset of frame pairs, its splits, its checks and its disk cache."""

import gymnasium
import numpy as np
import pytest
import torch

from hnnlib import _io
from hnnlib.pixel import dataset, gym, render

from .helpers import P, SIDE, small


def test_dataset_energy_matches_states(data):
    np.testing.assert_allclose(data.energy, gym.gym_pendulum_energy(data.trajectory_states))
    assert data.energy.shape == data.trajectory_states.shape[:2]


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
    assert data.dt == gym.DT == 0.05 and data.side == SIDE
    # Released at rest within max_angle.
    np.testing.assert_array_equal(data.trajectory_states[:, 0, 1], 0.0)
    assert np.all(np.abs(data.trajectory_states[:, 0, 0]) <= np.pi / 6)
    x, x_next = data.train.to_torch()
    assert x.dtype == torch.float32 and x.shape == data.train.x.shape
    np.testing.assert_array_equal(x_next.numpy(), data.train.x_next)
    assert data.train.to_torch(dtype=torch.float64)[0].dtype == torch.float64
    for dtype in (torch.float16, torch.uint8, torch.int64):  # an integer dtype would truncate every pixel to 0
        with pytest.raises(ValueError, match="torch.float32 or torch.float64"):
            data.train.to_torch(dtype=dtype)


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
    np.testing.assert_allclose(data.frames[2], render.render_states(data.trajectory_states[2]), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(data.trajectory_states, gym.gym_pendulum_states(data.trajectory_states[:, 0, 0], 0.0, 13))


def test_progress_bar(capsys):
    small(n_frames=1, progress=True)
    assert "rendering frames" in capsys.readouterr().err


def test_dataset_split_by_whole_trajectories():
    d = dataset.make_pixel_pendulum_dataset(n_trajectories=10, n_frames=2, test_fraction=0.3, progress=False)
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
    assert data.settings["seed"] == 0 and data.settings["gymnasium"] == gymnasium.__version__


def test_dataset_max_angle():
    d = dataset.make_pixel_pendulum_dataset(n_trajectories=40, n_frames=1, max_angle=0.2, progress=False)
    phi0 = d.trajectory_states[:, 0, 0]
    assert np.abs(phi0).max() <= 0.2 and np.abs(phi0).max() > 0.15 and phi0.min() < 0 < phi0.max()
    with pytest.warns(UserWarning, match="crop"):
        dataset.make_pixel_pendulum_dataset(n_trajectories=2, n_frames=1, max_angle=1.0, test_fraction=0.5, progress=False)


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
        (dict(seed=-1), ValueError, "seed must lie in"),
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
        dataset.make_pixel_pendulum_dataset(**args)


def test_cache_round_trip(tmp_path, monkeypatch):
    first = small(cache_dir=tmp_path)
    assert first.cache_path is not None and first.cache_path.parent == tmp_path and first.cache_path.is_file()

    def no_rendering(*args, **kwargs):
        raise AssertionError("rendered although the cache holds the frames")

    monkeypatch.setattr(dataset, "_FrameRenderer", no_rendering)
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
    monkeypatch.setattr(_io, "cache_dir", lambda: tmp_path / "user-cache")
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
    with pytest.warns(dataset.DatasetCacheWarning, match="regenerating"):
        again = small(cache_dir=tmp_path)
    np.testing.assert_array_equal(again.frames, data.frames)
    with np.load(path, allow_pickle=False) as stored:  # rewritten, correct
        assert str(stored["key"]) == key
        np.testing.assert_array_equal(stored["frames"], data.frames)


def test_unwritable_cache_warns_and_still_returns(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    with pytest.warns(dataset.DatasetCacheWarning, match="could not write"):
        d = small(cache_dir=blocker / "sub")
    assert d.cache_path is None and d.frames.shape == (5, 13, SIDE, SIDE)
