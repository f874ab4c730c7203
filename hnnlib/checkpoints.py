"""Checkpoints: a model's class, configuration and weights in one file, loaded without unpickling code.

Files are written by ``torch.save`` and read by ``torch.load(..., weights_only=True)``, which
never unpickles arbitrary objects; the recorded class must be one of :data:`MODEL_CLASSES`.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from ._io import atomic_write
from .models import HNN, BaselineNN
from .pixel.models import PixelDynamicsModel

#: The classes a checkpoint may hold, by name.
MODEL_CLASSES: dict[str, type[nn.Module]] = {"BaselineNN": BaselineNN, "HNN": HNN, "PixelDynamicsModel": PixelDynamicsModel}
CHECKPOINT_FORMAT = "hnnlib.checkpoint"
CHECKPOINT_VERSION = 1


def save_checkpoint(model: nn.Module, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> None:
    """Save ``model``'s class name, configuration and weights to ``path``.

    Parameters
    ----------
    model : BaselineNN, HNN or PixelDynamicsModel
    path : path-like
        Written atomically (a temporary file beside it, then a rename).
    metadata : dict, optional
        Plain values only (str, int, float, bool, lists and dicts of them), e.g. the seed.
    """
    name = type(model).__name__
    if name not in MODEL_CLASSES:
        raise TypeError(f"can only save {sorted(MODEL_CLASSES)}, got {name}")
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "model_class": name,
        "config": dict(model.config),
        "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metadata": dict(metadata or {}),
    }
    atomic_write(path, lambda handle: torch.save(checkpoint, handle))


def load_checkpoint(path: str | os.PathLike, device: torch.device | str = "cpu") -> nn.Module:
    """Load a model saved by :func:`save_checkpoint`, in eval mode.

    Uses ``torch.load(..., weights_only=True)``: the file is never unpickled as arbitrary code.
    The checkpoint's ``metadata`` dict is attached as ``model.metadata``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a readable hnnlib checkpoint (corrupt, foreign, wrong version,
        unknown model class, or weights that do not fit the recorded configuration).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path!r}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # corrupt bytes, or a pickle that is more than weights
        raise ValueError(f"{path!r} is not a readable hnnlib checkpoint (torch.load with weights_only=True failed: {err})") from err
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path!r} is not an hnnlib checkpoint (expected a dict with format={CHECKPOINT_FORMAT!r})")
    version = ckpt.get("format_version")
    if type(version) is not int or version != CHECKPOINT_VERSION:
        raise ValueError(f"{path!r} has checkpoint format_version {version!r}; this hnnlib reads version {CHECKPOINT_VERSION}")
    name = ckpt.get("model_class")
    cls = MODEL_CLASSES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"{path!r} holds an unknown model class {ckpt.get('model_class')!r}; expected one of {sorted(MODEL_CLASSES)}")
    config = ckpt.get("config")
    if not isinstance(config, dict):
        raise ValueError(f"{path!r} has no model configuration dict")
    try:
        model = cls(**config)
        dtype = getattr(torch, str(ckpt.get("dtype", "float32")))
        model = model.to(dtype=dtype)
        model.load_state_dict(ckpt["state_dict"])
    except (TypeError, ValueError, RuntimeError, KeyError, AttributeError) as err:
        raise ValueError(f"{path!r}: the weights do not fit a {cls.__name__} with config {config}: {err}") from err
    metadata = ckpt.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ValueError(f"{path!r}: metadata must be a dict, got {type(metadata).__name__}")
    model.metadata = metadata
    return model.to(device).eval()
