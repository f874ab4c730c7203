"""hnnlib.tables.Table and the paper's side-by-side tables built with it."""

import pytest

from hnnlib import paper
from hnnlib.metrics import MeanWithError
from hnnlib.tables import Table


def _ours(baseline=0.1, hnn=0.05):
    return {m: {"baseline": MeanWithError(baseline, 0.01, 10), "hnn": MeanWithError(hnn, 0.01, 10)}
            for m in paper.METRIC_NAMES}


def test_text_form_is_aligned_and_is_the_str_value():
    t = Table(["", "a", "long name"], [["x", "1", "22"], ["yy", "333", "4"]], title="T")
    assert isinstance(t, str)
    assert str(t) == repr(t) == (
        "T\n      a  long name\nx     1         22\nyy  333          4")
    assert t.columns == ("", "a", "long name") and t.rows[1] == ("yy", "333", "4")


def test_html_has_every_cell_escaped_with_caption_and_groups():
    t = Table(["", "p", "q"], [["<r>", "1 +- 2", "3"]], title="A & B", groups=[("", 1), ("both", 2)])
    page = t._repr_html_()
    assert page.startswith('<table class="hnnlib-table">') and page.endswith("</table>")
    assert "<caption>A &amp; B</caption>" in page
    assert '<th colspan="2">both</th>' in page
    assert "&lt;r&gt;" in page and "<r>" not in page
    assert page.count("<td") == 2 and page.count("<tr>") == 3
    assert "both" in str(t).splitlines()[1]


def test_repeated_first_column_is_merged_in_html_and_blank_in_text():
    t = Table(["task", "v"], [["A", "1"], ["A", "2"], ["B", "3"]])
    page = t._repr_html_()
    assert '<th rowspan="2" style="text-align: left">A</th>' in page
    assert page.count(">A</th>") == 1 and page.count(">B</th>") == 1
    lines = str(t).splitlines()
    assert lines[1].startswith("A ") and lines[2].startswith("  ") and lines[3].startswith("B ")


def test_with_two_index_columns_the_first_becomes_heading_rows_in_html():
    """Its values head their blocks across the table (no column of their own); the text keeps the column."""
    t = Table(["task", "source", "v"], [["A", "paper", "1"], ["A", "ours", "2"], ["B", "paper", "3"]],
              index_columns=2, groups=[("", 2), ("value", 1)])
    page = t._repr_html_()
    assert page.count('<tr class="hnnlib-table-heading"><th colspan="2" style="text-align: left">') == 2
    assert page.count(">A</th>") == 1 and page.count(">B</th>") == 1 and "rowspan" not in page
    assert "<th>task</th>" not in page and "<tr><th>source</th><th>v</th></tr>" in page
    assert "<tr><th></th><th>value</th></tr>" in page  # the first group lost the task column
    assert '<tr><th style="text-align: left">ours</th><td style="text-align: right">2</td></tr>' in page
    lines = str(t).splitlines()
    assert lines[1].split() == ["task", "source", "v"] and lines[3].split() == ["ours", "2"]


def test_only_a_table_of_seven_or_more_columns_shown_is_wide():
    def html(n_columns, index_columns=1):
        columns = [f"c{j}" for j in range(n_columns)]
        return Table(columns, [columns], index_columns=index_columns)._repr_html_()

    assert html(6).startswith('<table class="hnnlib-table">')
    assert html(7).startswith('<table class="hnnlib-table hnnlib-table-wide">')
    assert html(7, index_columns=2).startswith('<table class="hnnlib-table">')  # 6 shown
    assert html(8, index_columns=2).startswith('<table class="hnnlib-table hnnlib-table-wide">')


def test_ipython_shows_the_text_form():
    from IPython.lib.pretty import pretty

    t = Table(["", "a"], [["x", "1"]])
    assert pretty(t) == str(t)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"columns": ["a", "b"], "rows": [["1"]]}, "row 0 has 1 cells, expected 2"),
        ({"columns": ["a", "b"], "rows": [], "groups": [("g", 3)]}, "groups must span the 2 columns"),
        ({"columns": ["a"], "rows": [], "index_columns": 2}, r"index_columns must be in \[0, 1\]"),
    ],
)
def test_bad_shapes_are_refused_with_what_was_expected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Table(**kwargs)


