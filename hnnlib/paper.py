"""The paper's published numbers (Greydanus, Dzamba & Yosinski, NeurIPS 2019), for side-by-side tables.

These are constants copied from the paper's Table 1 and Table 2 (Appendix B), not results: every
number the book reports as its own is computed in the notebook that shows it.
"""

from __future__ import annotations

from typing import Sequence

from .labels import MODEL_KINDS, MODEL_LABELS
from .metrics import MeanWithError
from .tables import Table

#: Table 1 of the paper: ``TABLE_1[task][metric][model] = (value, error)`` in units of ``scale``.
TABLE_1: dict[str, dict] = {
    "mass_spring": {
        "title": "Task 1: Ideal mass-spring",
        "scale": 1e-3,
        "train_loss": {"baseline": (37, 2), "hnn": (37, 2)},
        "test_loss": {"baseline": (37, 2), "hnn": (36, 2)},
        "energy_mse": {"baseline": (170, 20), "hnn": (0.38, 0.1)},
    },
    "pendulum": {
        "title": "Task 2: Ideal pendulum",
        "scale": 1e-3,
        "train_loss": {"baseline": (33, 2), "hnn": (33, 2)},
        "test_loss": {"baseline": (35, 2), "hnn": (36, 2)},
        "energy_mse": {"baseline": (42, 10), "hnn": (25, 5)},
    },
    "real_pendulum": {
        "title": "Task 3: Real pendulum",
        "scale": 1e-3,
        "train_loss": {"baseline": (2.7, 0.2), "hnn": (9.2, 0.5)},
        "test_loss": {"baseline": (2.2, 0.3), "hnn": (6.0, 0.6)},
        "energy_mse": {"baseline": (390, 7), "hnn": (14, 5)},
    },
    "two_body": {
        "title": "Task 4: Two body",
        "scale": 1e-6,
        "train_loss": {"baseline": (33, 1), "hnn": (3.0, 0.1)},
        "test_loss": {"baseline": (30, 0.1), "hnn": (2.8, 0.1)},
        "energy_mse": {"baseline": (6.3e4, 3e4), "hnn": (39, 5)},
    },
    "pixel_pendulum": {
        "title": "Task 5: Pixel pendulum",
        "scale": 1e-3,
        "train_loss": {"baseline": (18, 0.2), "hnn": (19, 0.2)},
        "test_loss": {"baseline": (17, 0.3), "hnn": (18, 0.3)},
        "energy_mse": {"baseline": (9.3, 1), "hnn": (0.15, 0.01)},
    },
}

#: Table 2 of the paper (Appendix B, three bodies), in the layout of :data:`TABLE_1`. All values
#: are multiplied by 1e2 in the paper; its caption: "The confidence intervals suggest that both
#: models struggle to model the distribution of the dataset."
TABLE_2: dict[str, dict] = {
    "three_body": {
        "title": "Task 4b: Three body",
        "scale": 1e-2,
        "train_loss": {"baseline": (9.6, 7), "hnn": (8.0, 2)},
        "test_loss": {"baseline": (38, 40), "hnn": (49, 48)},
        "energy_mse": {"baseline": (1.1e4, 8e3), "hnn": (4.2, 3)},
    },
}

METRIC_NAMES = {"train_loss": "train loss", "test_loss": "test loss", "energy_mse": "energy MSE"}


def _scale_label(scale: float) -> str:
    return f"values x {1 / scale:.0e}"


