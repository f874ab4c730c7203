"""Reporting: a summary over seeds as text, flat records, CSV and JSON."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from typing import Any, Sequence

from .. import __version__
from ..labels import ENERGY_LABELS, MODEL_KINDS, MODEL_LABELS
from .cache import source_hash
from .config import plain
from .runner import METRICS, SeedSummary
from .tasks import get_task

__all__ = ["format_summary", "summary_records", "write_csv", "write_json"]


def summary_records(summary: SeedSummary) -> list[dict[str, Any]]:
    """One flat record per (metric, model, energy function): the rows of the CSV and JSON outputs.

    Values are unscaled; ``*_scaled`` columns and the paper's value are in the paper's units
    (multiplied by ``1 / scale``).
    """
    spec = get_task(summary.task)
    published = spec.paper
    scale = published["scale"]
    records = []
    for metric in METRICS:
        energies = summary.config.energies if metric == "energy_mse" else (None,)
        for energy in energies:
            for kind in MODEL_KINDS:
                value = summary.aggregate(metric, kind, energy)
                paper_value, paper_error = published[metric][kind]
                records.append({
                    "task": summary.task, "table": spec.table, "metric": metric, "model": kind,
                    "energy": ENERGY_LABELS[energy] if energy else "",
                    "seeds": " ".join(map(str, summary.seeds)), "n_seeds": len(summary.seeds),
                    "mean": value.mean, "spread": value.stderr, "spread_kind": summary.spread,
                    "scale": scale, "mean_scaled": value.mean / scale, "spread_scaled": value.stderr / scale,
                    "paper_value": paper_value, "paper_error": paper_error,
                    "per_seed": " ".join(f"{v:.6g}" for v in summary.values(metric, kind, energy)),
                })
    return records


def format_summary(summary: SeedSummary) -> str:
    """Text block of a task: title, seeds, protocol, the Table-1-style rows, other energy functions."""
    config = summary.config
    lines = [
        f"== {summary.task}: seeds {' '.join(map(str, summary.seeds))}; +- is the {summary.spread}",
        f"   protocol: {config.protocol()}",
        summary.table(),
    ]
    scale = get_task(summary.task).paper["scale"]
    for energy in config.energies[1:]:
        values = ", ".join(f"{MODEL_LABELS[k]} {format(summary.aggregate('energy_mse', k, energy).scaled(1 / scale), '.3g')}"
                           for k in MODEL_KINDS)
        lines.append(f"energy MSE with {ENERGY_LABELS[energy]} (x {1 / scale:.0e}): {values}")
    return "\n".join(lines)


def write_csv(summaries: Sequence[SeedSummary], path: str | os.PathLike) -> None:
    """Write :func:`summary_records` of every summary to a CSV file (standard library ``csv``)."""
    records = [r for s in summaries for r in summary_records(s)]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)


def write_json(summaries: Sequence[SeedSummary], path: str | os.PathLike) -> None:
    """Write every summary (config, protocol, aggregated rows, per-seed results) as strict JSON (NaN as null)."""
    document = {"hnnlib_version": __version__, "source_hash": source_hash(), "tasks": {}}
    for s in summaries:
        document["tasks"][s.task] = {
            "title": get_task(s.task).title, "table": get_task(s.task).table, "seeds": list(s.seeds),
            "config": s.config.to_dict(), "protocol": s.config.protocol(), "spread": s.spread,
            "rows": summary_records(s),
            "runs": [
                {"seed": r.seed, "seconds": r.seconds, "from_cache": dict(r.from_cache),
                 "metrics": {m: {k: dataclasses.asdict(v) for k, v in by_kind.items()} for m, by_kind in r.row.items()},
                 "energy_mse": {e: {k: dataclasses.asdict(v) for k, v in by_kind.items()} for e, by_kind in r.energy_mse_by_energy.items()}}
                for r in s.results
            ],
        }
    with open(path, "w") as f:
        json.dump(plain(document), f, indent=1, allow_nan=False)
