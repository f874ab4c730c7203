"""Gymnasium's ``Pendulum-v1`` without torque: its constants, angles, update rule and energy.

Angles
------
Gymnasium measures ``theta`` from the *upright* position (``theta = 0`` up, ``theta = pi/2`` points
left, counter-clockwise on the screen). This package uses ``phi``, the angle from the *hanging* rest
position, ``phi = theta - pi`` wrapped to ``(-pi, pi]``: ``phi = 0`` hangs straight down,
``phi > 0`` swings the bob to the right of the picture. Angular velocities are the same in both
conventions (``phi_dot = theta_dot``, rad/s). A state is the pair ``(phi, phi_dot)``.

Dynamics
--------
``Pendulum-v1`` is a uniform rod of mass ``m`` and length ``l`` hinged at one end, moment of inertia
``I = m l^2 / 3``. Without torque, one environment step of ``dt = 0.05`` s is a semi-implicit
(symplectic) Euler step::

    theta_dot <- clip(theta_dot + dt * (3 g / (2 l)) * sin(theta), -8, 8)
    theta     <- theta + dt * theta_dot

with ``g = 10`` m/s^2, ``l = 1`` m, ``m = 1`` kg. Its energy per unit moment of inertia is
``E = phi_dot^2 / 2 + (3 g / (2 l)) (1 - cos phi)`` (units rad^2/s^2, i.e. J per kg m^2). A
symplectic Euler step does not conserve ``E`` exactly, but its error stays bounded: along a
trajectory ``E`` oscillates about a constant, without drift, by a relative peak-to-peak amount of
about ``omega dt = 0.19`` (``omega = sqrt(3 g / (2 l)) = 3.87`` rad/s). The step conserves the
*modified* energy ``E - (dt / 2) phi_dot (3 g / (2 l)) sin phi`` far better (relative spread
about 4e-4 for released swings up to pi/6): ``gym_pendulum_energy(states, modified=True)``.
So does, to about 1 %, the plain energy of the state of a *pair* of frames taken at its middle
(:func:`~hnnlib.pixel.estimate.frame_pair_states`), which is what a pair of pictures shows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .._checks import check_positive_int

__all__ = [
    "DT", "GRAVITY", "GRAVITY_TERM", "LENGTH", "MASS", "MAX_SPEED", "gym_pendulum_energy", "gym_pendulum_states",
    "phi_to_theta", "theta_to_phi", "wrap_angle",
]

#: Environment constants of ``Pendulum-v1`` (``gym.make`` defaults, with ``g`` made explicit).
GRAVITY = 10.0  # m/s^2
LENGTH = 1.0  # m
MASS = 1.0  # kg
DT = 0.05  # s per frame (one environment step)
MAX_SPEED = 8.0  # rad/s, the environment clips theta_dot to +-MAX_SPEED
#: ``3 g / (2 l)``: angular acceleration per unit ``sin`` (1/s^2), the rod's ``m g (l/2) / I``.
GRAVITY_TERM = 3.0 * GRAVITY / (2.0 * LENGTH)


def wrap_angle(angle: Any) -> np.ndarray:
    """Angles wrapped to ``(-pi, pi]`` (rad); angles already in that range are returned unchanged."""
    angle = np.asarray(angle, dtype=np.float64)
    inside = (angle > -np.pi) & (angle <= np.pi)
    return np.where(inside, angle, np.pi - np.mod(np.pi - angle, 2.0 * np.pi))


def phi_to_theta(phi: Any) -> np.ndarray:
    """Gymnasium's angle ``theta`` (from upright) of the angle ``phi`` from the hanging position."""
    return np.asarray(phi, dtype=np.float64) + np.pi


def theta_to_phi(theta: Any) -> np.ndarray:
    """The angle ``phi`` from the hanging position, in ``(-pi, pi]``, of gymnasium's ``theta``."""
    return wrap_angle(np.asarray(theta, dtype=np.float64) - np.pi)


