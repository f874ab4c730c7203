"""The pixel pendulum of the paper's Task 5: frames of gymnasium's ``Pendulum-v1``, and their states.

The paper (Section 5) observes a pendulum only through pictures: 200 trajectories of 100 frames of
OpenAI Gym's pendulum, no torque, released at most pi/6 from the hanging rest position; each frame
cropped, desaturated and downsampled to 28x28, and stacked with its successor (inputs 28x28x2).
This module rebuilds that dataset with gymnasium's ``Pendulum-v1`` (the successor of the retired
``Pendulum-v0`` the reference code used) and keeps the *true* state of every frame, so that the
energy of frames, including frames decoded by a model, can be measured.

- :func:`gym_pendulum_states`: the true states, from the environment's own update rule.
- :func:`render_states`: 28x28 frames drawn by the environment's own renderer.
- :func:`make_pixel_pendulum_dataset`: the seeded, optionally cached dataset
  (:class:`PixelPendulumData`, two :class:`PixelSplit`).
- :func:`estimate_states_from_pixels`: the state of a frame pair read back from its pixels alone;
  :func:`frame_pair_states`: the true state it estimates.
- :func:`gym_pendulum_energy`: the energy of a state.

Angles
------
Gymnasium measures ``theta`` from the *upright* position (``theta = 0`` up, ``theta = pi/2`` points
left, counter-clockwise on the screen). This module uses ``phi``, the angle from the *hanging* rest
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
(:func:`frame_pair_states`), which is what a pair of pictures shows.

Pictures
--------
Each frame is drawn by the environment's ``render()`` (torque arrow hidden), cropped to the square
:data:`CROP` around the pivot, desaturated (luma ``0.299 R + 0.587 G + 0.114 B``), inverted and
scaled so that the rod's colour is 1 and the white background 0 (the black axle, darker than the
rod, is clipped to 1), then area-averaged to ``side x side`` pixels. Values lie in ``[0, 1]``.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from ._checks import check_positive_int

#: Environment constants of ``Pendulum-v1`` (``gym.make`` defaults, with ``g`` made explicit).
GRAVITY = 10.0  # m/s^2
LENGTH = 1.0  # m
MASS = 1.0  # kg
DT = 0.05  # s per frame (one environment step)
MAX_SPEED = 8.0  # rad/s, the environment clips theta_dot to +-MAX_SPEED
#: ``3 g / (2 l)``: angular acceleration per unit ``sin`` (1/s^2), the rod's ``m g (l/2) / I``.
GRAVITY_TERM = 3.0 * GRAVITY / (2.0 * LENGTH)

#: The renderer's own resolution (pixels per side) and the half-width of its view (rod lengths).
GYM_SCREEN_DIM = 500
VIEW_BOUND = 2.2
#: Resolution at which :func:`render_states` asks the renderer to draw (see :func:`render_states`).
SCREEN_DIM = 264
#: The crop ``(left, right, top, bottom)`` in rod lengths from the pivot, ``x`` to the right and
#: ``y`` downwards. The rod (width 0.2, with discs of radius 0.1 at both ends) spans
#: ``|x| <= sin|phi| + 0.1`` and ``-0.1 <= y <= 1.1``; the crop leaves a margin of 0.1 around it for
#: ``|phi| <= pi/6`` and holds the whole rod up to :data:`CROP_MAX_ANGLE`.
CROP = (-0.7, 0.7, -0.2, 1.2)
#: Largest ``|phi|`` (rad) whose rod lies wholly inside :data:`CROP`: ``asin(0.6)``.
CROP_MAX_ANGLE = float(np.arcsin(0.6))
#: Luma weights of the desaturation (ITU-R BT.601) and the rod's RGB colour in the renderer.
LUMA = (0.299, 0.587, 0.114)
ROD_RGB = (204, 77, 77)
#: Bump when the pictures or the cache file layout change: old cache files are then regenerated.
FORMAT_VERSION = 1
#: Frames generated per trajectory beyond ``n_frames`` (the reference generated 103 for 100).
EXTRA_FRAMES = 3

_ROD_INK = 255.0 - float(np.dot(LUMA, ROD_RGB))


class DatasetCacheWarning(UserWarning):
    """A cached dataset could not be used or written; it is regenerated (or not stored)."""


# --- angles and dynamics -------------------------------------------------------------------------


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


def _check_real(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


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
        NaN entries (e.g. from :func:`estimate_states_from_pixels`) give NaN energies.
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


# --- rendering -----------------------------------------------------------------------------------


def _check_crop(crop: Any) -> tuple[float, float, float, float]:
    try:
        left, right, top, bottom = (float(v) for v in crop)
    except (TypeError, ValueError):
        raise ValueError(f"crop must be four numbers (left, right, top, bottom) in rod lengths, got {crop!r}") from None
    if not (np.isfinite([left, right, top, bottom]).all() and left < right and top < bottom):
        raise ValueError(f"crop must satisfy left < right and top < bottom with finite values, got {crop!r}")
    if max(abs(left), abs(right), abs(top), abs(bottom)) > VIEW_BOUND:
        raise ValueError(f"crop must lie within the renderer's view of +-{VIEW_BOUND} rod lengths, got {crop!r}")
    return left, right, top, bottom


def _area_matrix(start: float, stop: float, n_out: int, n_in: int) -> np.ndarray:
    """Exact area-averaging weights ``(n_out, n_in)`` of the interval ``[start, stop)`` of pixels.

    Input pixel ``j`` covers ``[j, j + 1)``; output bin ``i`` covers ``[start + i w, start + (i + 1) w)``
    with ``w = (stop - start) / n_out``. Entry ``(i, j)`` is the overlap length over ``w``.
    """
    edges = start + (stop - start) * np.arange(n_out + 1) / n_out
    lo = np.maximum(edges[:-1, None], np.arange(n_in)[None, :])
    hi = np.minimum(edges[1:, None], np.arange(n_in)[None, :] + 1.0)
    return np.clip(hi - lo, 0.0, None) / ((stop - start) / n_out)


_RENDER_LOCK = threading.Lock()


@contextmanager
def _decode_images_once() -> Iterator[None]:
    """While active, ``pygame.image.load`` decodes each image file once and then returns that surface.

    ``Pendulum-v1.render()`` decodes its torque-arrow PNG on every call, even when the arrow is
    hidden and the image unused; at the resolutions used here that is about half of its time.
    Only calls with a single path argument are cached; the original function is restored on exit.
    The pixels drawn are the same (see the tests). One rendering at a time (a lock).
    """
    import pygame

    with _RENDER_LOCK:
        original = pygame.image.load
        decoded: dict[str, Any] = {}

        def load(file: Any, *args: Any, **kwargs: Any) -> Any:
            if args or kwargs or not isinstance(file, str):
                return original(file, *args, **kwargs)
            if file not in decoded:
                decoded[file] = original(file)
            return decoded[file]

        pygame.image.load = load
        try:
            yield
        finally:
            pygame.image.load = original


class _FrameRenderer:
    """One ``Pendulum-v1`` environment drawing ``side x side`` frames of given angles."""

    def __init__(self, side: int, screen_dim: int, crop: tuple[float, float, float, float], *, decode_once: bool = True):
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # no window: pygame draws off-screen
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        import gymnasium as gym

        self.side, self.screen_dim, self.decode_once = side, screen_dim, decode_once
        self.env = gym.make("Pendulum-v1", render_mode="rgb_array", g=GRAVITY)
        self.env.reset(seed=0)
        self.pendulum = self.env.unwrapped
        for name, value in (("g", GRAVITY), ("l", LENGTH), ("m", MASS), ("dt", DT), ("max_speed", MAX_SPEED)):
            if float(getattr(self.pendulum, name)) != value:  # a future gymnasium changing the system
                raise RuntimeError(f"Pendulum-v1 has {name} = {getattr(self.pendulum, name)}, this module assumes {value}")
        self.pendulum.screen_dim = screen_dim  # read by render() when it first creates its surface
        # Where the rod is drawn, in continuous pixel coordinates (pixel k covers [k, k + 1)): the
        # renderer centres the axle disc on pixel (screen_dim // 2, screen_dim // 2), then flips the
        # picture vertically; it places the rod's vertices on whole pixels, which draws the rod half a
        # pixel left of and below the axle pixel's centre (measured: without this shift the angles
        # read back from the frames are biased by about -3.3 / screen_dim rad, and frames of
        # phi and -phi are not mirror images). The crop is centred on the rod.
        scale = screen_dim / (2 * VIEW_BOUND)
        pivot_x = float(screen_dim // 2)
        pivot_y = float(screen_dim - screen_dim // 2)
        left, right, top, bottom = crop
        x0, x1 = pivot_x + left * scale, pivot_x + right * scale
        y0, y1 = pivot_y + top * scale, pivot_y + bottom * scale
        self.cols = slice(int(np.floor(x0)), int(np.ceil(x1)))
        self.rows = slice(int(np.floor(y0)), int(np.ceil(y1)))
        if min(self.cols.start, self.rows.start) < 0 or max(self.cols.stop, self.rows.stop) > screen_dim:
            raise ValueError(f"crop {crop} reaches beyond the {screen_dim}x{screen_dim} picture")
        self.col_weights = _area_matrix(x0 - self.cols.start, x1 - self.cols.start, side, self.cols.stop - self.cols.start).astype(np.float32)
        self.row_weights = _area_matrix(y0 - self.rows.start, y1 - self.rows.start, side, self.rows.stop - self.rows.start).astype(np.float32)

    def render(self, phi: np.ndarray, chunk: int = 256) -> np.ndarray:
        """Frames ``(len(phi), side, side)`` float32 of the angles ``phi`` (rad from hanging)."""
        out = np.empty((len(phi), self.side, self.side), dtype=np.float32)
        luma = np.asarray(LUMA, dtype=np.float32)
        height, width = self.rows.stop - self.rows.start, self.cols.stop - self.cols.start
        crops = np.empty((min(chunk, len(phi)), height, width, 3), dtype=np.uint8)
        for start in range(0, len(phi), chunk):
            block = phi[start : start + chunk]
            with _decode_images_once() if self.decode_once else _RENDER_LOCK:
                for k, angle in enumerate(block):
                    self.pendulum.state = np.array([angle + np.pi, 0.0])
                    self.pendulum.last_u = None  # no torque arrow
                    crops[k] = self.pendulum.render()[self.rows, self.cols]
            ink = np.clip((np.float32(255.0) - crops[: len(block)] @ luma) / np.float32(_ROD_INK), 0.0, 1.0)
            frames = np.einsum("ij,tjk,lk->til", self.row_weights, ink, self.col_weights, optimize=True)
            out[start : start + len(block)] = np.clip(frames, 0.0, 1.0)
        return out

    def close(self) -> None:
        self.env.close()

    def __enter__(self) -> "_FrameRenderer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _check_side_screen(side: Any, screen_dim: Any) -> tuple[int, int]:
    side = check_positive_int(side, "side")
    screen_dim = check_positive_int(screen_dim, "screen_dim")
    if screen_dim < 64:
        raise ValueError(f"screen_dim must be at least 64 pixels, got {screen_dim}")
    return side, screen_dim


def render_states(
    states: Any,
    side: int = 28,
    *,
    screen_dim: int = SCREEN_DIM,
    crop: tuple[float, float, float, float] = CROP,
) -> np.ndarray:
    """Frames of ``Pendulum-v1`` in the given states, drawn by the environment's own renderer.

    Each angle is set with ``env.unwrapped.state = [phi + pi, 0]`` (the velocity does not show)
    and drawn with ``render()`` (no step; ``last_u = None`` hides the torque arrow). The picture is
    cropped to ``crop``, desaturated, inverted so that the rod is 1 and the background 0, and
    area-averaged (exactly, with fractional pixel weights) to ``side x side`` (see the module
    docstring). The crop is centred on where the renderer draws the rod, half a screen pixel off
    the axle's pixel (the renderer puts the rod's vertices on whole pixels); centred on the axle,
    every frame would lean by about -3.3 / ``screen_dim`` rad.

    The renderer is asked to draw at ``screen_dim`` pixels per side instead of its own 500
    (``env.unwrapped.screen_dim`` is set before the first ``render()``; its drawing scales with
    it). The default 264 draws 3x3 screen pixels per output pixel of a 28x28 frame; its 28x28
    frames differ from those of the 500-pixel screen by 0.007 per pixel on average (500 and 1000
    pixels differ by 0.004: the same pictures up to their edge pixels), and the angles read
    back from them (:func:`estimate_angles`) are within 0.0033 rad RMS of the truth (0.0017 at
    500 pixels). While it draws, ``pygame.image.load`` is wrapped to decode the (unused, hidden)
    torque-arrow image only once; the pixels are the same. Together this renders about 3.5 times
    as many frames per second as the plain 500-pixel renderer (measured: 550-600 against 150-190
    frames/s on a loaded 2-core machine).

    Parameters
    ----------
    states : numpy.ndarray or torch.Tensor, shape (..., 2)
        ``(phi, phi_dot)``; only the angle ``phi`` (rad from the hanging position) is drawn.
    side : int
        Pixels per side of the output frames (28 in the paper).
    screen_dim : int
        The renderer's resolution, at least 64.
    crop : (left, right, top, bottom)
        The crop in rod lengths from the pivot, ``x`` to the right and ``y`` downwards. The default
        :data:`CROP` holds the whole rod for ``|phi| <= asin(0.6) = 0.64`` rad.

    Returns
    -------
    numpy.ndarray, shape (..., side, side), float32
        Values in ``[0, 1]``: the rod bright, the background dark. Row 0 is the top of the picture.

    Raises
    ------
    TypeError, ValueError
        If ``states`` is not a finite ``(..., 2)`` array, or ``side``, ``screen_dim``, ``crop`` are invalid.
    """
    states = _states_array(states)
    if not np.all(np.isfinite(states[..., 0])):
        raise ValueError("states must have finite angles, got NaN or inf values")
    side, screen_dim = _check_side_screen(side, screen_dim)
    crop = _check_crop(crop)
    phi = states[..., 0].reshape(-1)
    with _FrameRenderer(side, screen_dim, crop) as renderer:
        frames = renderer.render(phi)
    return frames.reshape(states.shape[:-1] + (side, side))


# --- reading states back from pixels --------------------------------------------------------------


def pixel_coordinates(side: int = 28, crop: tuple[float, float, float, float] = CROP) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the pixel centres of a ``side x side`` frame, in rod lengths from the pivot.

    Returns
    -------
    x, y : numpy.ndarray, shape (side, side)
        ``x`` to the right, ``y`` downwards; a rod at angle ``phi`` points along ``(sin phi, cos phi)``.
    """
    side = check_positive_int(side, "side")
    left, right, top, bottom = _check_crop(crop)
    centres = (np.arange(side) + 0.5) / side
    x = left + (right - left) * centres
    y = top + (bottom - top) * centres
    return np.broadcast_to(x[None, :], (side, side)).copy(), np.broadcast_to(y[:, None], (side, side)).copy()