def table1_comparison(task: str, results: dict[str, dict[str, MeanWithError]]) -> Table:
    """One task's Table 1 row: the paper's values beside this run's, as a :class:`~hnnlib.tables.Table`.

    Parameters
    ----------
    task : str
        A key of :data:`TABLE_1`, e.g. ``"mass_spring"``, or of :data:`TABLE_2` (``"three_body"``).
    results : dict
        ``results[metric][model]`` with ``metric`` in ``train_loss``, ``test_loss``,
        ``energy_mse`` and ``model`` in ``baseline``, ``hnn`` (unscaled values).

    Returns
    -------
    Table
        One row per metric, a "paper" and a "this run" column per model; values in the paper's
        units (this run's to 3 significant figures). Prints as text, renders as HTML in Jupyter.
    """
    row = _published_row(task)
    scale = row["scale"]
    body = []
    for metric, name in METRIC_NAMES.items():
        cells = [name]
        for model in MODEL_KINDS:
            cells += [_published(row, metric, model), _ours(results, metric, model, scale)]
        body.append(cells)
    return Table(
        ["", "paper", "this run", "paper", "this run"], body,
        title=f"{row['title']} ({_scale_label(scale)})",
        groups=[("", 1)] + [(MODEL_LABELS[m], 2) for m in MODEL_KINDS],
    )


def table2_comparison(results: dict[str, dict[str, MeanWithError]]) -> Table:
    """The paper's Table 2 (three bodies, values x 1e2) beside this run's; see :func:`table1_comparison`."""
    return table1_comparison("three_body", results)


def comparison_table(
    entries: Sequence[tuple[str, str, dict[str, dict[str, MeanWithError]]]], title: str = ""
) -> Table:
    """Several tasks in the paper's own layout: tasks as rows, metric x model as columns.

    Each task gets the paper's row, then one row per entry of this book for it.

    Parameters
    ----------
    entries : sequence of (task, label, results)
        ``task`` a key of :data:`TABLE_1` or :data:`TABLE_2`; ``label`` names the row (e.g.
        ``"this run"`` or ``"this run, q^2 + p^2"``); ``results[metric][model]`` as in
        :func:`table1_comparison`. Entries of one task must be consecutive.
    title : str
        The table's caption.

    Returns
    -------
    Table
        Columns: task (with its scale), source, then train loss, test loss and energy MSE, each
        for the baseline and the HNN, in each task's units (the paper's); this book's values to 3
        significant figures and their errors to 2, so that the six value columns fit the page
        (:func:`table1_comparison`'s one-task table keeps 3 for both).
    """
    if not entries:
        raise ValueError("entries must hold at least one (task, label, results)")
    tasks: list[str] = []
    for task, _, _ in entries:
        if task in tasks and tasks[-1] != task:
            raise ValueError(f"the entries of task {task!r} must be consecutive")
        if task not in tasks:
            tasks.append(task)
    body = []
    for task in tasks:
        row = _published_row(task)
        scale = row["scale"]
        name = f"{row['title']} (x {1 / scale:.0e})"
        body.append([name, "paper"] + [_published(row, m, k) for m in METRIC_NAMES for k in MODEL_KINDS])
        for entry_task, label, results in entries:
            if entry_task == task:
                body.append([name, label] + [_ours(results, m, k, scale, error_figures=2)
                                             for m in METRIC_NAMES for k in MODEL_KINDS])
    columns = ["task", "source"] + [MODEL_SHORT[k] for _ in METRIC_NAMES for k in MODEL_KINDS]
    groups = [("", 2)] + [(name, len(MODEL_KINDS)) for name in METRIC_NAMES.values()]
    return Table(columns, body, title=title, groups=groups, index_columns=2)


#: Short model names for the columns of :func:`comparison_table`.
MODEL_SHORT = {"baseline": "baseline", "hnn": "HNN"}


def _published_row(task: str) -> dict:
    tables = {**TABLE_1, **TABLE_2}
    if task not in tables:
        raise ValueError(f"unknown task {task!r}; expected one of {sorted(tables)}")
    return tables[task]


def _published(row: dict, metric: str, model: str) -> str:
    value, err = row[metric][model]
    return f"{value:g} +- {err:g}"


def _ours(results: dict, metric: str, model: str, scale: float, error_figures: int | None = None) -> str:
    try:
        value = results[metric][model]
    except KeyError as e:
        raise ValueError(f"results must hold results[metric][model] for metric in {list(METRIC_NAMES)} "
                         f"and model in {list(MODEL_KINDS)}; missing {e}") from None
    return value.scaled(1 / scale).text(".3g", error_figures)
