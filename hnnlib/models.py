"""The two models of the paper and their checkpoints.

- :class:`BaselineNN` maps a state ``(q, p)`` straight to its time derivative.
- :class:`HNN` maps a state to one scalar ``H_theta`` and returns its symplectic gradient
  (paper Eq. 2), taken in-graph so that the L2 loss of Eq. 3 trains ``H_theta`` itself.

Both use the paper's MLP: three linear layers, 200 hidden units, tanh (Section 3.1).
Saving and loading them: :mod:`hnnlib.checkpoints`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ._checks import as_state_tensor, check_positive_int
from .hamiltonian import symplectic_from_gradient

NONLINEARITIES = {"tanh": nn.Tanh, "relu": nn.ReLU, "softplus": nn.Softplus}
BIAS_INITS = ("torch", "zeros")


class MLP(nn.Module):
    """Three linear layers ``in -> hidden -> hidden -> out`` with a nonlinearity between them.

    Weights are initialised orthogonally, as in the paper's reference code. Biases follow
    ``bias_init``: ``"torch"`` (default) draws them from PyTorch's default ``nn.Linear``
    distribution, uniform in ``+-1/sqrt(fan_in)``, as the reference code keeps them; ``"zeros"``
    sets them to zero, which makes the untrained network an odd function of its input.

    Parameters
    ----------
    input_dim, hidden_dim, output_dim : int
    nonlinearity : {"tanh", "relu", "softplus"}
    bias_init : {"torch", "zeros"}
    """

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, nonlinearity: str = "tanh", bias_init: str = "torch"):
        super().__init__()
        if bias_init not in BIAS_INITS:
            raise ValueError(f"unknown bias_init {bias_init!r}; expected one of {list(BIAS_INITS)}")
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"unknown nonlinearity {nonlinearity!r}; expected one of {sorted(NONLINEARITIES)}")
        dims = [check_positive_int(d, n) for d, n in ((input_dim, "input_dim"), (hidden_dim, "hidden_dim"), (output_dim, "output_dim"))]
        self.net = nn.Sequential(
            nn.Linear(dims[0], dims[1]),
            NONLINEARITIES[nonlinearity](),
            nn.Linear(dims[1], dims[1]),
            NONLINEARITIES[nonlinearity](),
            nn.Linear(dims[1], dims[2]),
        )
        for layer in self.net:
            if isinstance(layer, nn.Linear):
                nn.init.orthogonal_(layer.weight)
                nn.init.zeros_(layer.bias)
        if bias_init == "torch":  # after all weights, so the random stream is weights first, then biases
            for layer in self.net:
                if isinstance(layer, nn.Linear):
                    bound = 1 / math.sqrt(layer.in_features)
                    nn.init.uniform_(layer.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _DynamicsModel(nn.Module):
    """Common parts: configuration, input checks, device/dtype handling."""

    def __init__(self, input_dim: int, hidden_dim: int = 200, nonlinearity: str = "tanh", bias_init: str = "torch"):
        super().__init__()
        self.config: dict[str, Any] = {
            "input_dim": check_positive_int(input_dim, "input_dim"),
            "hidden_dim": check_positive_int(hidden_dim, "hidden_dim"),
            "nonlinearity": nonlinearity,
            "bias_init": bias_init,
        }

    @property
    def input_dim(self) -> int:
        return self.config["input_dim"]

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        param = next(self.parameters())
        x = as_state_tensor(x, self.input_dim, "x")
        if x.dtype != param.dtype or x.device != param.device:
            raise TypeError(
                f"x must match the model's dtype and device ({param.dtype}, {param.device}), "
                f"got ({x.dtype}, {x.device}); convert with x.to(model_param)"
            )
        return x

    def time_derivative(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted time derivative ``dx/dt``, shape ``(..., D)`` for states ``(..., D)``."""
        return self.time_derivative(x)


