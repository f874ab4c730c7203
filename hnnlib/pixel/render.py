"""Frames of ``Pendulum-v1``, drawn by the environment's own renderer, cropped and downsampled.

Pictures
--------
Each frame is drawn by the environment's ``render()`` (torque arrow hidden), cropped to the square
:data:`CROP` around the pivot, desaturated (luma ``0.299 R + 0.587 G + 0.114 B``), inverted and
scaled so that the rod's colour is 1 and the white background 0 (the black axle, darker than the
rod, is clipped to 1), then area-averaged to ``side x side`` pixels. Values lie in ``[0, 1]``.
Angles are ``phi``, from the hanging position (:mod:`hnnlib.pixel.gym`).
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

from .._checks import check_positive_int
from .gym import DT, GRAVITY, LENGTH, MASS, MAX_SPEED, _states_array

__all__ = [
    "CROP", "CROP_MAX_ANGLE", "GYM_SCREEN_DIM", "LUMA", "ROD_RGB", "SCREEN_DIM", "VIEW_BOUND", "pixel_coordinates",
    "render_states",
]

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

_ROD_INK = 255.0 - float(np.dot(LUMA, ROD_RGB))


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
def _lean_render(cols: slice, rows: slice) -> Iterator[None]:
    """While active, ``Pendulum-v1.render()`` does only the work whose pixels :class:`_FrameRenderer` keeps.

    - ``pygame.image.load`` decodes each image file once and then returns that surface:
      ``render()`` decodes its torque-arrow PNG on every call, even when the arrow is hidden and
      the image unused (about half of its time at the resolutions used here). Only calls with a
      single path argument are cached.
    - ``pygame.surfarray.pixels3d`` returns only the ``cols x rows`` crop of the screen's pixel
      view, so that ``render()`` copies the crop (about a tenth of the picture at the default
      :data:`CROP`) instead of the whole picture; its result is then that crop, ``(rows, cols, 3)``.

    The pixels drawn are the same (see the tests). The original functions are restored on exit.
    One rendering at a time (a lock).
    """
    import pygame
    import pygame.surfarray

    with _RENDER_LOCK:
        original_load, original_pixels3d = pygame.image.load, pygame.surfarray.pixels3d
        decoded: dict[str, Any] = {}

        def load(file: Any, *args: Any, **kwargs: Any) -> Any:
            if args or kwargs or not isinstance(file, str):
                return original_load(file, *args, **kwargs)
            if file not in decoded:
                decoded[file] = original_load(file)
            return decoded[file]

        def pixels3d(surface: Any) -> np.ndarray:
            return original_pixels3d(surface)[cols, rows]  # a view: axis 0 is x (columns), axis 1 is y (rows)

        pygame.image.load, pygame.surfarray.pixels3d = load, pixels3d
        try:
            yield
        finally:
            pygame.image.load, pygame.surfarray.pixels3d = original_load, original_pixels3d


class _FrameRenderer:
    """One ``Pendulum-v1`` environment drawing ``side x side`` frames of given angles."""

    def __init__(self, side: int, screen_dim: int, crop: tuple[float, float, float, float], *, lean: bool = True):
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # no window: pygame draws off-screen
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        import gymnasium as gym

        self.side, self.screen_dim, self.lean = side, screen_dim, lean
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
            with _lean_render(self.cols, self.rows) if self.lean else _RENDER_LOCK:
                for k, angle in enumerate(block):
                    self.pendulum.state = np.array([angle + np.pi, 0.0])
                    self.pendulum.last_u = None  # no torque arrow
                    picture = self.pendulum.render()  # lean: the crop alone
                    crops[k] = picture if self.lean else picture[self.rows, self.cols]
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
    back from them (:func:`~hnnlib.pixel.estimate.estimate_angles`) are within 0.0033 rad RMS of the truth (0.0017 at
    500 pixels). While it draws, ``pygame.image.load`` is wrapped to decode the (unused, hidden)
    torque-arrow image only once, and ``pygame.surfarray.pixels3d`` to hand ``render()`` only the
    crop's pixels to copy; the pixels are the same. Together this renders several times
    as many frames per second as the plain 500-pixel renderer (timings: benchmarks/README.md).

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