def _pixels_array(x: Any, last: int, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().to(torch.float64).numpy()
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray or torch.Tensor, got {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name} must hold floating-point pixel values, got dtype {x.dtype}")
    if x.ndim == 0 or x.shape[-1] != last:
        raise ValueError(f"{name} must have shape (..., {last}), got shape {x.shape}")
    return x


def estimate_angles(
    frames: Any,
    side: int = 28,
    *,
    crop: tuple[float, float, float, float] = CROP,
    threshold: float = 0.25,
    radius: tuple[float, float] = (0.25, 1.3),
) -> np.ndarray:
    """Angle of the rod in each frame, from its pixels alone.

    The rod's direction is that of the intensity-weighted centroid of the frame about the pivot:
    ``phi = atan2(sum w x, sum w y)``, with pixel positions ``(x, y)`` from
    :func:`pixel_coordinates` (rod lengths; ``x`` right, ``y`` down). The weights are
    ``w = max(value - b - threshold (peak - b), 0)``, where ``b`` is the frame's median (its
    background level: the rod covers about a tenth of the frame) and ``peak`` its largest value, on
    the pixels at a distance ``radius[0] <= r <= radius[1]`` from the pivot. Subtracting a
    background and a relative threshold makes the estimate insensitive to the faint haze, the
    blur and the lower contrast of frames decoded by a model (a haze left in would pull the
    centroid towards the middle of the crop, i.e. ``phi`` towards 0); the ring leaves out the
    axle, which carries no direction, and the crop's far corners.

    Parameters
    ----------
    frames : numpy.ndarray or torch.Tensor, shape (..., side * side) or (..., side, side)
        Frames as made by :func:`render_states`, or model outputs of the same layout (values about
        ``[0, 1]``, possibly a little outside). A trailing ``(side, side)`` is read as one frame.
    side : int
    crop : (left, right, top, bottom)
        The crop the frames were made with.
    threshold : float
        In ``[0, 1)``: the fraction of the way from background to peak below which pixels carry
        no weight.
    radius : (r_min, r_max)
        The ring of pixels used, in rod lengths from the pivot.

    Returns
    -------
    numpy.ndarray, shape (...), float64
        ``phi`` (rad, from the hanging position, in ``[-pi, pi]``); NaN for a frame without
        contrast (constant) or with NaN values.

    Raises
    ------
    TypeError
        If ``frames`` is not a floating-point array or tensor.
    ValueError
        If its shape does not end in ``side * side`` or ``(side, side)``, or ``threshold`` or
        ``radius`` are out of range.
    """
    side = check_positive_int(side, "side")
    if isinstance(frames, (np.ndarray, torch.Tensor)) and frames.ndim >= 2 and tuple(frames.shape[-2:]) == (side, side):
        frames = frames.reshape(tuple(frames.shape[:-2]) + (side * side,))
    frames = _pixels_array(frames, side * side, f"frames (flattened {side}x{side} frames)")
    threshold = _check_real(threshold, "threshold")
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must lie in [0, 1), got {threshold}")
    r_min, r_max = (_check_real(v, "radius") for v in radius)
    if not 0.0 <= r_min < r_max:
        raise ValueError(f"radius must be (r_min, r_max) with 0 <= r_min < r_max rod lengths, got {radius!r}")
    x, y = pixel_coordinates(side, crop)
    r = np.hypot(x, y).reshape(-1)
    ring = (r >= r_min) & (r <= r_max)
    values = frames.astype(np.float64, copy=False)
    background = np.median(values, axis=-1, keepdims=True)
    peak = values.max(axis=-1, keepdims=True)
    weights = np.clip(values[..., ring] - background - threshold * (peak - background), 0.0, None)
    phi = np.arctan2(weights @ x.reshape(-1)[ring], weights @ y.reshape(-1)[ring])
    visible = (peak[..., 0] > background[..., 0]) & (weights.sum(axis=-1) > 0)
    return np.where(visible, phi, np.nan)


def _pair_states(phi_first: np.ndarray, phi_second: np.ndarray, dt: float) -> np.ndarray:
    """``(midpoint angle, difference / dt)`` of two angles, shape ``(..., 2)``."""
    step = wrap_angle(phi_second - phi_first)
    return np.stack([wrap_angle(phi_first + 0.5 * step), step / dt], axis=-1)


def frame_pair_states(states: Any, dt: float = DT) -> np.ndarray:
    """True state of each pair of consecutive frames, as :func:`estimate_states_from_pixels` measures it.

    A pair of frames ``(t, t + 1)`` shows the pendulum at time ``t + dt / 2``: its state is the
    mean of the two angles and their difference over ``dt``. For ``Pendulum-v1`` that difference
    is exactly the environment's ``theta_dot`` of frame ``t + 1``, and the energy of these
    states is conserved to O(dt^2) (relative spread about 1 % for swings up to pi/6), whereas
    the energy of the per-frame states oscillates by about 19 % (module docstring).

    Parameters
    ----------
    states : numpy.ndarray or torch.Tensor, shape (..., T, 2)
        ``(phi, phi_dot)`` of consecutive frames, e.g. :attr:`PixelPendulumData.trajectory_states`.
    dt : float
        Time between frames (s).

    Returns
    -------
    numpy.ndarray, shape (..., T - 1, 2), float64
        ``((phi_t + phi_{t+1}) / 2, (phi_{t+1} - phi_t) / dt)``, angle differences wrapped to
        ``(-pi, pi]``; rad and rad/s.
    """
    states = _states_array(states)
    if states.ndim < 2 or states.shape[-2] < 2:
        raise ValueError(f"states must have shape (..., T, 2) with T >= 2 frames, got shape {states.shape}")
    dt = _check_real(dt, "dt")
    if not (dt > 0 and np.isfinite(dt)):
        raise ValueError(f"dt must be a positive number of seconds, got {dt}")
    return _pair_states(states[..., :-1, 0], states[..., 1:, 0], dt)


def estimate_states_from_pixels(
    x: Any,
    dt: float = DT,
    side: int = 28,
    *,
    crop: tuple[float, float, float, float] = CROP,
) -> np.ndarray:
    """State ``(phi, phi_dot)`` of each stacked frame pair, read from its pixels alone.

    Each frame's angle comes from :func:`estimate_angles`. The pair's state is that at the middle
    of its two frames, as :func:`frame_pair_states` defines it: ``phi`` the mean of the two
    angles, ``phi_dot`` their difference (wrapped to ``(-pi, pi]``) over ``dt``. (For the
    environment's semi-implicit Euler step this difference is exactly the second frame's angular
    velocity, and the energy of these midpoint states is conserved to about 1 %.)

    On frames drawn by :func:`render_states` (the default dataset, 20,600 frames) the angles
    are within 0.0041 rad RMS (0.013 rad at worst) of the truth, the pair angles within 0.003
    rad RMS, and ``phi_dot`` within 0.11 rad/s RMS (0.5 at worst): the velocity of one frame
    pair is known only to the pixels' resolution divided by ``dt``.

    Parameters
    ----------
    x : numpy.ndarray or torch.Tensor, shape (..., 2 * side * side)
        Two flattened frames, as :attr:`PixelSplit.x` or a model's decoded outputs.
    dt : float
        Time between the two frames (s); 0.05 for ``Pendulum-v1``.
    side : int
    crop : (left, right, top, bottom)
        The crop the frames were made with.

    Returns
    -------
    numpy.ndarray, shape (..., 2), float64
        ``(phi, phi_dot)`` in rad and rad/s; NaN where a frame is blank.

    Raises
    ------
    TypeError
        If ``x`` is not a floating-point array or tensor, or ``dt`` not a number.
    ValueError
        If its last axis is not ``2 * side * side`` long, or ``dt`` is not positive.
    """
    side = check_positive_int(side, "side")
    dt = _check_real(dt, "dt")
    if not (dt > 0 and np.isfinite(dt)):
        raise ValueError(f"dt must be a positive number of seconds, got {dt}")
    x = _pixels_array(x, 2 * side * side, f"x (two flattened {side}x{side} frames)")
    phi = estimate_angles(x.reshape(x.shape[:-1] + (2, side * side)), side, crop=crop)
    return _pair_states(phi[..., 0], phi[..., 1], dt)


# --- the dataset ---------------------------------------------------------------------------------


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
        True state of the pair ``x`` at its middle (:func:`frame_pair_states`): what
        :func:`estimate_states_from_pixels` estimates from ``x``.
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
        """``(x, x_next)`` as tensors of ``dtype`` on ``device``, ready for :func:`~hnnlib.pixel_models.fit_pixel_model`."""
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
        """True energy of every frame, shape ``(n_trajectories, n_frames + 3)`` (:func:`gym_pendulum_energy`)."""
        return gym_pendulum_energy(self.trajectory_states)

    def estimate_states(self, x: Any) -> np.ndarray:
        """:func:`estimate_states_from_pixels` with this dataset's ``dt`` and ``side``."""
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


def _cache_folder(cache_dir: Any) -> Path | None:
    if cache_dir is None or cache_dir is False:
        return None
    if cache_dir is True:
        from . import realdata

        return Path(realdata.cache_dir()) / "pixel_pendulum"
    if isinstance(cache_dir, (str, os.PathLike)):
        return Path(cache_dir).expanduser()
    raise TypeError(f"cache_dir must be None, a bool or a folder path, got {type(cache_dir).__name__}")


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


def _store_frames(path: Path, key: str, frames: np.ndarray) -> bool:
    """Write the cache file atomically (a temporary file, then a rename); False (with a warning) on failure."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(partial, "wb") as f:
            np.savez_compressed(f, frames=frames, key=np.array(key))
        os.replace(partial, path)
    except OSError as err:
        warnings.warn(f"could not write the pixel pendulum cache {path}: {err}", DatasetCacheWarning, stacklevel=3)
        try:
            partial.unlink(missing_ok=True)
        except OSError:
            pass
        return False
    return True


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
    torque (:func:`gym_pendulum_states`) for ``n_frames + 3`` frames, each frame drawn once
    (:func:`render_states`). Sample ``t`` of a trajectory pairs frames ``(t, t + 1)`` with
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
        crop holds the whole rod up to :data:`CROP_MAX_ANGLE` (0.64 rad); beyond, a warning.
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
        :func:`hnnlib.realdata.cache_dir` (subfolder ``pixel_pendulum``); None or False: no cache.
        Only the frames are stored (the states are recomputed, in milliseconds), in a compressed
        ``.npz`` (about 2.6 MB for the default dataset) read with ``allow_pickle=False``. The file
        is named after a sha256 of every parameter the frames depend on (all of the above but
        ``test_fraction`` and ``progress``, the crop, a format version, and the gymnasium and pygame
        versions), stores that hash, and is used only if it holds it and frames of the expected
        shape, dtype and range; anything else is regenerated and overwritten atomically (with a
        :class:`DatasetCacheWarning`).
    screen_dim : int
        The renderer's resolution (see :func:`render_states`).

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
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"seed must be a non-negative int, got {seed!r}")
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be a bool, got {type(progress).__name__}")
    folder = _cache_folder(cache_dir)

    # Everything the frames depend on; the split (test_fraction) does not change them.
    frame_settings: dict[str, Any] = {
        "n_trajectories": n_trajectories, "n_frames": n_frames, "max_angle": max_angle, "side": side, "seed": int(seed),
        "screen_dim": screen_dim, "crop": list(CROP), "format": FORMAT_VERSION, **_versions(),
    }
    key = hashlib.sha256(json.dumps(frame_settings, sort_keys=True).encode()).hexdigest()
    settings = {**frame_settings, "test_fraction": test_fraction, "dt": DT, "key": key}

    rng = np.random.default_rng(seed)
    phi0 = rng.uniform(-max_angle, max_angle, size=n_trajectories)
    n_total = n_frames + EXTRA_FRAMES
    states = gym_pendulum_states(phi0, 0.0, n_total)  # (n_trajectories, n_total, 2)
    shape = (n_trajectories, n_total, side, side)

    path = folder / f"pixel_pendulum-{key[:32]}.npz" if folder is not None else None
    frames = _load_cached_frames(path, key, shape) if path is not None else None
    if frames is None:
        from .progress import progress_bar

        frames = np.empty(shape, dtype=np.float32)
        with _FrameRenderer(side, screen_dim, CROP) as renderer:
            for k in progress_bar(range(n_trajectories), desc="rendering frames", unit="trajectory", disable=not progress, leave=True):
                frames[k] = renderer.render(states[k, :, 0])
        if path is not None and not _store_frames(path, key, frames):
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
