"""Whole-process wall time and peak RSS of the book's expensive steps (median of several runs).

Usage::

    .venv/bin/python benchmarks/run.py                 # Task 1 training and metric, 5 runs each
    .venv/bin/python benchmarks/run.py --runs 1 --notebooks   # also execute every chapter once, 2 at a time
    .venv/bin/python benchmarks/run.py --select two_body --runs 1   # N-body data and training
    .venv/bin/python benchmarks/run.py --reference ../hamiltonian-nn --runs 3   # side by side
    .venv/bin/python benchmarks/run.py --reference ../hamiltonian-nn --threads 2   # at the reference's default

``--reference DIR`` times the authors' ``train.py`` scripts from a checkout of
greydanus/hamiltonian-nn at ``DIR`` (never copied into this repository) against this book's
training of the same task, model, steps, data and width, in alternating whole-process runs with
the same torch threads each (``--threads``, default one; the reference's ``train.py`` by itself takes
one per core), and prints the throughput ratio. Two packages the reference imports and the lock
lacks are replaced by the stand-ins of ``benchmarks/reference_shim`` (see its README).

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
from concurrent.futures import ThreadPoolExecutor
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


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), else what :mod:`platform` knows."""
    try:
        info = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), platform.machine())
    flags = next((line.split(":", 1)[1].split() for line in info if line.startswith("flags")), [])
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{model}, {platform.machine()}, {vector}"


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


# Side by side with the reference (--reference DIR): our benchmark, the reference script, its arguments.
REFERENCE_PAIRS = {
    "task1_train_baseline": ("experiment-spring/train.py", ["--baseline"]),
    "task1_train_hnn": ("experiment-spring/train.py", []),
    "two_body_train_hnn": ("experiment-2body/train.py", []),
}
SHIM = ROOT / "benchmarks" / "reference_shim"


def measure(code: str | list[str], env: dict[str, str], cwd: Path = ROOT) -> tuple[float, float, float]:
    """Run ``python -c code`` (or ``python *code`` for a list); return (wall s, peak RSS MB, steps/s printed or nan)."""
    args = ["-c", code] if isinstance(code, str) else code
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"benchmark process failed with status {status}:\n{code}")
    rates = [float(line.split()[1]) for line in out.splitlines() if line.startswith("STEPS_PER_S")]
    return wall, usage.ru_maxrss / 1024, rates[0] if rates else float("nan")


def measure_notebook(path: Path, env: dict[str, str], folder: str) -> tuple[float, float]:
    """Execute one notebook with ``nbconvert`` (output into ``folder``); return (wall s, peak RSS MB)."""
    cmd = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
           "--output-dir", folder, "--ExecutePreprocessor.timeout=1800", str(path)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"executing {path} failed")
    # Linux reports, for a waited-for child, the largest RSS of it and of its own waited-for
    # children: here the larger of nbconvert and the notebook's kernel, which nbconvert reaps.
    return wall, usage.ru_maxrss / 1024


