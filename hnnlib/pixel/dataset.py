"""The pixel pendulum dataset of the paper's Task 5: seeded frame pairs and their true states, cached on disk.

The paper (Section 5) observes a pendulum only through pictures: 200 trajectories of 100 frames of
OpenAI Gym's pendulum, no torque, released at most pi/6 from the hanging rest position; each frame
cropped, desaturated and downsampled to 28x28, and stacked with its successor (inputs 28x28x2).
:func:`make_pixel_pendulum_dataset` rebuilds that dataset with gymnasium's ``Pendulum-v1`` (the
successor of the retired ``Pendulum-v0`` the reference code used) and keeps the *true* state of
every frame, so that the energy of frames, including frames decoded by a model, can be measured.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._checks import check_device, check_float_dtype, check_positive_int, check_seed
from .._io import atomic_write, cache_folder
from .estimate import _check_real, estimate_states_from_pixels, frame_pair_states
from .gym import DT, gym_pendulum_energy, gym_pendulum_states
from .render import CROP, CROP_MAX_ANGLE, SCREEN_DIM, _check_side_screen, _FrameRenderer

__all__ = [
    "DatasetCacheWarning", "EXTRA_FRAMES", "FORMAT_VERSION", "PixelPendulumData", "PixelSplit", "make_pixel_pendulum_dataset",
]

#: Bump when the pictures or the cache file layout change: old cache files are then regenerated.
FORMAT_VERSION = 1
#: Frames generated per trajectory beyond ``n_frames`` (the reference generated 103 for 100).
EXTRA_FRAMES = 3


class DatasetCacheWarning(UserWarning):
    """A cached dataset could not be used or written; it is regenerated (or not stored)."""


@dataclass(frozen=True, eq=False)
class PixelSplit:
    """One split (train or test) of the pixel pendulum: consecutive stacked frame pairs.

    Sample ``i`` is frame ``t = frame[i]`` of trajectory ``trajectory[i]``. Frames are flattened
    row-major (``side * side`` values each) and two are concatenated per input.

    Attributes
    ----------
    x : numpy.ndarray, shape (N, 2 * side * side), float32
        Frames ``t`` and ``t + 1``.
    x_next : numpy.ndarray, shape (N, 2 * side * side), float32
        Frames ``t + 1`` and ``t + 2``: its first half is the second half of ``x``.
    states : numpy.ndarray, shape (N, 2), float64
        True ``(phi, phi_dot)`` at frame ``t`` (rad, rad/s).
    next_states : numpy.ndarray, shape (N, 2), float64
        True ``(phi, phi_dot)`` at frame ``t + 1``.
    pair_states : numpy.ndarray, shape (N, 2), float64
        True state of the pair ``x`` at its middle (:func:`~hnnlib.pixel.estimate.frame_pair_states`):
        what :func:`~hnnlib.pixel.estimate.estimate_states_from_pixels` estimates from ``x``.
    trajectory : numpy.ndarray, shape (N,), int64
        Index of the sample's trajectory in :attr:`PixelPendulumData.frames`.
    frame : numpy.ndarray, shape (N,), int64
        Index ``t`` of the sample's first frame within its trajectory.
    """

    x: np.ndarray
    x_next: np.ndarray
    states: np.ndarray
    next_states: np.ndarray
    pair_states: np.ndarray
    trajectory: np.ndarray
    frame: np.ndarray

    def __post_init__(self) -> None:
        n = self.x.shape[0]
        if self.x.ndim != 2 or self.x_next.shape != self.x.shape:
            raise ValueError(f"x and x_next must both have shape (N, 2 * side * side), got {self.x.shape} and {self.x_next.shape}")
        for name in ("states", "next_states", "pair_states"):
            if getattr(self, name).shape != (n, 2):
                raise ValueError(f"{name} must have shape ({n}, 2), got {getattr(self, name).shape}")
        if self.trajectory.shape != (n,) or self.frame.shape != (n,):
            raise ValueError(f"trajectory and frame must have shape ({n},), got {self.trajectory.shape} and {self.frame.shape}")

    def __len__(self) -> int:
        return self.x.shape[0]

    def to_torch(self, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, x_next)`` as tensors of ``dtype`` (float32 or float64) on ``device``, ready for :func:`~hnnlib.pixel.models.fit_pixel_model`."""
        dtype, device = check_float_dtype(dtype), None if device is None else check_device(device)
        return (torch.as_tensor(self.x, dtype=dtype, device=device), torch.as_tensor(self.x_next, dtype=dtype, device=device))


