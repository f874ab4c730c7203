"""The paper's published numbers (Greydanus, Dzamba & Yosinski, NeurIPS 2019), for side-by-side tables.

These are constants copied from the paper's Table 1 and Table 2 (Appendix B), not results: every
number the book reports as its own is computed in the notebook that shows it.
"""

from __future__ import annotations

from .metrics import MeanWithError

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


def table1_comparison(task: str, results: dict[str, dict[str, MeanWithError]]) -> str:
    """A text table of one task's Table 1 row: the paper's values beside this run's.

    Parameters
    ----------
    task : str
        A key of :data:`TABLE_1`, e.g. ``"mass_spring"``, or of :data:`TABLE_2` (``"three_body"``).
    results : dict
        ``results[metric][model]`` with ``metric`` in ``train_loss``, ``test_loss``,
        ``energy_mse`` and ``model`` in ``baseline``, ``hnn`` (unscaled values).

    Returns
    -------
    str
        Rows per metric; values in the paper's units (3 significant figures).
    """
    tables = {**TABLE_1, **TABLE_2}
    if task not in tables:
        raise ValueError(f"unknown task {task!r}; expected one of {sorted(tables)}")
    row = tables[task]
    scale = row["scale"]
    lines = [
        f"{row['title']} (values x {1 / scale:.0e})",
        f"{'':12s} {'baseline, paper':>16s} {'baseline, this run':>20s} {'HNN, paper':>16s} {'HNN, this run':>20s}",
    ]
    for metric, name in METRIC_NAMES.items():
        line = f"{name:12s}"
        for model in ("baseline", "hnn"):
            value, err = row[metric][model]
            ours = results[metric][model].scaled(1 / scale)
            line += f" {f'{value:g} +- {err:g}':>16s} {format(ours, '.3g'):>20s}"
        lines.append(line)
    return "\n".join(lines)


def table2_comparison(results: dict[str, dict[str, MeanWithError]]) -> str:
    """The paper's Table 2 (three bodies, values x 1e2) beside this run's; see :func:`table1_comparison`."""
    return table1_comparison("three_body", results)
