"""hnnlib.realdata: finding, verifying, parsing and preprocessing the real-pendulum recording.

No test reaches the network: an autouse fixture replaces the downloader by one that fails the
test, and points the per-user cache at a temporary folder. Download tests pass a local zip in
through that same seam, so pooch's checksum verification still runs.
"""

import hashlib
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import requests
import torch

from hnnlib import realdata
from hnnlib.data import TrajectoryDataset

HEADER = "%o v\r\n"


def row(t, angle, velocity, trial=0.0):
    return f"  {trial:.16e}  {t:.16e}  {angle:.16e} {velocity:.16e} \r\n"


def recording_text(n=6):
    t = 5 + np.arange(n) / 6
    return HEADER + "".join(row(ti, np.sin(ti), np.cos(ti)) for ti in t)


def write(path, text):
    path.write_bytes(text.encode("ascii"))
    return path


# Read before the `offline` fixture clears the variable: $HNNLIB_DATA_DIR (as CI sets it), else
# ../shared/data beside the repository.
SHARED_DATA_DIR = Path(os.environ.get(realdata.ENV_VAR) or Path(__file__).resolve().parents[2] / "shared" / "data")


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No network, no real cache, no inherited data folder; returns the list of download attempts."""
    attempts = []

    def refuse(url, output_file, pooch_obj=None, check_only=False):
        attempts.append(url)
        raise requests.exceptions.ConnectionError("network disabled in tests")

    monkeypatch.setattr(realdata, "_http_download", refuse)
    monkeypatch.setattr(realdata, "cache_dir", lambda: tmp_path / "cache")
    monkeypatch.delenv(realdata.ENV_VAR, raising=False)
    return attempts


# --- parsing -------------------------------------------------------------------------------


def test_read_recording_parses_the_format(tmp_path):
    """Header skipped, CRLF and trailing spaces tolerated, columns t / angle / velocity in order."""
    rec = realdata.read_recording(write(tmp_path / "ok.txt", recording_text(6)), expected_rows=6)
    t = 5 + np.arange(6) / 6
    np.testing.assert_allclose(rec.t, t)
    np.testing.assert_allclose(rec.angle, np.sin(t))
    np.testing.assert_allclose(rec.velocity, np.cos(t))
    assert len(rec) == 6 and rec.path == tmp_path / "ok.txt"


@pytest.mark.parametrize(
    "mutate, line, message",
    [
        (lambda lines: lines[:3] + ["  0.0  5.5  0.1\r\n"] + lines[4:], 4, "expected 4 columns"),
        (lambda lines: lines[:2] + [lines[2].rstrip() + " 7.0 \r\n"] + lines[3:], 3, "expected 4 columns"),
        (lambda lines: lines[:5] + ["  0.0  5.9  abc  0.2 \r\n"] + lines[6:], 6, "not a number"),
        (lambda lines: lines[:2] + ["  0.0  5.2  nan  0.2 \r\n"] + lines[3:], 3, "NaN or infinite"),
        (lambda lines: lines[:-1] + [lines[-1][:30]], 7, "truncated"),
        (lambda lines: lines[:3] + [row(5.0, 0.1, 0.2)] + lines[4:], 4, "does not increase"),
    ],
    ids=["too-few-columns", "too-many-columns", "non-numeric", "nan", "cut-mid-line", "time-not-increasing"],
)
def test_read_recording_reports_file_and_line(tmp_path, mutate, line, message):
    """Each kind of corruption is a ValueError naming the file and the offending line."""
    lines = recording_text(6).splitlines(keepends=True)
    path = write(tmp_path / "bad.txt", "".join(mutate(lines)))
    with pytest.raises(ValueError, match=message) as err:
        realdata.read_recording(path)
    assert f"{path}, line {line}:" in str(err.value)


def test_read_recording_truncated_at_a_line_break(tmp_path):
    """A file cut between rows parses, but not with the expected number of rows."""
    path = write(tmp_path / "short.txt", recording_text(4))
    assert len(realdata.read_recording(path)) == 4
    with pytest.raises(ValueError, match=rf"{path}, line 5: 4 data rows, expected 556"):
        realdata.read_recording(path, expected_rows=556)


def test_read_recording_rejects_binary_and_empty(tmp_path):
    """A binary file (e.g. the zip itself) and a header-only file are ValueErrors naming the file."""
    binary = tmp_path / "x.zip"
    binary.write_bytes(b"%o v\r\nPK\x03\x04\xff\xfe")
    with pytest.raises(ValueError, match=rf"{binary}, line 2: not plain ASCII"):
        realdata.read_recording(binary)
    with pytest.raises(ValueError, match="no data rows"):
        realdata.read_recording(write(tmp_path / "empty.txt", HEADER))


# --- finding and verifying -----------------------------------------------------------------


def test_missing_file_without_network_says_where_it_looked(tmp_path, offline):
    """Nowhere to be found and no network: the error lists the folders, the variable and the source."""
    with pytest.raises(realdata.DataNotFoundError) as err:
        realdata.find_real_pendulum_file(tmp_path / "nowhere")
    message = str(err.value)
    assert str(tmp_path / "nowhere" / realdata.FILE_NAME) in message
    assert str(tmp_path / "cache" / realdata.FILE_NAME) in message
    assert realdata.ENV_VAR in message and realdata.ARCHIVE_URL in message and "Schmidt" in message
    assert "ConnectionError" in message and offline == [realdata.ARCHIVE_URL]
    assert isinstance(err.value, FileNotFoundError)


def test_download_false_never_tries(tmp_path, offline, monkeypatch):
    """download=False raises at once; $HNNLIB_DATA_DIR is among the places listed."""
    monkeypatch.setenv(realdata.ENV_VAR, str(tmp_path / "envdir"))
    with pytest.raises(realdata.DataNotFoundError, match=r"\$HNNLIB_DATA_DIR") as err:
        realdata.find_real_pendulum_file(download=False)
    assert str(tmp_path / "envdir" / realdata.FILE_NAME) in str(err.value)
    assert offline == []


def fake_pinned_file(monkeypatch, folder, text=None):
    """Write a small valid recording into ``folder`` and pin its sha256 as the expected one."""
    folder.mkdir(parents=True, exist_ok=True)
    path = write(folder / realdata.FILE_NAME, text or recording_text(6))
    monkeypatch.setattr(realdata, "FILE_SHA256", realdata.sha256(path))
    return path


def test_search_order_argument_env_cache(tmp_path, monkeypatch, offline):
    """The data_dir argument wins over $HNNLIB_DATA_DIR, which wins over the cache."""
    fake_pinned_file(monkeypatch, tmp_path / "arg")
    for folder in ("env", "cache"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / realdata.FILE_NAME).write_bytes((tmp_path / "arg" / realdata.FILE_NAME).read_bytes())
    monkeypatch.setenv(realdata.ENV_VAR, str(tmp_path / "env"))
    assert realdata.find_real_pendulum_file(tmp_path / "arg") == tmp_path / "arg" / realdata.FILE_NAME
    assert realdata.find_real_pendulum_file() == tmp_path / "env" / realdata.FILE_NAME
    monkeypatch.delenv(realdata.ENV_VAR)
    assert realdata.find_real_pendulum_file() == tmp_path / "cache" / realdata.FILE_NAME
    assert offline == []


def test_wrong_checksum_is_a_value_error(tmp_path, monkeypatch):
    """A changed file is refused with both digests; if a line is malformed the message names it."""
    path = fake_pinned_file(monkeypatch, tmp_path / "d")
    write(path, recording_text(6).replace("5.0000000000000000e+00", "5.0000000000000001e+00", 1))
    with pytest.raises(ValueError, match="parses, but it is not the file") as err:
        realdata.find_real_pendulum_file(tmp_path / "d")
    assert str(path) in str(err.value) and realdata.FILE_SHA256 in str(err.value)
    write(path, recording_text(6)[:-40])  # truncated
    with pytest.raises(ValueError, match=rf"sha256 .*{path}, line 7: .*truncated"):
        realdata.find_real_pendulum_file(tmp_path / "d")


# --- download (pooch, with the network replaced by a local zip) ------------------------------


def make_zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return path


def serve(monkeypatch, archive, offline):
    """Make the downloader 'download' ``archive`` (and record the call)."""

    def fake_download(url, output_file, pooch_obj=None, check_only=False):
        offline.append(url)
        Path(output_file).write_bytes(Path(archive).read_bytes())

    monkeypatch.setattr(realdata, "_http_download", fake_download)


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_download_extracts_and_verifies(tmp_path, monkeypatch, offline):
    """Nothing local: the archive is fetched once, checked, the member extracted into the cache and checked."""
    text = recording_text(6)
    archive = make_zip(tmp_path / "src.zip", {"invar_datasets/other.txt": "x", f"invar_datasets/{realdata.FILE_NAME}": text})
    monkeypatch.setattr(realdata, "ARCHIVE_SHA256", digest(archive))
    monkeypatch.setattr(realdata, "FILE_SHA256", hashlib.sha256(text.encode()).hexdigest())
    serve(monkeypatch, archive, offline)
    path = realdata.find_real_pendulum_file()
    assert path == tmp_path / "cache" / realdata.FILE_NAME and path.read_bytes() == text.encode()
    assert offline == [realdata.ARCHIVE_URL]
    assert realdata.find_real_pendulum_file() == path and len(offline) == 1  # cached: no second download


def test_download_with_wrong_archive_checksum_raises(tmp_path, monkeypatch, offline):
    """With the real pinned sha256, a different archive is refused by pooch and nothing is kept."""
    archive = make_zip(tmp_path / "src.zip", {realdata.FILE_NAME: recording_text(6)})
    serve(monkeypatch, archive, offline)
    with pytest.raises(ValueError, match=realdata.ARCHIVE_SHA256[:12]):
        realdata.find_real_pendulum_file()
    assert not (tmp_path / "cache" / realdata.FILE_NAME).exists()
    assert not (tmp_path / "cache" / realdata.ARCHIVE_NAME).exists()


def test_download_with_wrong_member_checksum_raises(tmp_path, monkeypatch, offline):
    """A correct archive whose member is not the pinned file is refused; no file is written."""
    archive = make_zip(tmp_path / "src.zip", {realdata.FILE_NAME: recording_text(6)})
    monkeypatch.setattr(realdata, "ARCHIVE_SHA256", digest(archive))
    serve(monkeypatch, archive, offline)
    with pytest.raises(ValueError, match=f"expected {realdata.FILE_SHA256}"):
        realdata.find_real_pendulum_file()
    assert not (tmp_path / "cache" / realdata.FILE_NAME).exists()


def test_download_archive_without_member_raises(tmp_path, monkeypatch, offline):
    archive = make_zip(tmp_path / "src.zip", {"readme.txt": "nothing here"})
    monkeypatch.setattr(realdata, "ARCHIVE_SHA256", digest(archive))
    serve(monkeypatch, archive, offline)
    with pytest.raises(ValueError, match=f"does not contain {realdata.FILE_NAME}"):
        realdata.download_recording(tmp_path / "dl")


# --- preprocessing -------------------------------------------------------------------------


def test_load_preprocesses_like_the_reference(tmp_path, monkeypatch):
    """On a synthetic 556-row file with a gap: q, p, forward differences with the actual dt, both splits."""
    t = 5 + np.arange(557) / 6
    t = np.delete(t, 100)  # a missing sample: one step of 2/6
    q, p = np.sin(t), 0.5 * np.cos(t)
    fake_pinned_file(monkeypatch, tmp_path / "d", HEADER + "".join(row(*v) for v in zip(t, q, p)))
    data = realdata.load_real_pendulum(tmp_path / "d")
    assert isinstance(data, TrajectoryDataset) and data.system is None
    assert data.train.x.shape == (1, 444, 2) and data.test.x.shape == (1, 111, 2)
    assert data.train.x.dtype == torch.float32
    x = torch.cat([data.train.x[0], data.test.x[0]]).double().numpy()
    dx = torch.cat([data.train.dx[0], data.test.dx[0]]).double().numpy()
    np.testing.assert_allclose(x, np.stack([q, p], 1)[:-1], atol=1e-6)
    i = 99  # across the gap: dt = 2/6
    np.testing.assert_allclose(dx[i], [(q[i + 1] - q[i]) * 3, (p[i + 1] - p[i]) * 3], rtol=1e-5)
    np.testing.assert_allclose(dx[0], [(q[1] - q[0]) * 6, (p[1] - p[0]) * 6], rtol=1e-5)
    np.testing.assert_allclose(data.test.energy[0].numpy(), 2.4 * (1 - np.cos(q[444:555])) + p[444:555] ** 2, rtol=1e-6)
    np.testing.assert_allclose(data.test.t[0].numpy(), t[444:555], rtol=1e-7)

    ref = realdata.load_real_pendulum(tmp_path / "d", split="reference", dtype=torch.float64)
    assert ref.train.x.shape == (1, 445, 2) and ref.test.x.shape == (1, 110, 2)
    np.testing.assert_allclose(ref.test.t[0].numpy(), t[444:554])
    np.testing.assert_allclose(ref.train.t[0, -2:].numpy(), t[[443, 554]])
    assert ref.settings["split"] == "reference" and ref.settings["n_test"] == 110
    with pytest.raises(ValueError, match="unknown split"):
        realdata.load_real_pendulum(tmp_path / "d", split="random")
    with pytest.raises(ValueError, match="torch.float32 or torch.float64, got torch.int64"):
        realdata.load_real_pendulum(tmp_path / "d", dtype=torch.int64)


def test_pendulum_energy_numpy_and_torch():
    x = np.array([[np.pi / 2, 1.0], [0.0, -2.0]])
    np.testing.assert_allclose(realdata.pendulum_energy(x), [2.4 + 1.0, 4.0])
    assert torch.allclose(realdata.pendulum_energy(torch.tensor(x)), torch.tensor([3.4, 4.0], dtype=torch.float64))


def test_real_file(offline):
    """The real recording from the shared data folder: checksum, 556 rows, 444 / 111 samples, friction."""
    folder = SHARED_DATA_DIR
    if not (folder / realdata.FILE_NAME).is_file():
        pytest.skip(f"real-pendulum recording not found in {folder} (set {realdata.ENV_VAR} to the folder that holds it)")
    path = realdata.find_real_pendulum_file(folder)
    assert realdata.sha256(path) == realdata.FILE_SHA256
    rec = realdata.read_recording(path, expected_rows=realdata.N_ROWS)
    assert rec.t[0] == 5.0 and rec.t[-1] == 99.5
    gaps = np.diff(rec.t) > 1.5 / 6
    assert gaps.sum() == 10
    data = realdata.load_real_pendulum(folder)
    assert data.train.x.shape == (1, 444, 2) and data.test.x.shape == (1, 111, 2)
    assert data.test.t[0, 0].item() == pytest.approx(81.0)
    energy = torch.cat([data.train.energy[0], data.test.energy[0]])
    assert energy[:30].mean() > 2 * energy[-30:].mean()  # friction: the energy decays
    assert offline == []
