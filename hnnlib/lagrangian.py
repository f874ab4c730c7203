"""The Euler-Lagrange equation as code, and the Lagrangian Neural Network (Cranmer et al. 2020).

A Lagrangian system has velocity states ``s = (q, q_dot)`` of shape ``(..., 2N)`` and a scalar
``L(q, q_dot)``. The Euler-Lagrange equation ``d/dt dL/dq_dot = dL/dq``, expanded by the chain rule,
gives the accelerations (LNN paper, Eq. 6)::

    q_ddot = (d2L/dq_dot2)^-1 (dL/dq - (d2L/dq_dot dq) q_dot)

Only three pieces of the Hessian of ``L`` are needed: the gradient ``dL/dq``, the ``N x N``
velocity Hessian ``d2L/dq_dot2`` (the mass matrix, for a mechanical ``L``) and the mixed
product ``(d2L/dq_dot dq) q_dot``, one Jacobian-vector product. :func:`euler_lagrange` computes
them per state with ``torch.func`` (``jacrev`` inside ``jvp``) and batches them with ``vmap``:
no Python loop over states. :func:`euler_lagrange_loop` is the per-state loop that the batched
version replaces, kept for the benchmark and the tests.

The velocity Hessian must be invertible. :func:`solve_velocity_hessian` refuses a singular or
ill-conditioned one with a :class:`SingularHessianError` that names the states where it happened.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.func import jacrev, jvp, vmap

from ._checks import as_state_tensor, check_finite_number
from .models import MLP, _DynamicsModel

__all__ = [
    "LNN", "MechanicalLNN", "SingularHessianError", "euler_lagrange", "euler_lagrange_loop", "lagrangian_vector_field", "solve_velocity_hessian",
]

#: ``L(s) -> scalar`` for ONE velocity state ``s`` of shape ``(2N,)``.
SingleLagrangian = Callable[[torch.Tensor], torch.Tensor]


class SingularHessianError(ValueError):
    """The velocity Hessian ``d2L/dq_dot2`` is singular (or numerically so) at some states.

    Attributes
    ----------
    rows : list of int
        Indices (in the flattened batch) of the offending states.
    states : torch.Tensor, shape (len(rows), 2N)
    """

    def __init__(self, message: str, rows: list[int], states: torch.Tensor):
        super().__init__(message)
        self.rows = rows
        self.states = states


def _default_rcond(dtype: torch.dtype) -> float:
    return 10 * torch.finfo(dtype).eps


def solve_velocity_hessian(hessian: torch.Tensor, rhs: torch.Tensor, states: torch.Tensor, *, rcond: float | None = None) -> torch.Tensor:
    """Solve ``hessian @ a = rhs`` for every state, refusing singular or ill-conditioned Hessians.

    The Hessian ``d2L/dq_dot2`` is symmetric. It counts as singular where its smallest absolute
    eigenvalue is at most ``rcond`` times its largest (the inverse condition number), where an
    eigenvalue is not finite, or where the LU solve reports a zero pivot.

    Parameters
    ----------
    hessian : torch.Tensor, shape (B, N, N)
    rhs : torch.Tensor, shape (B, N)
    states : torch.Tensor, shape (B, 2N)
        The states, only to name them in the error.
    rcond : float, optional
        Default ``10 * eps`` of the dtype (about 1.2e-6 in float32, 2.2e-15 in float64).

    Returns
    -------
    torch.Tensor, shape (B, N)

    Raises
    ------
    SingularHessianError
        Naming (up to five of) the offending states and their inverse condition numbers.
    """
    rcond = _default_rcond(hessian.dtype) if rcond is None else check_finite_number(rcond, "rcond", minimum=0.0, strict=False)
    with torch.no_grad():
        eig = torch.linalg.eigvalsh(hessian.detach()).abs()
        inverse_condition = eig.amin(-1) / eig.amax(-1).clamp_min(torch.finfo(eig.dtype).tiny)
        bad = ~torch.isfinite(eig).all(-1) | (inverse_condition <= rcond)
    solution, info = torch.linalg.solve_ex(hessian, rhs.unsqueeze(-1))
    bad = bad | (info != 0)
    if bool(bad.any()):
        rows = torch.nonzero(bad).flatten().tolist()
        shown = ", ".join(
            f"row {r}: s = {[round(v, 4) for v in states[r].detach().cpu().tolist()]} (1/cond = {float(inverse_condition[r]):.2e})"
            for r in rows[:5]
        )
        more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
        raise SingularHessianError(
            f"the velocity Hessian d2L/dq_dot2 is singular (1/cond <= {rcond:.2e}) at {len(rows)} of {hessian.shape[0]} states: "
            f"{shown}{more}. The Euler-Lagrange equation has no unique acceleration there; a learned L needs "
            "a velocity-dependent (kinetic) part that is non-degenerate everywhere",
            rows, states[rows].detach(),
        )
    return solution[..., 0]


def _pieces(lagrangian: SingleLagrangian, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For ONE state: the velocity Hessian ``(N, N)`` and the right-hand side ``dL/dq - (d2L/dq_dot dq) q_dot`` ``(N,)``.

    Three forward-over-reverse products with the gradient ``g = dL/ds``: along ``(q_dot, 0)``
    (its velocity half is the mixed term) and along ``(0, e_j)`` for each ``j`` (the columns of
    the velocity Hessian).
    """
    n = s.shape[-1] // 2
    grad = jacrev(lagrangian)
    eye = torch.eye(n, dtype=s.dtype, device=s.device)
    directions = torch.cat([torch.cat([s[n:], torch.zeros_like(s[n:])])[None], torch.cat([torch.zeros_like(eye), eye], 1)], 0)

    def along(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return jvp(grad, (s,), (v,))

    g, hv = vmap(along)(directions)  # g: the same gradient, once per direction
    return hv[1:, n:], g[0, :n] - hv[0, n:]  # velocity Hessian is symmetric: columns = rows


def euler_lagrange(lagrangian: SingleLagrangian, s: torch.Tensor, *, rcond: float | None = None) -> torch.Tensor:
    """Accelerations ``q_ddot`` of velocity states ``s`` under the Lagrangian ``lagrangian`` (LNN paper, Eq. 6).

    Batched with ``torch.func.vmap``: one call evaluates every state, with no Python loop.
    Differentiable (gradients flow to whatever ``lagrangian`` closes over, e.g. a network's
    weights), so a loss on the accelerations trains ``L``.

    Parameters
    ----------
    lagrangian : callable
        ``L(s)`` for ONE state ``s`` of shape ``(2N,)``, returning a scalar; written with torch
        operations that ``torch.func`` can transform.
    s : torch.Tensor, shape (..., 2N)
        Velocity states ``(q, q_dot)``.
    rcond : float, optional
        See :func:`solve_velocity_hessian`.

    Returns
    -------
    torch.Tensor, shape (..., N)

    Raises
    ------
    SingularHessianError
        Where ``d2L/dq_dot2`` is singular, naming the states.
    """
    s = as_state_tensor(s, None, "s")
    if s.shape[-1] % 2:
        raise ValueError(f"s must have an even last axis (q and q_dot), got shape {tuple(s.shape)}")
    flat = s.reshape(-1, s.shape[-1])
    hessian, rhs = vmap(lambda state: _pieces(lagrangian, state))(flat)
    return solve_velocity_hessian(hessian, rhs, flat, rcond=rcond).reshape(*s.shape[:-1], s.shape[-1] // 2)


def euler_lagrange_loop(lagrangian: SingleLagrangian, s: torch.Tensor, *, create_graph: bool = False) -> torch.Tensor:
    """The same accelerations as :func:`euler_lagrange`, one state at a time (a Python loop).

    What a per-sample implementation does (``torch.autograd.functional.hessian`` on each state,
    then a solve): slow, kept only as the reference the batched version is tested and timed
    against (``benchmarks/lnn_batched.py``).

    Parameters
    ----------
    lagrangian : callable
        As for :func:`euler_lagrange`.
    s : torch.Tensor, shape (B, 2N)
    create_graph : bool
        Keep the graph (for training).

    Returns
    -------
    torch.Tensor, shape (B, N)
    """
    s = as_state_tensor(s, None, "s")
    if s.ndim != 2 or s.shape[-1] % 2:
        raise ValueError(f"s must have shape (B, 2N), got {tuple(s.shape)}")
    n = s.shape[-1] // 2
    out = []
    for state in s:
        state = state.detach().requires_grad_(True)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(lagrangian(state), state, create_graph=True)
            h = torch.autograd.functional.hessian(lagrangian, state, create_graph=create_graph)
        rhs = g[:n] - h[n:, :n] @ state[n:].detach()
        out.append(solve_velocity_hessian(h[None, n:, n:], rhs[None], state[None])[0])
    return torch.stack(out)


def lagrangian_vector_field(lagrangian: SingleLagrangian, *, rcond: float | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
    """The vector field ``s -> ds/dt = (q_dot, q_ddot)`` of a Lagrangian, for the integrators of :mod:`hnnlib.integrators`."""

    def field(s: torch.Tensor) -> torch.Tensor:
        n = s.shape[-1] // 2
        return torch.cat([s[..., n:], euler_lagrange(lagrangian, s, rcond=rcond)], -1)

    return field


class LNN(_DynamicsModel):
    """Lagrangian Neural Network: an MLP ``L_theta(q, q_dot)`` whose Euler-Lagrange equation is the dynamics.

    Cranmer, Greydanus, Hoyer, Battaglia, Spergel & Ho, "Lagrangian Neural Networks", ICLR 2020
    workshop (arXiv:2003.04630), Eq. 6. ``time_derivative(s) = (q_dot, q_ddot)`` with ``q_ddot``
    from the Euler-Lagrange equation (:meth:`acceleration`: the MLP's derivatives written out, or
    :func:`euler_lagrange` with ``torch.func``, equal to round-off); the L2 loss on it trains
    ``L_theta`` (the targets need only the accelerations, but the layout matches the baseline's).
    The energy it conserves is ``E_theta = q_dot . dL_theta/dq_dot - L_theta`` (:meth:`energy`).

    Parameters
    ----------
    input_dim : int
        ``2 N``: the angles or positions ``q``, then the velocities ``q_dot``.
    hidden_dim : int
        Hidden units of the three-layer MLP.
    nonlinearity : {"softplus", "tanh", "relu"}
        Default softplus, as the LNN paper uses; it must be twice differentiable (not relu).
    bias_init : {"torch", "zeros"}
        See :class:`hnnlib.models.MLP`.
    periodic : bool
        If True, each ``q_i`` enters the network as ``(cos q_i, sin q_i)``, so ``L_theta`` is
        2 pi-periodic in every angle, as a pendulum's is (the derivatives still are taken with
        respect to the angles themselves).
    velocity_scale : float
        The velocities enter the network divided by this (units of ``q_dot``), so that its inputs
        are of order one; the accelerations do not depend on it otherwise.
    kinetic_prior : float
        ``kappa >= 0``: ``L_theta = MLP(q, q_dot) + kappa |q_dot|^2 / 2``. The MLP can still represent
        any ``L`` where there are data (it learns ``L - kappa |q_dot|^2 / 2``), but far from them a
        softplus or tanh MLP's second derivatives decay to zero, so the velocity Hessian tends to
        ``kappa I``: positive definite, and the learned dynamics stay regular where a rollout
        strays. ``0`` (default) is the plain LNN of the paper.
    rcond : float, optional
        Inverse condition number below which the velocity Hessian counts as singular (see
        :func:`solve_velocity_hessian`).
    """

    def __init__(self, input_dim: int, hidden_dim: int = 128, nonlinearity: str = "softplus", bias_init: str = "torch",
                 periodic: bool = False, velocity_scale: float = 1.0, kinetic_prior: float = 0.0, rcond: float | None = None):
        super().__init__(input_dim, hidden_dim, nonlinearity, bias_init)
        if input_dim % 2:
            raise ValueError(f"an LNN needs an even input_dim (q and q_dot), got {input_dim}")
        if nonlinearity == "relu":
            raise ValueError("an LNN needs a twice-differentiable nonlinearity (softplus or tanh): relu has a zero Hessian")
        if not isinstance(periodic, bool):
            raise TypeError(f"periodic must be True or False, got {periodic!r}")
        if rcond is not None:
            rcond = check_finite_number(rcond, "rcond", minimum=0.0, strict=False)
        velocity_scale = check_finite_number(velocity_scale, "velocity_scale", minimum=0.0)
        kinetic_prior = check_finite_number(kinetic_prior, "kinetic_prior", minimum=0.0, strict=False)
        self.config.update(periodic=periodic, velocity_scale=velocity_scale, kinetic_prior=kinetic_prior, rcond=rcond)
        n = input_dim // 2
        self.mlp = MLP(3 * n if periodic else input_dim, hidden_dim, 1, nonlinearity, bias_init)

    def _features(self, s: torch.Tensor) -> torch.Tensor:
        n = s.shape[-1] // 2
        q, v = s[..., :n], s[..., n:] / self.config["velocity_scale"]
        if not self.config["periodic"]:
            return torch.cat([q, v], -1)
        return torch.cat([torch.cos(q), torch.sin(q), v], -1)

    def _prior(self, s: torch.Tensor) -> torch.Tensor:
        n = s.shape[-1] // 2
        return 0.5 * self.config["kinetic_prior"] * s[..., n:].pow(2).sum(-1)

    def _single(self, s: torch.Tensor) -> torch.Tensor:
        return self.mlp(self._features(s))[0] + self._prior(s)

    def lagrangian(self, s: torch.Tensor) -> torch.Tensor:
        """The learned ``L_theta(q, q_dot)``: tensor ``(..., 2N)`` -> ``(...)``."""
        s = self._check(s)
        return self.mlp(self._features(s))[..., 0] + self._prior(s)

    def acceleration(self, s: torch.Tensor, method: str = "fused") -> torch.Tensor:
        """``q_ddot`` from the Euler-Lagrange equation of ``L_theta``: ``(..., 2N)`` -> ``(..., N)``.

        Parameters
        ----------
        s : torch.Tensor, shape (..., 2N)
        method : {"fused", "func"}
            ``"func"``: :func:`euler_lagrange`, ``torch.func`` (``jvp`` of ``jacrev``) batched with
            ``vmap``, for any ``L``. ``"fused"`` (default): the same derivatives written out for
            this three-layer MLP, the gradient as its backward pass and the velocity rows of its
            Hessian in closed form (:meth:`_fused_pieces`, plain batched matrix products, equal to
            ``"func"`` to round-off, tested). Both are batched and differentiable; the fused one avoids
            ``vmap``'s per-call overhead, which dominates at the small batches of a rollout
            (timings: ``benchmarks/README.md``, ``benchmarks/lnn_batched.py``).

        Raises
        ------
        SingularHessianError
            Where ``d2L_theta/dq_dot2`` is singular, naming the states.
        """
        s = self._check(s)
        if method == "func":
            return euler_lagrange(self._single, s, rcond=self.config["rcond"])
        if method != "fused":
            raise ValueError(f"method must be 'fused' or 'func', got {method!r}")
        flat = s.reshape(-1, s.shape[-1])
        hessian, rhs = self._fused_pieces(flat)
        out = solve_velocity_hessian(hessian, rhs, flat, rcond=self.config["rcond"])
        return out.reshape(*s.shape[:-1], s.shape[-1] // 2)

    def _fused_pieces(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Velocity Hessian ``(B, N, N)`` and ``dL/dq - (d2L/dq_dot dq) q_dot`` ``(B, N)`` for states ``(B, 2N)``.

        ``L = w3 . h2 + b3``, ``h2 = f(a2)``, ``a2 = W2 h1 + b2``, ``h1 = f(a1)``, ``a1 = W1 z + b1``,
        ``z = features(s)``. The gradient ``dL/dz`` is the backward pass; the Hessian in ``z`` is
        ``W1^T diag(f''(a1) u1) W1 + J^T diag(f''(a2) w3) J`` with ``u1 = dL/dh1`` and
        ``J = da2/dz = W2 diag(f'(a1)) W1``. Only its velocity rows are needed: the products with
        the ``N`` velocity columns of ``J`` and with ``J (dz/dq) q_dot``, ``N + 1`` columns in all.
        """
        n = s.shape[-1] // 2
        first, _, second, _, last = self.mlp.net
        w1, b1, w2, b2, w3 = first.weight, first.bias, second.weight, second.bias, last.weight[0]
        if self.config["nonlinearity"] == "softplus":
            def derivatives(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                sig = torch.sigmoid(a)
                return sig, sig * torch.rsub(sig, 1)  # rsub(x, 1) = 1 - x, without a Python wrapper
        else:  # tanh
            def derivatives(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                t = torch.tanh(a)
                d = torch.rsub(t * t, 1)
                return d, -2 * t * d
        c = self.config["velocity_scale"]
        q, q_dot = s[:, :n], s[:, n:]
        if self.config["periodic"]:
            cos, sin = torch.cos(q), torch.sin(q)
            z = torch.cat([cos, sin, q_dot / c], -1)
            dz = torch.cat([-sin * q_dot, cos * q_dot], -1)  # (dz/dq) q_dot, the angle features
        else:
            z, dz = torch.cat([q, q_dot / c], -1), q_dot
        w1q, w1v = w1[:, :-n], w1[:, -n:]  # the columns of the angle and the velocity features
        a1 = torch.addmm(b1, z, w1.t())
        f1, ff1 = derivatives(a1)
        h1 = torch.nn.functional.softplus(a1) if self.config["nonlinearity"] == "softplus" else torch.tanh(a1)
        a2 = torch.addmm(b2, h1, w2.t())
        f2, ff2 = derivatives(a2)
        u1 = (f2 * w3) @ w2  # dL/dh1
        gz = (u1 * f1) @ w1q  # dL/dz, angle features, (B, F - N)
        alpha, beta = ff1 * u1, ff2 * w3  # the two diagonals, (B, H)
        da1 = dz @ w1q.t()  # a1's derivative along (q_dot, 0), (B, H)
        jv = (f1[:, None] * w1v.t()) @ w2.t()  # da2 / d(velocity features), (B, N, H)
        jq = (f1 * da1) @ w2.t()  # a2's derivative along (q_dot, 0), (B, H)
        # W1v^T diag(alpha) W1v: one product with the outer products of W1v's rows, (B, N, N)
        hessian = (alpha @ (w1v[:, :, None] * w1v[:, None, :]).reshape(-1, n * n)).view(-1, n, n)
        hessian = hessian + ((jv * beta[:, None])[:, :, None] * jv[:, None]).sum(-1)  # + Jv^T diag(beta) Jv
        mixed = (alpha * da1) @ w1v + (jv * (beta * jq)[:, None]).sum(-1)  # (d2L/dq_dot dq) q_dot, times c
        hessian, mixed = hessian / (c * c), mixed / c
        gq = -sin * gz[:, :n] + cos * gz[:, n:] if self.config["periodic"] else gz
        eye = torch.eye(n, dtype=s.dtype, device=s.device)
        return hessian + self.config["kinetic_prior"] * eye, gq - mixed

    def time_derivative(self, s: torch.Tensor) -> torch.Tensor:
        """``ds/dt = (q_dot, q_ddot)``: tensor ``(..., 2N)`` -> ``(..., 2N)``."""
        s = self._check(s)
        n = s.shape[-1] // 2
        return torch.cat([s[..., n:], self.acceleration(s)], -1)

    def energy(self, s: torch.Tensor) -> torch.Tensor:
        """The learned energy ``E_theta = q_dot . dL_theta/dq_dot - L_theta``, conserved by the LNN's flow: ``(..., 2N)`` -> ``(...)``."""
        s = self._check(s)
        n = s.shape[-1] // 2
        flat = s.reshape(-1, s.shape[-1])
        grad = vmap(jacrev(self._single))(flat)
        e = (flat[:, n:] * grad[:, n:]).sum(-1) - vmap(self._single)(flat)
        return e.reshape(s.shape[:-1])


class MechanicalLNN(_DynamicsModel):
    """A Lagrangian NN restricted to mechanical Lagrangians ``L = q_dot^T M_theta(q) q_dot / 2 - V_theta(q)``.

    The form of Deep Lagrangian Networks (Lutter, Ritter & Peters, ICLR 2019): one MLP of the
    coordinates ``q`` alone gives a lower-triangular ``C(q)`` (its diagonal through a softplus,
    plus ``min_diagonal``) and the potential ``V_theta(q)``; the mass matrix ``M = C C^T`` is
    symmetric positive definite at every ``q`` by construction, so the Euler-Lagrange equation
    (LNN paper, Eq. 6) always has a unique acceleration::

        M q_ddot = dL/dq - (dM/dt) q_dot,   dL/dq_k = q_dot^T (dM/dq_k) q_dot / 2 - dV/dq_k

    It assumes what the LNN paper's general ``L_theta(q, q_dot)`` does not: a kinetic energy
    quadratic in the velocities. Every mechanical system (rigid bodies, pendulums, linkages, in
    any coordinates) has one; a relativistic particle does not.

    :meth:`acceleration` computes ``dM/dq_k`` and ``dV/dq_k`` by forward-mode differentiation of
    the MLP in each coordinate (``N`` tangents through two batched products), then solves with
    the Cholesky factor ``C``: no Hessian of a network, no ``vmap``. ``method="func"`` gives the
    same numbers by :func:`euler_lagrange` on :meth:`lagrangian` (tested).

    Parameters
    ----------
    input_dim : int
        ``2 N``: the coordinates ``q``, then the velocities ``q_dot``.
    hidden_dim : int
        Hidden units of the three-layer MLP.
    nonlinearity : {"tanh", "softplus"}
        Default tanh.
    bias_init : {"torch", "zeros"}
        See :class:`hnnlib.models.MLP`.
    periodic : bool
        If True, each ``q_i`` enters the network as ``(cos q_i, sin q_i)`` (angles).
    potential_scale : float
        ``V_theta`` is the MLP's last output times this (J), so that the output is of order one.
    min_diagonal : float
        Added to the softplus of ``C``'s diagonal: ``C`` is invertible with diagonal entries of at
        least this (units of ``sqrt(M)``).
    """

    def __init__(self, input_dim: int, hidden_dim: int = 128, nonlinearity: str = "tanh", bias_init: str = "torch",
                 periodic: bool = False, potential_scale: float = 1.0, min_diagonal: float = 0.1):
        super().__init__(input_dim, hidden_dim, nonlinearity, bias_init)
        if input_dim % 2:
            raise ValueError(f"a MechanicalLNN needs an even input_dim (q and q_dot), got {input_dim}")
        if nonlinearity not in ("tanh", "softplus"):
            raise ValueError(f"a MechanicalLNN needs a differentiable nonlinearity, 'tanh' or 'softplus', got {nonlinearity!r}")
        if not isinstance(periodic, bool):
            raise TypeError(f"periodic must be True or False, got {periodic!r}")
        potential_scale = check_finite_number(potential_scale, "potential_scale", minimum=0.0)
        min_diagonal = check_finite_number(min_diagonal, "min_diagonal", minimum=0.0)
        self.config.update(periodic=periodic, potential_scale=potential_scale, min_diagonal=min_diagonal)
        n = input_dim // 2
        self.mlp = MLP(2 * n if periodic else n, hidden_dim, n * (n + 1) // 2 + 1, nonlinearity, bias_init)
        rows, cols = torch.tril_indices(n, n)
        self.register_buffer("_rows", rows, persistent=False)
        self.register_buffer("_cols", cols, persistent=False)

    def _parts(self, q: torch.Tensor, tangents: bool) -> tuple[torch.Tensor, ...]:
        """``C`` ``(B, N, N)`` and ``V`` ``(B,)`` at coordinates ``q`` ``(B, N)``; with ``tangents``, also
        ``dC/dq_k`` ``(B, N, N, N)`` (k on axis 1) and ``dV/dq`` ``(B, N)``, by forward mode."""
        n = q.shape[-1]
        first, _, second, _, last = self.mlp.net
        if self.config["periodic"]:
            cos, sin = torch.cos(q), torch.sin(q)
            z = torch.cat([cos, sin], -1)
        else:
            z = q
        tanh = self.config["nonlinearity"] == "tanh"
        a1 = torch.addmm(first.bias, z, first.weight.t())
        h1 = torch.tanh(a1) if tanh else torch.nn.functional.softplus(a1)
        a2 = torch.addmm(second.bias, h1, second.weight.t())
        h2 = torch.tanh(a2) if tanh else torch.nn.functional.softplus(a2)
        out = torch.addmm(last.bias, h2, last.weight.t())
        c = out[:, :-1]
        diagonal = self._rows == self._cols
        entries = torch.where(diagonal, torch.nn.functional.softplus(c) + self.config["min_diagonal"], c)
        chol = self._lower(entries, n)
        potential = out[:, -1] * self.config["potential_scale"]
        if not tangents:
            return chol, potential
        # d a1 / d q_k: the columns of W1 that q_k enters through, (B, k, H)
        w1 = first.weight.t()  # (F, H)
        if self.config["periodic"]:
            da1 = cos[:, :, None] * w1[n:] - sin[:, :, None] * w1[:n]
        else:
            da1 = w1.expand(q.shape[0], n, w1.shape[1])
        f1 = torch.rsub(h1 * h1, 1) if tanh else torch.sigmoid(a1)
        f2 = torch.rsub(h2 * h2, 1) if tanh else torch.sigmoid(a2)
        dh1 = f1[:, None] * da1  # (B, k, H)
        dh2 = f2[:, None] * (dh1 @ second.weight.t())
        dout = dh2 @ last.weight.t()  # (B, k, P)
        dentries = torch.where(diagonal, torch.sigmoid(c)[:, None] * dout[..., :-1], dout[..., :-1])
        dchol = self._lower(dentries, n)
        return chol, potential, dchol, dout[..., -1] * self.config["potential_scale"]

    def _lower(self, entries: torch.Tensor, n: int) -> torch.Tensor:
        """Lower-triangular ``(..., N, N)`` matrices from their ``N (N + 1) / 2`` entries ``(..., P)``."""
        out = entries.new_zeros(*entries.shape[:-1], n * n)
        return out.index_copy(-1, self._rows * n + self._cols, entries).reshape(*entries.shape[:-1], n, n)

    def mass_matrix(self, q: torch.Tensor) -> torch.Tensor:
        """``M_theta(q) = C C^T``, shape ``(..., N, N)``, for states ``(..., 2N)``."""
        s = self._check(q)
        n = s.shape[-1] // 2
        chol, _ = self._parts(s.reshape(-1, 2 * n)[:, :n], False)
        return (chol @ chol.transpose(-1, -2)).reshape(*s.shape[:-1], n, n)

    def lagrangian(self, s: torch.Tensor) -> torch.Tensor:
        """The learned ``L_theta = q_dot^T M_theta q_dot / 2 - V_theta``: tensor ``(..., 2N)`` -> ``(...)``."""
        s = self._check(s)
        return self._energies(s, sign=-1.0)

    def energy(self, s: torch.Tensor) -> torch.Tensor:
        """The learned energy ``E_theta = q_dot^T M_theta q_dot / 2 + V_theta``, conserved by the flow: ``(..., 2N)`` -> ``(...)``."""
        s = self._check(s)
        return self._energies(s, sign=1.0)

    def _energies(self, s: torch.Tensor, sign: float) -> torch.Tensor:
        n = s.shape[-1] // 2
        flat = s.reshape(-1, 2 * n)
        chol, potential = self._parts(flat[:, :n], False)
        w = (chol.transpose(-1, -2) @ flat[:, n:, None])[..., 0]  # C^T q_dot
        return (0.5 * w.pow(2).sum(-1) + sign * potential).reshape(s.shape[:-1])

    def _single(self, s: torch.Tensor) -> torch.Tensor:
        return self._energies(s[None], sign=-1.0)[0]

    def acceleration(self, s: torch.Tensor, method: str = "fused") -> torch.Tensor:
        """``q_ddot`` from the Euler-Lagrange equation of ``L_theta``: ``(..., 2N)`` -> ``(..., N)``.

        Parameters
        ----------
        s : torch.Tensor, shape (..., 2N)
        method : {"fused", "func"}
            ``"fused"`` (default): forward-mode derivatives of ``C`` and ``V`` and two triangular
            solves. ``"func"``: :func:`euler_lagrange` on :meth:`lagrangian` (slower; equal to
            round-off, tested).
        """
        s = self._check(s)
        if method == "func":
            return euler_lagrange(self._single, s)
        if method != "fused":
            raise ValueError(f"method must be 'fused' or 'func', got {method!r}")
        return self._fused_acceleration(s)

    def _fused_acceleration(self, s: torch.Tensor) -> torch.Tensor:
        n = s.shape[-1] // 2
        flat = s.reshape(-1, 2 * n)
        q, v = flat[:, :n], flat[:, n:]
        chol, _, dchol, dpotential = self._parts(q, True)
        w = (chol.transpose(-1, -2) @ v[:, :, None])[..., 0]  # C^T v, (B, N)
        dw = (dchol.transpose(-1, -2) @ v[:, None, :, None])[..., 0]  # dC_k^T v, (B, k, N)
        dl_dq = (w[:, None] * dw).sum(-1) - dpotential  # v^T dM_k v / 2 - dV_k
        # (dM/dt) v = sum_k v_k (dC_k w + C dw_k)
        mdot_v = (v[:, :, None] * ((dchol @ w[:, None, :, None])[..., 0] + (chol[:, None] @ dw[..., None])[..., 0])).sum(1)
        rhs = (dl_dq - mdot_v)[..., None]
        y = torch.linalg.solve_triangular(chol, rhs, upper=False)
        acc = torch.linalg.solve_triangular(chol.transpose(-1, -2), y, upper=True)[..., 0]
        return acc.reshape(*s.shape[:-1], n)

    def time_derivative(self, s: torch.Tensor) -> torch.Tensor:
        """``ds/dt = (q_dot, q_ddot)``: tensor ``(..., 2N)`` -> ``(..., 2N)``."""
        s = self._check(s)
        n = s.shape[-1] // 2
        return torch.cat([s[..., n:], self._fused_acceleration(s)], -1)
