"""Task 5 (paper Section 5): an autoencoder with a Hamiltonian, or a baseline, in its latent space.

- :class:`MLPAutoencoder`: encoder and decoder of four fully connected layers each, 200 units,
  relu, residual connections, latent size 2 (Section 5.1).
- :class:`PixelDynamicsModel`: the autoencoder plus a latent dynamics model, either an
  :class:`~hnnlib.models.HNN` (``kind="hnn"``) or a :class:`~hnnlib.models.BaselineNN`
  (``kind="baseline"``), trained together on the loss of :meth:`PixelDynamicsModel.losses`:
  autoencoder L2 + the auxiliary loss of Eq. 7 + 0.1 x the latent dynamics loss, as the reference
  code does.
- :func:`fit_pixel_model`: Adam with weight decay 1e-5 (Appendix C), minibatches of 200, through
  the book's one training loop, :func:`hnnlib.training.optimize`.
- :func:`rollout_latent`: integrate the latent dynamics from encoded frames, then decode.

Time in latent space is counted in frames: the dynamics model predicts the change of ``z`` per
frame (the reference code's forward-Euler step of one frame), so ``t = 1`` is one frame of the
environment, 0.05 s.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import as_state_tensor, check_positive_int
from ..integrators import rk4
from ..metrics import MeanWithError
from ..models import HNN, BaselineNN
from ..training import TrainingHistory, log_training, minibatch_indices, optimize

__all__ = [
    "DYNAMICS_LOSS_WEIGHT", "MLPAutoencoder", "PixelDynamicsModel", "PixelLosses", "evaluate_pixel_loss",
    "fit_pixel_model", "flush_denormals", "lit_pixels", "pixel_loss", "rollout_latent",
]

#: Weight of the latent dynamics loss in the total loss (reference code; the paper gives none).
DYNAMICS_LOSS_WEIGHT = 0.1


class MLPAutoencoder(nn.Module):
    """Fully connected autoencoder with residual connections (paper Section 5.1).

    Encoder: ``x -> relu(W1 x) = h``, ``h += relu(W2 h)``, ``h += relu(W3 h)``, ``z = W4 h``.
    The decoder mirrors it from ``z`` back to ``x``; its output is linear (pixel values are
    regressed, not classified). Weights are initialised orthogonally, biases as PyTorch does.

    Parameters
    ----------
    input_dim : int
        Pixels per input, ``2 * 28 * 28`` for two stacked 28x28 frames.
    hidden_dim : int
        Units of the hidden layers (paper: 200).
    latent_dim : int
        Size of ``z`` (paper: 2, read as ``(z_q, z_p)``).
    """

    def __init__(self, input_dim: int, hidden_dim: int = 200, latent_dim: int = 2):
        super().__init__()
        input_dim, hidden_dim, latent_dim = (
            check_positive_int(v, n) for v, n in ((input_dim, "input_dim"), (hidden_dim, "hidden_dim"), (latent_dim, "latent_dim"))
        )
        self.encoder_layers = nn.ModuleList(
            [nn.Linear(input_dim, hidden_dim), nn.Linear(hidden_dim, hidden_dim), nn.Linear(hidden_dim, hidden_dim), nn.Linear(hidden_dim, latent_dim)]
        )
        self.decoder_layers = nn.ModuleList(
            [nn.Linear(latent_dim, hidden_dim), nn.Linear(hidden_dim, hidden_dim), nn.Linear(hidden_dim, hidden_dim), nn.Linear(hidden_dim, input_dim)]
        )
        for layer in [*self.encoder_layers, *self.decoder_layers]:
            nn.init.orthogonal_(layer.weight)

    @staticmethod
    def _run(layers: nn.ModuleList, x: torch.Tensor, first_weight: torch.Tensor | None = None) -> torch.Tensor:
        """The four layers on ``x``; ``first_weight`` replaces the first layer's weight (the columns of ``x``'s pixels)."""
        first, second, third, last = layers
        h = torch.relu(F.linear(x, first.weight if first_weight is None else first_weight, first.bias))
        h = h + torch.relu(second(h))
        h = h + torch.relu(third(h))
        return last(h)

    def encode(self, x: torch.Tensor, columns: torch.Tensor | None = None) -> torch.Tensor:
        """Pixels ``(..., input_dim)`` -> latent ``z`` ``(..., latent_dim)``.

        With ``columns`` (:func:`lit_pixels`), ``x`` has shape ``(..., len(columns))`` and holds
        only those pixels, every other pixel being zero: the result is the same (up to round-off)
        at a fraction of the cost of the first layer.
        """
        if columns is None:
            return self._run(self.encoder_layers, x)
        # x holds only these input columns; the others are zero and add nothing
        return self._run(self.encoder_layers, x, self.encoder_layers[0].weight.index_select(1, columns))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent ``z`` ``(..., latent_dim)`` -> pixels ``(..., input_dim)``."""
        return self._run(self.decoder_layers, z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


@dataclass
class PixelLosses:
    """The three terms of the pixel model's loss and their weighted sum (all scalar tensors)."""

    autoencoder: torch.Tensor
    canonical: torch.Tensor
    dynamics: torch.Tensor
    total: torch.Tensor


class PixelDynamicsModel(nn.Module):
    """An autoencoder with a latent dynamics model: the pixel HNN of Section 5, or its baseline.

    Parameters
    ----------
    kind : {"hnn", "baseline"}
        ``"hnn"``: the latent dynamics are the symplectic gradient of a learned ``H(z)``;
        ``"baseline"``: an MLP predicts ``dz/dt`` directly. Both use the paper's tanh MLP.
    input_dim : int
        Pixels per input (two stacked frames).
    hidden_dim : int
        Units of the autoencoder's and the dynamics model's hidden layers (paper: 200).
    latent_dim : int
        Size of ``z``, even (paper: 2).
    """

    def __init__(self, kind: str, input_dim: int = 2 * 28 * 28, hidden_dim: int = 200, latent_dim: int = 2):
        super().__init__()
        if kind not in ("hnn", "baseline"):
            raise ValueError(f"kind must be 'hnn' or 'baseline', got {kind!r}")
        if check_positive_int(latent_dim, "latent_dim") % 2:
            raise ValueError(f"latent_dim must be even (z = (z_q, z_p)), got {latent_dim}")
        self.config: dict[str, Any] = {"kind": kind, "input_dim": input_dim, "hidden_dim": hidden_dim, "latent_dim": latent_dim}
        self.autoencoder = MLPAutoencoder(input_dim, hidden_dim, latent_dim)
        self.dynamics = (HNN if kind == "hnn" else BaselineNN)(latent_dim, hidden_dim)

    @property
    def input_dim(self) -> int:
        return self.config["input_dim"]

    def _pixels(self, x: torch.Tensor, name: str) -> torch.Tensor:
        param = next(self.parameters())
        x = as_state_tensor(x, self.input_dim, name)
        if x.dtype != param.dtype or x.device != param.device:
            raise TypeError(f"{name} must match the model's dtype and device ({param.dtype}, {param.device}), got ({x.dtype}, {x.device})")
        return x

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Stacked frames ``(..., input_dim)`` -> latent state ``(..., latent_dim)``."""
        return self.autoencoder.encode(self._pixels(x, "x"))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent state ``(..., latent_dim)`` -> stacked frames ``(..., input_dim)``."""
        return self.autoencoder.decode(z)

    def time_derivative(self, z: torch.Tensor) -> torch.Tensor:
        """Latent dynamics ``dz/dt`` per frame, ``(..., latent_dim)`` -> ``(..., latent_dim)``."""
        return self.dynamics.time_derivative(z)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.time_derivative(z)

    def hamiltonian(self, z: torch.Tensor) -> torch.Tensor:
        """The learned ``H(z)`` of the ``"hnn"`` kind, ``(..., latent_dim)`` -> ``(...)``."""
        if self.config["kind"] != "hnn":
            raise AttributeError("only a PixelDynamicsModel of kind 'hnn' has a Hamiltonian")
        return self.dynamics.hamiltonian(z)

    def losses(self, x: torch.Tensor, x_next: torch.Tensor) -> PixelLosses:
        """The loss of the reference code, term by term, on a batch of consecutive inputs.

        ``autoencoder``: mean squared pixel error of ``decode(encode(x))``.
        ``canonical``: the auxiliary loss of Eq. 7, ``mean((z_p^t - (z_q^{t+1} - z_q^t))^2)``,
        which asks ``z_p`` to be the per-frame change of ``z_q`` (the reference code's sign; the
        paper prints ``z_q^t - z_q^{t+1}``).
        ``dynamics``: ``mean((z^{t+1} - (z^t + f(z^t)))^2)``, one forward-Euler frame of the
        latent dynamics ``f``.
        ``total = autoencoder + canonical + 0.1 * dynamics``.

        Parameters
        ----------
        x, x_next : torch.Tensor, shape (B, input_dim)
            Frames ``(t, t+1)`` and ``(t+1, t+2)``.
        """
        x = self._pixels(x, "x")
        x_next = self._pixels(x_next, "x_next")
        if x.ndim != 2 or x.shape != x_next.shape:
            raise ValueError(f"x and x_next must both have shape (B, {self.input_dim}), got {tuple(x.shape)} and {tuple(x_next.shape)}")
        return self._losses(x, x_next)

    def _losses(self, x: torch.Tensor, x_next: torch.Tensor) -> PixelLosses:
        """:meth:`losses` without the input checks (the training loop checks its data once)."""
        return self._stacked_losses(torch.cat([x, x_next]))

    def _stacked_losses(self, both: torch.Tensor, columns: torch.Tensor | None = None, x: torch.Tensor | None = None,
                        first_weight: torch.Tensor | None = None) -> PixelLosses:
        """:meth:`losses` of ``both = cat([x, x_next])``, shape (2B, input_dim), unchecked.

        The training loop gathers each minibatch of pairs straight into this layout, so the
        encoder sees ``x`` and ``x_next`` in one pass without a copy to join them. With
        ``columns`` (:func:`lit_pixels`), ``both`` holds only those pixels, shape
        (2B, len(columns)), every other pixel being zero, and ``x`` is the first half in full,
        shape (B, input_dim): the autoencoder's target. ``first_weight``, shape
        (hidden_dim, len(columns)), replaces those columns of the encoder's first weight matrix
        (:func:`fit_pixel_model` trains them apart from the rest).
        """
        n = both.shape[0] // 2
        if first_weight is None:
            z_both = self.autoencoder.encode(both, columns)  # one pass through the encoder
        else:
            z_both = self.autoencoder._run(self.autoencoder.encoder_layers, both, first_weight)
        z, z_next = z_both[:n], z_both[n:]
        target = both[:n] if columns is None else x
        autoencoder = F.mse_loss(self.autoencoder.decode(z), target)  # mean squared pixel error, one kernel
        half = z.shape[-1] // 2
        canonical = (z[:, half:] - (z_next[:, :half] - z[:, :half])).pow(2).mean()
        dynamics = (z_next - (z + self.dynamics.time_derivative(z))).pow(2).mean()
        total = autoencoder + canonical + DYNAMICS_LOSS_WEIGHT * dynamics
        return PixelLosses(autoencoder, canonical, dynamics, total)


def lit_pixels(*inputs: torch.Tensor) -> torch.Tensor:
    """Sorted indices (int64) of the pixels that are non-zero in at least one of ``inputs``.

    About half of the 28x28 pixels are never reached by the pendulum, so they are zero in every
    frame. Such a pixel's column of the encoder's first weight matrix multiplies zero: it changes
    no output, and its gradient is exactly zero. Encoding only the lit pixels therefore gives the
    same model (up to round-off: sums run in another order) for about half the cost of the
    encoder's first layer, forward and backward; :func:`fit_pixel_model` does so. Weight decay
    still acts on every weight.

    Parameters
    ----------
    inputs : torch.Tensor, each (n_samples, input_dim)
    """
    lit = torch.zeros(inputs[0].shape[-1], dtype=torch.bool, device=inputs[0].device)
    for x in inputs:
        lit |= (x != 0).any(0)
    return lit.nonzero().squeeze(1)


@contextmanager
def flush_denormals() -> Iterator[None]:
    """Treat subnormal floats (below 1.2e-38 in float32) as zero on the CPU while in the block.

    Training the pixel model drives part of Adam's second-moment estimates (weights whose inputs
    are pixels the pendulum never reaches) into the subnormal range, where every floating-point
    operation on them is many times slower: without this, the later training steps take about
    2.5 times as long. Flushing changes only values that are 1e-38 or smaller. On leaving, flushing
    is switched off again, PyTorch's default.
    """
    supported = torch.set_flush_denormal(True)  # False where the CPU cannot: nothing changes then
    try:
        yield
    finally:
        if supported:
            torch.set_flush_denormal(False)  # PyTorch's default (it offers no way to read the setting)


def evaluate_pixel_loss(model: PixelDynamicsModel, x: torch.Tensor, x_next: torch.Tensor, batch_size: int = 4096) -> float:
    """Total loss of :meth:`PixelDynamicsModel.losses` over a whole set, without a training graph."""
    total, n = 0.0, x.shape[0]
    with torch.no_grad():
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            total += float(model._losses(x[start:stop], x_next[start:stop]).total) * (stop - start)
    return total / n


def _lit_pairs(x: torch.Tensor, x_next: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The lit pixels of a set (:func:`lit_pixels`) and ``(2, n_samples, n_lit)``: those pixels of ``x`` and ``x_next``."""
    columns = lit_pixels(x, x_next)
    return columns, torch.stack([x.index_select(1, columns), x_next.index_select(1, columns)])


def _lit_pixel_loss(model: PixelDynamicsModel, columns: torch.Tensor, pairs: torch.Tensor, x: torch.Tensor,
                    batch_size: int = 4096) -> float:
    """:func:`evaluate_pixel_loss` of a set from its lit pixels (:func:`_lit_pairs`), ``x`` its inputs in full."""
    total, n = 0.0, x.shape[0]
    with torch.no_grad():
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            both = pairs[:, start:stop].reshape(2 * (stop - start), -1)
            total += float(model._stacked_losses(both, columns, x[start:stop]).total) * (stop - start)
    return total / n


def pixel_loss(model: PixelDynamicsModel, x: torch.Tensor, x_next: torch.Tensor, batch_size: int = 4096) -> MeanWithError:
    """The total loss of :meth:`PixelDynamicsModel.losses`, per sample, as a mean +- standard error.

    The mean equals :func:`evaluate_pixel_loss`; this is the Task 5 train and test loss of Table 1.

    Parameters
    ----------
    model : PixelDynamicsModel
    x, x_next : torch.Tensor, shape (N, input_dim)
    """
    x = model._pixels(x, "x")
    x_next = model._pixels(x_next, "x_next")
    if x.ndim != 2 or x.shape != x_next.shape:
        raise ValueError(f"x and x_next must both have shape (N, {model.input_dim}), got {tuple(x.shape)} and {tuple(x_next.shape)}")
    per_sample = []
    half = model.config["latent_dim"] // 2
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            xb, xnb = x[start : start + batch_size], x_next[start : start + batch_size]
            z_both = model.autoencoder.encode(torch.cat([xb, xnb]))
            z, z_next = z_both[: xb.shape[0]], z_both[xb.shape[0]:]
            autoencoder = (model.autoencoder.decode(z) - xb).pow(2).mean(dim=1)
            canonical = (z[:, half:] - (z_next[:, :half] - z[:, :half])).pow(2).mean(dim=1)
            dynamics = (z_next - (z + model.dynamics.time_derivative(z))).pow(2).mean(dim=1)
            per_sample.append(autoencoder + canonical + DYNAMICS_LOSS_WEIGHT * dynamics)
    return MeanWithError.of(torch.cat(per_sample))


def fit_pixel_model(
    model: PixelDynamicsModel,
    x: torch.Tensor,
    x_next: torch.Tensor,
    *,
    x_test: torch.Tensor | None = None,
    x_next_test: torch.Tensor | None = None,
    steps: int = 10000,
    batch_size: int = 200,
    learning_rate: float = 1e-3,
    weight_decay: float = 1e-5,
    eval_every: int = 500,
    seed: int = 0,
    progress: bool = True,
    description: str | None = None,
) -> TrainingHistory:
    """Train a pixel model with Adam on minibatches (paper Section 5.1 and Appendix C).

    The loop is :func:`hnnlib.training.optimize`, run with subnormal floats flushed to zero
    (:func:`flush_denormals`). The encoder reads only the pixels lit somewhere in the training set
    (:func:`lit_pixels`); the weights of the other pixels get an exact zero gradient, so they are
    held apart as a ``decay_only`` parameter of :class:`hnnlib.optim.Adam` (weight decay alone
    moves them) and written back into the model at every evaluation and at the end.

    Parameters
    ----------
    model : PixelDynamicsModel
    x, x_next : torch.Tensor, shape (n_samples, input_dim)
        Consecutive inputs: frames ``(t, t+1)`` and ``(t+1, t+2)``.
    x_test, x_next_test : torch.Tensor, optional
        Test inputs, evaluated every ``eval_every`` steps.
    steps, batch_size : int
        Paper: 10000 steps of 200 samples.
    learning_rate, weight_decay : float
        Paper: 1e-3 and 1e-5 (weight decay on every parameter, autoencoder included).
    eval_every : int
        Steps between evaluations of the total loss on the whole train and test sets.
    seed : int
        Seeds the minibatch sampler.
    progress : bool
        Show a tqdm progress bar.
    description : str, optional
        Label of the progress bar.

    Returns
    -------
    TrainingHistory
        ``train_loss`` and ``test_loss`` hold the total loss.
    """
    if not isinstance(model, PixelDynamicsModel):
        raise TypeError(f"model must be a PixelDynamicsModel, got {type(model).__name__}")
    x = model._pixels(x, "x")
    x_next = model._pixels(x_next, "x_next")
    if x.ndim != 2 or x_next.shape != x.shape:
        raise ValueError(f"x and x_next must both have shape (n_samples, {model.input_dim}), got {tuple(x.shape)} and {tuple(x_next.shape)}")
    if (x_test is None) != (x_next_test is None):
        raise ValueError("give both x_test and x_next_test, or neither")
    if x_test is not None:
        x_test = model._pixels(x_test, "x_test")
        x_next_test = model._pixels(x_next_test, "x_next_test")
        if x_test.ndim != 2 or x_next_test.shape != x_test.shape:
            raise ValueError(f"x_test and x_next_test must both have shape (n_test, {model.input_dim}), got {tuple(x_test.shape)} and {tuple(x_next_test.shape)}")
    eval_every = check_positive_int(eval_every, "eval_every")
    batches = minibatch_indices(x.shape[0], batch_size, steps, seed=seed, device=x.device)
    log_training(model, (x, x_next), dict(steps=steps, learning_rate=learning_rate, weight_decay=weight_decay,
                                          batch_size=batch_size, seed=seed), description)

    columns, pairs = _lit_pairs(x, x_next)  # the encoder reads only the lit pixels: the others are zero
    test = _lit_pairs(x_test, x_next_test) if x_test is not None else None  # the test set's own lit pixels
    # While training, the encoder's first weight matrix is held as two parameters: its lit columns, which
    # the loss depends on, and the dark ones, whose gradient is exactly zero, so Adam moves them by weight
    # decay alone ("decay_only"). The same updates, bit for bit, without gathering the lit columns and
    # scattering their gradient back at every step (tested).
    first = model.autoencoder.encoder_layers[0]
    dark = torch.ones(first.weight.shape[1], dtype=torch.bool, device=x.device)
    dark[columns] = False
    dark = dark.nonzero().squeeze(1)
    lit_weight = nn.Parameter(first.weight.detach().index_select(1, columns))
    dark_weight = nn.Parameter(first.weight.detach().index_select(1, dark))
    others = [p for p in model.parameters() if p is not first.weight]

    def put_back() -> None:  # the two parts into the model's weight matrix
        with torch.no_grad():
            first.weight.index_copy_(1, columns, lit_weight)
            first.weight.index_copy_(1, dark, dark_weight)

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        both = pairs.index_select(1, idx).view(2 * idx.shape[0], -1)  # = cat([x[idx], x_next[idx]]), lit pixels
        return model._stacked_losses(both, columns, x.index_select(0, idx), lit_weight).total

    def eval_losses() -> tuple[float, float]:  # = evaluate_pixel_loss on each set, up to round-off
        put_back()
        train_loss = _lit_pixel_loss(model, columns, pairs, x)
        return train_loss, _lit_pixel_loss(model, *test, x_test) if test is not None else float("nan")

    try:
        with flush_denormals():
            return optimize(model, batch_loss, eval_losses, batches, steps=steps, learning_rate=learning_rate,
                            weight_decay=weight_decay, eval_every=eval_every, progress=progress, description=description,
                            parameters=[*others, lit_weight], decay_only=[dark_weight])
    finally:
        put_back()


def rollout_latent(model: PixelDynamicsModel, x0: torch.Tensor, n_frames: int, *, substeps: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode ``x0``, integrate the latent dynamics with RK4 for ``n_frames`` frames, decode.

    The paper integrates in latent space with a fourth-order Runge-Kutta method (Section 5.2).

    Parameters
    ----------
    model : PixelDynamicsModel
    x0 : torch.Tensor, shape (B, input_dim)
        Initial stacked frames.
    n_frames : int
        Number of frames of the returned rollout, the first being ``encode(x0)``.
    substeps : int
        RK4 steps per frame.

    Returns
    -------
    z : torch.Tensor, shape (B, n_frames, latent_dim)
        Latent trajectory.
    x : torch.Tensor, shape (B, n_frames, input_dim)
        Its decoded frames.
    """
    n_frames = check_positive_int(n_frames, "n_frames")
    with torch.no_grad():
        z0 = model.encode(x0)
        if z0.ndim != 2:
            raise ValueError(f"x0 must have shape (B, {model.input_dim}), got {tuple(x0.shape)}")
    t = torch.arange(n_frames, dtype=z0.dtype)
    with torch.no_grad():
        z = rk4(model.time_derivative, z0, t, substeps=substeps)  # (B, n_frames, latent_dim)
        x = model.decode(z)
    return z, x
