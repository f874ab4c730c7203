"""The model cache: trained models on disk, keyed by everything that determines them.

A key hashes the full configuration (:func:`~hnnlib.experiments.config.config_hash`), the model
kind, ``hnnlib.__version__`` and a hash of hnnlib's code (:func:`source_hash`: its source files
without comments and docstrings), so that changing what the library does, or any setting,
invalidates an entry, while a documentation edit keeps the trained models. Metrics are never cached.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import os
import re
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from torch import nn

from .. import __version__
from .._io import cache_dir, cache_folder, json_sha256
from ..checkpoints import load_checkpoint, save_checkpoint
from ..labels import check_model_kind
from ..training import TrainingHistory
from .config import ExperimentConfig, config_hash

__all__ = ["CACHE_ENV_VAR", "CacheWarning", "ModelCache", "as_cache", "default_cache_dir", "model_key", "package_code_hash", "source_hash"]

#: Environment variable naming the model cache folder.
CACHE_ENV_VAR = "HNNLIB_CACHE_DIR"


class CacheWarning(UserWarning):
    """A cached model could not be used (unreadable, foreign key, wrong shapes) and is retrained."""


def _code_of(source: bytes, filename: str) -> bytes:
    """What a module does, without how it is written down: its syntax tree, less docstrings, as text.

    ``ast.dump`` leaves out comments, blank lines, layout and line numbers; the docstring (a
    leading string constant) of the module and of every class and function is dropped before.
    """
    tree = ast.parse(source, filename=filename)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                node.body = node.body[1:]
    return ast.dump(tree).encode()


def package_code_hash(root: Path) -> str:
    """sha256 (hex) over the paths and the code (:func:`_code_of`) of the ``*.py`` files under ``root``.

    Editing comments, docstrings or layout keeps it; any other change (a statement, a constant, a
    default, an annotation, a file added, removed or renamed) changes it.
    """
    root, digest = Path(root), hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + _code_of(path.read_bytes(), str(path)) + b"\0")
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def source_hash() -> str:
    """sha256 (hex) of hnnlib's code: :func:`package_code_hash` of the installed package's folder.

    Computed once per process (about 0.2 s). A change to what any module does invalidates every
    cached model; a change to its comments or docstrings alone keeps them.
    """
    return package_code_hash(Path(__file__).resolve().parents[1])


def model_key(config: ExperimentConfig, kind: str) -> str:
    """The cache key of one trained model: sha256 of the config hash, the model kind,
    ``hnnlib.__version__`` and :func:`source_hash`."""
    check_model_kind(kind)
    return json_sha256({"config": config_hash(config), "model": kind, "hnnlib_version": __version__, "source": source_hash()})


def default_cache_dir() -> Path:
    """``$HNNLIB_CACHE_DIR`` if set, else the per-user hnnlib cache (:func:`hnnlib._io.cache_dir`) ``/ "models"``."""
    env = os.environ.get(CACHE_ENV_VAR)
    return Path(env).expanduser() if env else cache_dir() / "models"


def _history_to_plain(history: TrainingHistory) -> dict[str, list]:
    return {
        "step": [int(s) for s in history.step],
        "train_loss": [float(v) for v in history.train_loss],
        "test_loss": [float(v) for v in history.test_loss],
        "batch_loss": [float(v) for v in history.batch_loss],
    }


def _history_from_plain(plain: Any) -> TrainingHistory:
    if not isinstance(plain, dict):
        raise ValueError(f"history must be a dict, got {type(plain).__name__}")
    history = TrainingHistory(
        step=[int(s) for s in plain["step"]],
        train_loss=[float(v) for v in plain["train_loss"]],
        test_loss=[float(v) for v in plain["test_loss"]],
        batch_loss=[float(v) for v in plain["batch_loss"]],
    )
    if not len(history.step) == len(history.train_loss) == len(history.test_loss):
        raise ValueError("history lists have different lengths")
    return history


class ModelCache:
    """Trained models on disk, one checkpoint per (configuration, model kind).

    File ``<directory>/<generation>/<task>-<kind>-<key[:32]>.pt``, where ``generation`` is
    ``<hnnlib version>-<source_hash()[:16]>`` (so that :meth:`prune` can drop the entries of other
    library versions without reading them), written by
    :func:`hnnlib.models.save_checkpoint` (atomically: a temporary file, then a rename) with
    metadata ``key`` (the full :func:`model_key`), ``task``, ``model``, ``config``
    (:meth:`ExperimentConfig.to_dict`), ``hnnlib_version``, ``source_hash`` and the training
    ``history`` as plain floats. Loaded with ``weights_only=True``
    (:func:`hnnlib.models.load_checkpoint`). An entry that cannot be read, holds another key, or
    whose model does not match the expected class, configuration and weight shapes is reported
    with a :class:`CacheWarning` and ignored (the caller retrains and overwrites it).

    Parameters
    ----------
    directory : path-like, optional
        Default: :func:`default_cache_dir`. Created when the first model is saved.
    """

    def __init__(self, directory: str | os.PathLike | None = None):
        self.directory = Path(directory).expanduser() if directory is not None else default_cache_dir()

    def __repr__(self) -> str:
        return f"ModelCache({str(self.directory)!r})"

    @staticmethod
    def generation() -> str:
        """Name of the sub-folder for this hnnlib: ``<version>-<first 16 hex digits of source_hash()>``."""
        return f"{__version__}-{source_hash()[:16]}"

    def path(self, config: ExperimentConfig, kind: str) -> Path:
        """Where the model ``kind`` trained with ``config`` is (or would be) stored."""
        return self.directory / self.generation() / f"{config.task}-{kind}-{model_key(config, kind)[:32]}.pt"

    @contextmanager
    def lock(self, config: ExperimentConfig, kind: str) -> Iterator[None]:
        """Hold an exclusive lock on one entry while it is loaded, or trained and stored.

        Two processes that need the same model (two notebooks run in parallel by pytest-xdist, say)
        then train it once: the second waits, and finds the first one's entry. The lock is an
        ``fcntl.flock`` on ``<entry>.lock``, released by the operating system if its holder dies.
        The holder deletes the lock file when it is done; a waiter that then wakes up holding the
        deleted file sees that the path no longer names it and locks afresh. Where locking is
        unavailable (no ``fcntl``, or an unwritable folder), nothing is locked.
        """
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            yield
            return
        path = self.path(config, kind)
        lock_path = path.with_name(path.name + ".lock")
        while True:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                handle = open(lock_path, "a")
            except OSError:
                yield
                return
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                same = os.stat(lock_path).st_ino == os.fstat(handle.fileno()).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            handle.close()  # the holder before us deleted this file: lock the new one
        try:
            yield
        finally:
            try:
                lock_path.unlink()
            except OSError:
                pass
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    def prune(self) -> list[Path]:
        """Delete the entries of other hnnlib versions or sources (they can never be loaded again).

        Only sub-folders named like a generation (``<version>-<16 hex digits>``) are touched, and
        in them only ``*.pt``, ``*.part`` and ``*.lock`` files; a folder left empty is removed.

        Returns
        -------
        list of pathlib.Path
            The files deleted.
        """
        removed: list[Path] = []
        if not self.directory.is_dir():
            return removed
        current = self.generation()
        for folder in sorted(self.directory.iterdir()):
            if not folder.is_dir() or folder.name == current or not _GENERATION.fullmatch(folder.name):
                continue
            for path in sorted(folder.iterdir()):
                if path.is_file() and path.suffix in (".pt", ".part", ".lock"):
                    path.unlink()
                    removed.append(path)
            if not any(folder.iterdir()):
                folder.rmdir()
        return removed

    def load(self, config: ExperimentConfig, kind: str, like: nn.Module) -> tuple[nn.Module, TrainingHistory] | None:
        """The cached model and its training history, or None if absent or unusable (with a warning).

        Parameters
        ----------
        like : nn.Module
            A freshly built model of the expected class and configuration; the cached weights
            must have exactly its parameter names and shapes.
        """
        path = self.path(config, kind)
        if not path.is_file():
            return None
        try:
            model = load_checkpoint(path)
            self._check(model, config, kind, like)
            history = _history_from_plain(model.metadata.get("history"))
        except (ValueError, KeyError, TypeError, OSError) as err:
            warnings.warn(f"ignoring the cached model {path}: {err}; retraining it and overwriting the entry", CacheWarning, stacklevel=3)
            return None
        return model, history

    @staticmethod
    def _check(model: nn.Module, config: ExperimentConfig, kind: str, like: nn.Module) -> None:
        key = model_key(config, kind)
        if model.metadata.get("key") != key:
            raise ValueError(f"its key {str(model.metadata.get('key'))[:16]}... is not the expected {key[:16]}...")
        if type(model) is not type(like) or model.config != like.config:
            raise ValueError(f"it holds a {type(model).__name__} {model.config}, expected a {type(like).__name__} {like.config}")
        got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        want = {k: tuple(v.shape) for k, v in like.state_dict().items()}
        if got != want:
            raise ValueError(f"its weight shapes {got} differ from the expected {want}")
        dtypes = {v.dtype for v in model.state_dict().values()} | {v.dtype for v in like.state_dict().values()}
        if len(dtypes) != 1:
            raise ValueError(f"its weights have dtype {sorted(map(str, dtypes))}, expected that of a fresh model")

    def save(self, config: ExperimentConfig, kind: str, model: nn.Module, history: TrainingHistory) -> Path | None:
        """Store ``model`` and its ``history``; returns the path, or None (with a warning) if the folder is not writable."""
        path = self.path(config, kind)
        metadata = {
            "key": model_key(config, kind), "task": config.task, "model": kind, "config_class": type(config).__qualname__,
            "config": config.to_dict(), "hnnlib_version": __version__, "source_hash": source_hash(),
            "history": _history_to_plain(history),
        }
        try:
            save_checkpoint(model, path, metadata)
        except (OSError, RuntimeError) as err:  # torch.save reports some file errors as RuntimeError
            warnings.warn(f"could not write the model cache entry {path}: {err}", CacheWarning, stacklevel=3)
            return None
        return path


_GENERATION = re.compile(r"\d[\w.+-]*-[0-9a-f]{16}")


def as_cache(cache: bool | str | os.PathLike | ModelCache | None) -> ModelCache | None:
    """A :class:`ModelCache` from a ``cache`` argument: True (the default folder), a folder, a ModelCache, or None/False (none)."""
    if isinstance(cache, ModelCache):
        return cache
    if cache is True:
        return ModelCache()
    folder = cache_folder(cache, "models", name="cache")
    return ModelCache(folder) if folder is not None else None
