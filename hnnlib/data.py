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

from ._checks import check_positive_int, check_range
from .integrators import solve_ivp_rollout
from .systems import HamiltonianSystem, get_system


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
        """A copy with every tensor moved to ``device`` and floating tensors cast to ``dtype``."""

        def move(split: Split) -> Split:
            return Split(*(v.to(device=device, dtype=dtype) for v in (split.x, split.dx, split.t, split.energy)))

        return TrajectoryDataset(move(self.train), move(self.test), self.system, dict(self.settings))


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
    rtol : float
        Relative tolerance of the simulation.
    seed : int
        Seed of the NumPy generator that draws initial states and noise.
    dtype, device : optional
        Of the returned tensors.

    Returns
    -------
    TrajectoryDataset
    """
    if isinstance(system, str):
        system = get_system(system)
    if not isinstance(system, HamiltonianSystem):
        raise TypeError(f"system must be a HamiltonianSystem or a system name, got {type(system).__name__}")
    if system.n_dof != 1:
        raise ValueError(f"make_trajectory_dataset samples (q, p) pairs and needs n_dof == 1, got {system.name} with n_dof={system.n_dof}")
    n_trajectories = check_positive_int(n_trajectories, "n_trajectories")
    n_times = check_positive_int(n_times, "n_times")
    t0, t1 = check_range(t_span, "t_span")
    if not noise_std >= 0:
        raise ValueError(f"noise_std must be >= 0, got {noise_std}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    n_test = int(round(n_trajectories * test_fraction))
    if not 0 < n_test < n_trajectories:
        raise ValueError(f"test_fraction={test_fraction} leaves an empty split of {n_trajectories} trajectories")

    rng = np.random.default_rng(seed)
    x0 = sample_initial_states(n_trajectories, radius, rng)
    t = np.linspace(t0, t1, n_times)
    # One solve for all trajectories (shared steps); at rtol 1e-10 that costs no accuracy that matters.
    clean = solve_ivp_rollout(system.time_derivative, x0, t, rtol=rtol, dtype=torch.float64, batched=True)  # (B, T, 2)
    dx = system.time_derivative(clean)
    energy = system.hamiltonian(clean)
    noisy = clean + noise_std * rng.standard_normal(clean.shape)
    times = np.broadcast_to(t, (n_trajectories, n_times))

    def split(rows: slice) -> Split:
        return Split(*(torch.as_tensor(np.ascontiguousarray(a[rows]), dtype=dtype, device=device) for a in (noisy, dx, times, energy)))

    n_train = n_trajectories - n_test
    settings = dict(
        system=repr(system), n_trajectories=n_trajectories, n_times=n_times, t_span=(t0, t1),
        radius=tuple(radius), noise_std=noise_std, test_fraction=test_fraction, rtol=rtol, seed=seed,
    )
    return TrajectoryDataset(split(slice(0, n_train)), split(slice(n_train, None)), system, settings)