class BaselineNN(_DynamicsModel):
    """Baseline of the paper: an MLP that outputs ``(dq/dt, dp/dt)`` directly.

    Parameters
    ----------
    input_dim : int
        Phase-space dimension ``D = 2 N``.
    hidden_dim : int
        Hidden units (paper: 200).
    nonlinearity : str
        Paper: ``"tanh"``.
    bias_init : {"torch", "zeros"}
        See :class:`MLP`; the reference code keeps PyTorch's default biases.
    """

    def __init__(self, input_dim: int, hidden_dim: int = 200, nonlinearity: str = "tanh", bias_init: str = "torch"):
        super().__init__(input_dim, hidden_dim, nonlinearity, bias_init)
        self.mlp = MLP(input_dim, hidden_dim, input_dim, nonlinearity, bias_init)

    def time_derivative(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted ``dx/dt``: tensor ``(..., D)`` -> ``(..., D)``."""
        return self.mlp(self._check(x))


class HNN(_DynamicsModel):
    """Hamiltonian Neural Network: an MLP ``H_theta(q, p)`` whose symplectic gradient is the dynamics.

    ``dx/dt = S_H = (dH_theta/dp, -dH_theta/dq)`` (paper Eq. 2), computed with autograd. During
    training the gradient is taken in-graph (``create_graph=True``) so the L2 loss of Eq. 3 on
    ``S_H`` back-propagates into ``theta``.

    Parameters
    ----------
    input_dim : int
        Phase-space dimension ``D = 2 N`` (even).
    hidden_dim : int
        Hidden units (paper: 200).
    nonlinearity : str
        Paper: ``"tanh"``. It must be differentiable, so ``"relu"`` gives a piecewise-linear ``H``.
    bias_init : {"torch", "zeros"}
        See :class:`MLP`; the reference code keeps PyTorch's default biases.
    """

    def __init__(self, input_dim: int, hidden_dim: int = 200, nonlinearity: str = "tanh", bias_init: str = "torch"):
        super().__init__(input_dim, hidden_dim, nonlinearity, bias_init)
        if input_dim % 2:
            raise ValueError(f"an HNN needs an even input_dim (q and p), got {input_dim}")
        self.mlp = MLP(input_dim, hidden_dim, 1, nonlinearity, bias_init)

    def hamiltonian(self, x: torch.Tensor) -> torch.Tensor:
        """The learned, conserved scalar ``H_theta``: tensor ``(..., D)`` -> ``(...)``."""
        return self.mlp(self._check(x))[..., 0]

    def time_derivative(self, x: torch.Tensor) -> torch.Tensor:
        """Symplectic gradient of ``H_theta`` (Eq. 2): tensor ``(..., D)`` -> ``(..., D)``.

        Differentiable once with respect to ``x`` and the weights, which is what training on
        the loss of Eq. 3 needs. For the paper's tanh MLP the gradient of ``H_theta`` runs a
        hand-written forward and backward pass (:class:`TanhMLPGradient`, about twice as fast
        as double backward through autograd on a CPU); other nonlinearities use autograd, as
        :meth:`symplectic_gradient_autograd` does.
        """
        return symplectic_from_gradient(mlp_input_gradient(self.mlp, self._check(x)))

    def symplectic_gradient_autograd(self, x: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
        """Symplectic gradient of ``H_theta`` by plain autograd (the textbook version).

        Parameters
        ----------
        x : torch.Tensor, shape (..., D)
        create_graph : bool
            Keep the graph, so the result can be differentiated again (any order).
        """
        x = self._check(x)
        with torch.enable_grad():
            x_in = x if x.requires_grad else x.detach().requires_grad_(True)
            h = self.mlp(x_in)
            (grad_h,) = torch.autograd.grad(h.sum(), x_in, create_graph=create_graph)
        return symplectic_from_gradient(grad_h)


def _checked_difference(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``prediction - target``, refusing tensors of different shapes (which would broadcast silently)."""
    if prediction.shape != target.shape:
        raise ValueError(f"prediction and target must have the same shape, got {tuple(prediction.shape)} and {tuple(target.shape)}")
    return prediction - target


def l2_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error between predicted and target derivatives (paper Eq. 3 for an HNN).

    Parameters
    ----------
    prediction, target : torch.Tensor, shape (..., D)

    Returns
    -------
    torch.Tensor, scalar
    """
    return _checked_difference(prediction, target).pow(2).mean()


def l1_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error between predicted and target derivatives (the LNN paper's notebook trains with it).

    Parameters
    ----------
    prediction, target : torch.Tensor, shape (..., D)

    Returns
    -------
    torch.Tensor, scalar
    """
    return _checked_difference(prediction, target).abs().mean()


#: The losses :func:`hnnlib.training.fit` can train with, by name.
LOSSES = {"l2": l2_loss, "l1": l1_loss}


class SeparableHNN(_DynamicsModel):
    """A separable Hamiltonian ``H_theta(q, p) = T_theta(p) + V_theta(q)``: two MLPs, one per half.

    The model of the symplectic recurrent neural network (SRNN; Chen, Zhang, Arjovsky & Bottou,
    ICLR 2020), which the explicit leapfrog step needs: ``dq/dt = dT/dp`` depends on ``p`` alone
    and ``dp/dt = -dV/dq`` on ``q`` alone (:func:`hnnlib.steppers.leapfrog`). Each MLP is the
    paper's three-layer MLP (:class:`MLP`) from ``N`` inputs to one output. Saved and loaded by
    :mod:`hnnlib.checkpoints` like the other models.

    Parameters
    ----------
    input_dim : int
        Phase-space dimension ``D = 2 N`` (even).
    hidden_dim : int
        Hidden units of each MLP.
    nonlinearity : str
        ``"tanh"`` (default), ``"relu"`` or ``"softplus"``.
    bias_init : {"torch", "zeros"}
        See :class:`MLP`.
    """

    def __init__(self, input_dim: int, hidden_dim: int = 200, nonlinearity: str = "tanh", bias_init: str = "torch"):
        super().__init__(input_dim, hidden_dim, nonlinearity, bias_init)
        if input_dim % 2:
            raise ValueError(f"a SeparableHNN needs an even input_dim (q and p), got {input_dim}")
        half = input_dim // 2
        self.potential_mlp = MLP(half, hidden_dim, 1, nonlinearity, bias_init)  # V(q), drawn first
        self.kinetic_mlp = MLP(half, hidden_dim, 1, nonlinearity, bias_init)  # T(p)

    def _check_half(self, y: torch.Tensor, name: str) -> torch.Tensor:
        param = next(self.parameters())
        y = as_state_tensor(y, self.input_dim // 2, name)
        if y.dtype != param.dtype or y.device != param.device:
            raise TypeError(f"{name} must match the model's dtype and device ({param.dtype}, {param.device}), got ({y.dtype}, {y.device})")
        return y

    def potential(self, q: torch.Tensor) -> torch.Tensor:
        """``V_theta(q)``: positions ``(..., N)`` -> ``(...)``."""
        return self.potential_mlp(self._check_half(q, "q"))[..., 0]

    def kinetic(self, p: torch.Tensor) -> torch.Tensor:
        """``T_theta(p)``: momenta ``(..., N)`` -> ``(...)``."""
        return self.kinetic_mlp(self._check_half(p, "p"))[..., 0]

    def hamiltonian(self, x: torch.Tensor) -> torch.Tensor:
        """``H_theta = T_theta(p) + V_theta(q)``: states ``(..., 2N)`` -> ``(...)``."""
        x = self._check(x)
        half = self.input_dim // 2
        return self.potential_mlp(x[..., :half])[..., 0] + self.kinetic_mlp(x[..., half:])[..., 0]

    def velocity(self, p: torch.Tensor) -> torch.Tensor:
        """``dq/dt = dT_theta/dp``: momenta ``(..., N)`` -> ``(..., N)``."""
        return mlp_input_gradient(self.kinetic_mlp, self._check_half(p, "p"))

    def force(self, q: torch.Tensor) -> torch.Tensor:
        """``dp/dt = -dV_theta/dq``: positions ``(..., N)`` -> ``(..., N)``."""
        return -mlp_input_gradient(self.potential_mlp, self._check_half(q, "q"))

    def time_derivative(self, x: torch.Tensor) -> torch.Tensor:
        """Hamilton's equations for the separable ``H_theta``: states ``(..., 2N)`` -> ``(..., 2N)``."""
        x = self._check(x)
        half = self.input_dim // 2
        return torch.cat([self.velocity(x[..., half:]), self.force(x[..., :half])], dim=-1)


class DissipativeHNN(_DynamicsModel):
    """Dissipative HNN: two scalars ``H_theta`` and ``D_theta`` and the field ``S_H + grad D``.

    Sosanya & Greydanus, "Dissipative Hamiltonian Neural Networks", 2022 (arXiv:2201.10085),
    Eq. 5: the Helmholtz decomposition of a vector field into a divergence-free part, the
    symplectic gradient of ``H_theta`` (paper Eq. 2 of Greydanus et al. 2019), which conserves
    ``H_theta``, and a curl-free part, the gradient of a dissipation function ``D_theta``.
    ``H_theta`` and ``D_theta`` are two of the paper's MLPs (:class:`MLP`, one output each;
    ``H`` drawn first). Both are defined up to an additive constant. Saved and loaded by
    :mod:`hnnlib.checkpoints` like the other models; :meth:`conservative` gives the model with
    its friction switched off.

    Parameters
    ----------
    input_dim : int
        Phase-space dimension ``D = 2 N`` (even).
    hidden_dim : int
        Hidden units of each MLP.
    nonlinearity : str
        ``"tanh"`` (default; fused gradients, as :class:`HNN`), ``"relu"`` or ``"softplus"``.
    bias_init : {"torch", "zeros"}
        See :class:`MLP`.
    """

    def __init__(self, input_dim: int, hidden_dim: int = 200, nonlinearity: str = "tanh", bias_init: str = "torch"):
        super().__init__(input_dim, hidden_dim, nonlinearity, bias_init)
        if input_dim % 2:
            raise ValueError(f"a DissipativeHNN needs an even input_dim (q and p), got {input_dim}")
        self.h_mlp = MLP(input_dim, hidden_dim, 1, nonlinearity, bias_init)
        self.d_mlp = MLP(input_dim, hidden_dim, 1, nonlinearity, bias_init)

    def hamiltonian(self, x: torch.Tensor) -> torch.Tensor:
        """The learned conserved part ``H_theta``: states ``(..., D)`` -> ``(...)``."""
        return self.h_mlp(self._check(x))[..., 0]

    def dissipation(self, x: torch.Tensor) -> torch.Tensor:
        """The learned dissipation function ``D_theta``: states ``(..., D)`` -> ``(...)``."""
        return self.d_mlp(self._check(x))[..., 0]

    def conservative_field(self, x: torch.Tensor) -> torch.Tensor:
        """Divergence-free part ``S_H = (dH/dp, -dH/dq)``: ``(..., D)`` -> ``(..., D)``."""
        return symplectic_from_gradient(mlp_input_gradient(self.h_mlp, self._check(x)))

    def dissipative_field(self, x: torch.Tensor) -> torch.Tensor:
        """Curl-free part ``grad D_theta``: ``(..., D)`` -> ``(..., D)``."""
        return mlp_input_gradient(self.d_mlp, self._check(x))

    def time_derivative(self, x: torch.Tensor) -> torch.Tensor:
        """``dx/dt = S_H + grad D`` (D-HNN Eq. 5): ``(..., D)`` -> ``(..., D)``; differentiable once."""
        x = self._check(x)
        return self.conservative_field(x) + self.dissipative_field(x)

    def conservative(self) -> "ConservativePart":
        """The same ``H_theta`` without ``D_theta`` (weights shared): the counterfactual "friction off"."""
        return ConservativePart(self)


class ConservativePart(nn.Module):
    """The conservative part ``S_H`` of a :class:`DissipativeHNN`, as a model of its own.

    Shares the weights of ``model`` (not a copy). Its field conserves ``H_theta`` exactly.
    """

    def __init__(self, model: DissipativeHNN):
        super().__init__()
        if not isinstance(model, DissipativeHNN):
            raise TypeError(f"expected a DissipativeHNN, got {type(model).__name__}")
        self.model = model

    def hamiltonian(self, x: torch.Tensor) -> torch.Tensor:
        """``H_theta`` of the wrapped model: ``(..., D)`` -> ``(...)``."""
        return self.model.hamiltonian(x)

    def time_derivative(self, x: torch.Tensor) -> torch.Tensor:
        """``S_H`` of the wrapped model: ``(..., D)`` -> ``(..., D)``."""
        return self.model.conservative_field(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.time_derivative(x)


def mlp_input_gradient(mlp: MLP, x: torch.Tensor) -> torch.Tensor:
    """``d mlp(x) / dx`` of an :class:`MLP` with one output: states ``(..., D)`` -> ``(..., D)``.

    In-graph when gradients are enabled (training), so a loss on the result trains the weights.
    Fused for tanh (:class:`TanhMLPGradient`), by autograd's double backward otherwise.
    """
    first, act, second, _, last = mlp.net
    if isinstance(act, nn.Tanh):
        lead, dim = x.shape[:-1], x.shape[-1]
        args = (x.reshape(-1, dim), first.weight, first.bias, second.weight, second.bias, last.weight)
        if torch.is_grad_enabled() and any(a.requires_grad for a in args):
            grad = TanhMLPGradient.apply(*args)
        else:  # no graph to build (rollouts, metrics): the same values without the factors backward needs
            grad = _tanh_mlp_gradient(*args)
        return grad.reshape(*lead, dim)
    create_graph = torch.is_grad_enabled()
    with torch.enable_grad():
        x_in = x if x.requires_grad else x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(mlp(x_in).sum(), x_in, create_graph=create_graph)
    return grad


_ONE = torch.ones(1)


def _tanh_mlp_gradient(x, w1, b1, w2, b2, w3):
    """The value of :class:`TanhMLPGradient` without a graph: the same operations, so the same numbers."""
    h1 = torch.addmm(b1, x, w1.t()).tanh_()
    h2 = torch.addmm(b2, h1, w2.t()).tanh_()
    s1 = torch.addcmul(_ONE.to(h1), h1, h1, value=-1.0)
    g2 = torch.addcmul(_ONE.to(h2), h2, h2, value=-1.0).mul_(w3)
    return (g2 @ w2).mul_(s1) @ w1


class TanhMLPGradient(torch.autograd.Function):
    """Gradient ``dH/dx`` of ``H(x) = w3 . tanh(W2 tanh(W1 x + b1) + b2) + b3``, fused, for a batch ``(B, D)``.

    Forward computes ``dH/dx``; backward returns the gradients of a loss on it with respect to ``x``,
    ``W1``, ``b1``, ``W2``, ``b2`` and ``w3`` (``b3`` does not enter ``dH/dx``). Every intermediate
    stays contiguous and batch-major, which avoids the strided element-wise kernels that double
    backward through ``nn.Linear`` produces. :class:`HNN` (through
    :func:`~hnnlib.hamiltonian.symplectic_from_gradient`), :class:`SeparableHNN` and
    :class:`DissipativeHNN` use it. Differentiable once; checked against autograd by ``gradcheck``
    in the tests.
    """

    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2, w3):  # noqa: D102 - documented on the class
        h1 = torch.addmm(b1, x, w1.t()).tanh_()
        h2 = torch.addmm(b2, h1, w2.t()).tanh_()
        s1 = torch.addcmul(_ONE.to(h1), h1, h1, value=-1.0)  # tanh' at layer 1: 1 - h1^2
        s2 = torch.addcmul(_ONE.to(h2), h2, h2, value=-1.0)
        g2 = s2 * w3  # dH/da2, (B, H)
        u1 = g2 @ w2  # dH/dh1
        g1 = u1 * s1  # dH/da1
        gx = g1 @ w1  # dH/dx, (B, D)
        # Factors the backward pass needs, formed once here: d s/d h = -2 h. They are kept
        # without the -2, which backward applies to the few results it reaches (exact in floats).
        c2 = (h2 * s2).mul_(w3)  # -1/2 d(da2)/d(dg2), (B, H)
        c1 = h1 * u1  # -1/2 d(dh1)/d(dg1) through s1, (B, H)
        ctx.save_for_backward(x, w1, w2, h1, s1, s2, g1, g2, c1, c2)
        return gx

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dgx):  # noqa: D102
        x, w1, w2, h1, s1, s2, g1, g2, c1, c2 = ctx.saved_tensors
        dgx = dgx.contiguous()
        dw1 = g1.t() @ dgx  # through gx = g1 W1
        dg1 = dgx @ w1.t()
        du1 = dg1 * s1  # through g1 = u1 s1
        dg2 = du1 @ w2.t()  # through u1 = g2 W2
        da2 = dg2 * c2  # through g2 = (1 - h2^2) w3 and h2 = tanh(a2); the true da2 is -2 times this
        dw3 = (dg2 * s2).sum(0, keepdim=True)
        dw2 = (g2.t() @ du1).addmm_(da2.t(), h1, alpha=-2.0)  # u1 = g2 W2 and a2 = h1 W2^T
        db2 = da2.sum(0).mul_(-2.0)
        dh1 = (da2 @ w2).addcmul_(c1, dg1)  # a2 = h1 W2^T, and s1 = 1 - h1^2; -1/2 the true dh1
        da1 = dh1.mul_(s1)  # -1/2 the true da1
        dw1 = dw1.addmm_(da1.t(), x, alpha=-2.0)
        db1 = da1.sum(0).mul_(-2.0)
        dx = (da1 @ w1).mul_(-2.0) if ctx.needs_input_grad[0] else None
        return dx, dw1, db1, dw2, db2, dw3
