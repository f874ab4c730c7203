"""Input checks shared by the modules: clear errors instead of silent wrong results."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

#: The dtypes hnnlib computes in. float16 and bfloat16 are not supported: SciPy's integrators work
#: in float64, and half precision cannot resolve the energy errors that Table 1 measures.
FLOAT_DTYPES = (torch.float32, torch.float64)


class NonFiniteError(FloatingPointError):
    """A computation produced NaN or inf: a vector field during a rollout, or the loss during training.

    Raised where the value first appears; the message names what produced it and where (the field,
    the time and the state; or the training step).
    """


def check_float_dtype(dtype: Any, name: str = "dtype") -> torch.dtype:
    """Return ``dtype`` if it is ``torch.float32`` or ``torch.float64``.

    Raises
    ------
    TypeError
        If ``dtype`` is not a ``torch.dtype`` (a string, a NumPy dtype, ...).
    ValueError
        If it is another torch dtype: integer, complex, bool, float16 or bfloat16.
    """
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"{name} must be a torch.dtype (torch.float32 or torch.float64), got {dtype!r}")
    if dtype not in FLOAT_DTYPES:
        raise ValueError(f"{name} must be torch.float32 or torch.float64, got {dtype} (half precision, integer, "
                         "complex and bool dtypes are not supported)")
    return dtype


def check_device(device: Any, name: str = "device") -> torch.device:
    """Return ``device`` as a ``torch.device`` that exists on this machine.

    Raises
    ------
    TypeError
        If ``device`` is neither a string nor a ``torch.device``.
    ValueError
        If it is not a device name, or names a CUDA or MPS device this machine does not have.
    """
    if isinstance(device, str):
        try:
            device = torch.device(device)
        except RuntimeError:
            raise ValueError(f"{name} {device!r} is not a device name (e.g. 'cpu', 'cuda', 'cuda:0', 'mps')") from None
    elif not isinstance(device, torch.device):
        raise TypeError(f"{name} must be a str or torch.device, e.g. 'cpu', got {device!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name} {str(device)!r} is not available: torch.cuda.is_available() is False on this machine")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{name} {str(device)!r} is not available: torch.backends.mps.is_available() is False on this machine")
    return device


def check_finite_number(value: Any, name: str, *, minimum: float = 0.0, strict: bool = True) -> float:
    """Return ``value`` as a float if it is a finite real number above ``minimum`` (or at it, ``strict=False``).

    Raises
    ------
    TypeError
        If ``value`` is not a real number (strings and bools are refused).
    ValueError
        If it is NaN, inf or out of range.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < minimum or (strict and value == minimum):
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {minimum:g}, got {value}")
    return value


def all_finite(x: torch.Tensor) -> bool:
    """True when no entry of ``x`` (a floating tensor) is NaN or inf.

    One sum on the usual path: a sum is NaN or inf when any entry is, and otherwise only when it
    overflows, which the element-wise test then settles. The same answer as
    ``bool(torch.isfinite(x).all())``, for a quarter of its cost on the small tensors that a
    rollout checks at every field call (one reduction instead of several element-wise passes).
    """
    x = x.detach()
    if x.is_complex():  # math.isfinite takes real numbers only
        return bool(torch.isfinite(x).all())
    return math.isfinite(x.sum().item()) or bool(torch.isfinite(x).all())


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
        if x.dtype.kind != "f":  # float16 to longdouble; what torch cannot hold is refused below
            raise TypeError(f"{name} must hold floating-point numbers, got numpy dtype {x.dtype}")
        x = torch.from_numpy(x)
    elif not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must have a floating dtype, float32 or float64, got {x.dtype}")
    if x.ndim == 0:
        raise ValueError(f"{name} must have shape (..., {dim if dim is not None else 'D'}), got a scalar")
    if dim is not None and x.shape[-1] != dim:
        raise ValueError(
            f"{name} must have shape (..., {dim}) (last axis: q and p coordinates), "
            f"got shape {tuple(x.shape)}"
        )
    if dtype is not None:
        check_float_dtype(dtype)
    if device is not None:
        device = check_device(device)
    if dtype is not None or device is not None:
        x = x.to(dtype=dtype or x.dtype, device=device or x.device)
    if not all_finite(x):
        raise ValueError(f"{name} contains NaN or inf values")
    return x


def check_dynamics_model(model: Any, name: str = "model") -> torch.nn.Module:
    """Return ``model`` if it is an ``nn.Module`` with a ``time_derivative`` method (a BaselineNN or HNN).

    Raises
    ------
    TypeError
        Otherwise, saying what is expected.
    """
    if not isinstance(model, torch.nn.Module) or not callable(getattr(model, "time_derivative", None)):
        raise TypeError(
            f"{name} must be a torch.nn.Module with a time_derivative(x) method (a BaselineNN or HNN), got {type(model).__name__}"
        )
    return model


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
