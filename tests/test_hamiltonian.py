"""Properties of the symplectic and Riemann gradients (paper Eq. 2) for random smooth Hamiltonians."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hnnlib.hamiltonian import (
    divergence,
    gradient,
    riemann_gradient,
    split_state,
    symplectic_from_gradient,
    symplectic_gradient,
)
from hnnlib.integrators import rk4, solve_ivp_rollout

F64 = torch.float64


def random_hamiltonian(kind: str, n_dof: int, seed: int):
    """A random smooth scalar field on ``2 n_dof`` coordinates, batched over leading axes.

    ``"trig"``: a random (indefinite) quadratic form plus random sine and cosine ridges.
    ``"mlp"``: a small random tanh MLP plus a weak quadratic term.
    """
    g = torch.Generator().manual_seed(seed)
    d = 2 * n_dof

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=F64)

    if kind == "trig":
        a = randn(d, d)
        a = (a + a.T) / 2
        w_sin, w_cos = randn(3, d), randn(3, d)
        c_sin, c_cos, phase = randn(3), randn(3), 2 * math.pi * torch.rand(3, generator=g, dtype=F64)

        def h(x):
            quad = 0.5 * torch.einsum("...i,ij,...j->...", x, a, x)
            return quad + (c_sin * torch.sin(x @ w_sin.T + phase)).sum(-1) + (c_cos * torch.cos(x @ w_cos.T)).sum(-1)

    else:
        hidden = 6
        w1, b1, w2, b2, w3 = randn(hidden, d), randn(hidden), randn(hidden, hidden) / 2, randn(hidden), randn(hidden)
        scale = 0.1 * torch.rand(1, generator=g, dtype=F64)

        def h(x):
            z = torch.tanh(torch.tanh(x @ w1.T + b1) @ w2.T + b2)
            return z @ w3 + scale[0] * (x**2).sum(-1)

    return h


hamiltonians = st.builds(
    random_hamiltonian,
    kind=st.sampled_from(["trig", "mlp"]),
    n_dof=st.integers(1, 3),
    seed=st.integers(0, 2**31 - 1),
)
coordinates = st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False)


@st.composite
def hamiltonian_and_states(draw, batch: int = 4):
    """A random Hamiltonian with its dimension, and a batch of states drawn by hypothesis."""
    n_dof = draw(st.integers(1, 3))
    h = random_hamiltonian(draw(st.sampled_from(["trig", "mlp"])), n_dof, draw(st.integers(0, 2**31 - 1)))
    values = draw(st.lists(coordinates, min_size=batch * 2 * n_dof, max_size=batch * 2 * n_dof))
    return h, torch.tensor(values, dtype=F64).reshape(batch, 2 * n_dof)


def omega(d: int) -> torch.Tensor:
    """The canonical symplectic matrix ``[[0, I], [-I, 0]]``: ``S_H = omega @ grad H``."""
    n = d // 2
    eye, zero = torch.eye(n, dtype=F64), torch.zeros(n, n, dtype=F64)
    return torch.cat([torch.cat([zero, eye], 1), torch.cat([-eye, zero], 1)], 0)


@given(hamiltonian_and_states(batch=1))
def test_symplectic_gradient_is_divergence_free(case):
    """The Jacobian of S_H has zero trace (Liouville: the Hamiltonian flow preserves volume)."""
    h, x = case
    jac = torch.autograd.functional.jacobian(lambda y: symplectic_gradient(h, y, create_graph=True), x[0])
    scale = 1.0 + jac.abs().max().item()
    assert abs(torch.trace(jac).item()) <= 1e-12 * scale


@given(hamiltonian_and_states(batch=1))
def test_symplectic_gradient_jacobian_is_a_hamiltonian_matrix(case):
    """d S_H / dx = omega @ Hess(H): omega^T times the Jacobian is the (symmetric) Hessian."""
    h, x = case
    jac = torch.autograd.functional.jacobian(lambda y: symplectic_gradient(h, y, create_graph=True), x[0])
    hess = torch.autograd.functional.hessian(h, x[0])
    om = omega(x.shape[-1])
    torch.testing.assert_close(om.T @ jac, hess, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(jac, om @ hess, rtol=1e-10, atol=1e-10)


@given(hamiltonian_and_states())
def test_symplectic_gradient_is_orthogonal_to_gradient(case):
    """grad H . S_H = 0, so dH/dt = 0 along the exact flow of S_H (for every H)."""
    h, x = case
    grad = riemann_gradient(h, x)
    flow = symplectic_gradient(h, x)
    dot = (grad * flow).sum(-1)
    assert torch.all(dot.abs() <= 1e-12 * (1.0 + (grad**2).sum(-1)))
    # and S_H is exactly omega @ grad H: same norm, coordinates swapped with one sign flipped
    torch.testing.assert_close(flow, grad @ omega(x.shape[-1]).T, rtol=0, atol=0)


@settings(max_examples=10)
@given(hamiltonian_and_states(batch=2))
def test_exact_flow_of_symplectic_gradient_conserves_h(case):
    """Integrating dx/dt = S_H tightly keeps H(x(t)) constant, for a random H."""
    h, x0 = case
    t = np.linspace(0.0, 0.5, 6)
    traj = solve_ivp_rollout(lambda x: symplectic_gradient(h, x), x0, t, rtol=1e-11, atol=1e-12, method="DOP853")
    energy = h(torch.as_tensor(traj))
    scale = 1.0 + energy.abs().max()
    assert torch.all((energy - energy[:, :1]).abs() <= 1e-7 * scale)


@given(hamiltonian_and_states())
def test_riemann_gradient_increases_h(case):
    """R_H = grad H: a small step along it raises H, and it is the steepest-ascent direction."""
    h, x = case
    grad = riemann_gradient(h, x)
    sq = (grad**2).sum(-1)
    mask = sq > 1e-4  # at (near-)critical points there is nothing to increase
    if not mask.any():
        return
    x, grad, sq = x[mask], grad[mask], sq[mask]
    # directional derivative of H along R_H is |grad H|^2 >= 0; a step of 1e-6 must show it
    eps = 1e-6 / (1.0 + sq.sqrt())[:, None]
    rise = h(x + eps * grad) - h(x)
    assert torch.all(rise > 0)
    torch.testing.assert_close(rise / eps[:, 0], sq, rtol=1e-3, atol=1e-8)
    # no unit direction rises faster than grad / |grad| (first order), e.g. not S_H
    flow = symplectic_gradient(h, x)
    flow_rate = (grad * flow).sum(-1) / (flow**2).sum(-1).sqrt().clamp_min(1e-300)
    assert torch.all(flow_rate < sq.sqrt())


@settings(max_examples=10)
@given(hamiltonian_and_states(batch=3))
def test_riemann_flow_increases_h_monotonically(case):
    """Following dx/dt = R_H (paper Section 6) adds energy: H never decreases along the path."""
    h, x0 = case
    traj = rk4(lambda x: riemann_gradient(h, x), x0, np.linspace(0.0, 0.02, 11))
    energy = h(traj)
    assert torch.all(torch.diff(energy, dim=1) >= -1e-12 * (1.0 + energy.abs()[:, 1:]))


def test_symplectic_gradient_of_known_hamiltonian():
    """For H = q^2 + p^2 (Task 1) S_H = (2p, -2q) and R_H = (2q, 2p), batched over leading axes."""
    x = torch.randn(3, 4, 2, dtype=F64)
    q, p = x[..., 0], x[..., 1]
    h = lambda y: y[..., 0] ** 2 + y[..., 1] ** 2  # noqa: E731
    torch.testing.assert_close(symplectic_gradient(h, x), torch.stack([2 * p, -2 * q], -1))
    torch.testing.assert_close(riemann_gradient(h, x), torch.stack([2 * q, 2 * p], -1))


def test_symplectic_gradient_two_degrees_of_freedom():
    """With N = 2 the layout is (q1, q2, p1, p2) and S_H = (dH/dp1, dH/dp2, -dH/dq1, -dH/dq2)."""
    x = torch.randn(5, 4, dtype=F64)
    h = lambda y: y[..., 0] * y[..., 3] + y[..., 1] ** 3 + 0.5 * y[..., 2] ** 2  # noqa: E731
    q1, q2, p1, p2 = x.unbind(-1)
    expected = torch.stack([p1, q1, -p2, -3 * q2**2], -1)
    torch.testing.assert_close(symplectic_gradient(h, x), expected)


def test_hamiltonian_may_return_trailing_singleton():
    """A Hamiltonian returning energies of shape (..., 1) (like an MLP) is accepted."""
    x = torch.randn(7, 2, dtype=F64)
    h = lambda y: (y**2).sum(-1, keepdim=True)  # noqa: E731
    assert symplectic_gradient(h, x).shape == (7, 2)


def test_create_graph_allows_second_derivatives():
    """With create_graph=True the symplectic gradient can be differentiated again (training)."""
    x = torch.randn(4, 2, dtype=F64, requires_grad=True)
    h = lambda y: (y**4).sum(-1)  # noqa: E731
    s = symplectic_gradient(h, x, create_graph=True)
    assert s.requires_grad
    (second,) = torch.autograd.grad(s[..., 0].sum(), x)  # d/dx of dH/dp = 4 p^3
    torch.testing.assert_close(second, torch.stack([torch.zeros(4, dtype=F64), 12 * x[:, 1].detach() ** 2], -1))


def test_no_graph_by_default():
    """Without create_graph the result is detached from x."""
    x = torch.randn(4, 2, dtype=F64)
    assert not symplectic_gradient(lambda y: (y**2).sum(-1), x).requires_grad


def test_wrong_energy_shape_raises():
    """A 'Hamiltonian' that does not return one energy per state is rejected with a clear message."""
    x = torch.randn(4, 2, dtype=F64)
    with pytest.raises(ValueError, match="energies of shape"):
        symplectic_gradient(lambda y: y**2, x)


def test_odd_dimension_raises():
    """States need an even last axis (q and p)."""
    with pytest.raises(ValueError, match="even"):
        symplectic_from_gradient(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="even"):
        split_state(torch.zeros(3))


def test_bad_states_raise():
    """NaN states and integer states are refused."""
    h = lambda y: (y**2).sum(-1)  # noqa: E731
    with pytest.raises(ValueError, match="NaN"):
        gradient(h, torch.tensor([[float("nan"), 0.0]]))
    with pytest.raises(TypeError, match="floating"):
        gradient(h, torch.tensor([[1, 2]]))


def test_divergence_of_a_linear_field_is_its_trace():
    a = torch.tensor([[0.5, 2.0, 0.0], [1.0, -1.5, 3.0], [0.0, 4.0, 0.25]], dtype=torch.float64)
    x = torch.randn(7, 3, dtype=torch.float64)
    div = divergence(lambda s: s @ a.T, x)
    assert div.shape == (7,)
    assert torch.allclose(div, torch.full((7,), float(a.trace()), dtype=torch.float64), atol=1e-12)


def test_divergence_of_a_symplectic_gradient_vanishes_and_of_a_riemann_gradient_does_not():
    """Liouville: a Hamiltonian flow keeps phase-space volume; the gradient flow of the same H does not."""
    def h(s):
        q, p = s[:, 0], s[:, 1]
        return q**4 + torch.sin(p) * q + p**2

    x = torch.randn(50, 2, dtype=torch.float64)
    assert divergence(lambda s: symplectic_gradient(h, s, create_graph=True), x).abs().max() < 1e-12
    assert divergence(lambda s: riemann_gradient(h, s, create_graph=True), x).abs().max() > 1e-3


def test_divergence_checks_shapes():
    with pytest.raises(ValueError, match=r"shape \(n, D\)"):
        divergence(lambda s: s, torch.zeros(3))
    with pytest.raises(ValueError, match="same shape"):
        divergence(lambda s: s[:, :1], torch.zeros(4, 2))
