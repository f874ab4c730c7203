"""Every code line of every chapter fits the page: at most 88 columns (the developers' guide).

The website shows a code cell in a column about 88 characters wide at 1280 px; a longer line
hides its end behind a horizontal scroll.
"""

import json
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parent.parent / "book"
MAX_COLUMNS = 88


def long_lines(notebook: Path, limit: int = MAX_COLUMNS) -> list[str]:
    """``"cell C, line L: N columns"`` for each code line of ``notebook`` longer than ``limit``."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    found = []
    for c, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        for n, line in enumerate("".join(cell["source"]).splitlines(), start=1):
            if len(line) > limit:
                found.append(f"cell {c}, line {n}: {len(line)} columns")
    return found


@pytest.mark.parametrize("notebook", sorted(BOOK.glob("*.ipynb")), ids=lambda p: p.name)
def test_code_lines_fit_88_columns(notebook):
    found = long_lines(notebook)
    assert not found, f"{notebook.name}: {len(found)} code lines over {MAX_COLUMNS} columns: {found[:10]}"


def test_long_lines_finds_a_long_line(tmp_path):
    nb = {"cells": [{"cell_type": "code", "source": ["x = 1\n", "y = " + "1" * 90]},
                    {"cell_type": "markdown", "source": ["z" * 200]}]}
    path = tmp_path / "a.ipynb"
    path.write_text(json.dumps(nb))
    assert long_lines(path) == ["cell 0, line 2: 94 columns"]
