"""The real pendulum of the paper's Task 3: a loader that checks what it loads.

The data is one recording of a real pendulum by Schmidt & Lipson ("Distilling free-form natural
laws from experimental data", *Science* 324, 2009), file ``real_pend_h_1.txt`` of their
supplementary archive ``invar_datasets.zip``. The file is not shipped with ``hnnlib``.
:func:`find_real_pendulum_file` looks for it, in this order:

1. the folder passed as ``data_dir``, else the folder named by the environment variable
   ``HNNLIB_DATA_DIR`` (if set);
2. the per-user cache ``pooch.os_cache("hnnlib")`` (e.g. ``~/.cache/hnnlib`` on Linux);
3. if it is in neither, it downloads the archive from a pinned public mirror with ``pooch``
   (sha256-checked), extracts the member into the cache and checks the member's sha256.

Every file it returns has the expected sha256. :func:`read_recording` parses the text format and
reports the file and line of anything malformed; :func:`load_real_pendulum` turns the recording
into a :class:`~hnnlib.data.TrajectoryDataset` preprocessed as the paper's reference code does.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._checks import check_device, check_float_dtype
from ._io import atomic_write, cache_dir, sha256
from .data import Split, TrajectoryDataset

#: Name of the recording inside the archive and in a data folder.
FILE_NAME = "real_pend_h_1.txt"
#: sha256 of the recording (57,274 bytes, 1 header line + 556 rows, CRLF line endings).
FILE_SHA256 = "45d92988198b89a5933f5a53e67aa819d06937516f71a462ac09e1307d8b3411"
#: Environment variable naming a folder that holds :data:`FILE_NAME`.
ENV_VAR = "HNNLIB_DATA_DIR"
#: Pinned public mirror of the original supplementary archive (github.com/Physics-aware-AI/Symplectic-ODENet).
ARCHIVE_URL = (
    "https://raw.githubusercontent.com/Physics-aware-AI/Symplectic-ODENet/"
    "5e83faf93e8f4990e63821c49d0ce5926a96cc94/experiment-real/invar_datasets.zip"
)
#: sha256 of that archive.
ARCHIVE_SHA256 = "9794ee02f45403f87b739cc235a046bd424a73b8222067165f66463cef57be59"
ARCHIVE_NAME = "invar_datasets.zip"
#: Where the recording was first published.
SOURCE = (
    "M. Schmidt & H. Lipson, Science 324:81-85 (2009), doi:10.1126/science.1165893, "
    f"supplementary archive {ARCHIVE_NAME}, member {FILE_NAME}"
)
#: Columns of the recording: trial index (always 0), time, angle (rad), angular velocity.
COLUMNS = ("trial", "t", "angle", "velocity")
#: Rows of the recording (after its one header line).
N_ROWS = 556
#: The reference code's hand-fitted energy ``E = ENERGY_COEFFICIENT (1 - cos q) + p^2``.
ENERGY_COEFFICIENT = 2.4


class DataNotFoundError(FileNotFoundError):
    """The recording is in none of the searched places and could not be downloaded."""


def _http_download(url: str, output_file: Any, pooch_obj: Any = None, check_only: bool = False) -> Any:
    """The network access, in one place (the tests replace it): pooch's HTTP downloader."""
    import pooch

    return pooch.HTTPDownloader(progressbar=False, timeout=60)(url, output_file, pooch_obj, check_only=check_only)


def download_recording(
    directory: str | os.PathLike,
    *,
    url: str | None = None,
    archive_sha256: str | None = None,
    file_sha256: str | None = None,
) -> Path:
    """Download the archive with ``pooch``, extract :data:`FILE_NAME` into ``directory``, check both.

    ``pooch`` keeps the archive in ``directory`` only if its sha256 is ``archive_sha256``; the
    member is written (atomically) only if its own sha256 is ``file_sha256``. ``None`` means the
    module's pinned :data:`ARCHIVE_URL`, :data:`ARCHIVE_SHA256` and :data:`FILE_SHA256`.

    Returns
    -------
    pathlib.Path
        ``directory / FILE_NAME``.

    Raises
    ------
    ValueError
        If the archive or the member fails its checksum, or the archive lacks the member.
    requests.exceptions.RequestException
        If the download fails.
    """
    import pooch

    url = url or ARCHIVE_URL
    archive_sha256 = archive_sha256 or ARCHIVE_SHA256
    file_sha256 = file_sha256 or FILE_SHA256
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    archive = Path(
        pooch.retrieve(
            url, known_hash=f"sha256:{archive_sha256}", fname=ARCHIVE_NAME, path=directory,
            downloader=_http_download, progressbar=False,
        )
    )
    with zipfile.ZipFile(archive) as zf:
        members = [m for m in zf.namelist() if Path(m).name == FILE_NAME]
        if not members:
            raise ValueError(f"{archive} does not contain {FILE_NAME}; it has {zf.namelist()}")
        payload = zf.read(members[0])
    got = hashlib.sha256(payload).hexdigest()
    if got != file_sha256:
        raise ValueError(
            f"{archive}: member {members[0]} has sha256 {got}, expected {file_sha256}; "
            "refusing to use it (a changed archive?)"
        )
    target = directory / FILE_NAME
    atomic_write(target, lambda handle: handle.write(payload))
    return target


