"""Whole-process wall time of the LNN's accelerations: a per-sample loop against the batched versions.

Usage::

    .venv/bin/python benchmarks/lnn_batched.py             # 5 runs of each method, median
    .venv/bin/python benchmarks/lnn_batched.py --runs 3 --batch 1000 --repeats 20

Each measurement is a fresh ``python`` process (imports included) that builds the same seeded
``hnnlib.lagrangian.LNN`` (128 hidden units, softplus, one torch thread) and evaluates the
accelerations of ``--batch`` double-pendulum states ``--repeats`` times, forward and backward (a
training step's work), with one of:

- ``loop``: :func:`hnnlib.lagrangian.euler_lagrange_loop`, one ``torch.autograd.functional.hessian``
  per state (what a per-sample implementation such as torchdyn's LNN does);
- ``func``: :func:`hnnlib.lagrangian.euler_lagrange`, ``torch.func`` ``jvp``-of-``jacrev`` batched
  with ``vmap``;
- ``fused``: :meth:`LNN.acceleration` with its written-out derivative products (the default);
- ``mechanical_func`` and ``mechanical``: the :class:`~hnnlib.lagrangian.MechanicalLNN` of the
  same width (chapter 13's second section), by :func:`~hnnlib.lagrangian.euler_lagrange` or by its
  forward-mode derivatives and triangular solves (its default).

The process also prints the in-process seconds per evaluation. Results print as a Markdown table;
paste them into ``benchmarks/README.md`` with the machine they came from.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import time, numpy as np, torch
from hnnlib.lagrangian import LNN, MechanicalLNN, euler_lagrange, euler_lagrange_loop
torch.set_num_threads(1)
torch.manual_seed(0)
method = "{method}"
if method.startswith("mechanical"):
    model = MechanicalLNN(4, hidden_dim=128, periodic=True, potential_scale=10.0)
else:
    model = LNN(4, hidden_dim=128, periodic=True, velocity_scale=5.0)
rng = np.random.default_rng(0)
s = torch.tensor(np.concatenate([rng.uniform(-np.pi, np.pi, ({batch}, 2)), rng.uniform(-5, 5, ({batch}, 2))], 1),
                 dtype=torch.float32)
def accelerations():
    if method == "mechanical_func":
        return model.acceleration(s, "func")
    if method == "loop":
        return euler_lagrange_loop(model._single, s, create_graph=True)
    if method == "func":
        return euler_lagrange(model._single, s)
    return model.acceleration(s)
start = time.perf_counter()
for _ in range({repeats}):
    model.zero_grad(set_to_none=True)
    accelerations().pow(2).mean().backward()
print("PER_EVAL_S", (time.perf_counter() - start) / {repeats})
"""


def run_once(method: str, batch: int, repeats: int) -> tuple[float, float]:
    """(whole-process wall seconds, in-process seconds per evaluation) of one fresh process."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD.format(method=method, batch=batch, repeats=repeats)],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    wall = time.perf_counter() - start
    per_eval = float(next(line.split()[1] for line in out.splitlines() if line.startswith("PER_EVAL_S")))
    return wall, per_eval


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per method (median reported)")
    parser.add_argument("--batch", type=int, default=256, help="states per evaluation")
    parser.add_argument("--repeats", type=int, default=10, help="forward+backward evaluations per process")
    parser.add_argument("--methods", nargs="+", default=["loop", "func", "fused"], choices=["loop", "func", "fused", "mechanical_func", "mechanical"])
    args = parser.parse_args(argv)
    rows = []
    for method in args.methods:
        results = [run_once(method, args.batch, args.repeats) for _ in range(args.runs)]
        walls, evals = zip(*results)
        rows.append((method, statistics.median(walls), min(walls), max(walls), statistics.median(evals)))
    base = {m: e for m, _, _, _, e in rows}
    print(f"batch {args.batch} states, {args.repeats} forward+backward evaluations per process, {args.runs} processes each\n")
    print("| method | whole process, median (min-max) | per evaluation, median | vs loop |")
    print("|---|---|---|---|")
    for method, wall, low, high, per_eval in rows:
        ratio = f"{base['loop'] / per_eval:.0f}x faster" if "loop" in base and method != "loop" else ""
        print(f"| `{method}` | {wall:.2f} s ({low:.2f}-{high:.2f}) | {per_eval * 1e3:.1f} ms | {ratio} |")


if __name__ == "__main__":
    main()
