"""Hamiltonian systems with analytic energies and exact time derivatives.

A system maps states ``x = (q_1..q_N, p_1..p_N)`` of shape ``(..., 2N)`` to its energy
``H(x)`` of shape ``(...)`` and to the exact time derivative ``dx/dt`` of shape ``(..., 2N)``.
Every method is batched over leading axes and accepts a ``torch.Tensor`` or a
``numpy.ndarray``; NumPy input gives NumPy output (of the input's dtype), so the same system feeds both
``scipy.integrate.solve_ivp`` and PyTorch code.
"""

from __future__ import annotations

import abc
from typing import Any, Callable

import numpy as np
import torch

from ._checks import as_state_tensor

ArrayLike = Any  # torch.Tensor or numpy.ndarray


def _numpy_in_numpy_out(fn: Callable[[torch.Tensor], torch.Tensor], x: ArrayLike, dim: int, name: str) -> ArrayLike:
    is_numpy = isinstance(x, np.ndarray)
    out = fn(as_state_tensor(x, dim, name))
    return out.detach().cpu().numpy() if is_numpy else out


class HamiltonianSystem(abc.ABC):
    """A conservative system given by its Hamiltonian ``H(q, p)``.

    Subclasses implement :meth:`_hamiltonian` and :meth:`_time_derivative` on tensors of shape
    ``(..., 2N)``; this class checks inputs and handles NumPy arrays.

    Attributes
    ----------
    name : str
        Registry name (see :func:`get_system`).
    n_dof : int
        Degrees of freedom ``N``; states have ``2 N`` coordinates.
    """

    name: str = ""
    n_dof: int = 1

    @property
    def state_dim(self) -> int:
        """Number of phase-space coordinates, ``2 N``."""
        return 2 * self.n_dof

    def hamiltonian(self, x: ArrayLike) -> ArrayLike:
        """Total energy ``H(x)``.

        Parameters
        ----------
        x : torch.Tensor or numpy.ndarray, shape (..., 2N)

        Returns
        -------
        Same type as ``x``, shape (...)
        """
        return _numpy_in_numpy_out(self._hamiltonian, x, self.state_dim, "x")

    def time_derivative(self, x: ArrayLike) -> ArrayLike:
        """Exact ``dx/dt = (dH/dp, -dH/dq)`` from Hamilton's equations (paper Eq. 2).

        Parameters
        ----------
        x : torch.Tensor or numpy.ndarray, shape (..., 2N)

        Returns
        -------
        Same type as ``x``, shape (..., 2N)
        """
        return _numpy_in_numpy_out(self._time_derivative, x, self.state_dim, "x")

    @abc.abstractmethod
    def _hamiltonian(self, x: torch.Tensor) -> torch.Tensor: ...

    @abc.abstractmethod
    def _time_derivative(self, x: torch.Tensor) -> torch.Tensor: ...

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"


class MassSpring(HamiltonianSystem):
    """Ideal mass-spring, paper Eq. 4: ``H = k q^2 / 2 + p^2 / (2 m)``.

    The defaults ``k = 2, m = 1/2`` give ``H = q^2 + p^2``, the energy the paper's reference code
    uses for Task 1 (the paper's text sets ``k = m = 1``). Angular frequency ``sqrt(k / m)``.

    Parameters
    ----------
    k : float
        Spring constant (> 0).
    m : float
        Mass (> 0).
    """

    name = "mass_spring"
    n_dof = 1

    def __init__(self, k: float = 2.0, m: float = 0.5):
        if not (k > 0 and m > 0):
            raise ValueError(f"MassSpring needs k > 0 and m > 0, got k={k}, m={m}")
        self.k = float(k)
        self.m = float(m)

    def _hamiltonian(self, x: torch.Tensor) -> torch.Tensor:
        q, p = x[..., 0], x[..., 1]
        return 0.5 * self.k * q**2 + p**2 / (2 * self.m)

    def _time_derivative(self, x: torch.Tensor) -> torch.Tensor:
        q, p = x[..., 0], x[..., 1]
        return torch.stack([p / self.m, -self.k * q], dim=-1)


class Pendulum(HamiltonianSystem):
    """Ideal pendulum, paper Eq. 5: ``H = 2 m g l (1 - cos q) + l^2 p^2 / (2 m)``.

    The defaults ``m = 1/2, g = 3, l = 1`` give ``H = 3 (1 - cos q) + p^2``, the energy of the
    paper's reference code for Task 2 (the paper's text sets ``m = l = 1, g = 3``).

    Parameters
    ----------
    m, g, l : float
        Mass, gravitational constant and length (each > 0).
    """

    name = "pendulum"
    n_dof = 1

    def __init__(self, m: float = 0.5, g: float = 3.0, l: float = 1.0):  # noqa: E741 (the paper's symbol)
        if not (m > 0 and g > 0 and l > 0):
            raise ValueError(f"Pendulum needs m, g, l > 0, got m={m}, g={g}, l={l}")
        self.m = float(m)
        self.g = float(g)
        self.l = float(l)

    def _hamiltonian(self, x: torch.Tensor) -> torch.Tensor:
        q, p = x[..., 0], x[..., 1]
        return 2 * self.m * self.g * self.l * (1 - torch.cos(q)) + self.l**2 * p**2 / (2 * self.m)

    def _time_derivative(self, x: torch.Tensor) -> torch.Tensor:
        q, p = x[..., 0], x[..., 1]
        dq = self.l**2 * p / self.m
        dp = -2 * self.m * self.g * self.l * torch.sin(q)
        return torch.stack([dq, dp], dim=-1)


SYSTEMS: dict[str, type[HamiltonianSystem]] = {cls.name: cls for cls in (MassSpring, Pendulum)}


def get_system(name: str, **params: float) -> HamiltonianSystem:
    """Build a system by its registry name, e.g. ``get_system("mass_spring")``.

    Raises
    ------
    ValueError
        If ``name`` is not one of :data:`SYSTEMS` (the message lists them).
    """
    try:
        cls = SYSTEMS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown system {name!r}; expected one of {sorted(SYSTEMS)}") from None
    return cls(**params)