def _check_sha256(path: Path, expected: str) -> Path:
    got = sha256(path)
    if got != expected:
        try:  # a malformed line is the most useful thing to report
            read_recording(path)
            detail = "it parses, but it is not the file the book expects"
        except ValueError as err:
            detail = str(err)
        raise ValueError(
            f"{path} has sha256 {got}, expected {expected}: {detail}. "
            f"Replace it with an unchanged copy of {FILE_NAME} ({SOURCE})."
        )
    return path


def find_real_pendulum_file(data_dir: str | os.PathLike | None = None, *, download: bool = True) -> Path:
    """Path of a checksum-verified copy of the real-pendulum recording.

    Looks in ``data_dir`` (else ``$HNNLIB_DATA_DIR`` if set), then in :func:`cache_dir`; if the
    file is in neither and ``download`` is True, downloads it into the cache
    (:func:`download_recording`).

    Raises
    ------
    DataNotFoundError
        If the file is nowhere and cannot be downloaded; the message lists the folders searched,
        the environment variable to set and where the file comes from.
    ValueError
        If a found (or downloaded) file fails its sha256 check.
    """
    places: list[tuple[str, Path]] = []
    if data_dir is not None:
        places.append(("data_dir argument", Path(data_dir).expanduser()))
    elif os.environ.get(ENV_VAR):
        places.append((f"${ENV_VAR}", Path(os.environ[ENV_VAR]).expanduser()))
    cache = cache_dir()
    places.append(("per-user cache", cache))
    for _, folder in places:
        candidate = folder / FILE_NAME
        if candidate.is_file():
            return _check_sha256(candidate, FILE_SHA256)

    searched = "\n".join(f"  - {folder / FILE_NAME} ({label})" for label, folder in places)
    help_text = (
        f"Could not find the real-pendulum recording {FILE_NAME}. Searched:\n{searched}\n"
        f"Set the environment variable {ENV_VAR} to a folder that holds it (or pass data_dir=...). "
        f"It comes from {SOURCE}; a pinned mirror of that archive is {ARCHIVE_URL} "
        f"(sha256 {ARCHIVE_SHA256}), and the file's sha256 is {FILE_SHA256}."
    )
    if not download:
        raise DataNotFoundError(help_text + "\nDownloading was switched off (download=False).")
    try:
        path = download_recording(cache)
    except ValueError:
        raise
    except Exception as err:  # no network, proxy, HTTP error, read-only cache, ...
        raise DataNotFoundError(f"{help_text}\nThe download into {cache} failed: {type(err).__name__}: {err}") from err
    return _check_sha256(path, FILE_SHA256)


@dataclass(frozen=True)
class Recording:
    """The raw columns of the recording, one entry per row.

    Attributes
    ----------
    t, angle, velocity : numpy.ndarray, shape (n_rows,)
        Time, pendulum angle (rad) and angular velocity (rad per time unit).
    path : pathlib.Path
        The file it was read from.
    """

    t: np.ndarray
    angle: np.ndarray
    velocity: np.ndarray
    path: Path

    def __len__(self) -> int:
        return self.t.size


