"""Adam, the optimiser of every model in the book (paper Section 3.1; Kingma & Ba, 2015), and its learning-rate schedules.

One step of Adam with L2 weight decay ``lambda``, for every parameter ``theta`` with gradient
``g`` (elementwise; ``t`` counts the steps, ``beta1 = 0.9``, ``beta2 = 0.999``, ``eps = 1e-8``)::

    g     <- g + lambda * theta
    m     <- beta1 * m + (1 - beta1) * g
    v     <- beta2 * v + (1 - beta2) * g^2
    theta <- theta - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

:class:`Adam` runs all of it as one fused kernel per step, ``torch._fused_adam_``: the kernel
``torch.optim.Adam(..., fused=True)`` runs, so the weights are the same bit for bit (tested).
It leaves out ``torch.optim``'s general wrapper, which imports ``torch._dynamo`` the first time an
optimiser is built (about 1.1 s of a process's start on the 2-core CI machine) and adds about
0.15 ms of Python to every step (``benchmarks/README.md``). Off the CPU and CUDA, where that
kernel does not exist, or for parameters of mixed dtypes, it hands the step to ``torch.optim.Adam``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from ._checks import check_finite_number

__all__ = ["LR_SCHEDULES", "Adam", "check_lr_schedule", "cosine_learning_rate", "scheduled_learning_rate"]

#: The learning-rate schedules the training loops offer.
LR_SCHEDULES = ("constant", "cosine")

#: Adam's defaults (Kingma & Ba; PyTorch's too), which the paper and its code keep.
BETAS = (0.9, 0.999)
EPS = 1e-8


class Adam:
    """Adam with L2 weight decay added to the gradient: ``torch.optim.Adam(fused=True)``, lean.

    Parameters without a gradient at a step (``grad is None``) are left alone and their step
    count does not advance, as in ``torch.optim``. The moments start at zero on a parameter's
    first gradient.

    Parameters
    ----------
    params : iterable of torch.nn.Parameter
        Floating point. Parameters of several dtypes or devices, or off the CPU and CUDA, are
        handed to ``torch.optim.Adam`` (the same update, with its wrapper).
    lr : float
        Learning rate, finite and > 0.
    weight_decay : float
        L2 penalty ``lambda`` added to the gradient, finite and >= 0.
    decay_only : iterable of torch.nn.Parameter, optional
        Parameters the loss does not depend on, stepped every step as if their gradient were
        zero: only weight decay moves them (exactly as it moves a parameter whose gradient is an
        exact zero). A training loop that holds such weights apart from the rest (e.g. the encoder
        weights of pixels that are zero in every training input, :func:`hnnlib.pixel.fit_pixel_model`)
        skips computing their zero gradient. One of them receiving a gradient is an error.

    Examples
    --------
    >>> model = torch.nn.Linear(2, 1)
    >>> optimizer = Adam(model.parameters(), lr=1e-3)
    >>> model(torch.ones(4, 2)).pow(2).mean().backward()
    >>> optimizer.step(); optimizer.zero_grad()
    """

    def __init__(self, params: Iterable[nn.Parameter], lr: float, weight_decay: float = 0.0,
                 decay_only: Iterable[nn.Parameter] = ()):
        self.decay_only = list(decay_only)
        self.params = list(params) + self.decay_only
        if not self.params:
            raise ValueError("Adam got no parameters to optimise")
        if len({id(p) for p in self.params}) != len(self.params):
            raise ValueError("Adam got a parameter twice (in params and decay_only, or repeated)")
        if any(not p.is_floating_point() for p in self.params):
            raise TypeError("Adam needs floating-point parameters")
        self.lr = check_finite_number(lr, "lr", minimum=0.0, strict=True)
        self.weight_decay = check_finite_number(weight_decay, "weight_decay", minimum=0.0, strict=False)
        self._fallback = None
        kinds = {(p.device, p.dtype) for p in self.params}
        if len(kinds) > 1 or self.params[0].device.type not in ("cpu", "cuda"):  # the one-kernel path needs one of each
            fused = kinds <= {(p.device, p.dtype) for p in self.params if p.device.type in ("cpu", "cuda")}
            self._fallback = torch.optim.Adam(self.params, lr=self.lr, weight_decay=self.weight_decay, fused=fused)
        self._state: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}  # index -> m, v, t
        self._zero_grads = [torch.zeros_like(p) for p in self.decay_only]  # their gradient at every step

    def zero_grad(self) -> None:
        """Forget every gradient (``grad = None``), so the next backward pass writes fresh ones."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """Update every parameter that has a gradient, and every ``decay_only`` one, by one Adam step."""
        for p, zero in zip(self.decay_only, self._zero_grads):
            if p.grad is not None and p.grad is not zero:
                raise RuntimeError("a decay_only parameter received a gradient: the loss depends on it")
            p.grad = zero
        if self._fallback is not None:
            self._fallback.step()
            return
        params, grads, means, squares, steps = [], [], [], [], []
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            if i not in self._state:  # the step count is a float32 tensor, as the fused kernel reads it
                self._state[i] = (torch.zeros_like(p), torch.zeros_like(p), torch.zeros((), dtype=torch.float32, device=p.device))
            m, v, t = self._state[i]
            params.append(p)
            grads.append(p.grad)
            means.append(m)
            squares.append(v)
            steps.append(t)
        if not params:
            return
        torch._foreach_add_(steps, 1)
        torch._fused_adam_(params, grads, means, squares, [], steps, amsgrad=False, lr=self.lr, beta1=BETAS[0],
                           beta2=BETAS[1], weight_decay=self.weight_decay, eps=EPS, maximize=False,
                           grad_scale=None, found_inf=None)

    def set_learning_rate(self, lr: float) -> None:
        """Use ``lr`` from the next step on (a learning-rate schedule calls this before each step)."""
        self.lr = float(lr)
        if self._fallback is not None:
            for group in self._fallback.param_groups:
                group["lr"] = self.lr


def cosine_learning_rate(learning_rate: float, step: int, steps: int) -> float:
    """``learning_rate * (1 + cos(pi step / steps)) / 2``: the rate of step ``step`` (from 0) of ``steps``.

    Cosine annealing without restarts (Loshchilov & Hutter, ICLR 2017): the full rate at the first
    step, half of it halfway, almost 0 at the last, so that the last steps settle the weights
    instead of moving them by Adam's noise at a large step.
    """
    return learning_rate * 0.5 * (1.0 + math.cos(math.pi * step / steps))


def check_lr_schedule(schedule: str) -> str:
    """``schedule`` if it is one of :data:`LR_SCHEDULES`; ValueError naming them otherwise."""
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {list(LR_SCHEDULES)}, got {schedule!r}")
    return schedule


def scheduled_learning_rate(schedule: str, learning_rate: float, step: int, steps: int) -> float:
    """The rate of step ``step`` (from 0) of ``steps`` under ``schedule``, one of :data:`LR_SCHEDULES`."""
    if check_lr_schedule(schedule) == "cosine":
        return cosine_learning_rate(learning_rate, step, steps)
    return learning_rate