@dataclass(frozen=True, eq=False)
class PixelPendulumData:
    """The pixel pendulum dataset: frames, their true states, and train/test splits by trajectory.

    Attributes
    ----------
    train, test : PixelSplit
        ``n_frames`` samples per trajectory (``t = 0 .. n_frames - 1``).
    frames : numpy.ndarray, shape (n_trajectories, n_frames + 3, side, side), float32
        Every frame, values in ``[0, 1]``. The pairs use frames ``0 .. n_frames + 1``; the last
        frame is generated as the reference code did (103 frames for 100) and left spare.
    trajectory_states : numpy.ndarray, shape (n_trajectories, n_frames + 3, 2), float64
        True ``(phi, phi_dot)`` of every frame.
    train_trajectories, test_trajectories : numpy.ndarray, int64
        Indices of the trajectories in each split (disjoint, together all of them).
    dt : float
        Time between frames (s).
    side : int
        Pixels per side of a frame.
    settings : dict
        The generation parameters, the gymnasium and pygame versions, and the cache ``key``.
    cache_path : pathlib.Path or None
        The cache file the data was loaded from or stored in, if any.
    """

    train: PixelSplit
    test: PixelSplit
    frames: np.ndarray
    trajectory_states: np.ndarray
    train_trajectories: np.ndarray
    test_trajectories: np.ndarray
    dt: float = DT
    side: int = 28
    settings: dict[str, Any] = field(default_factory=dict)
    cache_path: Path | None = None

    @property
    def energy(self) -> np.ndarray:
        """True energy of every frame, shape ``(n_trajectories, n_frames + 3)`` (:func:`~hnnlib.pixel.gym.gym_pendulum_energy`)."""
        return gym_pendulum_energy(self.trajectory_states)

    def estimate_states(self, x: Any) -> np.ndarray:
        """:func:`~hnnlib.pixel.estimate.estimate_states_from_pixels` with this dataset's ``dt`` and ``side``."""
        return estimate_states_from_pixels(x, self.dt, self.side)


def _split(frames: np.ndarray, states: np.ndarray, trajectories: np.ndarray, n_frames: int) -> PixelSplit:
    """Samples ``t = 0 .. n_frames - 1`` of the given trajectories."""
    n_traj, n_pixels = len(trajectories), frames.shape[2] * frames.shape[3]
    n = n_traj * n_frames

    def pairs(first: int) -> np.ndarray:
        """Frames ``(t + first, t + first + 1)`` for ``t < n_frames``, flattened, shape ``(n, 2 n_pixels)``."""
        out = np.empty((n_traj, n_frames, 2 * n_pixels), dtype=frames.dtype)
        out[..., :n_pixels] = frames[trajectories, first : first + n_frames].reshape(n_traj, n_frames, n_pixels)
        out[..., n_pixels:] = frames[trajectories, first + 1 : first + 1 + n_frames].reshape(n_traj, n_frames, n_pixels)
        return out.reshape(n, 2 * n_pixels)

    return PixelSplit(
        x=pairs(0),
        x_next=pairs(1),
        states=states[trajectories, :n_frames].reshape(n, 2).copy(),
        next_states=states[trajectories, 1 : n_frames + 1].reshape(n, 2).copy(),
        pair_states=frame_pair_states(states[trajectories, : n_frames + 1]).reshape(n, 2),
        trajectory=np.repeat(trajectories, n_frames).astype(np.int64),
        frame=np.tile(np.arange(n_frames, dtype=np.int64), len(trajectories)),
    )


def _versions() -> dict[str, str]:
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import gymnasium
    import pygame

    return {"gymnasium": gymnasium.__version__, "pygame": pygame.version.ver}


