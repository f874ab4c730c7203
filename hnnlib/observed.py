"""Observed trajectories: states sampled at a fixed time step, with noise, and no time derivatives.

This is the data of the "Beyond the paper" chapters: a user records positions and momenta every
``h`` time units and never sees ``dx/dt``. An :class:`ObservedTrajectories` holds such records
(several trajectories on one time grid), states its noise, and cuts them into what the losses of
:mod:`hnnlib.trajectory_losses` take: consecutive pairs, ``k``-step windows, finite differences.
:func:`make_observed_trajectories` simulates them from a system of :mod:`hnnlib.systems` and
splits them by trajectory (no trajectory is in both splits). The noiseless states and exact
derivatives are kept beside the observations for measuring, never for training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ._checks import as_state_tensor, check_finite_number, check_float_dtype, check_positive_int, check_range, check_seed
from .data import sample_initial_states, sample_two_body_states
from .integrators import solve_ivp_rollout
from .rk45_batched import solve_ivp_batched
from .systems import HamiltonianSystem, NBody, get_system

__all__ = ["ObservedSplit", "ObservedTrajectories", "make_observed_trajectories"]


@dataclass(frozen=True)
class ObservedTrajectories:
    """Trajectories observed on one equally spaced time grid.

    Attributes
    ----------
    states : torch.Tensor, shape (n_trajectories, n_times, D)
        The observed (noisy) states ``(q, p)``.
    t : torch.Tensor, shape (n_times,)
        Observation times, equally spaced, ``n_times >= 2``.
    noise_std : float
        Standard deviation of the Gaussian noise added to every coordinate (>= 0), as stated by whoever observed.
    clean : torch.Tensor or None, shape (n_trajectories, n_times, D)
        The noiseless states, when known (simulated data): for measuring only.
    derivatives : torch.Tensor or None, shape (n_trajectories, n_times, D)
        The exact ``dx/dt`` at the noiseless states, when known: for measuring only.

    Raises
    ------
    ValueError
        If a trajectory has fewer than two points, the time step is not > 0, the grid is not equally
        spaced, or the shapes disagree.
    """

    states: torch.Tensor
    t: torch.Tensor
    noise_std: float
    clean: torch.Tensor | None = None
    derivatives: torch.Tensor | None = None

    def __post_init__(self) -> None:
        states = as_state_tensor(self.states, None, "states")
        if states.ndim != 3:
            raise ValueError(f"states must have shape (n_trajectories, n_times, D), got {tuple(states.shape)}")
        if states.shape[1] < 2:
            raise ValueError(f"each trajectory needs at least two observed points (n_times >= 2), got {states.shape[1]}")
        t = torch.as_tensor(self.t, dtype=torch.float64)
        if t.shape != (states.shape[1],) or not torch.isfinite(t).all():
            raise ValueError(f"t must be {states.shape[1]} finite times (one per observed point), got shape {tuple(t.shape)}")
        steps = torch.diff(t)
        if not (steps > 0).all():
            raise ValueError(f"the time step must be > 0: t must increase strictly, got steps from {float(steps.min()):.3g}")
        if (steps - steps.mean()).abs().max() > 1e-9 * float(steps.mean()) + 1e-12:
            raise ValueError("t must be equally spaced (a fixed time step): the losses step by one h")
        check_finite_number(self.noise_std, "noise_std", minimum=0.0, strict=False)
        for name in ("clean", "derivatives"):
            value = getattr(self, name)
            if value is not None and tuple(value.shape) != tuple(states.shape):
                raise ValueError(f"{name} must have the shape of states {tuple(states.shape)}, got {tuple(value.shape)}")
        object.__setattr__(self, "states", states)
        object.__setattr__(self, "t", t)
        object.__setattr__(self, "noise_std", float(self.noise_std))

    @property
    def time_step(self) -> float:
        """The time step ``h`` between observations (> 0)."""
        return float(self.t[1] - self.t[0])

    @property
    def n_trajectories(self) -> int:
        return int(self.states.shape[0])

    @property
    def n_times(self) -> int:
        return int(self.states.shape[1])

    @property
    def dim(self) -> int:
        return int(self.states.shape[2])

    def pairs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Consecutive observations ``(x_n, x_{n+1})``, each ``(n_trajectories (n_times - 1), D)``, trajectory-major."""
        return self.states[:, :-1].reshape(-1, self.dim), self.states[:, 1:].reshape(-1, self.dim)

    def windows(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Every window of ``k + 1`` consecutive observations: starts ``(n, D)`` and the next ``k`` states ``(n, k, D)``.

        ``n = n_trajectories (n_times - k)``. Raises a ValueError if ``k >= n_times``.
        """
        k = check_positive_int(k, "k")
        if k >= self.n_times:
            raise ValueError(f"a {k}-step window needs trajectories of at least {k + 1} points, these have {self.n_times}")
        windows = self.states.unfold(1, k + 1, 1)  # (n_traj, n_times - k, D, k + 1)
        windows = windows.permute(0, 1, 3, 2).reshape(-1, k + 1, self.dim)
        return windows[:, 0], windows[:, 1:]

    def finite_differences(self, scheme: str = "central") -> tuple[torch.Tensor, torch.Tensor]:
        """Derivative targets from the observations alone, for the paper's loss.

        ``"forward"``: inputs ``x_n``, targets ``(x_{n+1} - x_n) / h`` (error O(h)).
        ``"central"``: inputs the midpoints ``(x_n + x_{n+1}) / 2``, the same targets (error O(h^2)).

        Returns
        -------
        inputs, targets : torch.Tensor, each (n_trajectories (n_times - 1), D)
        """
        if scheme not in ("forward", "central"):
            raise ValueError(f"scheme must be 'forward' or 'central', got {scheme!r}")
        x1, x2 = self.pairs()
        targets = (x2 - x1) / self.time_step
        return (x1 if scheme == "forward" else 0.5 * (x1 + x2)), targets

    def to(self, dtype: torch.dtype) -> "ObservedTrajectories":
        """A copy with every state tensor cast to ``dtype`` (float32 or float64)."""
        dtype = check_float_dtype(dtype)
        cast = lambda v: None if v is None else v.to(dtype)  # noqa: E731
        return ObservedTrajectories(self.states.to(dtype), self.t, self.noise_std, cast(self.clean), cast(self.derivatives))


@dataclass(frozen=True)
class ObservedSplit:
    """Train and test trajectories (split by trajectory), the system that made them and the settings."""

    train: ObservedTrajectories
    test: ObservedTrajectories
    system: HamiltonianSystem | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def time_step(self) -> float:
        return self.train.time_step


def make_observed_trajectories(
    system: HamiltonianSystem | str,
    *,
    n_trajectories: int = 50,
    n_times: int = 100,
    t_span: tuple[float, float] = (0.0, 20.0),
    noise_std: float = 0.1,
    radius: tuple[float, float] = (0.1, 1.0),
    orbit_noise: float = 0.05,
    test_fraction: float = 0.5,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> ObservedSplit:
    """Simulate observed trajectories of a system, with noise, split by trajectory.

    Initial states as the HNN reference code draws them: for one degree of freedom a random
    direction at a radius uniform in ``radius`` (:func:`hnnlib.data.sample_initial_states`); for
    two bodies near-circular orbits (:func:`hnnlib.data.sample_two_body_states`, ``radius`` the range of
    each coordinate of body 1). Simulated in float64 by RK45 at ``rtol = 1e-10`` (one degree of freedom)
    or ``1e-9`` (two bodies, per-trajectory steps), observed at ``n_times`` equally spaced times, and
    Gaussian noise of standard deviation ``noise_std`` added to every coordinate. The defaults are
    DGNet's mass-spring protocol (Matsubara et al. 2020): 50 trajectories of 100 points over 20 time
    units (``h = 20/99``), noise 0.1, half of them for testing.

    Parameters
    ----------
    system : HamiltonianSystem or str
        One degree of freedom, or a two-body system.
    n_trajectories, n_times : int
        ``n_times >= 2``.
    t_span : (float, float)
    noise_std : float
        >= 0.
    radius : (float, float)
    orbit_noise : float
        Two bodies only: the spread of the initial speeds.
    test_fraction : float
        In (0, 1); the last trajectories test.
    seed : int
        Of the NumPy generator that draws the initial states and the noise.
    dtype : torch.dtype
        Of the returned tensors.

    Returns
    -------
    ObservedSplit
    """
    system = get_system(system) if isinstance(system, str) else system
    if not isinstance(system, HamiltonianSystem):
        raise TypeError(f"system must be a HamiltonianSystem or a system name, got {type(system).__name__}")
    n_trajectories = check_positive_int(n_trajectories, "n_trajectories")
    n_times = check_positive_int(n_times, "n_times")
    if n_times < 2:
        raise ValueError(f"n_times must be >= 2 (a trajectory needs at least two observed points), got {n_times}")
    t0, t1 = check_range(t_span, "t_span")
    if not t0 < t1:
        raise ValueError(f"t_span must be (t0, t1) with t0 < t1 (a time step > 0), got {t_span!r}")
    noise_std = check_finite_number(noise_std, "noise_std", minimum=0.0, strict=False)
    if not 0 < check_finite_number(test_fraction, "test_fraction") < 1:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    n_test = int(round(n_trajectories * test_fraction))
    if not 0 < n_test < n_trajectories:
        raise ValueError(f"test_fraction={test_fraction} leaves an empty split of {n_trajectories} trajectories")
    dtype = check_float_dtype(dtype)
    rng = np.random.default_rng(check_seed(seed))
    t = np.linspace(t0, t1, n_times)
    if isinstance(system, NBody):
        if system.n_bodies != 2:
            raise ValueError(f"make_observed_trajectories simulates one degree of freedom or two bodies, got {system!r}")
        x0 = sample_two_body_states(n_trajectories, rng, system=system, position_range=radius, orbit_noise=orbit_noise)
        clean = solve_ivp_batched(system.time_derivative, x0, t, rtol=1e-9, atol=1e-9, dtype=torch.float64)
    elif system.n_dof == 1:
        x0 = sample_initial_states(n_trajectories, radius, rng)
        clean = solve_ivp_rollout(system.time_derivative, x0, t, rtol=1e-10, atol=1e-12, dtype=torch.float64, batched=True)
    else:
        raise ValueError(f"make_observed_trajectories simulates one degree of freedom or two bodies, got {system!r}")
    clean = np.asarray(clean)
    derivatives = system.time_derivative(clean)
    observed = clean + noise_std * rng.standard_normal(clean.shape) if noise_std > 0 else clean

    def part(rows: slice) -> ObservedTrajectories:
        tensor = lambda a: torch.as_tensor(np.ascontiguousarray(a[rows]), dtype=dtype)  # noqa: E731
        return ObservedTrajectories(tensor(observed), torch.as_tensor(t), noise_std, tensor(clean), tensor(derivatives))

    n_train = n_trajectories - n_test
    settings = dict(system=repr(system), n_trajectories=n_trajectories, n_times=n_times, t_span=(t0, t1), noise_std=noise_std,
                    radius=tuple(radius), orbit_noise=orbit_noise, test_fraction=test_fraction, seed=seed)
    return ObservedSplit(part(slice(0, n_train)), part(slice(n_train, None)), system, settings)
