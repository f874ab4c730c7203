"""Checkpoints: a model's class, configuration and weights in one file, loaded without unpickling code.

Files are written by ``torch.save`` and read by ``torch.load(..., weights_only=True)``, which
never unpickles arbitrary objects; the recorded class must be one of :data:`MODEL_CLASSES`.

Nothing corrupt is trusted. A checkpoint carries the sha256 of its weights as stored
(:func:`weights_sha256`), checked on load; weights that are NaN or inf, of a dtype other than
float32/float64, of a dtype other than the recorded one, or of shapes other than the recorded
configuration's are refused before any model is built at full size.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import torch
from torch import nn

from ._checks import FLOAT_DTYPES, check_device
from ._io import atomic_write
from .models import HNN, BaselineNN, SeparableHNN
from .lagrangian import LNN, MechanicalLNN
from .models import DissipativeHNN
from .pixel.models import PixelDynamicsModel

#: The classes a checkpoint may hold, by name.
MODEL_CLASSES: dict[str, type[nn.Module]] = {"BaselineNN": BaselineNN, "HNN": HNN, "PixelDynamicsModel": PixelDynamicsModel,
                                             "SeparableHNN": SeparableHNN}
MODEL_CLASSES["LNN"] = LNN  # the Lagrangian NN (chapter 13)
MODEL_CLASSES["MechanicalLNN"] = MechanicalLNN  # the mechanical LNN (chapter 13)
MODEL_CLASSES["DissipativeHNN"] = DissipativeHNN  # the dissipative HNN (chapter 12)
CHECKPOINT_FORMAT = "hnnlib.checkpoint"
CHECKPOINT_VERSION = 2  # 2: weights_sha256 added




def weights_sha256(state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 (hex) over each tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        header = f"{name}\0{str(tensor.dtype).removeprefix('torch.')}\0{tuple(tensor.shape)}\0"
        digest.update(header.encode() + tensor.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _check_plain(value: Any, where: str) -> None:
    """Refuse what ``torch.load(weights_only=True)`` could not read back, or JSON could not show."""
    if value is None or type(value) in (bool, int, float, str):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"checkpoint metadata keys must be str, got {key!r} in {where}")
            _check_plain(item, f"{where}[{key!r}]")
        return
    raise TypeError(
        f"checkpoint metadata must hold plain values (str, int, float, bool, None, lists and dicts of them); "
        f"{where} is a {type(value).__module__}.{type(value).__qualname__} ({value!r}): convert it, e.g. with float() or .tolist()"
    )


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def save_checkpoint(model: nn.Module, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> None:
    """Save ``model``'s class name, configuration, weights and their sha256 to ``path``.

    Parameters
    ----------
    model : BaselineNN, HNN or PixelDynamicsModel
        With float32 or float64 weights, all of one dtype, all finite.
    path : path-like
        Written atomically (a temporary file beside it, then a rename).
    metadata : dict, optional
        Plain values only (str, int, float, bool, None, lists and dicts of them), e.g. the seed.

    Raises
    ------
    TypeError
        If the model is of another class, or ``metadata`` holds anything else than plain values
        (a NumPy float, say), which :func:`load_checkpoint` could not read back.
    ValueError
        If the weights are not finite or not all float32 or all float64.
    """
    name = type(model).__name__
    if name not in MODEL_CLASSES:
        raise TypeError(f"can only save {sorted(MODEL_CLASSES)}, got {name}")
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
    _check_plain(dict(metadata or {}), "metadata")
    _check_plain(dict(model.config), "config")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    _check_weights(state, "the model to save")
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "model_class": name,
        "config": dict(model.config),
        "dtype": _dtype_name(next(iter(state.values())).dtype),
        "state_dict": state,
        "weights_sha256": weights_sha256(state),
        "metadata": dict(metadata or {}),
    }
    atomic_write(path, lambda handle: torch.save(checkpoint, handle))


def _check_weights(state: Any, where: str, dtype: torch.dtype | None = None) -> None:
    """Weights: a dict of str -> tensor, all of one float32/float64 dtype (``dtype`` if given), all finite."""
    if not isinstance(state, dict) or not state or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise ValueError(f"{where}: the weights must be a non-empty dict of str -> torch.Tensor")
    dtypes = {v.dtype for v in state.values()}
    if len(dtypes) != 1 or not dtypes <= set(FLOAT_DTYPES):
        raise ValueError(f"{where}: the weights must all be float32 or all float64, got {sorted(map(_dtype_name, dtypes))}")
    if dtype is not None and dtypes != {dtype}:
        raise ValueError(f"{where}: the weights are {_dtype_name(dtypes.pop())} but the checkpoint says {_dtype_name(dtype)}")
    for key, tensor in state.items():
        if not torch.isfinite(tensor).all():
            raise ValueError(f"{where}: the weight {key!r} holds NaN or inf values")


def _read(path: str) -> dict[str, Any]:
    """The checkpoint dict at ``path``, with its format, version, class and fields checked."""
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
    if not isinstance(name, str) or name not in MODEL_CLASSES:
        raise ValueError(f"{path!r} holds an unknown model class {name!r}; expected one of {sorted(MODEL_CLASSES)}")
    if not isinstance(ckpt.get("config"), dict):
        raise ValueError(f"{path!r} has no model configuration dict")
    if not isinstance(ckpt.get("metadata", {}), dict):
        raise ValueError(f"{path!r}: metadata must be a dict, got {type(ckpt.get('metadata')).__name__}")
    label = ckpt.get("dtype")
    dtypes = {_dtype_name(d): d for d in FLOAT_DTYPES}
    if label not in dtypes:
        raise ValueError(f"{path!r}: the recorded dtype {label!r} is not one of {sorted(dtypes)}")
    _check_weights(ckpt.get("state_dict"), repr(path), dtypes[label])
    stored = ckpt.get("weights_sha256")
    if not isinstance(stored, str) or stored != weights_sha256(ckpt["state_dict"]):
        raise ValueError(
            f"{path!r}: the weights' sha256 {weights_sha256(ckpt['state_dict'])[:16]}... does not match the recorded "
            f"{str(stored)[:16]}...: the file is corrupt or was altered"
        )
    return ckpt


def _check_shapes(cls: type[nn.Module], config: dict[str, Any], state: dict[str, torch.Tensor], path: str) -> None:
    """The stored tensors must have exactly the names and shapes of a ``cls(**config)``, built on the meta device (no memory)."""
    try:
        with torch.device("meta"):
            skeleton = cls(**config)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path!r}: the recorded config {config} does not build a {cls.__name__}: {err}") from err
    want = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    if got != want:
        wrong = sorted(set(got) ^ set(want)) or sorted(k for k in got if got[k] != want[k])
        raise ValueError(f"{path!r}: the weights do not fit a {cls.__name__} with config {config} (first differences: {wrong[:4]})")


def load_checkpoint(path: str | os.PathLike, device: torch.device | str = "cpu") -> nn.Module:
    """Load a model saved by :func:`save_checkpoint`, in eval mode.

    Uses ``torch.load(..., weights_only=True)``: the file is never unpickled as arbitrary code.
    The checkpoint's ``metadata`` dict is attached as ``model.metadata``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a readable hnnlib checkpoint: corrupt or altered (the weights' sha256
        differs from the recorded one), foreign, of another format version, of an unknown model
        class, with NaN or inf weights, with a dtype other than float32/float64 or other than the
        recorded one, or with weights whose shapes do not fit the recorded configuration (checked
        before the model is built).
    """
    device = check_device(device)
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path!r}")
    ckpt = _read(path)
    cls, config, state = MODEL_CLASSES[ckpt["model_class"]], ckpt["config"], ckpt["state_dict"]
    _check_shapes(cls, config, state, path)
    try:
        model = cls(**config).to(dtype=next(iter(state.values())).dtype)
        model.load_state_dict(state)
    except (TypeError, ValueError, RuntimeError, KeyError) as err:
        raise ValueError(f"{path!r}: the weights do not fit a {cls.__name__} with config {config}: {err}") from err
    model.metadata = ckpt.get("metadata", {})
    return model.to(device).eval()
