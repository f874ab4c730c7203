"""The notebook comparison plugin (tools/nbval_numeric.py): tolerant on numbers, exact on words.

Each test writes a tiny notebook, executes it to store its outputs, edits the stored outputs
(or the code) and runs ``pytest --nbval -p nbval_numeric`` on it in a separate process.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

TOOLS = Path(__file__).resolve().parents[2] / "tools"
sys.path.insert(0, str(TOOLS))
import nbval_numeric as nn  # noqa: E402


_EXECUTED: dict[str, nbformat.NotebookNode] = {}  # code -> its executed one-cell notebook


def _notebook(tmp_path: Path, code: str, tags: list[str] | None = None) -> Path:
    """A one-cell notebook of ``code`` with stored outputs; each code runs in a kernel once per module
    (tags only matter to nbval, not to the stored outputs)."""
    if code not in _EXECUTED:
        nb = nbformat.v4.new_notebook()
        nb.cells.append(nbformat.v4.new_code_cell(code))
        NotebookClient(nb, timeout=60, kernel_name="python3").execute()
        _EXECUTED[code] = nb
    nb = copy.deepcopy(_EXECUTED[code])
    if tags:
        nb.cells[0].metadata["tags"] = tags
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    return path


def _edit_stored_text(path: Path, old: str, new: str) -> None:
    nb = nbformat.read(path, as_version=4)
    out = nb.cells[0].outputs[0]
    assert old in out.text, (old, out.text)
    out.text = out.text.replace(old, new)
    nbformat.write(nb, path)


def _run_nbval(path: Path) -> subprocess.CompletedProcess:
    (path.parent / "pytest.ini").write_text("[pytest]\n")
    env = dict(os.environ, PYTHONPATH=str(TOOLS))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "-p", "nbval_numeric", "--nbval", str(path)],
        cwd=path.parent, env=env, capture_output=True, text=True, timeout=300,
    )


CODE = 'x = 2 / 3\nprint(f"loss {x:.4g} after 2000 steps, ok: True")'  # prints "loss 0.6667 ..."


def test_unchanged_notebook_passes(tmp_path):
    result = _run_nbval(_notebook(tmp_path, CODE))
    assert result.returncode == 0, result.stdout


def test_last_digit_rounding_passes_by_default(tmp_path):
    path = _notebook(tmp_path, CODE)
    _edit_stored_text(path, "0.6667", "0.6668")  # one unit in the last printed digit
    result = _run_nbval(path)
    assert result.returncode == 0, result.stdout


def test_number_outside_default_tolerance_fails(tmp_path):
    path = _notebook(tmp_path, CODE)
    _edit_stored_text(path, "0.6667", "0.6669")  # two units
    result = _run_nbval(path)
    assert result.returncode == 1
    assert "stored 0.6669, computed 0.6667" in result.stdout


def test_integer_must_match_exactly_by_default(tmp_path):
    path = _notebook(tmp_path, CODE)
    _edit_stored_text(path, "2000", "2001")
    assert _run_nbval(path).returncode == 1


def test_changed_word_fails(tmp_path):
    path = _notebook(tmp_path, CODE)
    _edit_stored_text(path, "ok: True", "ok: False")
    result = _run_nbval(path)
    assert result.returncode == 1
    assert "text differs" in result.stdout


def test_cell_tag_loosens_the_tolerance(tmp_path):
    path = _notebook(tmp_path, CODE, tags=["nbval-rtol=0.01"])
    _edit_stored_text(path, "0.6667", "0.6700")  # 0.5 % off: inside 1 %
    assert _run_nbval(path).returncode == 0
    path = _notebook(tmp_path, CODE, tags=["nbval-rtol=0.01"])
    _edit_stored_text(path, "0.6667", "0.6800")  # 2 % off: outside
    assert _run_nbval(path).returncode == 1


def test_changed_setting_fails_under_loose_tolerance(tmp_path):
    """A mutation of a chapter setting (here: a noise level) fails even under a loose tag."""
    code = (
        "import numpy as np\n"
        "NOISE_STD = 0.1\n"
        "rng = np.random.default_rng(0)\n"
        "x = np.sin(np.linspace(0, 6, 200)) + NOISE_STD * rng.standard_normal(200)\n"
        'print(f"residual std {np.std(x - np.sin(np.linspace(0, 6, 200))):.3g}")'
    )
    path = _notebook(tmp_path, code, tags=["nbval-rtol=0.1"])
    assert _run_nbval(path).returncode == 0
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source = nb.cells[0].source.replace("NOISE_STD = 0.1", "NOISE_STD = 0.2")
    nbformat.write(nb, path)
    result = _run_nbval(path)
    assert result.returncode == 1
    assert "outside the tolerance" in result.stdout


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("H(20) = 1.205, 8.96e-03 units", ["20", "1.205", "8.96e-03"]),
        ("step 0/2000 loss -0.5", ["0", "2000", "-0.5"]),
        ("float32 and R2 stay words", []),
    ],
)
def test_split_numbers(text, numbers):
    words, found = nn.split_numbers(text)
    assert found == numbers
    assert "".join(w + n for w, n in zip(words, found + [""])) == text


def test_last_digit_unit():
    assert nn._last_digit_unit("1.205") == pytest.approx(1e-3)
    assert nn._last_digit_unit("8.96e-03") == pytest.approx(1e-5)
    assert nn._last_digit_unit("12") == 1


@pytest.mark.parametrize("tag", ["nbval-rtol=abc", "nbval-rtol=-1", "nbval-atol=inf"])
def test_bad_tolerance_tag_is_an_error(tag):
    with pytest.raises(ValueError, match="nbval-"):
        nn.tolerance_from_tags([tag])


def test_table_padding_may_shift_but_words_may_not():
    tol = nn.Tolerance(rtol=0.1)
    assert nn.compare_text("loss   0.00492  ok", "loss    0.0051  ok", tol) is None
    assert "text differs" in nn.compare_text("loss 0.00492 ok", "loss 0.00492 ko", tol)
    assert "text differs" in nn.compare_text("a b", "ab", tol)  # a space is not nothing


def test_output_timeout_is_raised_above_nbvals_five_seconds(monkeypatch):
    """A finished cell's late output on a loaded machine is waited for, up to OUTPUT_TIMEOUT seconds."""

    class Cell:
        pass

    def nbval_init(self, *args, **kwargs):
        self.output_timeout = 5

    monkeypatch.setattr(nn, "_nbval_init", nbval_init)
    cell = Cell()
    nn._init_with_output_timeout(cell)
    assert cell.output_timeout == nn.OUTPUT_TIMEOUT == 60
