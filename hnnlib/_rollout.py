"""What every integrator shares: the time grid, the batch axis, and calling the vector field with checks."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from ._checks import NonFiniteError, all_finite, as_state_tensor, check_float_dtype
from ._typing import VectorField


def time_grid(t: Any, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Return ``t`` as a strictly increasing 1-D tensor of real, finite times."""
    if isinstance(t, torch.Tensor):
        if t.is_complex() or t.dtype == torch.bool:
            raise TypeError(f"t must hold real numbers, got dtype {t.dtype}")
    else:
        t = np.asarray(t)
        if t.dtype.kind not in "iuf":
            raise TypeError(f"t must hold real numbers, got numpy dtype {t.dtype}")
        t = torch.as_tensor(t.astype(np.float64))
    if t.ndim != 1 or t.numel() < 1:
        raise ValueError(f"t must be a 1-D grid of times, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError("t contains NaN or inf values")
    if t.numel() > 1 and not (torch.diff(t) > 0).all():
        raise ValueError("t must be strictly increasing")
    return t.to(dtype=dtype, device=device)


def step_sizes(t: torch.Tensor, substeps: int) -> tuple[list[float], list[float]]:
    """The output times and the step in each interval of the grid ``t``, as Python floats.

    The steps are ``(t[i + 1] - t[i]) / substeps`` computed in ``t``'s dtype, so a loop that uses
    these floats takes exactly the steps it would take with 0-d tensors (a float32 value is exact
    as a Python float, and float32 arithmetic on it rounds as a double-then-float32 would), while
    skipping a tensor operation per use: most of a small system's step is such overhead.
    """
    return t.tolist(), ((t[1:] - t[:-1]) / substeps).tolist()


def with_batch_axis(x0: Any, name: str = "x0") -> tuple[torch.Tensor, bool]:
    """Return ``x0`` with a batch axis, shape ``(B, D)``, and whether one was added."""
    x0 = as_state_tensor(x0, None, name)
    if x0.ndim not in (1, 2):
        raise ValueError(f"{name} must have shape (D,) or (B, D), got {tuple(x0.shape)}")
    return (x0[None], True) if x0.ndim == 1 else (x0, False)


def field_dtype(f: VectorField, dtype: torch.dtype | None) -> torch.dtype:
    """The dtype to evaluate ``f`` in: ``dtype``, else that of the first parameter of ``f``'s owner, else float64."""
    if dtype is not None:
        return check_float_dtype(dtype, "dtype")
    owner = getattr(f, "__self__", None)
    params = list(owner.parameters()) if isinstance(owner, torch.nn.Module) else []
    return params[0].dtype if params else torch.float64


def field_name(f: VectorField) -> str:
    """A readable name for a vector field, e.g. ``'HNN.time_derivative'`` or ``'<lambda>'``."""
    return getattr(f, "__qualname__", None) or type(f).__name__


def check_shape(dx: Any, x: torch.Tensor) -> torch.Tensor:
    """``dx``, if it is a tensor of ``x``'s shape; ValueError naming both shapes otherwise."""
    if not isinstance(dx, torch.Tensor) or dx.shape != x.shape:
        shape = tuple(dx.shape) if hasattr(dx, "shape") else type(dx).__name__
        raise ValueError(f"the vector field must map states {tuple(x.shape)} to derivatives of the same shape, got {shape}")
    return dx


def call_field(f: VectorField, x: torch.Tensor, t: Any, rows: np.ndarray | None = None) -> torch.Tensor:
    """Evaluate ``dx = f(x)`` at time(s) ``t``, checking its shape and that it is finite.

    Parameters
    ----------
    f : callable
        Vector field, tensor ``(B, D)`` -> tensor ``(B, D)``.
    x : torch.Tensor, shape (B, D)
    t : float, or array of shape (B,)
        The time of each state, for the error message only (the fields here are autonomous).
    rows : numpy.ndarray of int, shape (B,), optional
        The trajectory each state belongs to, for the error message (default: ``0..B-1``).

    Raises
    ------
    ValueError
        If ``f`` does not return a tensor of ``x``'s shape.
    NonFiniteError
        If ``f`` returns NaN or inf: the message names the field, the time and the state.
    """
    dx = check_shape(f(x), x)
    if not all_finite(dx):  # one check on the fast path; the row is looked for only on failure
        finite = torch.isfinite(dx).all(dim=-1)
        row = int(torch.nonzero(~finite)[0, 0])
        when = float(t) if np.ndim(t) == 0 else float(np.asarray(t)[row])
        raise NonFiniteError(
            f"the vector field {field_name(f)} returned NaN or inf at t = {when:.6g} for the state "
            f"{x[row].detach().cpu().tolist()} (trajectory {row if rows is None else int(rows[row])}); "
            "it is not finite there"
        )
    return dx


#: The vector field as an integrator's step calls it: ``field(x, time)``, ``time`` only to name it in errors.
FieldAt = Callable[[torch.Tensor, float], torch.Tensor]

#: One step of a fixed-step integrator: ``step(field, state, s, h) -> state`` from time ``s`` to ``s + h``.
Step = Callable[[FieldAt, Any, float, float], Any]


def march(step: Step, f: VectorField, state: Any, t: torch.Tensor, substeps: int, *,
          output: Callable[[Any], torch.Tensor] = lambda state: state) -> list[torch.Tensor]:
    """Take a fixed-step integrator's steps over the grid ``t``; the states at the times ``t``.

    Every value of ``f`` is checked for NaN and inf as :func:`call_field` checks it, but a block of
    steps at a time (one check of all the block's values instead of one per call, which is most of
    a small system's step). If a block's values are not all finite, or ``f`` raises inside it, the
    block is taken again from its start with :func:`call_field` at every call, so the error raised
    is the one a check at every call raises (the first non-finite value, its time and its state).
    The states are the same numbers either way. ``f`` must be deterministic (the same values for
    the same states), as a vector field is.

    Parameters
    ----------
    step : callable
        ``step(field, state, s, h)``: one step, calling ``field(x, time)`` for the vector field.
    f : callable
        The vector field, tensor ``(B, D)`` -> tensor ``(B, D)``.
    state : any
        The initial state, in the form ``step`` takes.
    t : torch.Tensor, shape (T,)
        The output times; ``substeps`` equal steps between neighbours.
    substeps : int
    output : callable
        Maps a state to the tensor stored for it (default: the state itself). Blocks are shorter
        for states of many numbers (the memory of a block's check).

    Returns
    -------
    list of torch.Tensor, ``T`` entries: ``output`` of the state at each time of ``t``.
    """
    times, steps = step_sizes(t, substeps)
    schedule = [(t_i + j * h, h, j == substeps - 1) for t_i, h in zip(times, steps) for j in range(substeps)]
    out = [output(state)]
    block = max(1, min(64, 2**16 // max(1, out[0].numel())))
    values: list[torch.Tensor] = []

    def unchecked(x: torch.Tensor, time: float) -> torch.Tensor:
        dx = check_shape(f(x), x)
        values.append(dx)
        return dx

    def checked(x: torch.Tensor, time: float) -> torch.Tensor:
        return call_field(f, x, time)

    for first in range(0, len(schedule), block):
        start, stored = state, len(out)
        values.clear()
        try:
            for s, h, last in schedule[first : first + block]:
                state = step(unchecked, state, s, h)
                if last:
                    out.append(output(state))
            with torch.no_grad():
                finite = all_finite(torch.stack(values))
        except Exception:  # noqa: BLE001 - taken again with checks, which raise the error a checked run raises
            finite = False
        if not finite:
            state = start
            del out[stored:]
            for s, h, last in schedule[first : first + block]:
                state = step(checked, state, s, h)
                if last:
                    out.append(output(state))
    return out
