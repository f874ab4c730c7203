"""Useful properties of HNNs (paper Section 6): adding energy, reversibility, area preservation.

- :func:`energy_bump`: integrate the symplectic gradient ``S_H``, then the Riemann gradient
  ``R_H`` for a while (adding energy, or removing it), then ``S_H`` again (Figure 5).
- :func:`reversal_error`: integrate forward, then backward, and measure how far from the start
  the state returns.
- :func:`polygon_area` and :func:`transported_area`: carry the boundary of a small region of
  phase space along a flow and measure its area; Liouville's theorem says a Hamiltonian flow
  keeps it constant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._checks import as_state_tensor, check_positive_int
from ._typing import ScalarField, VectorField
from .hamiltonian import riemann_gradient, symplectic_gradient
from .integrators import leapfrog, rk4


def _integrate(field: VectorField, x0: torch.Tensor, duration: float, dt: float, substeps: int, method: str = "rk4") -> torch.Tensor:
    """States ``(B, T, D)`` of ``field`` from ``x0`` over ``|duration|``, backwards in time if negative."""
    n = max(1, int(round(abs(duration) / dt)))
    t = torch.linspace(0.0, abs(duration), n + 1, dtype=x0.dtype, device=x0.device)
    signed = field if duration >= 0 else (lambda x: -field(x))
    if method == "rk4":
        return rk4(signed, x0, t, substeps=substeps)
    if method == "leapfrog":
        return leapfrog(signed, x0, t, substeps=substeps)
    raise ValueError(f"method must be 'rk4' or 'leapfrog', got {method!r}")


@dataclass
class EnergyBump:
    """The three stretches of :func:`energy_bump`, each of shape ``(B, T_i, D)``.

    ``before`` follows ``S_H``; ``bump`` follows ``R_H`` (or ``-R_H``); ``after`` follows ``S_H``
    again. Each stretch starts where the previous one ended.
    """

    before: torch.Tensor
    bump: torch.Tensor
    after: torch.Tensor


def energy_bump(
    hamiltonian: ScalarField,
    x0: torch.Tensor,
    *,
    before: float,
    amount: float,
    after: float,
    dt: float = 0.05,
    substeps: int = 2,
) -> EnergyBump:
    """Add (``amount > 0``) or remove (``amount < 0``) energy between two stretches of motion.

    Integrates the symplectic gradient ``S_H`` (paper Eq. 2) for ``before`` time units, then the
    Riemann gradient ``R_H = (dH/dq, dH/dp)`` for ``|amount|`` time units, forwards if
    ``amount > 0`` (``H`` grows, at the rate ``|grad H|^2``) and backwards otherwise, then
    ``S_H`` for ``after`` time units (paper Section 6, Figure 5). Classical RK4 with step
    ``dt / substeps``.

    Parameters
    ----------
    hamiltonian : callable
        ``H``: states ``(B, D)`` -> energies ``(B,)``, differentiable (e.g. ``HNN.hamiltonian``).
    x0 : torch.Tensor, shape (B, D)
    before, after : float
        Durations of the conservative stretches (>= 0), in the system's time units.
    amount : float
        Duration of the ``R_H`` stretch, signed.
    dt : float
        Spacing of the returned states.
    substeps : int
        RK4 steps per ``dt``.
    """
    x0 = as_state_tensor(x0, None, "x0")
    if x0.ndim != 2 or x0.shape[-1] % 2:
        raise ValueError(f"x0 must have shape (B, 2N), got {tuple(x0.shape)}")
    if before < 0 or after < 0:
        raise ValueError(f"before and after must be >= 0 time units, got {before} and {after}")
    if not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt}")
    substeps = check_positive_int(substeps, "substeps")

    def s_h(x: torch.Tensor) -> torch.Tensor:
        return symplectic_gradient(hamiltonian, x).detach()

    def r_h(x: torch.Tensor) -> torch.Tensor:
        return riemann_gradient(hamiltonian, x).detach()

    first = _integrate(s_h, x0, before, dt, substeps)
    second = _integrate(r_h, first[:, -1], amount, dt, substeps)
    third = _integrate(s_h, second[:, -1], after, dt, substeps)
    return EnergyBump(first, second, third)


def reversal_error(
    field: VectorField, x0: torch.Tensor, duration: float, *, dt: float = 0.05, substeps: int = 1, method: str = "leapfrog"
) -> torch.Tensor:
    """Integrate ``field`` forward for ``duration``, then backward as long; distance to ``x0``.

    With ``method="leapfrog"`` (Stormer-Verlet: symmetric, so its backward step undoes its
    forward step) the error is round-off plus the implicit solver's tolerance; with ``"rk4"``
    (not symmetric) it is a truncation error, ``O(dt^5)``: RK4's local error ``C dt^5`` changes
    sign with ``dt``, so the forward and the backward pass cancel its leading term.

    Parameters
    ----------
    field : callable
        Vector field ``(B, 2N)`` -> ``(B, 2N)``; for ``"leapfrog"`` split as ``(dq/dt, dp/dt)``.
    x0 : torch.Tensor, shape (B, 2N)
    duration : float
        Time units forward (> 0).
    dt, substeps, method
        Output spacing, steps per ``dt``, and the integrator.

    Returns
    -------
    torch.Tensor, shape (B,)
        Euclidean distance between ``x0`` and the state after the round trip.
    """
    x0 = as_state_tensor(x0, None, "x0")
    if x0.ndim != 2:
        raise ValueError(f"x0 must have shape (B, D), got {tuple(x0.shape)}")
    if not duration > 0:
        raise ValueError(f"duration must be > 0, got {duration}")
    with torch.no_grad():
        forward = _integrate(field, x0, duration, dt, substeps, method)
        back = _integrate(field, forward[:, -1], -duration, dt, substeps, method)
    return (back[:, -1] - x0).norm(dim=-1)


def polygon_area(points: np.ndarray) -> np.ndarray:
    """Area enclosed by closed polygons (shoelace formula).

    Parameters
    ----------
    points : numpy.ndarray, shape (..., n_vertices, 2)
        Vertices in order along the boundary (the last joins the first).

    Returns
    -------
    numpy.ndarray, shape (...)
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim < 2 or points.shape[-1] != 2 or points.shape[-2] < 3:
        raise ValueError(f"points must have shape (..., n_vertices >= 3, 2), got {points.shape}")
    x, y = points[..., 0], points[..., 1]
    return 0.5 * np.abs(np.sum(x * np.roll(y, -1, axis=-1) - np.roll(x, -1, axis=-1) * y, axis=-1))


