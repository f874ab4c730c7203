"""Several independent models trained as one: weights stacked on a leading axis, evaluated by batched matmuls.

Training five seeds of a small MLP one after the other spends most of its time in Python and in
small kernels; stacked, the five run as one batched matrix product per layer. Each member sees
only its own rows: states are ``(S B, D)`` with rows ``s B .. (s + 1) B - 1`` belonging to member
``s``, so every stepper of :mod:`hnnlib.steppers` and every loss of :mod:`hnnlib.trajectory_losses`
works unchanged. With the loss summed over members (:func:`member_sum`), each member's gradient is
exactly the one it would get alone, and Adam (elementwise) then updates it exactly as alone: the
tests check that stacked and one-by-one training agree. :meth:`StackedHNN.unstack` gives the
trained members back as ordinary :class:`~hnnlib.models.HNN` (or ``SeparableHNN``) models.

Only the tanh MLP of :class:`~hnnlib.models.MLP` is supported.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ._checks import as_state_tensor
from .hamiltonian import split_state, symplectic_from_gradient
from .models import HNN, MLP, SeparableHNN
from .steppers import _tanh_difference_quotient

__all__ = ["StackedHNN", "StackedSeparableHNN", "member_sum", "stack"]


class _StackedMLP(nn.Module):
    """``S`` tanh MLPs ``in -> hidden -> hidden -> 1``, weights ``(S, in, out)``."""

    def __init__(self, mlps: Sequence[MLP]):
        super().__init__()
        layers = [[m.net[i] for m in mlps] for i in (0, 2, 4)]
        if not all(isinstance(m.net[1], nn.Tanh) for m in mlps):
            raise ValueError("stacked models support the tanh MLP only")
        self.w = nn.ParameterList([nn.Parameter(torch.stack([l.weight.detach().t() for l in layer])) for layer in layers])
        self.b = nn.ParameterList([nn.Parameter(torch.stack([l.bias.detach()[None] for l in layer])) for layer in layers])

    @property
    def members(self) -> int:
        return self.w[0].shape[0]

    def _grouped(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.shape[0]
        if x.ndim != 2 or rows % self.members:
            raise ValueError(f"stacked models take states (S B, D) with S = {self.members} members, got shape {tuple(x.shape)}")
        return x.reshape(self.members, rows // self.members, x.shape[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(S B, in) -> (S B,)``."""
        y = self._grouped(x)
        h1 = torch.tanh(torch.baddbmm(self.b[0], y, self.w[0]))
        h2 = torch.tanh(torch.baddbmm(self.b[1], h1, self.w[1]))
        return torch.baddbmm(self.b[2], h2, self.w[2]).reshape(-1)

    def input_gradient(self, x: torch.Tensor) -> torch.Tensor:
        """``d mlp / d x``, in-graph when gradients are enabled: ``(S B, in) -> (S B, in)``."""
        create_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            x_in = x if x.requires_grad else x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self(x_in).sum(), x_in, create_graph=create_graph)
        return grad

    def discrete_gradient(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Automatic discrete differentiation (as :func:`hnnlib.steppers.mlp_discrete_gradient`), batched over members."""
        xs, ys = self._grouped(x), self._grouped(y)
        a1, b1 = torch.baddbmm(self.b[0], xs, self.w[0]), torch.baddbmm(self.b[0], ys, self.w[0])
        ha1, hb1 = torch.tanh(a1), torch.tanh(b1)
        a2, b2 = torch.baddbmm(self.b[1], ha1, self.w[1]), torch.baddbmm(self.b[1], hb1, self.w[1])
        d2 = _tanh_difference_quotient(a2, b2, torch.tanh(a2), torch.tanh(b2))
        d1 = _tanh_difference_quotient(a1, b1, ha1, hb1)
        g2 = d2 * self.w[2].transpose(1, 2)  # (S, B, H)
        g1 = torch.bmm(g2, self.w[1].transpose(1, 2)) * d1
        return torch.bmm(g1, self.w[0].transpose(1, 2)).reshape(x.shape)

    def unstack(self, mlp: MLP, s: int) -> None:
        """Copy member ``s``'s weights into ``mlp``."""
        with torch.no_grad():
            for layer, w, b in zip((mlp.net[0], mlp.net[2], mlp.net[4]), self.w, self.b):
                layer.weight.copy_(w[s].t())
                layer.bias.copy_(b[s, 0])


def _check_members(models: Sequence[nn.Module], cls: type) -> list[nn.Module]:
    models = list(models)
    if not models or not all(type(m) is cls for m in models):
        raise TypeError(f"expected a non-empty list of {cls.__name__} models, got {[type(m).__name__ for m in models]}")
    if any(m.config != models[0].config for m in models):
        raise ValueError("stacked models must share one configuration")
    if models[0].config["nonlinearity"] != "tanh":
        raise ValueError("stacked models support the tanh MLP only")
    return models


class StackedHNN(nn.Module):
    """``S`` independent :class:`~hnnlib.models.HNN` models as one: states ``(S B, D)``, member ``s`` on rows ``s B ..``.

    Parameters
    ----------
    models : sequence of HNN
        Same configuration; their current weights are copied.
    """

    def __init__(self, models: Sequence[HNN]):
        super().__init__()
        models = _check_members(models, HNN)
        self.config = dict(models[0].config)
        self.mlp = _StackedMLP([m.mlp for m in models])

    @property
    def members(self) -> int:
        return self.mlp.members

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        return as_state_tensor(x, self.config["input_dim"], "x")

    def hamiltonian(self, x: torch.Tensor) -> torch.Tensor:
        """``(S B, D) -> (S B,)``."""
        return self.mlp(self._check(x))

    def time_derivative(self, x: torch.Tensor) -> torch.Tensor:
        """Each member's symplectic gradient on its rows: ``(S B, D) -> (S B, D)``."""
        return symplectic_from_gradient(self.mlp.input_gradient(self._check(x)))

    def discrete_gradient(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each member's discrete gradient on its rows: ``(S B, D), (S B, D) -> (S B, D)``."""
        return self.mlp.discrete_gradient(self._check(x), self._check(y))

    def unstack(self) -> list[HNN]:
        """The members as ordinary HNNs (new modules, weights copied), in eval mode."""
        out = []
        for s in range(self.members):
            model = HNN(**self.config).to(self.mlp.w[0].dtype)
            self.mlp.unstack(model.mlp, s)
            out.append(model.eval())
        return out


class StackedSeparableHNN(nn.Module):
    """``S`` independent :class:`~hnnlib.models.SeparableHNN` models as one (see :class:`StackedHNN`)."""

    def __init__(self, models: Sequence[SeparableHNN]):
        super().__init__()
        models = _check_members(models, SeparableHNN)
        self.config = dict(models[0].config)
        self.potential_mlp = _StackedMLP([m.potential_mlp for m in models])
        self.kinetic_mlp = _StackedMLP([m.kinetic_mlp for m in models])

    @property
    def members(self) -> int:
        return self.potential_mlp.members

    def _check(self, x: torch.Tensor, dim: int, name: str) -> torch.Tensor:
        return as_state_tensor(x, dim, name)

    def hamiltonian(self, x: torch.Tensor) -> torch.Tensor:
        q, p = split_state(self._check(x, self.config["input_dim"], "x"))
        return self.potential_mlp(q) + self.kinetic_mlp(p)

    def velocity(self, p: torch.Tensor) -> torch.Tensor:
        """``dT/dp`` per member: ``(S B, N) -> (S B, N)``."""
        return self.kinetic_mlp.input_gradient(self._check(p, self.config["input_dim"] // 2, "p"))

    def force(self, q: torch.Tensor) -> torch.Tensor:
        """``-dV/dq`` per member: ``(S B, N) -> (S B, N)``."""
        return -self.potential_mlp.input_gradient(self._check(q, self.config["input_dim"] // 2, "q"))

    def time_derivative(self, x: torch.Tensor) -> torch.Tensor:
        q, p = split_state(self._check(x, self.config["input_dim"], "x"))
        return torch.cat([self.velocity(p), self.force(q)], dim=-1)

    def discrete_gradient(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        (qx, px), (qy, py) = split_state(x), split_state(y)
        return torch.cat([self.potential_mlp.discrete_gradient(qx, qy), self.kinetic_mlp.discrete_gradient(px, py)], dim=-1)

    def unstack(self) -> list[SeparableHNN]:
        out = []
        for s in range(self.members):
            model = SeparableHNN(**self.config).to(self.potential_mlp.w[0].dtype)
            self.potential_mlp.unstack(model.potential_mlp, s)
            self.kinetic_mlp.unstack(model.kinetic_mlp, s)
            out.append(model.eval())
        return out


def stack(models: Sequence[nn.Module]) -> StackedHNN | StackedSeparableHNN:
    """Stack HNNs (or SeparableHNNs) of one configuration into one batched model."""
    first = next(iter(models), None)
    if isinstance(first, SeparableHNN):
        return StackedSeparableHNN(models)
    return StackedHNN(models)


def member_sum(loss_mean: torch.Tensor, members: int) -> torch.Tensor:
    """A mean over all ``S B`` rows times ``S``: the sum of the members' own mean losses, so each gets its own gradient."""
    return loss_mean * members
