"""Seeded trajectory datasets for the paper's tasks.

A :class:`TrajectoryDataset` holds a ``train`` and a ``test`` :class:`Split`. Each split keeps its
trajectories whole (``n_trajectories, n_times, D``) and offers flat views of shape
``(n_samples, D)`` for training. Targets are the *exact* time derivatives at the noiseless
states; the noise is added to the inputs only, as in the paper's reference code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ._checks import check_device, check_finite_number, check_float_dtype, check_positive_int, check_range, check_seed
from .integrators import solve_ivp_rollout
from .rk45_batched import solve_ivp_batched
from .systems import HamiltonianSystem, NBody, get_system


@dataclass(frozen=True)
class Split:
    """One split (train or test) of a trajectory dataset.

    Attributes
    ----------
    x : torch.Tensor, shape (n_trajectories, n_times, D)
        Observed (noisy) states ``(q, p)``.
    dx : torch.Tensor, shape (n_trajectories, n_times, D)
        Targets: time derivatives ``dx/dt``.
    t : torch.Tensor, shape (n_trajectories, n_times)
        Observation times.
    energy : torch.Tensor, shape (n_trajectories, n_times)
        True energy ``H`` of the noiseless states.
    """

    x: torch.Tensor
    dx: torch.Tensor
    t: torch.Tensor
    energy: torch.Tensor

    def __post_init__(self) -> None:
        if self.x.ndim != 3 or self.dx.shape != self.x.shape:
            raise ValueError(f"x and dx must both have shape (n_trajectories, n_times, D), got {tuple(self.x.shape)} and {tuple(self.dx.shape)}")
        if self.t.shape != self.x.shape[:2] or self.energy.shape != self.x.shape[:2]:
            raise ValueError(f"t and energy must have shape {tuple(self.x.shape[:2])}, got {tuple(self.t.shape)} and {tuple(self.energy.shape)}")

    @property
    def inputs(self) -> torch.Tensor:
        """States flattened over trajectories and times, shape ``(n_samples, D)``."""
        return self.x.reshape(-1, self.x.shape[-1])

    @property
    def targets(self) -> torch.Tensor:
        """Derivatives flattened like :attr:`inputs`, shape ``(n_samples, D)``."""
        return self.dx.reshape(-1, self.dx.shape[-1])

    def __len__(self) -> int:
        return self.x.shape[0] * self.x.shape[1]


@dataclass(frozen=True)
class TrajectoryDataset:
    """A train/test pair of :class:`Split` objects and how they were made.

    Attributes
    ----------
    train, test : Split
    system : HamiltonianSystem or None
        The system that generated the data (None for recorded data).
    settings : dict
        Every argument used to make the data, for the record.
    """

    train: Split
    test: Split
    system: HamiltonianSystem | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "TrajectoryDataset":
        """A copy with every tensor moved to ``device`` and floating tensors cast to ``dtype`` (float32 or float64)."""
        device = None if device is None else check_device(device)
        dtype = None if dtype is None else check_float_dtype(dtype)

        def move(split: Split) -> Split:
            return Split(*(v.to(device=device, dtype=dtype) for v in (split.x, split.dx, split.t, split.energy)))

        return TrajectoryDataset(move(self.train), move(self.test), self.system, dict(self.settings))


def _test_size(n_trajectories: int, test_fraction: float, noise_std: float) -> int:
    """Check the split and noise arguments; return the number of test trajectories."""
    check_finite_number(noise_std, "noise_std", minimum=0.0, strict=False)
    if not 0 < check_finite_number(test_fraction, "test_fraction") < 1:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    n_test = int(round(n_trajectories * test_fraction))
    if not 0 < n_test < n_trajectories:
        raise ValueError(f"test_fraction={test_fraction} leaves an empty split of {n_trajectories} trajectories")
    return n_test


def _observation_times(t_span: Any, n_times: Any) -> np.ndarray:
    """``n_times >= 2`` equally spaced times over ``t_span = (t0, t1)`` with ``t0 < t1``."""
    n_times = check_positive_int(n_times, "n_times")
    if n_times < 2:
        raise ValueError(f"n_times must be >= 2 (a trajectory is observed at its start and at least once more), got {n_times}")
    t0, t1 = check_range(t_span, "t_span")
    if not t0 < t1:
        raise ValueError(f"t_span must be (t0, t1) with t0 < t1, got {t_span!r}")
    return np.linspace(t0, t1, n_times)


def _splits(arrays: tuple[np.ndarray, ...], n_test: int, dtype: torch.dtype, device: Any) -> tuple[Split, Split]:
    """Train and test :class:`Split` of ``(x, dx, t, energy)`` arrays: the last ``n_test`` trajectories test."""
    n_train = arrays[0].shape[0] - n_test

    def split(rows: slice) -> Split:
        return Split(*(torch.as_tensor(np.ascontiguousarray(a[rows]), dtype=dtype, device=device) for a in arrays))

    return split(slice(0, n_train)), split(slice(n_train, None))


def sample_initial_states(n: int, radius: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """Initial states ``(q, p)`` at a random angle and a radius uniform in ``radius``.

    As in the paper's reference code, a direction is drawn uniformly in the square
    ``[-1, 1]^2``, normalised to unit length and scaled by a radius ``r ~ U[low, high]``.

    Returns
    -------
    numpy.ndarray, shape (n, 2)
    """
    low, high = check_range(radius, "radius", minimum=0.0)
    direction = rng.uniform(-1.0, 1.0, size=(n, 2))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    return direction * rng.uniform(low, high, size=(n, 1))


def make_trajectory_dataset(
    system: HamiltonianSystem | str,
    *,
    n_trajectories: int = 50,
    n_times: int = 30,
    t_span: tuple[float, float] = (0.0, 3.0),
    radius: tuple[float, float] = (0.1, 1.0),
    noise_std: float = 0.1,
    test_fraction: float = 0.5,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> TrajectoryDataset:
    """Simulate noisy trajectories of a one-degree-of-freedom system (paper Tasks 1 and 2).

    Each trajectory starts at a state drawn by :func:`sample_initial_states`, is integrated
    with ``solve_ivp`` (RK45, ``rtol``; all trajectories in one batched solve) and observed at ``n_times`` equally spaced times in
    ``t_span``. Gaussian noise of standard deviation ``noise_std`` is added to ``q`` and ``p``;
    the targets are the exact derivatives at the noiseless states. The first
    ``(1 - test_fraction)`` of the trajectories train, the rest test.

    Defaults are Task 1's (mass-spring) settings from the reference code.

    Parameters
    ----------
    system : HamiltonianSystem or str
        A system with ``n_dof == 1``, or its registry name.
    n_trajectories, n_times : int
    t_span : (float, float)
    radius : (float, float)
        Range of ``sqrt(q^2 + p^2)`` at ``t = 0``.
    noise_std : float
        Standard deviation of the observation noise (>= 0).
    test_fraction : float
        Fraction of trajectories in the test split, in (0, 1).
    rtol, atol : float
        Tolerances of the simulation. The reference code passes only ``rtol`` (so SciPy's
        ``atol = 1e-6`` dominates); a small ``atol`` makes ``rtol`` the accuracy that holds.
    seed : int
        Seed of the NumPy generator that draws initial states and noise.
    dtype, device : optional
        Of the returned tensors.

    Returns
    -------
    TrajectoryDataset
    """
    dtype, device = check_float_dtype(dtype), check_device(device)
    if isinstance(system, str):
        system = get_system(system)
    if not isinstance(system, HamiltonianSystem):
        raise TypeError(f"system must be a HamiltonianSystem or a system name, got {type(system).__name__}")
    if system.n_dof != 1:
        raise ValueError(f"make_trajectory_dataset samples (q, p) pairs and needs n_dof == 1, got {system.name} with n_dof={system.n_dof}")
    n_trajectories = check_positive_int(n_trajectories, "n_trajectories")
    t = _observation_times(t_span, n_times)
    n_times, (t0, t1) = t.size, (float(t[0]), float(t[-1]))
    n_test = _test_size(n_trajectories, test_fraction, noise_std)

    rng = np.random.default_rng(check_seed(seed))
    x0 = sample_initial_states(n_trajectories, radius, rng)
    # One solve for all trajectories (shared steps); at these tolerances that costs no accuracy that matters.
    clean = solve_ivp_rollout(system.time_derivative, x0, t, rtol=rtol, atol=atol, dtype=torch.float64, batched=True)  # (B, T, 2)
    dx = system.time_derivative(clean)
    energy = system.hamiltonian(clean)
    noisy = clean + noise_std * rng.standard_normal(clean.shape)
    times = np.broadcast_to(t, (n_trajectories, n_times))

    train, test = _splits((noisy, dx, times, energy), n_test, dtype, device)
    settings = dict(
        system=repr(system), n_trajectories=n_trajectories, n_times=n_times, t_span=(t0, t1),
        radius=tuple(radius), noise_std=noise_std, test_fraction=test_fraction, rtol=rtol, atol=atol, seed=seed,
    )
    return TrajectoryDataset(train, test, system, settings)


# --- N-body orbits (paper Section 4, Task 4, and Appendix B) --------------------------------------

#: The reference code's settings, by number of bodies (``3`` is used for every ``N >= 3``).
NBODY_DEFAULTS: dict[int, dict[str, Any]] = {
    2: dict(n_trajectories=1000, n_times=50, t_span=(0.0, 20.0), radius=(0.5, 1.5), orbit_noise=0.05),
    3: dict(n_trajectories=5000, n_times=20, t_span=(0.0, 5.0), radius=(0.9, 1.2), orbit_noise=0.2),
}


def _rotate(v: np.ndarray, angle: float | np.ndarray) -> np.ndarray:
    """Rotate 2-D vectors ``(..., 2)`` counter-clockwise by ``angle``."""
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([c * v[..., 0] - s * v[..., 1], s * v[..., 0] + c * v[..., 1]], axis=-1)


def _as_nbody(system: NBody | str | None, default: str) -> NBody:
    system = get_system(default) if system is None else get_system(system) if isinstance(system, str) else system
    if not isinstance(system, NBody):
        raise TypeError(f"system must be an NBody system (or its registry name), got {type(system).__name__}")
    return system


def _check_noise(orbit_noise: float) -> float:
    return check_finite_number(orbit_noise, "orbit_noise", minimum=0.0, strict=False)


def sample_two_body_states(
    n: int,
    rng: np.random.Generator | np.random.RandomState,
    *,
    system: NBody | str | None = None,
    position_range: tuple[float, float] = (0.5, 1.5),
    orbit_noise: float = 0.05,
) -> np.ndarray:
    """Near-circular two-body states with the centre of mass at rest at the origin (Task 4).

    As in the paper's reference code: body 1 starts at ``q_1`` with each coordinate uniform in
    ``position_range`` (so ``|q_1|`` lies in ``[0.71, 2.12]`` for the default; the paper's text says
    ``|q_2 - q_1|`` in ``[0.5, 1.5]``), body 2 opposite it so that the centre of mass is at the origin.
    The velocities are those of a circular orbit, perpendicular to ``q_1 - q_2``, times one factor
    ``1 + orbit_noise * N(0, 1)`` per trajectory, so the total momentum stays exactly zero and the
    orbit becomes slightly elliptical.

    Parameters
    ----------
    n : int
        Number of states.
    rng : numpy.random.Generator or numpy.random.RandomState
        Random numbers, drawn in the reference code's order (two uniforms for ``q_1``, then one
        normal), so ``numpy.random.RandomState(seed)`` with ``n = 1`` gives the state the reference
        code draws after ``np.random.seed(seed)``.
    system : NBody or str, optional
        A two-body system (default ``TwoBody()``: ``m_1 = m_2 = g = 1``); any masses work.
    position_range : (float, float)
        Range of each coordinate of ``q_1`` (> 0).
    orbit_noise : float
        Standard deviation of the relative change of the speeds (>= 0).

    Returns
    -------
    numpy.ndarray, shape (n, 8)
        States ``(q1x, q1y, q2x, q2y, p1x, p1y, p2x, p2y)``.
    """
    system = _as_nbody(system, "two_body")
    if system.n_bodies != 2:
        raise ValueError(f"sample_two_body_states needs a two-body system, got {system!r}")
    n = check_positive_int(n, "n")
    low, high = check_range(position_range, "position_range", minimum=0.0)
    if low <= 0:
        raise ValueError(f"position_range must be > 0 (a body at the origin has no orbit), got {position_range!r}")
    orbit_noise = _check_noise(orbit_noise)
    m1, m2 = system.masses
    total = m1 + m2
    q1 = rng.uniform(low, high, size=(n, 2))
    q2 = -(m1 / m2) * q1  # centre of mass at the origin
    separation = np.linalg.norm(q1 - q2, axis=1, keepdims=True)
    relative_speed = np.sqrt(system.g * total / separation)  # circular orbit of the relative coordinate
    direction = _rotate(q1, np.pi / 2) / np.linalg.norm(q1, axis=1, keepdims=True)
    v_rel = direction * relative_speed * (1 + orbit_noise * rng.standard_normal((n, 1)))
    reduced_mass = m1 * m2 / total
    p1 = reduced_mass * v_rel  # p_1 = m_1 v_1 = m_1 (m_2 / M) v_rel, and p_2 = -p_1
    return np.concatenate([q1, q2, p1, -p1], axis=1)


def sample_ring_states(
    n: int,
    rng: np.random.Generator | np.random.RandomState,
    *,
    system: NBody | str | None = None,
    radius: tuple[float, float] = (0.9, 1.2),
    orbit_noise: float = 0.2,
) -> np.ndarray:
    """``N`` equal masses on a regular polygon, moving on a perturbed circular orbit (Appendix B).

    As in the paper's reference code for three bodies: body 1 starts at a random direction (drawn
    uniformly in the square ``[-1, 1]^2`` and normalised) at a distance ``r ~ U[radius]`` from the
    origin, the others at the same distance rotated by ``2 pi k / N``. Each velocity is that of the
    rigidly rotating circular solution, ``v^2 = g m S_N / (4 r)`` with
    ``S_N = sum_{k=1}^{N-1} 1 / sin(pi k / N)`` (``v = 3^{-1/4} / sqrt(r)`` for three unit masses),
    and then every velocity *component* is multiplied by its own ``1 + orbit_noise * U[-1, 1]``. The
    total momentum is therefore not zero: the centre of mass drifts slowly, as in the reference.

    Parameters
    ----------
    n : int
        Number of states.
    rng : numpy.random.Generator or numpy.random.RandomState
        Random numbers, drawn in the reference code's order (two uniforms for the direction, one
        for ``r``, then two per body for the velocity noise), so ``numpy.random.RandomState(seed)``
        with ``n = 1`` gives the state the reference code draws after ``np.random.seed(seed)``.
    system : NBody or str, optional
        An N-body system with equal masses (default ``ThreeBody()``).
    radius : (float, float)
        Range of the distance of every body from the origin (> 0).
    orbit_noise : float
        Half-width of the uniform relative change of each velocity component (>= 0).

    Returns
    -------
    numpy.ndarray, shape (n, 4N)
        States ``(q_1, ..., q_N, p_1, ..., p_N)``, each 2-D.
    """
    system = _as_nbody(system, "three_body")
    if len(set(system.masses)) != 1:
        raise ValueError(f"sample_ring_states needs equal masses (a symmetric ring), got {system.masses}")
    n = check_positive_int(n, "n")
    low, high = check_range(radius, "radius", minimum=0.0)
    if low <= 0:
        raise ValueError(f"radius must be > 0, got {radius!r}")
    orbit_noise = _check_noise(orbit_noise)
    n_bodies, mass = system.n_bodies, system.masses[0]
    direction = rng.uniform(-1.0, 1.0, size=(n, 2))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    r = rng.uniform(low, high, size=(n, 1))
    angles = 2 * np.pi * np.arange(n_bodies) / n_bodies
    q = _rotate((direction * r)[:, None, :], angles[None, :])  # (n, N, 2)
    s_n = np.sum(1 / np.sin(np.pi * np.arange(1, n_bodies) / n_bodies))
    speed = np.sqrt(system.g * mass * s_n / (4 * r))  # (n, 1)
    v = _rotate(q, np.pi / 2) / r[:, :, None] * speed[:, :, None]
    v = v * (1 + orbit_noise * rng.uniform(-1.0, 1.0, size=v.shape))
    return np.concatenate([q.reshape(n, -1), (mass * v).reshape(n, -1)], axis=1)


def sample_nbody_states(
    system: NBody | str,
    n: int,
    rng: np.random.Generator | np.random.RandomState,
    *,
    radius: tuple[float, float] | None = None,
    orbit_noise: float | None = None,
) -> np.ndarray:
    """Initial states of the paper's orbit datasets: :func:`sample_two_body_states` for two bodies,
    :func:`sample_ring_states` for more, with :data:`NBODY_DEFAULTS` where an argument is None.

    ``radius`` is the range of each coordinate of body 1 for two bodies (the reference code's
    convention) and the ring's radius for three or more.

    Returns
    -------
    numpy.ndarray, shape (n, 4N)
    """
    system = _as_nbody(system, "two_body")
    defaults = NBODY_DEFAULTS[min(system.n_bodies, 3)]
    radius = defaults["radius"] if radius is None else radius
    orbit_noise = defaults["orbit_noise"] if orbit_noise is None else orbit_noise
    if system.n_bodies == 2:
        return sample_two_body_states(n, rng, system=system, position_range=radius, orbit_noise=orbit_noise)
    return sample_ring_states(n, rng, system=system, radius=radius, orbit_noise=orbit_noise)


def make_nbody_dataset(
    system: NBody | str = "two_body",
    *,
    n_trajectories: int | None = None,
    n_times: int | None = None,
    t_span: tuple[float, float] | None = None,
    radius: tuple[float, float] | None = None,
    orbit_noise: float | None = None,
    noise_std: float = 0.0,
    test_fraction: float = 0.2,
    rtol: float = 1e-9,
    atol: float = 1e-6,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> TrajectoryDataset:
    """Simulated orbits of an N-body system: Task 4 (two bodies) and Appendix B (three bodies).

    Settings left as None take the reference code's values for the number of bodies
    (:data:`NBODY_DEFAULTS`):

    ========================  =======================  ======================
    setting                   two bodies (Task 4)      three bodies (App. B)
    ========================  =======================  ======================
    ``n_trajectories``        1000                     5000
    ``n_times``               50                       20
    ``t_span``                (0, 20)                  (0, 5)
    ``radius``                (0.5, 1.5) per coord.    (0.9, 1.2)
    ``orbit_noise``           0.05 (Gaussian)          0.2 (uniform)
    ========================  =======================  ======================

    Initial states come from :func:`sample_nbody_states`. All trajectories are integrated at once
    by :func:`hnnlib.rk45_batched.solve_ivp_batched`: SciPy's RK45 with ``rtol`` and ``atol`` (the
    reference: 1e-9 and SciPy's default 1e-6) and a separate step-size control for each
    trajectory, in float64. Targets are the exact derivatives ``system.time_derivative`` at the
    simulated states; the reference adds no observation noise (``noise_std = 0``). The first
    ``1 - test_fraction`` of the trajectories train, the rest test (80/20 as in the paper).

    Parameters
    ----------
    system : NBody or str
        E.g. ``"two_body"``, ``"three_body"`` or ``NBody(4)``.
    n_trajectories, n_times : int, optional
    t_span : (float, float), optional
    radius : (float, float), optional
        See :func:`sample_nbody_states`.
    orbit_noise : float, optional
        Perturbation of the circular velocities.
    noise_std : float
        Standard deviation of Gaussian noise added to the observed states (not to the targets).
    test_fraction : float
        Fraction of trajectories in the test split, in (0, 1).
    rtol, atol : float
        Tolerances of the simulation.
    seed : int
        Seed of the NumPy generator that draws initial states (and noise).
    dtype, device : optional
        Of the returned tensors.

    Returns
    -------
    TrajectoryDataset
        Splits of shape ``(n_trajectories, n_times, 4N)``; ``settings`` records every argument.
    """
    dtype, device = check_float_dtype(dtype), check_device(device)
    system = _as_nbody(system, "two_body")
    defaults = NBODY_DEFAULTS[min(system.n_bodies, 3)]
    n_trajectories = check_positive_int(defaults["n_trajectories"] if n_trajectories is None else n_trajectories, "n_trajectories")
    t = _observation_times(defaults["t_span"] if t_span is None else t_span, defaults["n_times"] if n_times is None else n_times)
    n_times, (t0, t1) = t.size, (float(t[0]), float(t[-1]))
    n_test = _test_size(n_trajectories, test_fraction, noise_std)

    rng = np.random.default_rng(check_seed(seed))
    radius = defaults["radius"] if radius is None else tuple(radius)
    orbit_noise = defaults["orbit_noise"] if orbit_noise is None else orbit_noise
    x0 = sample_nbody_states(system, n_trajectories, rng, radius=radius, orbit_noise=orbit_noise)
    clean = solve_ivp_batched(system.time_derivative, x0, t, rtol=rtol, atol=atol, dtype=torch.float64)  # (B, T, 4N)
    dx = system.time_derivative(clean)
    energy = system.hamiltonian(clean)
    observed = clean + noise_std * rng.standard_normal(clean.shape) if noise_std > 0 else clean
    times = np.broadcast_to(t, (n_trajectories, n_times))

    train, test = _splits((observed, dx, times, energy), n_test, dtype, device)
    settings = dict(
        system=repr(system), n_trajectories=n_trajectories, n_times=n_times, t_span=(t0, t1), radius=radius,
        orbit_noise=orbit_noise, noise_std=noise_std, test_fraction=test_fraction, rtol=rtol, atol=atol, seed=seed,
    )
    return TrajectoryDataset(train, test, system, settings)
