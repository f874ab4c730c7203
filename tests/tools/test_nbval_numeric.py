"""The notebook comparison plugin (tools/nbval_numeric.py): tolerant on numbers, exact on words.

The module writes one notebook, one cell per case: it executes the code once to store its
outputs, edits the stored outputs (or the code) per case, and runs
``pytest --nbval -p nbval_numeric`` on it once, in a separate process; each test reads its case's
result from that run's JUnit report.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import nbformat
import pytest
from nbclient import NotebookClient

TOOLS = Path(__file__).resolve().parents[2] / "tools"
sys.path.insert(0, str(TOOLS))
import nbval_numeric as nn  # noqa: E402


CODE = 'x = 2 / 3\nprint(f"loss {x:.4g} after 2000 steps, ok: True")'  # prints "loss 0.6667 ..."
NOISE_CODE = (
    "import numpy as np\n"
    "NOISE_STD = 0.1\n"
    "rng = np.random.default_rng(0)\n"
    "x = np.sin(np.linspace(0, 6, 200)) + NOISE_STD * rng.standard_normal(200)\n"
    'print(f"residual std {np.std(x - np.sin(np.linspace(0, 6, 200))):.3g}")'
)

# Each case: (name, code, cell tags, (old, new) edit of the stored text, or None).
# "mutated_setting" runs NOISE_CODE with a changed setting against the outputs stored by NOISE_CODE.
CASES = [
    ("unchanged", CODE, [], None),
    ("last_digit", CODE, [], ("0.6667", "0.6668")),  # one unit in the last printed digit
    ("two_units", CODE, [], ("0.6667", "0.6669")),
    ("integer", CODE, [], ("2000", "2001")),
    ("word", CODE, [], ("ok: True", "ok: False")),
    ("tag_inside", CODE, ["nbval-rtol=0.01"], ("0.6667", "0.6700")),  # 0.5 % off: inside 1 %
    ("tag_outside", CODE, ["nbval-rtol=0.01"], ("0.6667", "0.6800")),  # 2 % off: outside
    ("setting_unchanged", NOISE_CODE, ["nbval-rtol=0.1"], None),
    ("mutated_setting", NOISE_CODE, ["nbval-rtol=0.1"], None),
]


@pytest.fixture(scope="module")
def nbval_results(tmp_path_factory) -> dict[str, tuple[bool, str]]:
    """Every case as one cell of one notebook, run by ``pytest --nbval -p nbval_numeric`` once.

    The cells' outputs are stored by executing ``CODE`` and ``NOISE_CODE`` once, then edited per
    case; one kernel and one pytest process serve all cases (nbval reports each cell as its own
    test, and a failed comparison does not stop the next cell). Returns ``{case: (passed, report)}``.
    """
    folder = tmp_path_factory.mktemp("nbval_numeric")
    source = nbformat.v4.new_notebook()
    source.cells = [nbformat.v4.new_code_cell(CODE), nbformat.v4.new_code_cell(NOISE_CODE)]
    NotebookClient(source, timeout=60, kernel_name="python3").execute()
    executed = {cell.source: cell for cell in source.cells}
    nb = nbformat.v4.new_notebook()
    for index, (name, code, tags, edit) in enumerate(CASES):
        cell = copy.deepcopy(executed[code])
        cell.id = f"case-{index}"
        cell.metadata["tags"] = tags
        if edit is not None:
            old, new = edit
            assert old in cell.outputs[0].text, (old, cell.outputs[0].text)
            cell.outputs[0].text = cell.outputs[0].text.replace(old, new)
        if name == "mutated_setting":
            cell.source = cell.source.replace("NOISE_STD = 0.1", "NOISE_STD = 0.2")
        nb.cells.append(cell)
    path = folder / "cases.ipynb"
    nbformat.write(nb, path)
    (folder / "pytest.ini").write_text("[pytest]\n")
    report = folder / "report.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "-p", "nbval_numeric", "--nbval", f"--junitxml={report}", str(path)],
        cwd=folder, env=dict(os.environ, PYTHONPATH=str(TOOLS)), capture_output=True, text=True, timeout=300,
    )
    results = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        index = int(case.get("name").split()[-1])  # nbval names its items "Cell <index>"
        failure = case.find("failure")
        results[CASES[index][0]] = (failure is None, "" if failure is None else (failure.get("message", "") + (failure.text or "")))
    assert sorted(results) == sorted(name for name, *_ in CASES), results
    return results


def test_unchanged_notebook_passes(nbval_results):
    assert nbval_results["unchanged"][0], nbval_results["unchanged"][1]


def test_last_digit_rounding_passes_by_default(nbval_results):
    assert nbval_results["last_digit"][0], nbval_results["last_digit"][1]


def test_number_outside_default_tolerance_fails(nbval_results):
    passed, report = nbval_results["two_units"]
    assert not passed
    assert "stored 0.6669, computed 0.6667" in report


def test_integer_must_match_exactly_by_default(nbval_results):
    assert not nbval_results["integer"][0]


def test_changed_word_fails(nbval_results):
    passed, report = nbval_results["word"]
    assert not passed
    assert "text differs" in report


def test_cell_tag_loosens_the_tolerance(nbval_results):
    assert nbval_results["tag_inside"][0], nbval_results["tag_inside"][1]
    assert not nbval_results["tag_outside"][0]


def test_changed_setting_fails_under_loose_tolerance(nbval_results):
    """A mutation of a chapter setting (here: a noise level) fails even under a loose tag."""
    assert nbval_results["setting_unchanged"][0], nbval_results["setting_unchanged"][1]
    passed, report = nbval_results["mutated_setting"]
    assert not passed
    assert "outside the tolerance" in report


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
