"""A small table that prints as aligned text and renders as HTML in Jupyter.

The book's side-by-side tables (this run's numbers beside the paper's) are :class:`Table`
objects. A :class:`Table` *is* its text form (a ``str`` subclass), so ``print(table)``, string
joins and the tests' text comparison work unchanged; Jupyter and the website show its
``_repr_html_`` instead: a real table whose columns never hide behind a horizontal scroll.
"""

from __future__ import annotations

import html
from typing import Sequence

__all__ = ["Table"]

#: From this many columns shown, the HTML table gets the class ``hnnlib-table-wide`` (smaller type).
WIDE_COLUMNS = 7


def _as_cells(values: Sequence[object], what: str) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise TypeError(f"{what} must be a sequence of cells, got {type(values).__name__}")
    return tuple(str(v) for v in values)


class Table(str):
    """A table of text cells: its ``str`` value is the aligned text form, ``_repr_html_`` the HTML.

    Parameters
    ----------
    columns : sequence of str, length C
        Column headers.
    rows : sequence of sequences of str, each of length C
        The body. Cells are shown as given (format numbers before, e.g. with ``format(x, ".3g")``).
    title : str
        Printed above the text form; the HTML table's caption.
    groups : sequence of (str, int)
        Spanning headers over the columns, left to right, e.g. ``[("", 1), ("baseline NN", 2)]``;
        the spans must add up to ``C``. Empty: no group row.
    index_columns : int
        How many leading columns are row headers (``<th>``, left-aligned). Where the first column
        repeats the row above's, the text leaves it blank. In the HTML, with one index column,
        repeated cells merge into one; with two or more, the first column is not a column at all:
        each run of equal values becomes a heading row spanning the table above its rows, which
        leaves the width of the page to the value columns (chapter 9's wide tables).

    Raises
    ------
    ValueError
        If a row's length, the groups' total span or ``index_columns`` does not fit ``columns``.

    Examples
    --------
    >>> t = Table(["", "a", "b"], [["x", "1", "2"]], title="T")
    >>> print(t)
    T
        a  b
    x   1  2
    """

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    title: str
    groups: tuple[tuple[str, int], ...]
    index_columns: int

    def __new__(
        cls,
        columns: Sequence[str],
        rows: Sequence[Sequence[object]],
        *,
        title: str = "",
        groups: Sequence[tuple[str, int]] = (),
        index_columns: int = 1,
    ) -> "Table":
        columns = _as_cells(columns, "columns")
        rows = tuple(_as_cells(row, f"row {i}") for i, row in enumerate(rows))
        for i, row in enumerate(rows):
            if len(row) != len(columns):
                raise ValueError(f"row {i} has {len(row)} cells, expected {len(columns)} (one per column)")
        groups = tuple((str(name), int(span)) for name, span in groups)
        if groups and (sum(s for _, s in groups) != len(columns) or min(s for _, s in groups) < 1):
            raise ValueError(f"groups must span the {len(columns)} columns with spans >= 1, got {groups}")
        if not 0 <= index_columns <= len(columns):
            raise ValueError(f"index_columns must be in [0, {len(columns)}], got {index_columns}")
        self = super().__new__(cls, _text(columns, rows, str(title), groups, index_columns))
        self.columns, self.rows, self.title = columns, rows, str(title)
        self.groups, self.index_columns = groups, index_columns
        return self

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer, cycle: bool) -> None:  # IPython's text/plain
        printer.text(str(self))

    def _repr_html_(self) -> str:
        esc = html.escape
        # With two or more index columns the first one becomes heading rows (see the class doc).
        headings = self.index_columns >= 2
        skip = 1 if headings else 0
        # "wide": seven or more columns shown, set smaller by the book's CSS (web/book.css)
        wide = " hnnlib-table-wide" if len(self.columns) - skip >= WIDE_COLUMNS else ""
        out = [f'<table class="hnnlib-table{wide}">']
        if self.title:
            out.append(f"<caption>{esc(self.title)}</caption>")
        out.append("<thead>")
        groups = list(self.groups)
        if groups and headings:
            name, span = groups[0]
            groups[0:1] = [(name, span - 1)] if span > 1 else []
        if groups:
            cells = "".join(
                f'<th colspan="{span}">{esc(name)}</th>' if span > 1 else f"<th>{esc(name)}</th>"
                for name, span in groups
            )
            out.append(f"<tr>{cells}</tr>")
        out.append("<tr>" + "".join(f"<th>{esc(c)}</th>" for c in self.columns[skip:]) + "</tr>")
        out.append("</thead>")
        out.append("<tbody>")
        spans = _first_column_spans(self.rows) if self.index_columns else [1] * len(self.rows)
        for row, span in zip(self.rows, spans):
            if headings and span:
                out.append(f'<tr class="hnnlib-table-heading"><th colspan="{len(self.columns) - 1}" '
                           f'style="text-align: left">{esc(row[0])}</th></tr>')
            cells = []
            for j, cell in enumerate(row):
                if j < skip or (j == 0 and self.index_columns and span == 0):
                    continue  # a heading row, or merged into the cell above
                if j < self.index_columns:
                    rowspan = f' rowspan="{span}"' if j == 0 and span > 1 else ""
                    cells.append(f'<th{rowspan} style="text-align: left">{esc(cell)}</th>')
                else:
                    cells.append(f'<td style="text-align: right">{esc(cell)}</td>')
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</tbody>")
        out.append("</table>")
        return "\n".join(out)


def _first_column_spans(rows: tuple[tuple[str, ...], ...]) -> list[int]:
    """Rowspan of each row's first cell: ``k`` where a run of ``k`` equal cells starts, 0 inside it."""
    spans = [1] * len(rows)
    start = 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i][0] != rows[start][0]:
            spans[start] = i - start
            for k in range(start + 1, i):
                spans[k] = 0
            start = i
    return spans


def _text(columns, rows, title, groups, index_columns) -> str:
    shown = [list(r) for r in rows]
    if index_columns:
        for i in range(len(shown) - 1, 0, -1):
            if rows[i][0] == rows[i - 1][0]:
                shown[i][0] = ""
    widths = [max([len(c)] + [len(r[j]) for r in shown]) for j, c in enumerate(columns)]
    if groups:  # widen the last column of a group until its name fits above it
        j = 0
        for name, span in groups:
            room = sum(widths[j:j + span]) + 2 * (span - 1)
            widths[j + span - 1] += max(0, len(name) - room)
            j += span

    def line(cells):
        parts = [c.ljust(w) if j < index_columns else c.rjust(w) for j, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(parts).rstrip()

    lines = [title] if title else []
    if groups:
        j, parts = 0, []
        for name, span in groups:
            parts.append(name.center(sum(widths[j:j + span]) + 2 * (span - 1)))
            j += span
        lines.append("  ".join(parts).rstrip())
    lines.append(line(columns))
    lines.extend(line(r) for r in shown)
    return "\n".join(lines)
