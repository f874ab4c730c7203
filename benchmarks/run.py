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

WORKERS = {
    "task1_data": """
import hnnlib
hnnlib.make_trajectory_dataset("mass_spring", seed=0)
""",
    "task1_train_baseline": """
import torch, hnnlib
torch.set_num_threads({threads})
data = hnnlib.make_trajectory_dataset("mass_spring", seed=0)
hnnlib.set_seed(0)
model = hnnlib.BaselineNN(2)
hnnlib.train(model, data, steps=2000, weight_decay=1e-4, eval_every=50, progress=False)
hnnlib.save_checkpoint(model, "{folder}/baseline.pt")
""",
    "task1_train_hnn": """
import torch, hnnlib
torch.set_num_threads({threads})
data = hnnlib.make_trajectory_dataset("mass_spring", seed=0)
hnnlib.set_seed(0)
model = hnnlib.HNN(2)
hnnlib.train(model, data, steps=2000, weight_decay=1e-4, eval_every=50, progress=False)
hnnlib.save_checkpoint(model, "{folder}/hnn.pt")
""",
    "task1_energy_metric": """
import numpy as np, torch, hnnlib
torch.set_num_threads({threads})
system = hnnlib.MassSpring()
x0 = hnnlib.metrics.sample_metric_states(15, (0.2, 1.0), np.random.default_rng(0))
t = np.linspace(0, 20, 100)
for name in ("baseline", "hnn"):
    hnnlib.compare_rollouts(system, hnnlib.load_checkpoint("{folder}/" + name + ".pt"), x0, t)
""",
}

# N-body: the settings of chapters 5 and 6 (10,000 minibatch steps each). Slow: run with --runs 1.
NBODY = {"two_body": dict(batch_size=200, weight_decay=0.0), "three_body": dict(batch_size=600, weight_decay=1e-4)}
for _task, _opts in NBODY.items():
    WORKERS[f"{_task}_data"] = f"""
import hnnlib
hnnlib.make_nbody_dataset("{_task}", seed=0)
"""
    for _model in ("BaselineNN", "HNN"):
        WORKERS[f"{_task}_train_{_model}"] = f"""
import time, torch, hnnlib
torch.set_num_threads({{threads}})
data = hnnlib.make_nbody_dataset("{_task}", seed=0)
hnnlib.set_seed(0)
model = hnnlib.{_model}(data.train.x.shape[-1])
start = time.perf_counter()
hnnlib.train(model, data, steps=10_000, batch_size={_opts['batch_size']}, weight_decay={_opts['weight_decay']},
             eval_every=500, eval_samples=5_000, sampler="choice", progress=False)
print("STEPS_PER_S", 10_000 / (time.perf_counter() - start))
"""

# Task 5 (chapter 7): rendering the 20,600 frames, and pixel-model training steps (the chapter runs
# 10,000 per model; 1,000 here, so the rate can be read off in a minute). Run with --runs 1.
WORKERS["pixel_data"] = """
import os
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
from hnnlib import pixel_data
pixel_data.make_pixel_pendulum_dataset(seed=0, progress=False)
"""
for _kind in ("baseline", "hnn"):
    WORKERS[f"pixel_train_{_kind}"] = f"""
import os, time, torch
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
import hnnlib
from hnnlib import pixel_data, pixel_models
torch.set_num_threads({{threads}})
data = pixel_data.make_pixel_pendulum_dataset(seed=0, progress=False, cache_dir=True)
hnnlib.set_seed(0)
model = pixel_models.PixelDynamicsModel("{_kind}")
x, x_next = data.train.to_torch()
start = time.perf_counter()
pixel_models.fit_pixel_model(model, x, x_next, steps=1000, eval_every=1000, progress=False)
print("STEPS_PER_S", 1000 / (time.perf_counter() - start))
"""


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