def time_notebooks(env: dict[str, str], folder: str, lanes: int) -> list[tuple]:
    """Execute every chapter once, ``lanes`` at a time, in `make test`'s order, with one fresh model cache.

    Like `make test` on a clean clone: the model cache and the frame cache start empty, and the
    chapters are taken in the order of the repository's ``conftest.py`` (longest first, chapters that
    read other chapters' models last), so each time includes the other lanes' load, and a chapter
    that waits for a model another lane is training includes that wait.
    """
    sys.path.insert(0, str(ROOT))
    from conftest import run_rank  # the order `make test` uses

    notebooks = sorted((ROOT / "book").glob("*.ipynb"), key=lambda nb: (run_rank(nb), nb.name))
    env = dict(env, HNNLIB_CACHE_DIR=str(Path(folder) / "models"), XDG_CACHE_HOME=str(Path(folder) / "xdg"))
    rows, start = [], time.perf_counter()

    def run(nb: Path) -> tuple:
        wall, rss = measure_notebook(nb, env, folder)
        print(f"{nb.name}: {wall:.1f} s, {rss:.0f} MB", file=sys.stderr)
        return (f"notebook {nb.name}", wall, wall, wall, rss, float("nan"), 1)

    with ThreadPoolExecutor(max_workers=lanes) as pool:
        rows = list(pool.map(run, notebooks))
    total = time.perf_counter() - start
    rows.append((f"all {len(notebooks)} notebooks, {lanes} at a time", total, total, total, float("nan"), float("nan"), 1))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per benchmark (median reported)")
    parser.add_argument("--notebooks", action="store_true", help="also time executing each chapter (once)")
    parser.add_argument("--lanes", type=int, default=2,
                        help="chapters executed at once, as `make test`'s workers run them (default 2)")
    parser.add_argument("--select", default="task1", help="run the benchmarks whose name starts with this (default task1; '' for all)")
    parser.add_argument("--threads", type=int, default=THREADS, help="torch threads in the benchmark processes")
    parser.add_argument("--reference", type=Path, default=None,
                        help="a checkout of greydanus/hamiltonian-nn: time its train.py side by side (--threads each)")
    args = parser.parse_args()
    if args.reference is not None:
        side_by_side(args.reference.resolve(), args.runs, args.threads)
        return
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
            rows += time_notebooks(env, folder, args.lanes)
    print(f"Machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, torch threads {args.threads}")
    print()
    print("| benchmark | median wall (s) | min | max | median peak RSS (MB) | training steps/s | runs |")
    print("|---|---|---|---|---|---|---|")
    for name, med, lo, hi, rss, rate, runs in rows:
        rss_text = "n/a" if rss != rss else f"{rss:.0f}"
        rate_text = "" if rate != rate else f"{rate:.0f}"
        print(f"| {name} | {med:.2f} | {lo:.2f} | {hi:.2f} | {rss_text} | {rate_text} | {runs} |")


def side_by_side(reference: Path, runs: int, threads: int = THREADS) -> None:
    """Alternate whole-process runs of this book's training and the reference's ``train.py``; print medians and ratios.

    Both run with ``threads`` torch threads (OMP_NUM_THREADS and MKL_NUM_THREADS). The reference's
    ``train.py`` sets no thread count, so by itself it takes torch's default, one per core.
    """
    if not (reference / "hnn.py").is_file():
        raise SystemExit(f"--reference must be a checkout of greydanus/hamiltonian-nn (no hnn.py in {reference})")
    threads_env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    ours_env = dict(os.environ, PYTHONPATH=str(ROOT), SDL_VIDEODRIVER="dummy", **threads_env)
    ref_env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SHIM), str(reference)]), **threads_env)
    print(f"Machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, {threads} torch thread(s) each")
    print()
    print("| training | this book, median wall (s) | reference, median wall (s) | speed-up | this book's peak RSS (MB) | reference's (MB) | runs |")
    print("|---|---|---|---|---|---|---|")
    for name, (script, extra) in REFERENCE_PAIRS.items():
        ours, theirs = [], []
        for _ in range(runs):  # alternating, so a change in the machine's load hits both alike
            with tempfile.TemporaryDirectory() as folder:
                ours.append(measure(WORKERS[name].format(threads=threads, folder=folder), ours_env))
            with tempfile.TemporaryDirectory() as folder:  # a fresh save_dir: the reference makes its data, as ours does
                theirs.append(measure([str(reference / script), "--save_dir", folder, *extra], ref_env, cwd=reference / Path(script).parent))
        ours_wall, theirs_wall = statistics.median(w for w, _, _ in ours), statistics.median(w for w, _, _ in theirs)
        print(f"| {name} | {ours_wall:.2f} | {theirs_wall:.2f} | {theirs_wall / ours_wall:.2f}x | "
              f"{statistics.median(r for _, r, _ in ours):.0f} | {statistics.median(r for _, r, _ in theirs):.0f} | {runs} |", flush=True)


if __name__ == "__main__":
    main()