def _cache_key(frame_settings: dict[str, Any]) -> str:
    """Hex sha256 of ``json.dumps(frame_settings, sort_keys=True)``: the key a cache file is named after and holds.

    The default JSON separators, not those of :func:`hnnlib._io.json_sha256`: other bytes would give
    every cached file another key.
    """
    return hashlib.sha256(json.dumps(frame_settings, sort_keys=True).encode()).hexdigest()


def _load_cached_frames(path: Path, key: str, shape: tuple[int, ...]) -> np.ndarray | None:
    """The frames stored at ``path`` if they are exactly what ``key`` describes, else None (with a warning)."""
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as stored:  # our handle: closed even if np.load fails
            stored_key = str(stored["key"])
            frames = stored["frames"]
        if stored_key != key:
            raise ValueError(f"it holds key {stored_key[:16]}..., expected {key[:16]}...")
        if frames.shape != shape or frames.dtype != np.float32:
            raise ValueError(f"its frames have shape {frames.shape} and dtype {frames.dtype}, expected {shape} and float32")
        if not (np.all(np.isfinite(frames)) and frames.min() >= 0.0 and frames.max() <= 1.0):
            raise ValueError("its frames hold values outside [0, 1]")
    except Exception as err:  # unreadable zip, missing member, wrong content: never trusted
        warnings.warn(f"ignoring the cached pixel pendulum {path}: {type(err).__name__}: {err}; regenerating it", DatasetCacheWarning, stacklevel=3)
        return None
    return frames


