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

from ._checks import as_state_tensor, check_finite_number

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


class NBody(HamiltonianSystem):
    r"""``N`` point masses in the plane attracting each other by Newtonian gravity (paper Section 4, App. B).

    .. math::

        H = \sum_i \frac{|p_i|^2}{2 m_i} - \sum_{i<j} \frac{g\, m_i m_j}{|q_i - q_j|}

    For two bodies this is the paper's Eq. 6 written in the lab frame (Eq. 6 splits the kinetic
    energy into the centre-of-mass part ``|p_CM|^2 / 2(m_1 + m_2)`` and the relative part
    ``|p|^2 / 2 mu`` with the reduced mass ``mu = m_1 m_2 / (m_1 + m_2)``). The paper and its code set
    ``g = m_i = 1``.

    **State layout.** ``x = (q_1, ..., q_N, p_1, ..., p_N)`` with each ``q_i`` and ``p_i`` a 2-D
    vector, i.e. ``x = (q1x, q1y, q2x, q2y, ..., p1x, p1y, p2x, p2y, ...)``: ``4 N`` coordinates,
    ``n_dof = 2 N`` (all positions first, then all momenta, as Hamilton's equations in
    :mod:`hnnlib.hamiltonian` expect). :meth:`bodies` reshapes states to ``(..., N, 2)``
    positions and momenta; :meth:`state` goes back. Momenta are ``p_i = m_i v_i``.

    Every method is batched over leading axes, like all systems. Two bodies at the same place
    give infinite forces (``inf`` or ``nan`` in the output).

    Parameters
    ----------
    n_bodies : int
        Number of bodies ``N >= 2``.
    masses : float or sequence of float, optional
        Masses ``m_i > 0``: one number for all bodies, or ``N`` numbers. Default 1.
    g : float
        Gravitational constant (> 0). Default 1.
    """

    name = "nbody"

    def __init__(self, n_bodies: int = 2, masses: float | tuple[float, ...] | list[float] | None = None, g: float = 1.0):
        if isinstance(n_bodies, bool) or not isinstance(n_bodies, (int, np.integer)):
            raise TypeError(f"n_bodies must be an int >= 2, got {n_bodies!r}")
        if n_bodies < 2:
            raise ValueError(f"an N-body system needs n_bodies >= 2, got {n_bodies}")
        n_bodies = int(n_bodies)
        if masses is None:
            masses = 1.0
        if isinstance(masses, (int, float, np.integer, np.floating)) and not isinstance(masses, bool):
            masses = (float(masses),) * n_bodies
        try:
            masses = tuple(float(m) for m in masses)
        except (TypeError, ValueError):
            raise TypeError(f"masses must be a number or a sequence of {n_bodies} numbers, got {masses!r}") from None
        if len(masses) != n_bodies:
            raise ValueError(f"masses must hold one mass per body ({n_bodies}), got {len(masses)}: {masses}")
        if not all(np.isfinite(m) and m > 0 for m in masses):
            raise ValueError(f"NBody needs finite masses > 0, got {masses}")
        check_finite_number(g, "the gravitational constant g", minimum=0.0)
        self.n_bodies = n_bodies
        self.masses = masses
        self.g = float(g)
        self.n_dof = 2 * n_bodies

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_bodies={self.n_bodies}, masses={self.masses}, g={self.g})"

    # -- layout helpers ---------------------------------------------------------------------
    def bodies(self, x: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
        """Positions and momenta per body.

        Parameters
        ----------
        x : torch.Tensor or numpy.ndarray, shape (..., 4N)

        Returns
        -------
        q, p : same type as ``x``, each of shape (..., N, 2)
        """
        is_numpy = isinstance(x, np.ndarray)
        q, p = self._bodies(as_state_tensor(x, self.state_dim, "x"))
        return (q.numpy(), p.numpy()) if is_numpy else (q, p)

    def state(self, q: ArrayLike, p: ArrayLike) -> ArrayLike:
        """Inverse of :meth:`bodies`: positions and momenta ``(..., N, 2)`` -> states ``(..., 4N)``."""
        is_numpy = isinstance(q, np.ndarray)
        q = as_state_tensor(q, 2, "q")
        p = as_state_tensor(p, 2, "p")
        if q.ndim < 2 or q.shape[-2] != self.n_bodies or p.shape != q.shape:
            raise ValueError(
                f"q and p must both have shape (..., {self.n_bodies}, 2), got {tuple(q.shape)} and {tuple(p.shape)}"
            )
        x = torch.cat([q.flatten(-2), p.flatten(-2)], dim=-1)
        return x.numpy() if is_numpy else x

    def _bodies(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = self.n_bodies
        lead = x.shape[:-1]
        return x[..., : 2 * n].reshape(*lead, n, 2), x[..., 2 * n :].reshape(*lead, n, 2)

    def _mass_tensor(self, like: torch.Tensor) -> torch.Tensor:
        return torch.tensor(self.masses, dtype=like.dtype, device=like.device)

    # -- energies ---------------------------------------------------------------------------
    def kinetic_energy(self, x: ArrayLike) -> ArrayLike:
        """``T = sum_i |p_i|^2 / (2 m_i)``: states ``(..., 4N)`` -> ``(...)``."""
        return _numpy_in_numpy_out(self._kinetic, x, self.state_dim, "x")

    def potential_energy(self, x: ArrayLike) -> ArrayLike:
        """``V = -sum_{i<j} g m_i m_j / |q_i - q_j|``: states ``(..., 4N)`` -> ``(...)``."""
        return _numpy_in_numpy_out(self._potential, x, self.state_dim, "x")

    def _kinetic(self, x: torch.Tensor) -> torch.Tensor:
        _, p = self._bodies(x)
        return (p.pow(2).sum(-1) / (2 * self._mass_tensor(x))).sum(-1)

    def _potential(self, x: torch.Tensor) -> torch.Tensor:
        q, _ = self._bodies(x)
        m = self._mass_tensor(x)
        i, j = torch.triu_indices(self.n_bodies, self.n_bodies, offset=1, device=x.device)
        distance = (q[..., i, :] - q[..., j, :]).pow(2).sum(-1).sqrt()
        return -(self.g * m[i] * m[j] / distance).sum(-1)

    def _hamiltonian(self, x: torch.Tensor) -> torch.Tensor:
        return self._kinetic(x) + self._potential(x)

    def _time_derivative(self, x: torch.Tensor) -> torch.Tensor:
        # dq_i/dt = p_i / m_i;  dp_i/dt = -dV/dq_i = sum_{j != i} g m_i m_j (q_j - q_i) / |q_j - q_i|^3
        q, p = self._bodies(x)
        m = self._mass_tensor(x)
        displacement = q.unsqueeze(-3) - q.unsqueeze(-2)  # [..., i, j, :] = q_j - q_i
        distance2 = displacement.pow(2).sum(-1)
        eye = torch.eye(self.n_bodies, dtype=torch.bool, device=x.device)
        inv_r3 = distance2.masked_fill(eye, 1.0).pow(-1.5).masked_fill(eye, 0.0)  # no self-force
        force = self.g * m[:, None] * (inv_r3 * m).unsqueeze(-1).mul(displacement).sum(-2)
        dq = p / m[:, None]
        return torch.cat([dq.flatten(-2), force.flatten(-2)], dim=-1)

    # -- conserved vectors --------------------------------------------------------------------
    def total_momentum(self, x: ArrayLike) -> ArrayLike:
        """Total momentum ``P = sum_i p_i`` (conserved): states ``(..., 4N)`` -> ``(..., 2)``."""
        return _numpy_in_numpy_out(lambda t: self._bodies(t)[1].sum(-2), x, self.state_dim, "x")

    def center_of_mass(self, x: ArrayLike) -> ArrayLike:
        """Centre of mass ``sum_i m_i q_i / sum_i m_i`` (moves with velocity ``P / M``): ``(..., 4N)`` -> ``(..., 2)``."""

        def com(t: torch.Tensor) -> torch.Tensor:
            m = self._mass_tensor(t)
            return (self._bodies(t)[0] * m[:, None]).sum(-2) / m.sum()

        return _numpy_in_numpy_out(com, x, self.state_dim, "x")


class TwoBody(NBody):
    """The two-body problem of Task 4 (paper Eq. 6): :class:`NBody` with ``N = 2``, ``m_1 = m_2 = g = 1`` by default.

    States are ``(q1x, q1y, q2x, q2y, p1x, p1y, p2x, p2y)``: 8 coordinates, ``n_dof = 4``.

    Parameters
    ----------
    masses : float or (float, float)
    g : float
    """

    name = "two_body"

    def __init__(self, masses: float | tuple[float, float] | list[float] | None = None, g: float = 1.0):
        super().__init__(2, masses, g)

    def __repr__(self) -> str:
        return f"TwoBody(masses={self.masses}, g={self.g})"


class ThreeBody(NBody):
    """The three-body problem of the paper's Appendix B: :class:`NBody` with ``N = 3``, unit masses and ``g = 1`` by default.

    States are ``(q1x, q1y, q2x, q2y, q3x, q3y, p1x, ..., p3y)``: 12 coordinates, ``n_dof = 6``.

    Parameters
    ----------
    masses : float or (float, float, float)
    g : float
    """

    name = "three_body"

    def __init__(self, masses: float | tuple[float, float, float] | list[float] | None = None, g: float = 1.0):
        super().__init__(3, masses, g)

    def __repr__(self) -> str:
        return f"ThreeBody(masses={self.masses}, g={self.g})"


SYSTEMS: dict[str, type[HamiltonianSystem]] = {
    cls.name: cls for cls in (MassSpring, Pendulum, NBody, TwoBody, ThreeBody)
}


def get_system(name: str, **params: float) -> HamiltonianSystem:
    """Build a system by its registry name, e.g. ``get_system("mass_spring")``.

    Raises
    ------
    TypeError
        If ``name`` is not a string.
    ValueError
        If ``name`` is not one of :data:`SYSTEMS` (the message lists them).
    """
    if not isinstance(name, str):
        raise TypeError(f"the system name must be a str, one of {sorted(SYSTEMS)}, got {name!r}")
    try:
        cls = SYSTEMS[name]
    except KeyError:
        raise ValueError(f"unknown system {name!r}; expected one of {sorted(SYSTEMS)}") from None
    return cls(**params)


class DoublePendulum(HamiltonianSystem):
    r"""Two point masses on massless rods, the second hung from the first, in a plane (Cranmer et al. 2020, Sec. 5).

    Angles ``theta_i`` are measured from the downward vertical. With ``c = cos(theta_1 - theta_2)``:

    .. math::

        T = \tfrac12 (m_1 + m_2) l_1^2 \dot\theta_1^2 + \tfrac12 m_2 l_2^2 \dot\theta_2^2
            + m_2 l_1 l_2 c\, \dot\theta_1 \dot\theta_2 = \tfrac12 \dot\theta^\top M(\theta) \dot\theta,
        \qquad V = -(m_1 + m_2) g l_1 \cos\theta_1 - m_2 g l_2 \cos\theta_2,

    ``L = T - V`` and ``H = p^T M^{-1} p / 2 + V`` with the canonical momenta ``p = M(theta) theta_dot``.
    The defaults ``m_i = l_i = 1, g = 9.8`` are those of the LNN paper's reference code
    (``experiment_dblpend/physics.py`` of MilesCranmer/lagrangian_nns).

    **Two state layouts.** As a :class:`HamiltonianSystem` (``hamiltonian``, ``time_derivative``)
    a state is canonical, ``x = (theta_1, theta_2, p_1, p_2)``. The Lagrangian methods
    (``lagrangian``, ``energy``, ``acceleration``, ``velocity_derivative``) take velocity states
    ``s = (theta_1, theta_2, theta_dot_1, theta_dot_2)``, the coordinates a camera or an encoder
    would give; :meth:`to_canonical` and :meth:`to_velocity` convert between the two with the
    mass matrix. Every method is batched over leading axes and takes tensors or NumPy arrays.

    Parameters
    ----------
    m1, m2, l1, l2, g : float
        Masses (kg), rod lengths (m) and gravitational acceleration (m/s^2), each > 0.
    """

    name = "double_pendulum"
    n_dof = 2

    def __init__(self, m1: float = 1.0, m2: float = 1.0, l1: float = 1.0, l2: float = 1.0, g: float = 9.8):
        for value, label in ((m1, "m1"), (m2, "m2"), (l1, "l1"), (l2, "l2"), (g, "g")):
            check_finite_number(value, f"DoublePendulum's {label}", minimum=0.0)
        self.m1, self.m2, self.l1, self.l2, self.g = (float(v) for v in (m1, m2, l1, l2, g))

    # -- the two forms ------------------------------------------------------------------------
    @property
    def potential_scale(self) -> float:
        """``max V - min V`` over the angles divided by 2, ``(m_1 + m_2) g l_1 + m_2 g l_2`` (J): 29.4 J for the defaults.

        The reference code divides the energy error by this number ("max potential energy").
        """
        return (self.m1 + self.m2) * self.g * self.l1 + self.m2 * self.g * self.l2

    def mass_matrix(self, q: ArrayLike) -> ArrayLike:
        """``M(theta)``, shape ``(..., 2, 2)``, for angles ``q`` of shape ``(..., 2)`` (or full states ``(..., 4)``).

        Symmetric positive definite for every angle: ``det M = m_2 l_1^2 l_2^2 (m_1 + m_2 sin^2(theta_1 - theta_2)) > 0``.
        """
        is_numpy = isinstance(q, np.ndarray)
        q = as_state_tensor(q, None, "q")
        if q.shape[-1] not in (2, 4):
            raise ValueError(f"q must have shape (..., 2) (angles) or (..., 4) (a state), got {tuple(q.shape)}")
        out = self._mass_matrix(q[..., :2])
        return out.numpy() if is_numpy else out

    def _mass_matrix(self, q: torch.Tensor) -> torch.Tensor:
        b = self.m2 * self.l1 * self.l2 * torch.cos(q[..., 0] - q[..., 1])
        a, d = torch.full_like(b, (self.m1 + self.m2) * self.l1**2), torch.full_like(b, self.m2 * self.l2**2)
        return torch.stack([a, b, b, d], -1).unflatten(-1, (2, 2))  # [[a, b], [b, d]]

    def _potential(self, q: torch.Tensor) -> torch.Tensor:
        return -(self.m1 + self.m2) * self.g * self.l1 * torch.cos(q[..., 0]) - self.m2 * self.g * self.l2 * torch.cos(q[..., 1])

    def _kinetic(self, s: torch.Tensor) -> torch.Tensor:
        w = s[..., 2:]
        return 0.5 * (w.unsqueeze(-2) @ self._mass_matrix(s[..., :2]) @ w.unsqueeze(-1))[..., 0, 0]

    def _dl_dq(self, s: torch.Tensor, sin_12: torch.Tensor | None = None) -> torch.Tensor:
        """``dL/dtheta``: the Euler-Lagrange equation's force term, ``(..., 4)`` -> ``(..., 2)``.

        ``sin_12``: ``sin(theta_1 - theta_2)``, if the caller has it already.
        """
        t1, t2, w1, w2 = s.unbind(-1)
        sin_12 = torch.sin(t1 - t2) if sin_12 is None else sin_12
        c = self.m2 * self.l1 * self.l2 * w1 * w2 * sin_12
        return torch.stack([-c - (self.m1 + self.m2) * self.g * self.l1 * torch.sin(t1),
                            c - self.m2 * self.g * self.l2 * torch.sin(t2)], -1)

    def _acceleration(self, s: torch.Tensor) -> torch.Tensor:
        # Euler-Lagrange: M(theta) theta_ddot = dL/dtheta - (dM/dt) theta_dot
        t1, t2, w1, w2 = s.unbind(-1)
        sin_12 = torch.sin(t1 - t2)  # shared with dL/dtheta: the true field of chapter 13's rollouts
        c = self.m2 * self.l1 * self.l2 * sin_12 * (w1 - w2)
        mdot_w = torch.stack([-c * w2, -c * w1], -1)
        rhs = (self._dl_dq(s, sin_12) - mdot_w).unsqueeze(-1)
        return torch.linalg.solve(self._mass_matrix(s[..., :2]), rhs)[..., 0]

    def lagrangian(self, s: ArrayLike) -> ArrayLike:
        """``L = T - V`` (J) of velocity states ``s = (theta, theta_dot)``, shape ``(..., 4)`` -> ``(...)``."""
        return _numpy_in_numpy_out(lambda t: self._kinetic(t) - self._potential(t), s, 4, "s")

    def energy(self, s: ArrayLike) -> ArrayLike:
        """Total energy ``T + V`` (J) of velocity states ``s = (theta, theta_dot)``, ``(..., 4)`` -> ``(...)``."""
        return _numpy_in_numpy_out(lambda t: self._kinetic(t) + self._potential(t), s, 4, "s")

    def acceleration(self, s: ArrayLike) -> ArrayLike:
        """Angular accelerations ``theta_ddot`` (rad/s^2) from the Euler-Lagrange equation, ``(..., 4)`` -> ``(..., 2)``."""
        return _numpy_in_numpy_out(self._acceleration, s, 4, "s")

    def velocity_derivative(self, s: ArrayLike) -> ArrayLike:
        """``ds/dt = (theta_dot, theta_ddot)`` of velocity states, ``(..., 4)`` -> ``(..., 4)``: the Lagrangian vector field."""
        return _numpy_in_numpy_out(lambda t: torch.cat([t[..., 2:], self._acceleration(t)], -1), s, 4, "s")

    def to_canonical(self, s: ArrayLike) -> ArrayLike:
        """``(theta, theta_dot)`` -> ``(theta, p)`` with ``p = M(theta) theta_dot`` (kg m^2/s)."""
        def convert(t: torch.Tensor) -> torch.Tensor:
            p = (self._mass_matrix(t[..., :2]) @ t[..., 2:].unsqueeze(-1))[..., 0]
            return torch.cat([t[..., :2], p], -1)

        return _numpy_in_numpy_out(convert, s, 4, "s")

    def to_velocity(self, x: ArrayLike) -> ArrayLike:
        """``(theta, p)`` -> ``(theta, theta_dot)`` with ``theta_dot = M(theta)^-1 p``."""
        return _numpy_in_numpy_out(self._to_velocity, x, 4, "x")

    def _to_velocity(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.linalg.solve(self._mass_matrix(x[..., :2]), x[..., 2:].unsqueeze(-1))[..., 0]
        return torch.cat([x[..., :2], w], -1)

    def normal_mode_frequencies(self) -> tuple[float, float]:
        """Angular frequencies (rad/s) of the two small-oscillation modes, slow first: ``sqrt`` of the
        eigenvalues of ``M(0)^-1 K`` with ``K = diag((m_1 + m_2) g l_1, m_2 g l_2)``."""
        m0 = self._mass_matrix(torch.zeros(2, dtype=torch.float64)).numpy()
        k = np.diag([(self.m1 + self.m2) * self.g * self.l1, self.m2 * self.g * self.l2])
        w2 = np.sort(np.linalg.eigvals(np.linalg.solve(m0, k)).real)
        return float(np.sqrt(w2[0])), float(np.sqrt(w2[1]))

    # -- the Hamiltonian form (canonical states) -------------------------------------------------
    def _hamiltonian(self, x: torch.Tensor) -> torch.Tensor:
        s = self._to_velocity(x)
        return self._kinetic(s) + self._potential(s)

    def _time_derivative(self, x: torch.Tensor) -> torch.Tensor:
        # dtheta/dt = dH/dp = M^-1 p;  dp/dt = -dH/dtheta = dL/dtheta at theta_dot = M^-1 p
        s = self._to_velocity(x)
        return torch.cat([s[..., 2:], self._dl_dq(s)], -1)


SYSTEMS[DoublePendulum.name] = DoublePendulum


class DampedOscillator(HamiltonianSystem):
    """A mass-spring with viscous friction: ``dq/dt = p / m``, ``dp/dt = -k q - gamma p``.

    The conservative part is :class:`MassSpring`'s ``H = k q^2 / 2 + p^2 / (2 m)``; friction adds
    the gradient of the Rayleigh-type dissipation function ``D = -gamma p^2 / 2``, so that the
    field is the Helmholtz sum ``S_H + grad D`` of the dissipative HNN (Sosanya & Greydanus,
    "Dissipative Hamiltonian Neural Networks", 2022, Eq. 5). Energy decays at the rate
    ``dH/dt = -gamma p^2 / m <= 0``. In ``q``: ``q'' + gamma q' + omega_0^2 q = 0`` with
    ``omega_0 = sqrt(k / m)``; for ``gamma < 2 omega_0`` (underdamped) it oscillates at
    ``omega_d = sqrt(omega_0^2 - gamma^2 / 4)`` inside an envelope ``exp(-gamma t / 2)``, and
    :meth:`solution` is exact. ``gamma = 0`` is :class:`MassSpring`.

    Parameters
    ----------
    k : float
        Spring constant (> 0). Default 2, with ``m = 1/2``: ``H = q^2 + p^2`` as in Task 1.
    m : float
        Mass (> 0).
    gamma : float
        Friction rate (>= 0), in 1 / time unit.
    """

    name = "damped_oscillator"
    n_dof = 1

    def __init__(self, k: float = 2.0, m: float = 0.5, gamma: float = 0.1):
        if not (k > 0 and m > 0):
            raise ValueError(f"DampedOscillator needs k > 0 and m > 0, got k={k}, m={m}")
        if not gamma >= 0:
            raise ValueError(f"DampedOscillator needs a friction rate gamma >= 0, got {gamma}")
        self.k, self.m, self.gamma = float(k), float(m), float(gamma)

    @property
    def omega0(self) -> float:
        """Undamped angular frequency ``sqrt(k / m)`` (rad / time unit)."""
        return float(np.sqrt(self.k / self.m))

    @property
    def omega_d(self) -> float:
        """Damped angular frequency ``sqrt(omega_0^2 - gamma^2 / 4)``; ValueError unless underdamped."""
        w2 = self.k / self.m - self.gamma**2 / 4
        if w2 <= 0:
            raise ValueError(f"not underdamped: gamma={self.gamma} >= 2 omega_0={2 * self.omega0:.6g}")
        return float(np.sqrt(w2))

    @property
    def period(self) -> float:
        """Period ``2 pi / omega_d`` of the damped oscillation (any amplitude: the system is linear)."""
        return 2 * np.pi / self.omega_d

    def _hamiltonian(self, x: torch.Tensor) -> torch.Tensor:
        q, p = x[..., 0], x[..., 1]
        return 0.5 * self.k * q**2 + p**2 / (2 * self.m)

    def _dissipation(self, x: torch.Tensor) -> torch.Tensor:
        return -0.5 * self.gamma * x[..., 1] ** 2

    def _conservative(self, x: torch.Tensor) -> torch.Tensor:
        q, p = x[..., 0], x[..., 1]
        return torch.stack([p / self.m, -self.k * q], dim=-1)

    def _dissipative(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([torch.zeros_like(x[..., 1]), -self.gamma * x[..., 1]], dim=-1)

    def _time_derivative(self, x: torch.Tensor) -> torch.Tensor:
        return self._conservative(x) + self._dissipative(x)

    def time_derivative(self, x: ArrayLike) -> ArrayLike:
        """Exact ``dx/dt = S_H + grad D``: states ``(..., 2)`` -> ``(..., 2)`` (same type)."""
        return _numpy_in_numpy_out(self._time_derivative, x, 2, "x")

    def dissipation(self, x: ArrayLike) -> ArrayLike:
        """``D(x) = -gamma p^2 / 2``: states ``(..., 2)`` -> ``(...)``; defined up to a constant."""
        return _numpy_in_numpy_out(self._dissipation, x, 2, "x")

    def conservative_field(self, x: ArrayLike) -> ArrayLike:
        """The divergence-free part ``S_H = (dH/dp, -dH/dq)``: ``(..., 2)`` -> ``(..., 2)``."""
        return _numpy_in_numpy_out(self._conservative, x, 2, "x")

    def dissipative_field(self, x: ArrayLike) -> ArrayLike:
        """The curl-free part ``grad D = (0, -gamma p)``: ``(..., 2)`` -> ``(..., 2)``."""
        return _numpy_in_numpy_out(self._dissipative, x, 2, "x")

    def energy_rate(self, x: ArrayLike) -> ArrayLike:
        """``dH/dt = grad H . grad D = -gamma p^2 / m``: ``(..., 2)`` -> ``(...)``."""
        return _numpy_in_numpy_out(lambda s: -self.gamma * s[..., 1] ** 2 / self.m, x, 2, "x")

    def solution(self, x0: ArrayLike, t: ArrayLike) -> np.ndarray:
        """Exact (underdamped) trajectory from ``x0`` at times ``t``.

        Parameters
        ----------
        x0 : array, shape (2,) or (B, 2)
        t : array, shape (T,)
            Times from the start (any order).

        Returns
        -------
        numpy.ndarray, float64, shape (T, 2) or (B, T, 2)
        """
        x0 = np.asarray(as_state_tensor(x0, 2, "x0").detach().cpu().double().numpy())
        t = np.asarray(t, dtype=np.float64)
        if t.ndim != 1 or not np.all(np.isfinite(t)):
            raise ValueError(f"t must be a finite 1-D array of times, got shape {t.shape}")
        wd, g = self.omega_d, self.gamma
        q0, v0 = x0[..., 0:1], x0[..., 1:2] / self.m
        a, b = q0, (v0 + 0.5 * g * q0) / wd
        env, c, s = np.exp(-0.5 * g * t), np.cos(wd * t), np.sin(wd * t)
        q = env * (a * c + b * s)
        v = env * (-0.5 * g * (a * c + b * s) + wd * (b * c - a * s))
        return np.stack([q, self.m * v], axis=-1)
