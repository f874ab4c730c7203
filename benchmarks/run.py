"""Whole-process wall time and peak RSS of the book's expensive steps (median of several runs).

Usage::

    .venv/bin/python benchmarks/run.py                 # Task 1 training and metric, 5 runs each
    .venv/bin/python benchmarks/run.py --runs 3 --notebooks   # also execute every chapter once
    .venv/bin/python benchmarks/run.py --select two_body --runs 1   # N-body data and training

Each measurement is a fresh ``python`` process (import time included), like the reference timings
in ``../shared/paper/REFERENCE_SETTINGS.md``; peak RSS comes from ``os.wait4``. Results print as a
Markdown table; paste them into ``benchmarks/README.md`` with the machine they came from.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THREADS = 1  # as in the notebooks

# Every benchmark builds its run from the task registry (hnnlib.experiments.TASKS), so it measures
# exactly the chapters' settings, and a setting changed there changes the benchmark too.
SETUP = """
import os, time, torch
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
from hnnlib import experiments
from hnnlib.checkpoints import load_checkpoint, save_checkpoint
from hnnlib.training import set_seed
torch.set_num_threads({{threads}})
task = experiments.get_task("{task}")
config = experiments.make_config("{task}", seed=0{overrides})
data = task.make_data(config)
"""
TRAIN = """
set_seed(config.seed)
model = task.make_model(config, "{kind}", data)
start = time.perf_counter()
task.train_model(config, model, data, progress=False, description=None)
print("STEPS_PER_S", config.steps / (time.perf_counter() - start))
save_checkpoint(model, "{{folder}}/{task}-{kind}.pt")
"""
METRIC = """
models = {{{{kind: load_checkpoint("{{folder}}/{task}-" + kind + ".pt") for kind in ("baseline", "hnn")}}}}
task.evaluate(config, models, data)
"""


def worker(task: str, body: str = "", overrides: str = "", **fields: str) -> str:
    """The code of one benchmark process: the registry's config of ``task`` and its data, then ``body``."""
    return (SETUP + body).format(task=task, overrides=overrides, **fields)


# Task 1: the chapter's whole pipeline, five runs each (the default selection).
WORKERS = {"task1_data": worker("mass_spring")}
for _kind in ("baseline", "hnn"):
    WORKERS[f"task1_train_{_kind}"] = worker("mass_spring", TRAIN, kind=_kind)
WORKERS["task1_energy_metric"] = worker("mass_spring", METRIC)
# The same metric with one solve_ivp call per state (the reference code's loop) instead of batched RK45.
WORKERS["task1_energy_metric_unbatched"] = worker("mass_spring", METRIC, overrides=", metric_batched=False")

# N-body (chapters 5 and 6, 10,000 minibatch steps per model). Slow: run with --runs 1.
for _task in ("two_body", "three_body"):
    WORKERS[f"{_task}_data"] = worker(_task)
    for _kind in ("baseline", "hnn"):
        WORKERS[f"{_task}_train_{_kind}"] = worker(_task, TRAIN, kind=_kind)

# Task 5 (chapter 7): rendering the 20,600 frames, and pixel-model training steps (the chapter runs
# 10,000 per model; 1,000 here, so the rate can be read off in a minute). Run with --runs 1.
WORKERS["pixel_data"] = worker("pixel_pendulum", overrides=", data_cache=False")
for _kind in ("baseline", "hnn"):
    WORKERS[f"pixel_train_{_kind}"] = worker("pixel_pendulum", TRAIN, overrides=", steps=1000", kind=_kind)


def measure(code: str, env: dict[str, str]) -> tuple[float, float, float]:
    """Run ``python -c code``; return (wall seconds, peak RSS in MB, steps/s it printed or nan)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"benchmark process failed with status {status}:\n{code}")
    rates = [float(line.split()[1]) for line in out.splitlines() if line.startswith("STEPS_PER_S")]
    return wall, usage.ru_maxrss / 1024, rates[0] if rates else float("nan")


def measure_notebook(path: Path, env: dict[str, str], folder: str) -> tuple[float, float]:
    cmd = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
           "--output-dir", folder, "--ExecutePreprocessor.timeout=1800", str(path)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"executing {path} failed")
    return wall, float("nan")  # the kernel is a grandchild: its RSS is not this child's


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per benchmark (median reported)")
    parser.add_argument("--notebooks", action="store_true", help="also time executing each chapter (once)")
    parser.add_argument("--select", default="task1", help="run the benchmarks whose name starts with this (default task1; '' for all)")
    parser.add_argument("--threads", type=int, default=THREADS, help="torch threads in the benchmark processes")
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=str(ROOT), SDL_VIDEODRIVER="dummy")
    env.pop("MPLBACKEND", None)  # notebooks need the inline backend
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, template in WORKERS.items():
            if not name.startswith(args.select):
                continue
            code = template.format(threads=args.threads, folder=folder)
            results = [measure(code, env) for _ in range(args.runs)]
            walls, rss, rates = zip(*results)
            rows.append((name, statistics.median(walls), min(walls), max(walls), statistics.median(rss), statistics.median(rates), args.runs))
            print(f"{name}: median {rows[-1][1]:.2f} s", file=sys.stderr)
        if args.notebooks:
            for nb in sorted((ROOT / "book").glob("*.ipynb")):
                wall, _ = measure_notebook(nb, env, folder)
                rows.append((f"notebook {nb.name}", wall, wall, wall, float("nan"), float("nan"), 1))
                print(f"{nb.name}: {wall:.1f} s", file=sys.stderr)
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, torch threads {args.threads}")
    print()
    print("| benchmark | median wall (s) | min | max | median peak RSS (MB) | training steps/s | runs |")
    print("|---|---|---|---|---|---|---|")
    for name, med, lo, hi, rss, rate, runs in rows:
        rss_text = "n/a" if rss != rss else f"{rss:.0f}"
        rate_text = "" if rate != rate else f"{rate:.0f}"
        print(f"| {name} | {med:.2f} | {lo:.2f} | {hi:.2f} | {rss_text} | {rate_text} | {runs} |")


if __name__ == "__main__":
    main()