def circle(center: np.ndarray, radius: float, n_vertices: int = 400) -> np.ndarray:
    """``n_vertices`` points on a circle in the phase plane, shape ``(n_vertices, 2)``."""
    n_vertices = check_positive_int(n_vertices, "n_vertices")
    angle = np.linspace(0.0, 2 * np.pi, n_vertices, endpoint=False)
    center = np.asarray(center, dtype=np.float64).reshape(2)
    return center + radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)


def transported_area(field: VectorField, boundary: np.ndarray, t: np.ndarray, *, substeps: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Carry a region's boundary along ``field`` (RK4) and return its area over time.

    The boundary must be fine enough for the polygon to follow the region's shape: check by
    halving the number of vertices.

    Parameters
    ----------
    field : callable
        Vector field ``(B, 2)`` -> ``(B, 2)`` (float64 recommended).
    boundary : numpy.ndarray, shape (n_vertices, 2)
    t : numpy.ndarray, shape (T,)
        Increasing times, ``t[0]`` the start.
    substeps : int
        RK4 steps between neighbouring times.

    Returns
    -------
    boundaries : numpy.ndarray, shape (T, n_vertices, 2)
    areas : numpy.ndarray, shape (T,)
    """
    boundary = np.asarray(boundary, dtype=np.float64)
    if boundary.ndim != 2 or boundary.shape[1] != 2:
        raise ValueError(f"boundary must have shape (n_vertices, 2), got {boundary.shape}")
    with torch.no_grad():
        traj = rk4(field, torch.from_numpy(boundary), torch.as_tensor(np.asarray(t, dtype=np.float64)), substeps=substeps)
    boundaries = traj.detach().numpy().transpose(1, 0, 2)
    return boundaries, polygon_area(boundaries)
