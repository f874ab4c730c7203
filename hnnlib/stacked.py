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
from .models import _ONE, HNN, MLP, SeparableHNN
from .steppers import _tanh_difference_quotient

__all__ = ["StackedHNN", "StackedSeparableHNN", "StackedTanhMLPGradient", "member_sum", "stack"]


def _stacked_tanh_gradient(x, w1, b1, w2, b2, w3):
    """The value of :class:`StackedTanhMLPGradient`, without a graph: ``(S, B, D) -> (S, B, D)``."""
    h1 = torch.baddbmm(b1, x, w1).tanh_()
    h2 = torch.baddbmm(b2, h1, w2).tanh_()
    g2 = torch.addcmul(_ONE.to(h2), h2, h2, value=-1.0).mul_(w3.transpose(1, 2))
    g1 = torch.bmm(g2, w2.transpose(1, 2)).mul_(torch.addcmul(_ONE.to(h1), h1, h1, value=-1.0))
    return torch.bmm(g1, w1.transpose(1, 2))


class StackedTanhMLPGradient(torch.autograd.Function):
    """:class:`~hnnlib.models.TanhMLPGradient` for ``S`` stacked MLPs: ``dH_s/dx`` of each member on its rows.

    Inputs ``x (S, B, D)`` and the stacked weights in the layout of :class:`_StackedMLP`
    (``w1 (S, D, H)``, ``b1 (S, 1, H)``, ``w2 (S, H, H)``, ``b2 (S, 1, H)``, ``w3 (S, H, 1)``), so a
    layer is ``baddbmm(b, x, w)``. Forward and backward are those of the one-model version, every
    product batched over members (``bmm``); backward returns the gradients with respect to ``x`` and
    the five weights. Differentiable once; checked against autograd's double backward
    (:meth:`_StackedMLP.input_gradient_autograd`) by ``gradcheck`` in the tests.
    """

    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2, w3):  # noqa: D102 - documented on the class
        h1 = torch.baddbmm(b1, x, w1).tanh_()
        h2 = torch.baddbmm(b2, h1, w2).tanh_()
        s1 = torch.addcmul(_ONE.to(h1), h1, h1, value=-1.0)  # tanh' at layer 1: 1 - h1^2
        s2 = torch.addcmul(_ONE.to(h2), h2, h2, value=-1.0)
        w3_row = w3.transpose(1, 2)  # (S, 1, H)
        g2 = s2 * w3_row  # dH/da2, (S, B, H)
        u1 = torch.bmm(g2, w2.transpose(1, 2))  # dH/dh1
        g1 = u1 * s1  # dH/da1
        gx = torch.bmm(g1, w1.transpose(1, 2))  # dH/dx, (S, B, D)
        # As in TanhMLPGradient: the factors of backward, kept without their -2 (exact in floats).
        c2 = h2 * g2  # = h2 (1 - h2^2) w3
        c1 = h1 * u1
        ctx.save_for_backward(x, w1, w2, h1, s1, s2, g1, g2, c1, c2)
        return gx

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dgx):  # noqa: D102
        x, w1, w2, h1, s1, s2, g1, g2, c1, c2 = ctx.saved_tensors
        dgx = dgx.contiguous()
        dw1 = torch.bmm(dgx.transpose(1, 2), g1)  # through gx = g1 W1^T, (S, D, H)
        dg1 = torch.bmm(dgx, w1)
        du1 = dg1 * s1  # through g1 = u1 s1
        dg2 = torch.bmm(du1, w2)  # through u1 = g2 W2^T
        da2 = dg2 * c2  # through g2 = (1 - h2^2) w3 and h2 = tanh(a2); the true da2 is -2 times this
        dw3 = (dg2 * s2).sum(1).unsqueeze(-1)  # (S, H, 1)
        dw2 = torch.bmm(du1.transpose(1, 2), g2).baddbmm_(h1.transpose(1, 2), da2, alpha=-2.0)  # (S, H, H)
        db2 = da2.sum(1, keepdim=True).mul_(-2.0)
        dh1 = torch.bmm(da2, w2.transpose(1, 2)).addcmul_(c1, dg1)  # -1/2 the true dh1
        da1 = dh1.mul_(s1)  # -1/2 the true da1
        dw1 = dw1.baddbmm_(x.transpose(1, 2), da1, alpha=-2.0)
        db1 = da1.sum(1, keepdim=True).mul_(-2.0)
        dx = torch.bmm(da1, w1.transpose(1, 2)).mul_(-2.0) if ctx.needs_input_grad[0] else None
        return dx, dw1, db1, dw2, db2, dw3


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
        """``d mlp / d x``, in-graph when gradients are enabled: ``(S B, in) -> (S B, in)``.

        Fused (:class:`StackedTanhMLPGradient`), as :class:`~hnnlib.models.TanhMLPGradient` is for one model.
        """
        weights = (self.w[0], self.b[0], self.w[1], self.b[1], self.w[2])
        if torch.is_grad_enabled() and (x.requires_grad or any(w.requires_grad for w in weights)):
            grad = StackedTanhMLPGradient.apply(self._grouped(x), *weights)
        else:  # no graph to build: the forward pass alone, without the factors backward would need
            grad = _stacked_tanh_gradient(self._grouped(x), *weights)
        return grad.reshape(x.shape)

    def input_gradient_autograd(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`input_gradient` by autograd's double backward: the reference the fused one is tested against."""
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
