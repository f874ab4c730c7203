"""One-step integrators for training on observed trajectories: batched, differentiable torch.

Every stepper here has the signature ``step(field_or_model, x, h) -> x_next``: states ``x`` of shape
``(B, D)``, a step ``h > 0`` (a Python float, in the system's time unit), and the states one step
later, shape ``(B, D)``. Each is written in plain torch operations, so a loss on ``x_next``
back-propagates into the model's weights (and into ``x``): this is how a model is trained *through*
an integrator on observed states, without time derivatives.

- :func:`euler`: explicit Euler. Fixed step. Order 1.
- :func:`rk2`: explicit midpoint rule (RK2). Fixed step. Order 2.
- :func:`rk4`: classical Runge-Kutta. Fixed step. Order 4.
- :func:`leapfrog`: Stormer-Verlet for a separable ``H = T(p) + V(q)``, the SRNN integrator (Chen et
  al. 2020). Explicit. Symplectic. Fixed step. Order 2.
- :func:`implicit_midpoint`: for any Hamiltonian field. Implicit. Symplectic. Fixed step. Order 2.
- :func:`discrete_gradient_step`: DGNet's Eq. 6 (Matsubara, Ishikawa & Yaguchi, NeurIPS 2020),
  ``(x' - x) / h = S grad_bar H(x, x')``. Implicit. Conserves ``H`` exactly. Fixed step. Order 2.
- :func:`discrete_gradient`: the discrete gradient ``grad_bar H(x, x')`` itself, by DGNet's
  *automatic discrete differentiation* for the book's MLPs and by Gonzalez's midpoint formula for
  any other ``H``.
- :func:`rollout`: ``k`` steps of any stepper, kept in one differentiable graph.

The *field_or_model* argument is what the step needs: the explicit Runge-Kutta steps take any
vector field ``f(x) -> dx/dt`` (a callable, or a model or a system with ``time_derivative``);
:func:`leapfrog` needs a separable model (:class:`~hnnlib.models.SeparableHNN`, a separable
:class:`~hnnlib.systems.HamiltonianSystem`, or a :class:`SeparableField`); the discrete gradient
step needs a Hamiltonian (an :class:`~hnnlib.models.HNN`, a ``SeparableHNN``, a system, or a
:class:`ScalarHamiltonian`).

The implicit steps are solved by fixed-point iteration (a contraction for ``h`` small enough,
which the error message says when it fails), started from an RK2 step, to a relative ``tol``;
their gradient is the exact implicit-function gradient, computed in the backward pass by a second
fixed-point iteration on the adjoint, not by differentiating through the iterations.

Each stepper carries its properties as attributes: ``order``, ``symplectic``,
``conserves_energy`` and ``explicit`` (tested in ``tests/test_steppers.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from ._checks import NonFiniteError, all_finite, as_state_tensor, check_finite_number, check_positive_int
from ._typing import ScalarField, VectorField
from .hamiltonian import gradient, split_state, symplectic_from_gradient
from .models import HNN, MLP, SeparableHNN
from .systems import HamiltonianSystem, MassSpring, NBody, Pendulum

__all__ = [
    "STEPPERS", "ScalarHamiltonian", "SeparableField", "as_separable", "discrete_gradient", "discrete_gradient_step",
    "euler", "get_stepper", "implicit_midpoint", "leapfrog", "mlp_discrete_gradient", "rk2", "rk4", "rollout",
    "vector_field",
]

Stepper = Callable[..., torch.Tensor]

#: Systems of :mod:`hnnlib.systems` whose Hamiltonian is ``T(p) + V(q)``.
SEPARABLE_SYSTEMS: tuple[type[HamiltonianSystem], ...] = (MassSpring, Pendulum, NBody)


def _properties(*, order: int, symplectic: bool, conserves_energy: bool, explicit: bool) -> Callable[[Stepper], Stepper]:
    def mark(step: Stepper) -> Stepper:
        step.order, step.symplectic = order, symplectic
        step.conserves_energy, step.explicit = conserves_energy, explicit
        return step

    return mark


# -- input checks ------------------------------------------------------------------------------


def _check_step(x: Any, h: Any) -> tuple[torch.Tensor, float]:
    """``x`` as a finite floating tensor of shape ``(B, D)``, ``h`` as a finite float > 0."""
    x = as_state_tensor(x, None, "x")
    if x.ndim != 2:
        raise ValueError(f"x must have shape (B, D): a batch of states, got shape {tuple(x.shape)}")
    if isinstance(h, torch.Tensor) and h.numel() == 1:
        h = float(h)
    return x, check_finite_number(h, "the time step h", minimum=0.0, strict=True)


def _field_call(f: VectorField, x: torch.Tensor, name: str) -> torch.Tensor:
    dx = f(x)
    if not isinstance(dx, torch.Tensor) or dx.shape != x.shape:
        got = tuple(dx.shape) if hasattr(dx, "shape") else type(dx).__name__
        raise ValueError(f"the vector field {name} must map states {tuple(x.shape)} to derivatives of the same shape, got {got}")
    return dx


def vector_field(field_or_model: Any) -> VectorField:
    """The vector field ``x -> dx/dt`` of a model, a system, or a callable.

    Anything with a ``time_derivative`` method (a :class:`~hnnlib.models.BaselineNN`, an HNN, a
    system) gives that method; a plain callable is taken as the field itself.

    Raises
    ------
    TypeError
        If ``field_or_model`` is neither.
    """
    method = getattr(field_or_model, "time_derivative", None)
    if callable(method):
        return method
    if callable(field_or_model):
        return field_or_model
    raise TypeError(
        "expected a vector field: a callable x -> dx/dt on states (B, D), or a model or system with a "
        f"time_derivative(x) method, got {type(field_or_model).__name__}"
    )


def _name(obj: Any) -> str:
    return getattr(obj, "__qualname__", None) or type(obj).__name__


# -- explicit Runge-Kutta steps ----------------------------------------------------------------


@_properties(order=1, symplectic=False, conserves_energy=False, explicit=True)
def euler(field_or_model: Any, x: torch.Tensor, h: float) -> torch.Tensor:
    """Explicit Euler: ``x' = x + h f(x)``.

    Explicit. Fixed step. Order 1. Not symplectic: on the mass-spring its energy grows by the
    factor ``1 + (omega h)^2`` every step. One call of ``f``.

    Parameters
    ----------
    field_or_model : callable or model
        Vector field ``(B, D) -> (B, D)``, or anything with ``time_derivative`` (see :func:`vector_field`).
    x : torch.Tensor, shape (B, D)
    h : float
        Time step, > 0.

    Returns
    -------
    torch.Tensor, shape (B, D)
    """
    f, (x, h) = vector_field(field_or_model), _check_step(x, h)
    return x + h * _field_call(f, x, _name(f))


@_properties(order=2, symplectic=False, conserves_energy=False, explicit=True)
def rk2(field_or_model: Any, x: torch.Tensor, h: float) -> torch.Tensor:
    """Explicit midpoint rule (RK2): ``x' = x + h f(x + h f(x) / 2)``.

    Explicit. Fixed step. Order 2. Not symplectic. Two calls of ``f``. DGNet's "RK2" (torchdiffeq's
    ``midpoint``), with which DGNet trains and evaluates its NODE and HNN++ baselines.

    Parameters
    ----------
    field_or_model : callable or model
        Vector field ``(B, D) -> (B, D)``, or anything with ``time_derivative``.
    x : torch.Tensor, shape (B, D)
    h : float
        Time step, > 0.

    Returns
    -------
    torch.Tensor, shape (B, D)
    """
    f, (x, h) = vector_field(field_or_model), _check_step(x, h)
    name = _name(f)
    k1 = _field_call(f, x, name)
    return x + h * _field_call(f, x + (0.5 * h) * k1, name)


@_properties(order=4, symplectic=False, conserves_energy=False, explicit=True)
def rk4(field_or_model: Any, x: torch.Tensor, h: float) -> torch.Tensor:
    """Classical Runge-Kutta: four stages, weights ``(1, 2, 2, 1) / 6``.

    Explicit. Fixed step. Order 4. Not symplectic: its energy error drifts, slowly. Four calls of ``f``.

    Parameters
    ----------
    field_or_model : callable or model
        Vector field ``(B, D) -> (B, D)``, or anything with ``time_derivative``.
    x : torch.Tensor, shape (B, D)
    h : float
        Time step, > 0.

    Returns
    -------
    torch.Tensor, shape (B, D)
    """
    f, (x, h) = vector_field(field_or_model), _check_step(x, h)
    name = _name(f)
    k1 = _field_call(f, x, name)
    k2 = _field_call(f, x + (0.5 * h) * k1, name)
    k3 = _field_call(f, x + (0.5 * h) * k2, name)
    k4 = _field_call(f, x + h * k3, name)
    return x + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)


# -- leapfrog for separable Hamiltonians -------------------------------------------------------


@dataclass(frozen=True)
class SeparableField:
    """The two halves of a separable Hamiltonian field ``H = T(p) + V(q)``.

    Attributes
    ----------
    velocity : callable
        ``p (B, N) -> dq/dt = dT/dp (B, N)``.
    force : callable
        ``q (B, N) -> dp/dt = -dV/dq (B, N)``.
    """

    velocity: Callable[[torch.Tensor], torch.Tensor]
    force: Callable[[torch.Tensor], torch.Tensor]


def _system_halves(system: HamiltonianSystem) -> SeparableField:
    """``velocity`` and ``force`` of a separable system, read from its field with the other half at zero."""

    def velocity(p: torch.Tensor) -> torch.Tensor:
        return system.time_derivative(torch.cat([torch.zeros_like(p), p], dim=-1))[..., : p.shape[-1]]

    def force(q: torch.Tensor) -> torch.Tensor:
        return system.time_derivative(torch.cat([q, torch.zeros_like(q)], dim=-1))[..., q.shape[-1]:]

    return SeparableField(velocity, force)


def as_separable(model: Any) -> SeparableField | SeparableHNN:
    """The separable halves ``velocity(p)`` and ``force(q)`` of ``model``, or a clear error.

    Accepted: a :class:`~hnnlib.models.SeparableHNN`, a :class:`SeparableField`, anything with
    ``velocity`` and ``force`` methods, or one of the separable systems (:data:`SEPARABLE_SYSTEMS`).

    Raises
    ------
    TypeError
        For anything else: an :class:`~hnnlib.models.HNN` (its ``H_theta(q, p)`` couples ``q`` and
        ``p``), a baseline, a plain callable, a non-separable system.
    """
    if callable(getattr(model, "velocity", None)) and callable(getattr(model, "force", None)):
        return model
    if isinstance(model, SEPARABLE_SYSTEMS):
        return _system_halves(model)
    raise TypeError(
        f"leapfrog needs a separable Hamiltonian H = T(p) + V(q): a SeparableHNN, a SeparableField(velocity, force) "
        f"or a separable system ({', '.join(c.__name__ for c in SEPARABLE_SYSTEMS)}), got {type(model).__name__}; "
        "for a general H (an HNN, say) use implicit_midpoint, discrete_gradient_step or rk4"
    )


@_properties(order=2, symplectic=True, conserves_energy=False, explicit=True)
def leapfrog(model: Any, x: torch.Tensor, h: float) -> torch.Tensor:
    """Stormer-Verlet (leapfrog), kick-drift-kick, for a separable ``H = T(p) + V(q)``.

    ``p_half = p + h/2 F(q)``, ``q' = q + h v(p_half)``, ``p' = p_half + h/2 F(q')`` with the
    velocity ``v = dT/dp`` and the force ``F = -dV/dq``. The integrator of SRNN (Chen, Zhang,
    Arjovsky & Bottou, "Symplectic recurrent neural networks", ICLR 2020).

    Explicit. Symplectic. Time-reversible. Fixed step. Order 2. Conserves a modified energy
    ``H + O(h^2)``, not ``H`` itself. Three calls of the model's halves (two forces, one velocity).

    Parameters
    ----------
    model : SeparableHNN, SeparableField or separable system
        See :func:`as_separable`.
    x : torch.Tensor, shape (B, 2N)
        States ``(q, p)``.
    h : float
        Time step, > 0.

    Returns
    -------
    torch.Tensor, shape (B, 2N)

    Raises
    ------
    TypeError
        If ``model`` is not separable (an :class:`~hnnlib.models.HNN`, say).
    """
    halves = as_separable(model)
    x, h = _check_step(x, h)
    q, p = split_state(x)
    p_half = p + (0.5 * h) * halves.force(q)
    q_next = q + h * halves.velocity(p_half)
    p_next = p_half + (0.5 * h) * halves.force(q_next)
    return torch.cat([q_next, p_next], dim=-1)


# -- fixed-point solves with implicit-function gradients ---------------------------------------


def _default_tol(dtype: torch.dtype) -> float:
    return 16 * torch.finfo(dtype).eps


def _converged(new: torch.Tensor, old: torch.Tensor, tol: float) -> bool:
    return bool(((new - old).abs() <= tol * (1 + old.abs())).all())


def solve_fixed_point(
    g: Callable[[torch.Tensor], torch.Tensor],
    y0: torch.Tensor,
    *,
    tol: float | None = None,
    max_iterations: int = 100,
    name: str = "the implicit step",
) -> torch.Tensor:
    """Solve ``y = g(y)`` by fixed-point iteration from ``y0``, with the implicit-function gradient.

    The iteration itself runs without a graph. When gradients are enabled, the returned ``y`` is
    ``g(y*)`` evaluated once more in-graph, and a hook on it replaces the incoming gradient ``v`` by
    ``(I - dg/dy)^{-T} v``, found by iterating ``u = v + (dg/dy)^T u``: the exact gradient of the
    solution with respect to everything ``g`` depends on (weights, the starting state), as for a
    deep equilibrium model, at the cost of one vector-Jacobian product per adjoint iteration.

    Parameters
    ----------
    g : callable
        ``(B, D) -> (B, D)``; a contraction near the solution.
    y0 : torch.Tensor, shape (B, D)
        Starting guess.
    tol : float, optional
        Stop when every entry changes by at most ``tol * (1 + |y|)``; default ``16 eps`` of the dtype.
    max_iterations : int
        Iterations allowed (for the solve and for the adjoint).
    name : str
        For error messages.

    Raises
    ------
    RuntimeError
        If the iteration diverges or does not converge in ``max_iterations`` (the step is too large
        for the fixed-point iteration to contract).
    """
    max_iterations = check_positive_int(max_iterations, "max_iterations")
    tol = _default_tol(y0.dtype) if tol is None else check_finite_number(tol, "tol", minimum=0.0, strict=True)
    hint = "use a smaller time step h, or a larger tol / max_iterations"
    with torch.no_grad():
        y = y0.detach()
        for _ in range(max_iterations):
            y_new = g(y)
            if not all_finite(y_new):
                raise RuntimeError(f"{name}: the fixed-point iteration diverged (NaN or inf); {hint}")
            if _converged(y_new, y, tol):
                y = y_new
                break
            y = y_new
        else:
            raise RuntimeError(f"{name}: the fixed-point iteration did not converge in {max_iterations} iterations; {hint}")
    if not torch.is_grad_enabled():
        return y
    out = g(y)  # in-graph: depends on the weights and the start state, not on y
    if not out.requires_grad:
        return out
    y_leaf = y.detach().requires_grad_(True)
    g_leaf = g(y_leaf)  # for the vector-Jacobian products (dg/dy)^T u

    def adjoint(v: torch.Tensor | None) -> torch.Tensor | None:
        if v is None:
            return None
        u = v
        for _ in range(max_iterations):
            (jtu,) = torch.autograd.grad(g_leaf, y_leaf, u, retain_graph=True)
            u_new = v + jtu
            if _converged(u_new, u, tol):
                return u_new
            u = u_new
        raise RuntimeError(f"{name}: the adjoint fixed-point iteration did not converge in {max_iterations} iterations; {hint}")

    out.register_hook(adjoint)
    return out


@_properties(order=2, symplectic=True, conserves_energy=False, explicit=False)
def implicit_midpoint(
    field_or_model: Any, x: torch.Tensor, h: float, *, tol: float | None = None, max_iterations: int = 100
) -> torch.Tensor:
    """Implicit midpoint rule: ``x' = x + h f((x + x') / 2)``.

    Implicit. Symplectic for a Hamiltonian field, also a non-separable one (a learned ``H_theta``).
    Time-symmetric. Fixed step. Order 2. Conserves quadratic invariants exactly (so ``H`` of the
    mass-spring), other ``H`` up to a bounded ``O(h^2)``. Solved by fixed-point iteration from an
    RK2 step (:func:`solve_fixed_point`), converging when ``h L / 2 < 1`` (``L``: ``f``'s Lipschitz constant).

    Parameters
    ----------
    field_or_model : callable or model
        Vector field ``(B, D) -> (B, D)``, or anything with ``time_derivative``.
    x : torch.Tensor, shape (B, D)
    h : float
        Time step, > 0.
    tol, max_iterations : optional
        Of the fixed-point iteration.

    Returns
    -------
    torch.Tensor, shape (B, D)

    Raises
    ------
    RuntimeError
        If the fixed-point iteration does not converge (the step is too large).
    """
    f, (x, h) = vector_field(field_or_model), _check_step(x, h)
    name = _name(f)
    with torch.no_grad():
        start = rk2(f, x.detach(), h)
    return solve_fixed_point(lambda y: x + h * _field_call(f, 0.5 * (x + y), name), start, tol=tol,
                             max_iterations=max_iterations, name=f"implicit_midpoint ({name})")


# -- discrete gradients ------------------------------------------------------------------------


@dataclass(frozen=True)
class ScalarHamiltonian:
    """Wraps a scalar function ``H(x)`` (states ``(B, D)`` -> ``(B,)``) as a Hamiltonian for the discrete gradient step."""

    function: ScalarField

    def hamiltonian(self, x: torch.Tensor) -> torch.Tensor:
        """``H(x)``: states ``(B, D)`` -> ``(B,)``."""
        return self.function(x)

    def time_derivative(self, x: torch.Tensor) -> torch.Tensor:
        """Hamilton's equations ``(dH/dp, -dH/dq)`` by autograd: ``(B, D)`` -> ``(B, D)``."""
        return symplectic_from_gradient(gradient(self.function, x, create_graph=torch.is_grad_enabled()))


def _tanh_difference_quotient(a: torch.Tensor, b: torch.Tensor, ta: torch.Tensor, tb: torch.Tensor) -> torch.Tensor:
    """``(tanh b - tanh a) / (b - a)``, elementwise, without cancellation; ``1 - tanh(a)^2`` at ``a = b``.

    Uses ``tanh b - tanh a = tanh(b - a) (1 - tanh a tanh b)``, so the quotient is
    ``(1 - tanh a tanh b) tanh(d) / d`` with ``d = b - a``, and ``tanh(d) / d`` is a series for small ``d``.
    """
    d = b - a
    small = d.abs() < 1e-2
    d_safe = torch.where(small, torch.ones_like(d), d)
    d2 = d * d
    series = 1 - d2 / 3 + (2 / 15) * d2 * d2 - (17 / 315) * d2 * d2 * d2
    tanhc = torch.where(small, series, torch.tanh(d_safe) / d_safe)
    return (1 - ta * tb) * tanhc


def _general_difference_quotient(kind: str, a: torch.Tensor, b: torch.Tensor, fa: torch.Tensor, fb: torch.Tensor) -> torch.Tensor:
    """``(f(b) - f(a)) / (b - a)`` for ReLU or softplus; the derivative at the midpoint where ``b`` and ``a`` nearly coincide.

    As DGNet does: where ``|b - a|`` is below ``eps^(1/3)`` of the dtype the quotient (round-off
    ``eps / |b - a|``) is replaced by ``f'((a + b) / 2)`` (error ``O(|b - a|^2)``), so ``H`` is then conserved to
    that order instead of exactly.
    """
    d = b - a
    small = d.abs() < torch.finfo(d.dtype).eps ** (1 / 3)
    d_safe = torch.where(small, torch.ones_like(d), d)
    mid = 0.5 * (a + b)
    slope = (mid > 0).to(d.dtype) if kind == "relu" else torch.sigmoid(mid)
    return torch.where(small, slope, (fb - fa) / d_safe)


def mlp_discrete_gradient(mlp: MLP, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Automatic discrete differentiation of the book's MLP (DGNet, Matsubara et al. 2020, Sec. 3.2).

    The network ``H(x) = w3 . s(W2 s(W1 x + b1) + b2) + b3`` is run forward at both states. Its
    backward pass is the ordinary chain rule with each elementwise derivative ``s'(a)`` replaced
    by the difference quotient ``(s(b) - s(a)) / (b - a)`` of the two pre-activations ``a``, ``b``
    (linear layers are their own discrete derivative). The product telescopes, so the result
    ``g`` satisfies the discrete chain rule exactly, ``H(y) - H(x) = g . (y - x)``; it is symmetric
    in ``x`` and ``y``, and ``g(x, x) = grad H(x)``. For tanh the quotient is computed without
    cancellation (:func:`_tanh_difference_quotient`).

    Parameters
    ----------
    mlp : MLP
        With one output.
    x, y : torch.Tensor, shape (B, D)

    Returns
    -------
    torch.Tensor, shape (B, D)
        The discrete gradient, differentiable in the weights, ``x`` and ``y``.
    """
    first, act1, second, act2, last = mlp.net
    if last.out_features != 1:
        raise ValueError(f"the discrete gradient needs a scalar MLP (one output), got {last.out_features} outputs")
    kind = next(k for k, cls in _NONLINEARITY_KINDS.items() if isinstance(act1, cls))
    a1, b1 = first(x), first(y)
    ha1, hb1 = act1(a1), act1(b1)
    a2, b2 = second(ha1), second(hb1)
    ha2, hb2 = act2(a2), act2(b2)
    if kind == "tanh":
        d1, d2 = _tanh_difference_quotient(a1, b1, ha1, hb1), _tanh_difference_quotient(a2, b2, ha2, hb2)
    else:
        d1, d2 = _general_difference_quotient(kind, a1, b1, ha1, hb1), _general_difference_quotient(kind, a2, b2, ha2, hb2)
    g2 = d2 * last.weight  # (B, H): dH/da2, discretely
    g1 = (g2 @ second.weight) * d1  # (B, H): dH/da1
    return g1 @ first.weight  # (B, D)


_NONLINEARITY_KINDS = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "softplus": torch.nn.Softplus}


def gonzalez_discrete_gradient(hamiltonian: ScalarField, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Gonzalez's midpoint discrete gradient of any differentiable ``H`` (Gonzalez 1996).

    ``g = grad H(m) + (H(y) - H(x) - grad H(m) . d) d / |d|^2`` with ``m = (x + y) / 2`` and ``d = y - x``:
    the gradient at the midpoint, corrected along ``d`` so that ``H(y) - H(x) = g . d`` exactly. For
    a quadratic ``H`` the correction vanishes and the discrete gradient step is the implicit midpoint rule.

    Parameters
    ----------
    hamiltonian : callable
        States ``(B, D)`` -> energies ``(B,)``.
    x, y : torch.Tensor, shape (B, D)

    Returns
    -------
    torch.Tensor, shape (B, D)
    """
    d = y - x
    grad_m = gradient(hamiltonian, 0.5 * (x + y), create_graph=torch.is_grad_enabled())
    residual = hamiltonian(y).reshape(-1) - hamiltonian(x).reshape(-1) - (grad_m * d).sum(-1)
    norm2 = (d * d).sum(-1)
    tiny = norm2 <= torch.finfo(d.dtype).tiny ** 0.5
    coefficient = torch.where(tiny, torch.zeros_like(norm2), residual / torch.where(tiny, torch.ones_like(norm2), norm2))
    return grad_m + coefficient[:, None] * d


def discrete_gradient(model: Any, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The discrete gradient ``grad_bar H(x, y)`` of a model's or a system's Hamiltonian.

    A discrete gradient satisfies ``H(y) - H(x) = grad_bar H(x, y) . (y - x)`` and
    ``grad_bar H(x, x) = grad H(x)`` (Gonzalez 1996; McLachlan, Quispel & Robidoux 1999).

    - :class:`~hnnlib.models.HNN`: automatic discrete differentiation of its MLP (:func:`mlp_discrete_gradient`).
    - :class:`~hnnlib.models.SeparableHNN`: the same for ``V(q)`` and ``T(p)`` apart, ``(grad_bar V, grad_bar T)``.
    - anything with its own ``discrete_gradient(x, y)`` method (:mod:`hnnlib.stacked`): that method.
    - anything else with a ``hamiltonian`` method (a system, a :class:`ScalarHamiltonian`): Gonzalez's
      formula (:func:`gonzalez_discrete_gradient`).

    Parameters
    ----------
    model : HNN, SeparableHNN, HamiltonianSystem or ScalarHamiltonian
    x, y : torch.Tensor, shape (B, D)

    Returns
    -------
    torch.Tensor, shape (B, D)

    Raises
    ------
    TypeError
        If ``model`` has no Hamiltonian (a baseline, a plain vector field).
    ValueError
        If ``x`` and ``y`` do not have one shape ``(B, D)``.
    """
    x, _ = _check_step(x, 1.0)
    y = as_state_tensor(y, x.shape[-1], "y")
    if y.shape != x.shape:
        raise ValueError(f"x and y must have the same shape (B, D), got {tuple(x.shape)} and {tuple(y.shape)}")
    if isinstance(model, HNN):
        return mlp_discrete_gradient(model.mlp, model._check(x), model._check(y))
    if isinstance(model, SeparableHNN):
        x, y = model._check(x), model._check(y)
        (qx, px), (qy, py) = split_state(x), split_state(y)
        return torch.cat([mlp_discrete_gradient(model.potential_mlp, qx, qy),
                          mlp_discrete_gradient(model.kinetic_mlp, px, py)], dim=-1)
    if callable(getattr(model, "discrete_gradient", None)):  # e.g. the stacked models of hnnlib.stacked
        return model.discrete_gradient(x, y)
    if callable(getattr(model, "hamiltonian", None)):
        return gonzalez_discrete_gradient(model.hamiltonian, x, y)
    raise TypeError(
        "the discrete gradient needs a Hamiltonian: an HNN, a SeparableHNN, a HamiltonianSystem or a "
        f"ScalarHamiltonian(H), got {type(model).__name__} (a vector field alone has no energy to conserve)"
    )


@_properties(order=2, symplectic=False, conserves_energy=True, explicit=False)
def discrete_gradient_step(
    model: Any, x: torch.Tensor, h: float, *, tol: float | None = None, max_iterations: int = 100
) -> torch.Tensor:
    """DGNet's discrete gradient step, Eq. 6 of Matsubara, Ishikawa & Yaguchi (NeurIPS 2020).

    Solves ``(x' - x) / h = S grad_bar H(x, x')`` for ``x'``, with ``S grad_bar = (grad_bar_p,
    -grad_bar_q)`` (Hamilton's equations with the discrete gradient, :func:`discrete_gradient`).
    Then ``H(x') - H(x) = grad_bar H . (x' - x) = h grad_bar H . S grad_bar H = 0``: the step conserves
    the model's ``H`` exactly, up to round-off and the solver's ``tol``.

    Implicit. Conserves ``H`` exactly. Not symplectic in general. Time-symmetric. Fixed step.
    Order 2 (the discrete gradients here are symmetric). Solved by fixed-point iteration from an
    RK2 step (:func:`solve_fixed_point`; DGNet's code uses SciPy's ``fsolve`` from the same start).
    Training does not need this solve: DGNet's loss uses both observed states (see
    :func:`hnnlib.trajectory_losses.discrete_gradient_loss`).

    Parameters
    ----------
    model : HNN, SeparableHNN, HamiltonianSystem or ScalarHamiltonian
        Something with a Hamiltonian (see :func:`discrete_gradient`).
    x : torch.Tensor, shape (B, 2N)
    h : float
        Time step, > 0.
    tol, max_iterations : optional
        Of the fixed-point iteration.

    Returns
    -------
    torch.Tensor, shape (B, 2N)

    Raises
    ------
    TypeError
        If ``model`` has no Hamiltonian.
    RuntimeError
        If the fixed-point iteration does not converge (the step is too large).
    """
    x, h = _check_step(x, h)
    if not callable(getattr(model, "hamiltonian", None)):
        discrete_gradient(model, x, x)  # raises the TypeError that names what is expected
    with torch.no_grad():
        start = rk2(vector_field(model), x.detach(), h)
    return solve_fixed_point(lambda y: x + h * symplectic_from_gradient(discrete_gradient(model, x, y)), start,
                             tol=tol, max_iterations=max_iterations, name=f"discrete_gradient_step ({type(model).__name__})")


# -- the registry and rollouts -----------------------------------------------------------------

#: The steppers by name (the names the experiments' configurations use).
STEPPERS: dict[str, Stepper] = {
    "euler": euler, "rk2": rk2, "rk4": rk4, "leapfrog": leapfrog,
    "implicit_midpoint": implicit_midpoint, "discrete_gradient": discrete_gradient_step,
}


def get_stepper(name: str) -> Stepper:
    """A stepper by name, one of :data:`STEPPERS` (a ValueError lists them otherwise)."""
    if not isinstance(name, str) or name not in STEPPERS:
        raise ValueError(f"unknown stepper {name!r}; expected one of {sorted(STEPPERS)}")
    return STEPPERS[name]


def rollout(stepper: Stepper | str, field_or_model: Any, x0: torch.Tensor, h: float, n_steps: int) -> torch.Tensor:
    """``n_steps`` steps of ``stepper`` from every state of ``x0``, in one differentiable graph.

    Parameters
    ----------
    stepper : callable or str
        A stepper of this module (or its name in :data:`STEPPERS`), or any ``step(model, x, h) -> x_next``.
    field_or_model : Any
        What the stepper takes.
    x0 : torch.Tensor, shape (B, D)
    h : float
        Time step, > 0.
    n_steps : int
        Steps, >= 1.

    Returns
    -------
    torch.Tensor, shape (B, n_steps + 1, D)
        ``x0`` first, then the state after each step.

    Raises
    ------
    NonFiniteError
        If a step gives NaN or inf; the message names the step and the trajectory.
    """
    step = get_stepper(stepper) if isinstance(stepper, str) else stepper
    if not callable(step):
        raise TypeError(f"stepper must be a callable step(model, x, h) or one of {sorted(STEPPERS)}, got {stepper!r}")
    x, h = _check_step(x0, h)
    n_steps = check_positive_int(n_steps, "n_steps")
    states = [x]
    for k in range(1, n_steps + 1):
        x = step(field_or_model, x, h)
        if not all_finite(x):
            finite = torch.isfinite(x).all(dim=-1)
            row = int(torch.nonzero(~finite)[0, 0])
            raise NonFiniteError(f"rollout: step {k} of {n_steps} ({_name(step)}, h = {h:g}) gave NaN or inf for trajectory {row}, "
                                 f"from the state {states[-1][row].detach().cpu().tolist()}")
        states.append(x)
    return torch.stack(states, dim=1)
