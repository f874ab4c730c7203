"""Files: the per-user cache folder, sha256 digests and atomic writes, for every module that stores data."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["atomic_write", "cache_dir", "cache_folder", "json_sha256", "sha256"]


def cache_dir() -> Path:
    """The per-user cache folder, ``pooch.os_cache("hnnlib")`` (e.g. ``~/.cache/hnnlib``)."""
    import pooch

    return Path(pooch.os_cache("hnnlib"))


def cache_folder(setting: bool | str | os.PathLike | None, default_name: str, name: str = "cache_dir") -> Path | None:
    """Resolve a "where to cache" argument: None or False (no cache), True (``cache_dir() / default_name``), or a folder.

    Raises
    ------
    TypeError
        For anything else; the message names the argument ``name``.
    """
    if setting is None or setting is False:
        return None
    if setting is True:
        return cache_dir() / default_name
    if isinstance(setting, (str, os.PathLike)):
        return Path(setting).expanduser()
    raise TypeError(f"{name} must be None, a bool or a folder path, got {type(setting).__name__}")


def sha256(path: str | os.PathLike) -> str:
    """Hex sha256 digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def json_sha256(value: Any) -> str:
    """Hex sha256 of ``value`` as canonical JSON (sorted keys, no spaces): stable across processes and machines."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], Any], *, warning: type[Warning] | None = None,
                 what: str = "file") -> bool:
    """Write ``path`` through ``write(handle)`` into a temporary file beside it, then rename it into place.

    A reader never sees a half-written file, and two processes writing the same path leave one
    complete copy. The folder is created if needed.

    Parameters
    ----------
    path : path-like
    write : callable
        Called with the open binary handle of the temporary file.
    warning : Warning subclass, optional
        If given, a failure (``OSError``, or the ``RuntimeError`` torch raises for some file
        errors) is reported with this warning and ``False`` is returned; otherwise it is raised.
    what : str
        Names the file in the warning.

    Returns
    -------
    bool
        True once the file is in place.
    """
    path = Path(path)
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(partial, "wb") as handle:
            write(handle)
        os.replace(partial, path)
    except (OSError, RuntimeError) as err:
        try:
            partial.unlink(missing_ok=True)
        except OSError:
            pass
        if warning is None:
            raise
        warnings.warn(f"could not write the {what} {path}: {err}", warning, stacklevel=3)
        return False
    return True