def _finite_array(value: Any, name: str) -> np.ndarray:
    """``value`` as a float64 array, or a TypeError/ValueError naming ``name``."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number or an array of real numbers, got {type(value).__name__}") from None
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got NaN or inf values")
    return array


def gym_pendulum_states(phi0: Any, phi_dot0: Any = 0.0, n_frames: int = 103) -> np.ndarray:
    """True states of ``n_frames`` frames of ``Pendulum-v1`` without torque, from the given start.

    The update rule is the environment's ``step`` with ``u = 0`` (a semi-implicit Euler step of
    ``dt = 0.05`` s, ``theta_dot`` clipped to +-8 rad/s), applied to ``theta = phi + pi`` with
    the very same floating-point operations, vectorised over trajectories; the tests check it
    against ``env.step`` to 1e-12.

    Parameters
    ----------
    phi0 : float or array_like, shape (...)
        Initial angles from the hanging position (rad).
    phi_dot0 : float or array_like, shape (...), broadcastable with ``phi0``
        Initial angular velocities (rad/s). Default 0: released at rest.
    n_frames : int
        Number of frames, the first being the initial state.

    Returns
    -------
    numpy.ndarray, shape (..., n_frames, 2), float64
        ``(phi, phi_dot)`` of every frame: ``phi`` in ``(-pi, pi]`` (rad), ``phi_dot`` in rad/s.

    Raises
    ------
    TypeError
        If ``n_frames`` is not an int, or the initial values are not numbers.
    ValueError
        If ``n_frames < 1``, the initial values are not finite or do not broadcast together.
    """
    n_frames = check_positive_int(n_frames, "n_frames")
    phi0 = _finite_array(phi0, "phi0")
    phi_dot0 = _finite_array(phi_dot0, "phi_dot0")
    try:
        phi0, phi_dot0 = np.broadcast_arrays(phi0, phi_dot0)
    except ValueError:
        raise ValueError(f"phi0 and phi_dot0 must broadcast together, got shapes {phi0.shape} and {phi_dot0.shape}") from None
    g, l, m, dt = GRAVITY, LENGTH, MASS, DT
    theta = np.empty(phi0.shape + (n_frames,))
    theta_dot = np.empty_like(theta)
    th = phi_to_theta(phi0)
    thdot = np.array(phi_dot0, dtype=np.float64)
    theta[..., 0], theta_dot[..., 0] = th, thdot
    for k in range(1, n_frames):
        # Pendulum-v1's step with u = 0, term by term.
        thdot = thdot + (3 * g / (2 * l) * np.sin(th) + 3.0 / (m * l**2) * 0.0) * dt
        thdot = np.clip(thdot, -MAX_SPEED, MAX_SPEED)
        th = th + thdot * dt
        theta[..., k], theta_dot[..., k] = th, thdot
    phi = theta_to_phi(theta)
    phi[..., 0] = wrap_angle(phi0)  # exactly the given start, not phi0 + pi - pi
    return np.stack([phi, theta_dot], axis=-1)


def _states_array(states: Any, name: str = "states") -> np.ndarray:
    """``states`` as a float64 array of shape ``(..., 2)``, or a TypeError/ValueError."""
    if isinstance(states, torch.Tensor):
        states = states.detach().cpu().numpy()
    if not isinstance(states, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray or torch.Tensor of shape (..., 2), got {type(states).__name__}")
    if not (np.issubdtype(states.dtype, np.floating) or np.issubdtype(states.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers, got dtype {states.dtype}")
    if states.ndim == 0 or states.shape[-1] != 2:
        raise ValueError(f"{name} must have shape (..., 2) with last axis (phi, phi_dot), got shape {states.shape}")
    return states.astype(np.float64, copy=False)


def gym_pendulum_energy(states: Any, *, modified: bool = False) -> Any:
    """Energy per unit moment of inertia of ``Pendulum-v1`` states, zero at rest hanging down.

    ``E = phi_dot^2 / 2 + (3 g / (2 l)) (1 - cos phi)`` with ``g = 10`` m/s^2 and ``l = 1`` m: the
    rod's kinetic plus potential energy ``I phi_dot^2 / 2 + m g (l / 2) (1 - cos phi)`` divided by
    its moment of inertia ``I = m l^2 / 3``.

    Parameters
    ----------
    states : numpy.ndarray or torch.Tensor, shape (..., 2)
        ``(phi, phi_dot)``: angle from the hanging position (rad), angular velocity (rad/s).
        NaN entries (e.g. from :func:`~hnnlib.pixel.estimate.estimate_states_from_pixels`) give NaN
        energies.
    modified : bool
        Return instead ``E - (dt / 2) phi_dot (3 g / (2 l)) sin phi`` (``dt = 0.05`` s), the
        modified energy of the environment's semi-implicit Euler step, which its states conserve
        to O(dt^2) while ``E`` itself oscillates by about 19 % (see the module docstring).

    Returns
    -------
    numpy.ndarray (float64) or torch.Tensor (same dtype as the input), shape (...)
        ``E`` in rad^2/s^2 (J per kg m^2).

    Raises
    ------
    TypeError
        If ``states`` is not an array or tensor of real numbers.
    ValueError
        If its last axis is not 2 long.
    """
    if isinstance(states, torch.Tensor):
        if not states.is_floating_point():
            raise TypeError(f"states must be a floating-point tensor, got dtype {states.dtype}")
        if states.ndim == 0 or states.shape[-1] != 2:
            raise ValueError(f"states must have shape (..., 2) with last axis (phi, phi_dot), got shape {tuple(states.shape)}")
        phi, phi_dot, sin, cos = states[..., 0], states[..., 1], torch.sin, torch.cos
    else:
        states = _states_array(states)
        phi, phi_dot, sin, cos = states[..., 0], states[..., 1], np.sin, np.cos
    if not isinstance(modified, bool):
        raise TypeError(f"modified must be a bool, got {type(modified).__name__}")
    energy = 0.5 * phi_dot**2 + GRAVITY_TERM * (1.0 - cos(phi))
    if modified:
        energy = energy - 0.5 * DT * phi_dot * GRAVITY_TERM * sin(phi)
    return energy
