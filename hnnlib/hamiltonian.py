"""Hamilton's equations as code: the symplectic gradient (paper Eq. 2) and the Riemann gradient.

States are laid out as ``x = (q_1, ..., q_N, p_1, ..., p_N)`` on the last axis, so a system with
``N`` degrees of freedom has ``2 N`` phase-space coordinates. Every function here is batched over
any leading axes.
"""

from __future__ import annotations

import torch

from ._checks import as_state_tensor
from ._typing import ScalarField, VectorField


def split_state(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split states ``(..., 2N)`` into positions ``q`` and momenta ``p``, each ``(..., N)``."""
    if x.shape[-1] % 2:
        raise ValueError(f"states must have an even last axis (q and p), got shape {tuple(x.shape)}")
    n = x.shape[-1] // 2
    return x[..., :n], x[..., n:]


def symplectic_from_gradient(grad_h: torch.Tensor) -> torch.Tensor:
    """Turn ``dH/dx = (dH/dq, dH/dp)`` into the symplectic gradient ``S_H = (dH/dp, -dH/dq)``.

    This is Hamilton's equations (paper Eq. 2): ``dq/dt = dH/dp``, ``dp/dt = -dH/dq``.

    Parameters
    ----------
    grad_h : torch.Tensor, shape (..., 2N)

    Returns
    -------
    torch.Tensor, shape (..., 2N)
    """
    dh_dq, dh_dp = split_state(grad_h)
    return torch.cat([dh_dp, -dh_dq], dim=-1)


def gradient(hamiltonian: ScalarField, x: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
    """Gradient ``dH/dx`` of a batched scalar field by autograd.

    Parameters
    ----------
    hamiltonian : callable
        Maps states ``(..., 2N)`` to energies ``(...)`` (or ``(..., 1)``).
    x : torch.Tensor, shape (..., 2N)
    create_graph : bool
        Keep the graph of the gradient so a loss on it can be differentiated again (training).

    Returns
    -------
    torch.Tensor, shape (..., 2N)
    """
    x = as_state_tensor(x, None)
    with torch.enable_grad():
        if not x.requires_grad:
            x = x.detach().requires_grad_(True)
        h = hamiltonian(x)
        if h.shape not in (x.shape[:-1], x.shape[:-1] + (1,)):
            raise ValueError(
                f"the Hamiltonian must map states {tuple(x.shape)} to energies of shape "
                f"{tuple(x.shape[:-1])}, got {tuple(h.shape)}"
            )
        (grad_h,) = torch.autograd.grad(h.sum(), x, create_graph=create_graph)
    return grad_h


def symplectic_gradient(hamiltonian: ScalarField, x: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
    """Symplectic gradient ``S_H(x) = (dH/dp, -dH/dq)`` of a scalar field (paper Eq. 2).

    Moving along ``S_H`` keeps ``H`` constant: ``dH/dt = grad(H) . S_H = 0`` for every ``H``.

    Parameters
    ----------
    hamiltonian : callable
        Maps states ``(..., 2N)`` to energies ``(...)``.
    x : torch.Tensor, shape (..., 2N)
    create_graph : bool
        Keep the graph (needed when ``S_H`` enters a training loss).

    Returns
    -------
    torch.Tensor, shape (..., 2N)
        The time derivative ``dx/dt`` that Hamilton's equations assign to ``x``.
    """
    return symplectic_from_gradient(gradient(hamiltonian, x, create_graph))


def riemann_gradient(hamiltonian: ScalarField, x: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
    """Riemann (ordinary) gradient ``R_H(x) = (dH/dq, dH/dp)``: the direction in which ``H`` grows fastest.

    Paper Section 6 integrates along it to add (or, reversed, remove) energy.

    Parameters
    ----------
    hamiltonian : callable
        Maps states ``(..., 2N)`` to energies ``(...)``.
    x : torch.Tensor, shape (..., 2N)

    Returns
    -------
    torch.Tensor, shape (..., 2N)
    """
    return gradient(hamiltonian, x, create_graph)


def divergence(field: VectorField, x: torch.Tensor) -> torch.Tensor:
    """Divergence ``div f = sum_i df_i/dx_i`` of a vector field at states ``x``, by autograd.

    Liouville's theorem: the symplectic gradient of any ``H`` has zero divergence, so a
    Hamiltonian flow keeps phase-space volume (paper Section 6); a Riemann gradient does not.
    One backward pass per coordinate.

    Parameters
    ----------
    field : callable
        Maps states ``(n, D)`` to time derivatives ``(n, D)``, differentiably.
    x : torch.Tensor, shape (n, D)

    Returns
    -------
    torch.Tensor, shape (n,)
    """
    x = as_state_tensor(x, None, "x")
    if x.ndim != 2:
        raise ValueError(f"x must have shape (n, D), got {tuple(x.shape)}")
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        f = field(x)
        if f.shape != x.shape:
            raise ValueError(f"the field must map states {tuple(x.shape)} to derivatives of the same shape, got {tuple(f.shape)}")
        dim = x.shape[1]
        parts = [torch.autograd.grad(f[:, i].sum(), x, retain_graph=i < dim - 1)[0][:, i] for i in range(dim)]
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total.detach()
