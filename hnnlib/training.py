"""Training loop: Adam on the L2 loss of predicted time derivatives (paper Section 3.1, Eq. 3)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ._checks import NonFiniteError, as_state_tensor, check_dynamics_model, check_finite_number, check_positive_int, check_seed
from .data import TrajectoryDataset
from .memory import keep_freed_memory
from .models import LOSSES, l2_loss  # noqa: F401  (l2_loss: importable from here, as before)
from .optim import Adam, check_lr_schedule, scheduled_learning_rate
from .progress import progress_bar


#: Environment variable naming a file to which every training run appends a line: the fingerprint of
#: what determines the trained weights, then the run's description. Counting repeated fingerprints
#: over a whole ``make test`` shows whether any model was trained twice (benchmarks/training_counts.py).
TRAINING_LOG_ENV_VAR = "HNNLIB_TRAINING_LOG"


def log_training(model: nn.Module, tensors: Iterable[torch.Tensor | None], options: dict, description: str | None) -> None:
    """Append this run's fingerprint to ``$HNNLIB_TRAINING_LOG`` (nothing when it is unset).

    The fingerprint is the sha256 of the model's class and initial weights, the training data and the
    options that change the weights (not the evaluation schedule or the progress bar).
    """
    path = os.environ.get(TRAINING_LOG_ENV_VAR)
    if not path:
        return
    digest = hashlib.sha256(type(model).__name__.encode())
    for name, value in model.state_dict().items():
        digest.update(name.encode() + value.detach().cpu().contiguous().numpy().tobytes())
    for tensor in tensors:
        if tensor is not None:
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    digest.update(json.dumps(options, sort_keys=True, default=str).encode())
    with open(path, "a", encoding="utf-8") as log:
        log.write(f"{digest.hexdigest()} {description or ''}\n")


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)``, then restore the previous count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def set_seed(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's global generators (do it before building a model).

    ``seed`` is an int in ``[0, 2**32 - 1]`` (TypeError or ValueError otherwise).
    """
    seed = check_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class TrainingHistory:
    """Losses recorded while training.

    Attributes
    ----------
    step : list of int
        Steps at which the full train and test sets were evaluated (0 = before training).
    train_loss, test_loss : list of float
        L2 loss over the whole train / test set at those steps (``nan`` without a test set), or
        over a fixed subset of each when :func:`fit` was given ``eval_samples``.
    batch_loss : list of float
        The loss of the batch used at each optimisation step (length ``steps``).
    """

    step: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    batch_loss: list[float] = field(default_factory=list)


def evaluate_loss(model: nn.Module, x: torch.Tensor, dx: torch.Tensor, loss: str = "l2") -> float:
    """The ``loss`` (a name of :data:`hnnlib.models.LOSSES`; default L2) of ``model``'s derivatives on ``(x, dx)``, without a training graph."""
    with torch.no_grad():
        return float(LOSSES[loss](model.time_derivative(x), dx))


def minibatch_indices(
    n: int, batch_size: int | None, steps: int, *, seed: int = 0, sampler: str = "randperm", device: torch.device | str = "cpu"
) -> Iterator[torch.Tensor | None]:
    """Yield the sample indices of each of ``steps`` minibatches (``None`` for full batch).

    Each minibatch is ``batch_size`` distinct samples out of ``n``, drawn independently at every
    step and seeded by ``seed``; see :func:`fit` for the two samplers.

    Parameters
    ----------
    n : int
        Number of training samples.
    batch_size : int or None
        Samples per step; ``None`` means the full batch at every step.
    steps : int
    seed : int
    sampler : {"randperm", "choice"}
    device : torch device
        Where the index tensors are put.
    """
    n, steps = check_positive_int(n, "n"), check_positive_int(steps, "steps")
    seed = check_seed(seed)
    if sampler not in ("randperm", "choice"):
        raise ValueError(f"sampler must be 'randperm' or 'choice', got {sampler!r}")
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, "batch_size")
        if batch_size > n:
            raise ValueError(f"batch_size={batch_size} exceeds the {n} training samples")
    generator = torch.Generator(device="cpu").manual_seed(seed)
    batch_rng = np.random.default_rng(seed)

    def batches() -> Iterator[torch.Tensor | None]:  # checks above run at call time, not at first batch
        for _ in range(steps):
            if batch_size is None:
                yield None
            elif sampler == "randperm":
                yield torch.randperm(n, generator=generator)[:batch_size].to(device)
            else:
                yield torch.from_numpy(batch_rng.choice(n, batch_size, replace=False)).to(device)

    return batches()