def test_a_string_is_not_a_row():
    with pytest.raises(TypeError, match="row 0 must be a sequence of cells"):
        Table(["a", "b"], ["xy"])


def test_table1_comparison_columns_and_numbers():
    t = paper.table1_comparison("mass_spring", _ours())
    assert isinstance(t, Table)
    assert t.title == "Task 1: Ideal mass-spring (values x 1e+03)"
    assert t.groups == (("", 1), ("baseline NN", 2), ("Hamiltonian NN", 2))
    assert t.rows[2] == ("energy MSE", "170 +- 20", "100 +- 10", "0.38 +- 0.1", "50 +- 10")
    assert "<td style=\"text-align: right\">50 +- 10</td>" in t._repr_html_()


def test_comparison_table_has_the_papers_layout():
    entries = [("mass_spring", "this run", _ours()), ("three_body", "this run", _ours(0.2, 0.3))]
    t = paper.comparison_table(entries, title="Tables 1 and 2")
    assert t.columns == ("task", "source") + ("baseline", "HNN") * 3
    assert [g for g, _ in t.groups] == ["", "train loss", "test loss", "energy MSE"]
    assert [r[:2] for r in t.rows] == [
        ("Task 1: Ideal mass-spring (x 1e+03)", "paper"), ("Task 1: Ideal mass-spring (x 1e+03)", "this run"),
        ("Task 4b: Three body (x 1e+02)", "paper"), ("Task 4b: Three body (x 1e+02)", "this run"),
    ]
    assert t.rows[0][2:] == ("37 +- 2", "37 +- 2", "37 +- 2", "36 +- 2", "170 +- 20", "0.38 +- 0.1")
    assert t.rows[3][2:4] == ("20 +- 1", "30 +- 1")  # 0.2 and 0.3 in units of 1e-2


def test_comparison_table_gives_errors_two_significant_figures_and_a_single_value_its_count():
    ours = _ours()
    ours["train_loss"]["baseline"] = MeanWithError(0.03843, 0.000638, 3)
    ours["energy_mse"]["baseline"] = MeanWithError(0.632, 0.1304, 15)
    ours["energy_mse"]["hnn"] = MeanWithError(0.0119, float("nan"), 1)
    t = paper.comparison_table([("real_pendulum", "this run", ours)])
    assert t.rows[1][2:] == ("38.4 +- 0.64", "50 +- 10", "100 +- 10", "50 +- 10", "632 +- 130", "11.9 (n = 1)")
    page = t._repr_html_()
    assert page.startswith('<table class="hnnlib-table hnnlib-table-wide">')
    assert '<td style="text-align: right">11.9 (n = 1)</td>' in page and "nan" not in page


def test_table1_comparison_shows_a_single_rollout_as_n_1_in_text_and_html():
    """Task 3's energy MSE comes from one rollout: "370 (n = 1)", never "370 +- nan"."""
    ours = _ours()
    ours["energy_mse"] = {"baseline": MeanWithError(0.37, float("nan"), 1),
                          "hnn": MeanWithError(0.0119, float("nan"), 1)}
    t = paper.table1_comparison("real_pendulum", ours)
    assert t.rows[2] == ("energy MSE", "390 +- 7", "370 (n = 1)", "14 +- 5", "11.9 (n = 1)")
    assert "nan" not in str(t) and "nan" not in t._repr_html_()
    assert '<td style="text-align: right">370 (n = 1)</td>' in t._repr_html_()
    assert t.rows[0][2] == "100 +- 10"  # the other rows keep "+- error", to 3 figures


def test_comparison_table_refuses_bad_entries():
    with pytest.raises(ValueError, match="at least one"):
        paper.comparison_table([])
    with pytest.raises(ValueError, match="consecutive"):
        paper.comparison_table([("pendulum", "a", _ours()), ("two_body", "b", _ours()),
                                ("pendulum", "c", _ours())])
    with pytest.raises(ValueError, match="unknown task 'four_body'"):
        paper.comparison_table([("four_body", "a", _ours())])
    with pytest.raises(ValueError, match="missing .baseline."):
        paper.comparison_table([("pendulum", "a", {"train_loss": {}})])