def read_recording(path: str | os.PathLike, *, expected_rows: int | None = None) -> Recording:
    """Parse a file in the Schmidt & Lipson format, checking every line.

    Lines starting with ``%`` are headers. Every other non-blank line must hold four
    whitespace-separated finite numbers (trial, time, angle, angular velocity); times must
    increase strictly; the last line must end with a line break (else the file was cut off).

    Parameters
    ----------
    path : path-like
    expected_rows : int, optional
        Number of data rows the file must have.

    Raises
    ------
    ValueError
        Naming the file and line of the first problem.
    """
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ValueError(f"{path}, line {line}: not plain ASCII text (byte {err.start}); is this the right file?") from None
    lines = text.splitlines(keepends=True)
    rows: list[list[float]] = []
    last_lineno = 0
    for lineno, line in enumerate(lines, start=1):
        content = line.strip()
        if not content or content.startswith("%"):
            continue
        if not line.endswith(("\n", "\r")):
            raise ValueError(f"{path}, line {lineno}: the last line has no line break; the file looks truncated")
        fields = content.split()
        if len(fields) != len(COLUMNS):
            raise ValueError(
                f"{path}, line {lineno}: expected {len(COLUMNS)} columns ({', '.join(COLUMNS)}), got {len(fields)}"
            )
        try:
            values = [float(v) for v in fields]
        except ValueError:
            raise ValueError(f"{path}, line {lineno}: not a number in {content!r}") from None
        if not all(np.isfinite(values)):
            raise ValueError(f"{path}, line {lineno}: NaN or infinite value in {content!r}")
        if rows and values[1] <= rows[-1][1]:
            raise ValueError(f"{path}, line {lineno}: time {values[1]:g} does not increase (previous {rows[-1][1]:g})")
        rows.append(values)
        last_lineno = lineno
    if not rows:
        raise ValueError(f"{path}, line {len(lines)}: no data rows")
    if expected_rows is not None and len(rows) != expected_rows:
        raise ValueError(
            f"{path}, line {last_lineno}: {len(rows)} data rows, expected {expected_rows}; the file looks truncated or altered"
        )
    data = np.array(rows, dtype=np.float64)
    return Recording(t=data[:, 1], angle=data[:, 2], velocity=data[:, 3], path=path)


def pendulum_energy(x: Any, coefficient: float = ENERGY_COEFFICIENT) -> Any:
    """The reference code's hand-fitted energy ``coefficient (1 - cos q) + p^2`` of states ``(..., 2)``.

    NumPy in, NumPy out; tensors in, tensors out.
    """
    if isinstance(x, torch.Tensor):
        return coefficient * (1 - torch.cos(x[..., 0])) + x[..., 1] ** 2
    x = np.asarray(x, dtype=np.float64)
    return coefficient * (1 - np.cos(x[..., 0])) + x[..., 1] ** 2


SPLITS = ("paper", "reference")


def load_real_pendulum(
    data_dir: str | os.PathLike | None = None,
    *,
    split: str = "paper",
    download: bool = True,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> TrajectoryDataset:
    """The Task 3 dataset: the recording as states, finite-difference targets and a time split.

    Preprocessing as in the paper's reference code: ``q`` = angle, ``p`` = angular velocity;
    targets are forward finite differences ``(x[i+1] - x[i]) / (t[i+1] - t[i])`` with the actual
    time steps (the recording has 10 gaps), so the last row is dropped: 555 samples. Each split
    is one contiguous "trajectory" (``n_trajectories = 1``).

    Parameters
    ----------
    data_dir : path-like, optional
        Folder holding the file (default: ``$HNNLIB_DATA_DIR``, then the cache, then download).
    split : {"paper", "reference"}
        ``"paper"``: the first 4/5 of the samples train (444), the last 1/5 test (111), as the
        paper's Appendix A describes. ``"reference"``: the reference code's split, whose float
        rounding gives 110 test samples (rows 444-553) and puts the last sample (554) into the
        training set, after a gap in time.
    download : bool
        Allow downloading into the cache if the file is not found.
    dtype, device : optional
        Of the returned tensors.

    Returns
    -------
    TrajectoryDataset
        ``system`` is None; ``energy`` is :func:`pendulum_energy` of the states;
        ``settings`` records the file, its sha256 and the split.
    """
    dtype, device = check_float_dtype(dtype), check_device(device)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    path = find_real_pendulum_file(data_dir, download=download)
    rec = read_recording(path, expected_rows=N_ROWS)
    x_all = np.stack([rec.angle, rec.velocity], axis=1)
    dt = np.diff(rec.t)[:, None]
    dx = np.diff(x_all, axis=0) / dt
    x, t = x_all[:-1], rec.t[:-1]
    n = len(x)
    n_train = int(n * 0.8)
    if split == "paper":
        train_rows, test_rows = np.arange(n_train), np.arange(n_train, n)
    else:
        n_test = int(n * (1 - 0.8))  # 110, not 111: 1 - 0.8 = 0.19999999999999996
        train_rows = np.r_[np.arange(n_train), np.arange(n_train + n_test, n)]
        test_rows = np.arange(n_train, n_train + n_test)

    def make(rows: np.ndarray) -> Split:
        arrays = (x[rows][None], dx[rows][None], t[rows][None], pendulum_energy(x[rows])[None])
        return Split(*(torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device) for a in arrays))

    settings = dict(
        file=str(path), sha256=FILE_SHA256, split=split, n_train=int(train_rows.size), n_test=int(test_rows.size),
        targets="forward finite differences", energy=f"{ENERGY_COEFFICIENT}(1 - cos q) + p^2",
    )
    return TrajectoryDataset(make(train_rows), make(test_rows), None, settings)
