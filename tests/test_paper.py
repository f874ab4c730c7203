"""The paper's published tables and the side-by-side text tables."""

import pytest

from hnnlib import paper
from hnnlib.metrics import MeanWithError


def test_table2_constants_and_comparison():
    """Table 2 of the paper (x1e2) and the side-by-side text table."""
    row = paper.TABLE_2["three_body"]
    assert row["scale"] == 1e-2
    assert row["train_loss"] == {"baseline": (9.6, 7), "hnn": (8.0, 2)}
    assert row["test_loss"] == {"baseline": (38, 40), "hnn": (49, 48)}
    assert row["energy_mse"] == {"baseline": (1.1e4, 8e3), "hnn": (4.2, 3)}
    ours = {m: {"baseline": MeanWithError(0.1, 0.01, 10), "hnn": MeanWithError(0.05, 0.01, 10)} for m in paper.METRIC_NAMES}
    text = paper.table2_comparison(ours)
    assert text.splitlines()[0] == "Task 4b: Three body (values x 1e+02)"
    assert "11000 +- 8000" in text and "10 +- 1" in text and "5 +- 1" in text
    assert paper.table1_comparison("three_body", ours) == text
    with pytest.raises(ValueError, match="three_body"):
        paper.table1_comparison("four_body", ours)