def make_pixel_pendulum_dataset(
    n_trajectories: int = 200,
    n_frames: int = 100,
    max_angle: float = np.pi / 6,
    test_fraction: float = 0.2,
    side: int = 28,
    seed: int = 0,
    progress: bool = True,
    cache_dir: bool | str | os.PathLike | None = None,
    *,
    screen_dim: int = SCREEN_DIM,
) -> PixelPendulumData:
    """The pixel pendulum of the paper's Task 5, seeded, optionally cached on disk.

    Each trajectory is released at rest (``phi_dot = 0``) at an angle ``phi0 ~ U(-max_angle,
    max_angle)`` from the hanging position, drawn with ``np.random.default_rng(seed)``, so its
    largest displacement is ``|phi0| <= max_angle`` (up to the 0.5 % by which the environment's
    symplectic Euler step lets the amplitude oscillate at ``dt = 0.05`` s). It is stepped without
    torque (:func:`~hnnlib.pixel.gym.gym_pendulum_states`) for ``n_frames + 3`` frames, each frame drawn once
    (:func:`~hnnlib.pixel.render.render_states`). Sample ``t`` of a trajectory pairs frames ``(t, t + 1)`` with
    ``(t + 1, t + 2)``, for ``t = 0 .. n_frames - 1``. The last
    ``round(test_fraction * n_trajectories)`` trajectories form the test split, whole.

    Parameters
    ----------
    n_trajectories : int
        Paper: 200.
    n_frames : int
        Samples per trajectory. Paper: 100 (103 frames generated).
    max_angle : float
        Largest initial angle from the hanging position (rad), in ``(0, pi)``. Paper: pi/6. The
        crop holds the whole rod up to :data:`~hnnlib.pixel.render.CROP_MAX_ANGLE` (0.64 rad); beyond, a warning.
    test_fraction : float
        In ``(0, 1)``. Paper: 0.2.
    side : int
        Pixels per side of a frame. Paper: 28.
    seed : int
        Seeds the initial angles (the rest is deterministic).
    progress : bool
        Show a tqdm progress bar over the trajectories while rendering.
    cache_dir : bool, path-like or None
        Where to cache the frames: a folder, or True for the per-user cache folder of
        :func:`hnnlib._io.cache_dir` (subfolder ``pixel_pendulum``); None or False: no cache.
        Only the frames are stored (the states are recomputed, in milliseconds), in a compressed
        ``.npz`` (about 2.6 MB for the default dataset) read with ``allow_pickle=False``. The file
        is named after a sha256 of every parameter the frames depend on (all of the above but
        ``test_fraction`` and ``progress``, the crop, a format version, and the gymnasium and pygame
        versions), stores that hash, and is used only if it holds it and frames of the expected
        shape, dtype and range; anything else is regenerated and overwritten atomically (with a
        :class:`DatasetCacheWarning`).
    screen_dim : int
        The renderer's resolution (see :func:`~hnnlib.pixel.render.render_states`).

    Returns
    -------
    PixelPendulumData

    Raises
    ------
    TypeError
        If an argument has the wrong type.
    ValueError
        If ``max_angle`` is not in ``(0, pi)``, ``test_fraction`` not in ``(0, 1)``, or a split
        would be empty.
    """
    n_trajectories = check_positive_int(n_trajectories, "n_trajectories")
    n_frames = check_positive_int(n_frames, "n_frames")
    max_angle = _check_real(max_angle, "max_angle")
    if not 0.0 < max_angle < np.pi:
        raise ValueError(f"max_angle must lie in (0, pi) rad, got {max_angle}")
    if max_angle > CROP_MAX_ANGLE:
        warnings.warn(f"max_angle={max_angle:.3f} rad exceeds {CROP_MAX_ANGLE:.3f} rad: the crop cuts the rod off at large angles", UserWarning, stacklevel=2)
    test_fraction = _check_real(test_fraction, "test_fraction")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    n_test = int(round(n_trajectories * test_fraction))
    if not 0 < n_test < n_trajectories:
        raise ValueError(f"test_fraction={test_fraction} of {n_trajectories} trajectories leaves an empty split ({n_test} test trajectories)")
    side, screen_dim = _check_side_screen(side, screen_dim)
    seed = check_seed(seed)
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be a bool, got {type(progress).__name__}")
    folder = cache_folder(cache_dir, "pixel_pendulum")

    # Everything the frames depend on; the split (test_fraction) does not change them.
    frame_settings: dict[str, Any] = {
        "n_trajectories": n_trajectories, "n_frames": n_frames, "max_angle": max_angle, "side": side, "seed": int(seed),
        "screen_dim": screen_dim, "crop": list(CROP), "format": FORMAT_VERSION, **_versions(),
    }
    key = _cache_key(frame_settings)
    settings = {**frame_settings, "test_fraction": test_fraction, "dt": DT, "key": key}

    rng = np.random.default_rng(seed)
    phi0 = rng.uniform(-max_angle, max_angle, size=n_trajectories)
    n_total = n_frames + EXTRA_FRAMES
    states = gym_pendulum_states(phi0, 0.0, n_total)  # (n_trajectories, n_total, 2)
    shape = (n_trajectories, n_total, side, side)

    path = folder / f"pixel_pendulum-{key[:32]}.npz" if folder is not None else None
    frames = _load_cached_frames(path, key, shape) if path is not None else None
    from ..progress import finished_bar, progress_bar

    if frames is not None and progress:  # the same outputs as rendering them: a finished bar
        finished_bar(n_trajectories, "rendering frames (loaded from the cache)")
    if frames is None:
        frames = np.empty(shape, dtype=np.float32)
        with _FrameRenderer(side, screen_dim, CROP) as renderer:
            for k in progress_bar(range(n_trajectories), desc="rendering frames", unit="trajectory", disable=not progress, leave=True):
                frames[k] = renderer.render(states[k, :, 0])
        if path is not None and not atomic_write(path, lambda f: np.savez_compressed(f, frames=frames, key=np.array(key)),
                                                 warning=DatasetCacheWarning, what="pixel pendulum cache"):
            path = None

    trajectories = np.arange(n_trajectories, dtype=np.int64)
    train_ids, test_ids = trajectories[: n_trajectories - n_test], trajectories[n_trajectories - n_test :]
    return PixelPendulumData(
        train=_split(frames, states, train_ids, n_frames),
        test=_split(frames, states, test_ids, n_frames),
        frames=frames,
        trajectory_states=states,
        train_trajectories=train_ids,
        test_trajectories=test_ids,
        dt=DT,
        side=side,
        settings=settings,
        cache_path=path,
    )
