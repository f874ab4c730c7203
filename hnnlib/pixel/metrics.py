"""Task 5's measurements: what the latent space encodes, and the energy along latent rollouts read from pixels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._checks import check_positive_int
from ..metrics import MeanWithError
from .estimate import estimate_angles
from .gym import gym_pendulum_energy
from .models import PixelDynamicsModel, rollout_latent

__all__ = ["PixelEnergyComparison", "compare_pixel_rollouts", "latent_probe", "states_along_rollout"]


def latent_probe(z: np.ndarray, states: np.ndarray) -> np.ndarray:
    """Least-squares affine map from latent states to true states: ``states ~ [z, 1] @ A``.

    Parameters
    ----------
    z : numpy.ndarray, shape (N, latent_dim)
    states : numpy.ndarray, shape (N, S)

    Returns
    -------
    numpy.ndarray, shape (latent_dim + 1, S)
        The matrix ``A``; apply it with ``np.c_[z, np.ones(len(z))] @ A``.
    """
    z = np.asarray(z, dtype=np.float64)
    states = np.asarray(states, dtype=np.float64)
    if z.ndim != 2 or states.ndim != 2 or z.shape[0] != states.shape[0]:
        raise ValueError(f"z and states must be (N, latent_dim) and (N, S) with the same N, got {z.shape} and {states.shape}")
    design = np.c_[z, np.ones(len(z))]
    return np.linalg.lstsq(design, states, rcond=None)[0]


def states_along_rollout(x: Any, dt: float, side: int = 28) -> np.ndarray:
    """Angle and angular velocity of the pendulum along a sequence of stacked frame pairs.

    The angle of each step is read from the pixels of its first frame
    (:func:`hnnlib.pixel.estimate.estimate_angles`); the angular velocity is the central difference
    of those angles along the sequence (one-sided at its ends), which averages out more pixel
    noise than the difference within one pair.

    Parameters
    ----------
    x : numpy.ndarray or torch.Tensor, shape (B, T, 2 * side * side)
        Ground-truth inputs, or a model's decoded rollout.
    dt : float
        Time between steps (s).
    side : int

    Returns
    -------
    numpy.ndarray, shape (B, T, 2)
        ``(phi, phi_dot)`` in rad and rad/s.
    """
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[-1] != 2 * side * side or x.shape[1] < 2:
        raise ValueError(f"x must have shape (B, T >= 2, {2 * side * side}), got {x.shape}")
    phi = np.unwrap(estimate_angles(x[..., : side * side], side), axis=1)
    return np.stack([phi, np.gradient(phi, dt, axis=1)], axis=-1)


@dataclass
class PixelEnergyComparison:
    """Energies along latent rollouts of test trajectories, measured from pixels.

    Attributes
    ----------
    true_energy : numpy.ndarray, shape (B, T)
        The modified energy of the true states (:func:`hnnlib.pixel.gym.gym_pendulum_energy` with
        ``modified=True``), which the environment's symplectic Euler step conserves; its plain
        energy oscillates by about 19 % from frame to frame.
    observed_energy : numpy.ndarray, shape (B, T)
        Energy read from the true frames with :func:`states_along_rollout`: the yardstick.
    predicted_energy : numpy.ndarray, shape (B, T)
        Energy read the same way from the model's decoded rollout.
    predicted_states, observed_states : numpy.ndarray, shape (B, T, 2)
        ``(phi, phi_dot)`` read from the decoded and the true frames.
    latent : numpy.ndarray, shape (B, T, latent_dim)
        The latent rollout.
    decoded : numpy.ndarray, shape (B, T, input_dim)
        Its decoded frames.
    """

    true_energy: np.ndarray
    observed_energy: np.ndarray
    predicted_energy: np.ndarray
    predicted_states: np.ndarray
    observed_states: np.ndarray
    latent: np.ndarray
    decoded: np.ndarray

    @property
    def energy_mse(self) -> MeanWithError:
        """Mean over trajectories of the time-averaged squared error ``predicted - observed`` (+- standard error)."""
        return MeanWithError.of(((self.predicted_energy - self.observed_energy) ** 2).mean(axis=1))

    @property
    def yardstick_mse(self) -> MeanWithError:
        """The same error for the true frames against the true states: the measurement's own floor."""
        return MeanWithError.of(((self.observed_energy - self.true_energy) ** 2).mean(axis=1))


def compare_pixel_rollouts(model: PixelDynamicsModel, frames: np.ndarray, states: np.ndarray, dt: float, n_steps: int | None = None) -> PixelEnergyComparison:
    """Roll a pixel model out in latent space from the first frame pair of each trajectory.

    The Task 5 protocol of this book: encode frames ``(0, 1)``, integrate the latent dynamics with
    RK4 for ``n_steps`` frames (:func:`~hnnlib.pixel.models.rollout_latent`), decode, read the pendulum's angle and
    velocity back from the decoded pixels, and compare the energy with the energy read the same
    way from the true frames.

    Parameters
    ----------
    model : PixelDynamicsModel
    frames : numpy.ndarray, shape (B, F, side, side)
        True frames of each trajectory, ``F >= n_steps + 1``.
    states : numpy.ndarray, shape (B, F, 2)
        Their true ``(phi, phi_dot)``.
    dt : float
        Time between frames (s).
    n_steps : int, optional
        Steps of the rollout (default ``F - 1``: every true pair is compared).

    Returns
    -------
    PixelEnergyComparison
    """
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim != 4 or frames.shape[2] != frames.shape[3]:
        raise ValueError(f"frames must have shape (B, F, side, side), got {frames.shape}")
    n_traj, n_frames, side = frames.shape[0], frames.shape[1], frames.shape[2]
    states = np.asarray(states, dtype=np.float64)
    if states.shape != (n_traj, n_frames, 2):
        raise ValueError(f"states must have shape ({n_traj}, {n_frames}, 2), got {states.shape}")
    n_steps = n_frames - 1 if n_steps is None else check_positive_int(n_steps, "n_steps")
    if n_steps > n_frames - 1:
        raise ValueError(f"n_steps={n_steps} needs {n_steps + 1} frames per trajectory, got {n_frames}")
    flat = frames.reshape(n_traj, n_frames, side * side)
    pairs = np.concatenate([flat[:, :-1], flat[:, 1:]], axis=-1)[:, :n_steps]  # true inputs, (B, n_steps, 2 side^2)
    param = next(model.parameters())
    z, decoded = rollout_latent(model, torch.as_tensor(pairs[:, 0], dtype=param.dtype, device=param.device), n_steps)
    predicted_states = states_along_rollout(decoded, dt, side)
    observed_states = states_along_rollout(pairs, dt, side)
    return PixelEnergyComparison(
        true_energy=gym_pendulum_energy(states[:, :n_steps], modified=True),
        observed_energy=gym_pendulum_energy(observed_states),
        predicted_energy=gym_pendulum_energy(predicted_states),
        predicted_states=predicted_states,
        observed_states=observed_states,
        latent=z.cpu().numpy(),
        decoded=decoded.cpu().numpy(),
    )