def fit(
    model: nn.Module,
    x: torch.Tensor,
    dx: torch.Tensor,
    *,
    x_test: torch.Tensor | None = None,
    dx_test: torch.Tensor | None = None,
    steps: int = 2000,
    learning_rate: float = 1e-3,
    weight_decay: float = 0.0,
    batch_size: int | None = None,
    eval_every: int = 100,
    seed: int = 0,
    progress: bool = True,
    description: str | None = None,
    eval_samples: int | None = None,
    sampler: str = "randperm",
    lr_schedule: str = "constant",
    loss: str = "l2",
) -> TrainingHistory:
    """Train ``model`` to map states ``x`` to derivatives ``dx`` with Adam.

    Full batch when ``batch_size`` is None (Tasks 1-3), else a minibatch of ``batch_size``
    samples drawn without replacement at every step (Task 4). Deterministic for a given seed
    on one machine and thread count.

    No test loss is computed at every step (the reference code does, only to log it): the train
    and test losses are evaluated every ``eval_every`` steps, on all samples or, with
    ``eval_samples``, on a fixed random subset of each set.

    Parameters
    ----------
    model : BaselineNN or HNN (anything with ``time_derivative``)
    x, dx : torch.Tensor, shape (n_samples, D)
        Training inputs and target derivatives, on the model's device and dtype.
    x_test, dx_test : torch.Tensor, shape (n_test, D), optional
        Evaluated every ``eval_every`` steps (not every step).
    steps : int
        Optimisation steps (paper: 2000 for Tasks 1-3).
    learning_rate : float
        Adam's learning rate (paper: 1e-3).
    weight_decay : float
        Adam's L2 weight decay (reference code: 1e-4 for Tasks 1-2).
    batch_size : int, optional
    eval_every : int
        Steps between full evaluations; the last step is always evaluated.
    seed : int
        Seeds the minibatch sampler (and the choice of ``eval_samples``).
    progress : bool
        Show a tqdm progress bar.
    description : str, optional
        Label of the progress bar.
    eval_samples : int, optional
        Record the losses on at most this many samples of the train set and of the test set,
        drawn once (without replacement, seeded by ``seed``) and kept for the whole run. Default:
        all samples. Large datasets (80,000 three-body samples) make full evaluations costly.
    sampler : {"randperm", "choice"}
        How a minibatch is drawn. ``"randperm"`` (default): the first ``batch_size`` entries of
        ``torch.randperm(n)``, as the reference code does; it costs O(n) per step.
        ``"choice"``: ``numpy.random.Generator.choice(n, batch_size, replace=False)``, the same
        distribution (a uniformly random subset, independent from step to step) at O(batch_size)
        cost. The two give different batches for the same seed.
    lr_schedule : {"constant", "cosine"}
        See :func:`optimize`; default the paper's constant rate.
    loss : {"l2", "l1"}
        The loss trained and recorded (:data:`hnnlib.models.LOSSES`): the paper's mean squared
        error (Eq. 3), or the mean absolute error.

    Returns
    -------
    TrainingHistory

    Raises
    ------
    TypeError
        If ``model`` has no ``time_derivative`` method, or a number is of the wrong type.
    ValueError
        If the data have the wrong shapes or hold NaN or inf, or a setting is out of range (a
        learning rate that is not finite and > 0, a weight decay that is not finite and >= 0).
    NonFiniteError
        If the loss becomes NaN or inf; the message names the step.
    """
    check_dynamics_model(model)
    x = as_state_tensor(x, None, "x")
    dx = as_state_tensor(dx, x.shape[-1], "dx")
    if x.ndim != 2 or dx.shape != x.shape:
        raise ValueError(f"x and dx must both have shape (n_samples, D), got {tuple(x.shape)} and {tuple(dx.shape)}")
    if (x_test is None) != (dx_test is None):
        raise ValueError("give both x_test and dx_test, or neither")
    if x_test is not None:
        x_test = as_state_tensor(x_test, x.shape[-1], "x_test")
        dx_test = as_state_tensor(dx_test, x.shape[-1], "dx_test")
    steps = check_positive_int(steps, "steps")
    eval_every = check_positive_int(eval_every, "eval_every")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
    loss_fn = LOSSES[loss]
    n = x.shape[0]
    batches = minibatch_indices(n, batch_size, steps, seed=seed, sampler=sampler, device=x.device)
    x_eval, dx_eval, x_test_eval, dx_test_eval = x, dx, x_test, dx_test
    if eval_samples is not None:
        eval_samples = check_positive_int(eval_samples, "eval_samples")
        eval_rng = np.random.default_rng([seed, 1])  # independent of the minibatch stream

        def subset(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            if a.shape[0] <= eval_samples:
                return a, b
            rows = torch.from_numpy(np.sort(eval_rng.choice(a.shape[0], eval_samples, replace=False))).to(a.device)
            return a[rows], b[rows]

        x_eval, dx_eval = subset(x, dx)
        if x_test is not None:
            x_test_eval, dx_test_eval = subset(x_test, dx_test)

    log_training(model, (x, dx), dict(steps=steps, learning_rate=learning_rate, weight_decay=weight_decay,
                                      batch_size=batch_size, seed=seed, sampler=sampler, lr_schedule=lr_schedule,
                                      **({} if loss == "l2" else {"loss": loss})), description)

    def batch_loss(idx: torch.Tensor | None) -> torch.Tensor:
        if idx is None:
            return loss_fn(model.time_derivative(x), dx)
        return loss_fn(model.time_derivative(x.index_select(0, idx)), dx.index_select(0, idx))  # = x[idx], faster

    def eval_losses() -> tuple[float, float]:
        train_loss = evaluate_loss(model, x_eval, dx_eval, loss)
        return train_loss, evaluate_loss(model, x_test_eval, dx_test_eval, loss) if x_test is not None else float("nan")

    return optimize(model, batch_loss, eval_losses, batches, steps=steps, learning_rate=learning_rate,
                    weight_decay=weight_decay, eval_every=eval_every, progress=progress, description=description,
                    lr_schedule=lr_schedule)


def optimize(
    model: nn.Module,
    batch_loss: Callable[[torch.Tensor | None], torch.Tensor],
    eval_losses: Callable[[], tuple[float, float]],
    batches: Iterable[torch.Tensor | None],
    *,
    steps: int,
    learning_rate: float,
    weight_decay: float,
    eval_every: int,
    progress: bool,
    description: str | None,
    lr_schedule: str = "constant",
    parameters: Iterable[nn.Parameter] | None = None,
    decay_only: Iterable[nn.Parameter] = (),
) -> TrainingHistory:
    """The training loop of every model in the book: Adam on ``batch_loss``, evaluated every ``eval_every`` steps.

    :func:`fit` (time-derivative targets, Tasks 1-4) and :func:`hnnlib.pixel.models.fit_pixel_model`
    (Task 5) check their data, then call this loop.

    Parameters
    ----------
    model : nn.Module
        Trained in place; left in eval mode.
    batch_loss : callable
        ``batch_loss(indices)`` -> scalar loss of the minibatch with those sample indices
        (``None``: the full batch), with a graph to differentiate.
    eval_losses : callable
        ``eval_losses()`` -> ``(train_loss, test_loss)`` as floats, recorded at step 0, every
        ``eval_every`` steps and at the last step.
    batches : iterable
        ``steps`` index tensors (or ``None``), e.g. from :func:`minibatch_indices`.
    steps, learning_rate, weight_decay, eval_every, progress, description
        As in :func:`fit`.
    lr_schedule : {"constant", "cosine"}
        The learning rate of each step (:func:`hnnlib.optim.scheduled_learning_rate`): always
        ``learning_rate`` (the paper's), or decayed along a cosine to almost 0 at the last step.
    parameters : iterable of torch.nn.Parameter, optional
        What Adam trains (default: ``model.parameters()``); a loop that holds some weights apart
        from the model while it trains passes them here.
    decay_only : iterable of torch.nn.Parameter, optional
        Parameters the loss does not depend on, moved by weight decay alone (see
        :class:`hnnlib.optim.Adam`).

    Raises
    ------
    NonFiniteError
        If a batch loss or a recorded loss is NaN or inf: training stops at that step, before the
        weights are updated with its gradients.
    """
    if not isinstance(model, nn.Module) or not any(True for _ in model.parameters()):
        raise TypeError(f"model must be a torch.nn.Module with parameters, got {type(model).__name__}")
    steps, eval_every = check_positive_int(steps, "steps"), check_positive_int(eval_every, "eval_every")
    learning_rate = check_finite_number(learning_rate, "learning_rate", minimum=0.0, strict=True)
    weight_decay = check_finite_number(weight_decay, "weight_decay", minimum=0.0, strict=False)
    lr_schedule = check_lr_schedule(lr_schedule)
    keep_freed_memory()  # a step frees and re-allocates the same arrays: reuse them (hnnlib.memory)
    optimizer = Adam(model.parameters() if parameters is None else parameters, lr=learning_rate,
                     weight_decay=weight_decay, decay_only=decay_only)
    history = TrainingHistory()

    def record(step: int) -> None:
        train_loss, test_loss = eval_losses()
        if not math.isfinite(train_loss) or math.isinf(test_loss):  # a NaN test loss means "no test set"
            raise NonFiniteError(f"the evaluated loss is not finite at step {step} of {steps} (train {train_loss}, test {test_loss}); "
                                 "try a smaller learning_rate")
        history.step.append(step)
        history.train_loss.append(train_loss)
        history.test_loss.append(test_loss)

    model.train()
    record(0)
    bar = progress_bar(batches, total=steps, desc=description, disable=not progress, leave=True)
    for step, idx in enumerate(bar, start=1):
        loss = batch_loss(idx)
        value = loss.item()
        if not math.isfinite(value):
            raise NonFiniteError(f"the training loss became {value} at step {step} of {steps}; try a smaller learning_rate")
        optimizer.zero_grad()
        loss.backward()
        if lr_schedule != "constant":
            optimizer.set_learning_rate(scheduled_learning_rate(lr_schedule, learning_rate, step - 1, steps))
        optimizer.step()
        history.batch_loss.append(value)
        if step % eval_every == 0 or step == steps:
            record(step)
            losses = {"train": history.train_loss[-1], "test": history.test_loss[-1]}
            bar.set_postfix({k: f"{v:.2e}" for k, v in losses.items() if math.isfinite(v)}, refresh=False)  # no test set: no test=nan
    model.eval()
    return history


def train(model: nn.Module, data: TrajectoryDataset, **options) -> TrainingHistory:
    """Train on a :class:`~hnnlib.data.TrajectoryDataset`'s train split, tracking its test split.

    ``options`` are those of :func:`fit` (``steps``, ``weight_decay``, ``batch_size``, ...).
    """
    if not isinstance(data, TrajectoryDataset):
        raise TypeError(f"data must be a TrajectoryDataset, got {type(data).__name__}")
    return fit(model, data.train.inputs, data.train.targets, x_test=data.test.inputs, dx_test=data.test.targets, **options)
