"""Input checks shared by the modules: clear errors instead of silent wrong results."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def as_state_tensor(
    x: Any,
    dim: int | None,
    name: str = "x",
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Return ``x`` as a floating tensor of shape ``(..., dim)`` with finite entries.

    Parameters
    ----------
    x : torch.Tensor or numpy.ndarray
        States, last axis the phase-space coordinates ``(q_1..q_N, p_1..p_N)``.
    dim : int or None
        Expected size of the last axis (``2 N``); ``None`` skips the check.
    name : str
        Name used in error messages.
    dtype, device : optional
        Convert to these. NumPy input keeps float64 unless ``dtype`` says otherwise.

    Raises
    ------
    TypeError
        If ``x`` is not a tensor or array, or its dtype is not floating point.
    ValueError
        If the last axis is not ``dim`` long, or ``x`` holds NaN or inf.
    """
    if isinstance(x, np.ndarray):
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"{name} must hold floating-point numbers, got numpy dtype {x.dtype}")
        x = torch.from_numpy(x)
    elif not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must have a floating dtype (e.g. torch.float32), got {x.dtype}")
    if x.ndim == 0:
        raise ValueError(f"{name} must have shape (..., {dim if dim is not None else 'D'}), got a scalar")
    if dim is not None and x.shape[-1] != dim:
        raise ValueError(
            f"{name} must have shape (..., {dim}) (last axis: q and p coordinates), "
            f"got shape {tuple(x.shape)}"
        )
    if dtype is not None or device is not None:
        x = x.to(dtype=dtype or x.dtype, device=device or x.device)
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf values")
    return x


def check_positive_int(value: Any, name: str) -> int:
    """Return ``value`` if it is a positive int, else raise a ValueError/TypeError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)


def check_range(low_high: Any, name: str, *, minimum: float | None = None) -> tuple[float, float]:
    """Return ``(low, high)`` as floats with ``low <= high`` (and ``low >= minimum``)."""
    try:
        low, high = (float(v) for v in low_high)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high) of numbers, got {low_high!r}") from None
    if not (np.isfinite(low) and np.isfinite(high)) or low > high:
        raise ValueError(f"{name} must satisfy low <= high with finite values, got {low_high!r}")
    if minimum is not None and low < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {low_high!r}")
    return low, high


#: Seeds must fit every generator the library uses (NumPy's legacy RandomState: < 2**32).
MAX_SEED = 2**32 - 1


def check_seed(seed: Any, name: str = "seed") -> int:
    """Return ``seed`` if it is an int in ``[0, 2**32 - 1]``, else raise a clear error.

    Raises
    ------
    TypeError
        If ``seed`` is not an int (bools are refused).
    ValueError
        If it is negative or too large for NumPy's generators.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {seed!r}")
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"{name} must lie in [0, {MAX_SEED}], got {seed}")
    return int(seed)
