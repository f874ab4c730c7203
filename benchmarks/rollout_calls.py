"""Rollouts whose cost is the per-call overhead of a small vector field, timed as whole processes.

A rollout of a true system or a small MLP calls its field 10^4 to 10^6 times on a handful of
states, so what a call costs besides its arithmetic (input checks, finiteness tests, Python-level
operators) decides its speed. Three workloads of the book, each in a fresh process, alternating:

- ``chaos``: chapter 13's chaos cell, one pair of double-pendulum states by DOP853 at
  ``rtol = atol = 1e-12`` to ``t = 30 s`` (about 9 x 10^4 calls of the true field);
- ``pendulum``: chapter 1's pendulum, RK4 and leapfrog for 10,000 steps each;
- ``double_pendulum``: the double pendulum by RK4 from 16 states at rest, 5,000 steps.

Each run prints its wall time and a hash of its trajectories, so that two versions of ``hnnlib``
can be compared for speed and for identical results::

    .venv/bin/python benchmarks/rollout_calls.py --runs 3
    .venv/bin/python benchmarks/rollout_calls.py --runs 3 --other /tmp/old   # another hnnlib too

``--other DIR`` names a folder holding another ``hnnlib`` package (e.g. ``git archive <rev> hnnlib
| tar -x -C DIR``); its runs alternate with this checkout's. Speed is measured here, never asserted
in a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKLOAD = r"""
import hashlib, sys, time
import numpy as np, torch
torch.set_num_threads(1)
import hnnlib
from hnnlib.systems import DoublePendulum, Pendulum

name = sys.argv[1]
start = time.perf_counter()
if name == "chaos":
    x0 = np.array([3 * np.pi / 7, 3 * np.pi / 4, 0.0, 0.0])
    pair = np.stack([x0, x0 + np.array([1e-8, 0, 0, 0])])
    out = hnnlib.solve_ivp_rollout(DoublePendulum().velocity_derivative, pair, np.linspace(0, 30, 601),
                                   rtol=1e-12, atol=1e-12, method="DOP853")
    arrays = [np.ascontiguousarray(out)]
elif name == "pendulum":
    field, t = Pendulum().time_derivative, np.arange(10_001) * 0.1
    x0 = torch.tensor([[1.0, 0.5]], dtype=torch.float64)
    arrays = [hnnlib.rk4(field, x0, t).numpy(), hnnlib.leapfrog(field, x0, t, separable=True).numpy()]
else:
    rng = np.random.default_rng(1)
    x0 = np.concatenate([rng.uniform(-0.8, 0.8, (16, 2)), np.zeros((16, 2))], 1)
    out = hnnlib.rk4(DoublePendulum().velocity_derivative, torch.as_tensor(x0), torch.as_tensor(np.linspace(0, 100, 101)),
                     substeps=50)
    arrays = [out.numpy()]
seconds = time.perf_counter() - start
digest = hashlib.sha256(b"".join(a.tobytes() for a in arrays)).hexdigest()[:16]
print(f"{seconds:.3f} {digest}")
"""

NAMES = ("chaos", "pendulum", "double_pendulum")


def run_once(name: str, package_dir: Path) -> tuple[float, str]:
    """Seconds of the workload (inside the process, after the imports) and the hash of its trajectories."""
    env = dict(os.environ, PYTHONPATH=str(package_dir))
    out = subprocess.run([sys.executable, "-c", WORKLOAD, name], capture_output=True, text=True, check=True, env=env,
                         cwd=package_dir)
    seconds, digest = out.stdout.split()
    return float(seconds), digest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--other", type=Path, help="a folder holding another hnnlib package, timed alternately")
    parser.add_argument("--select", choices=NAMES, action="append", help="workloads to run (default: all)")
    args = parser.parse_args()
    versions = {"this checkout": ROOT}
    if args.other is not None:
        if not (args.other / "hnnlib" / "__init__.py").is_file():
            parser.error(f"--other {args.other}: no hnnlib package there")
        versions[str(args.other)] = args.other.resolve()
    print("| workload | hnnlib | median (s) | runs (s) | trajectories' hash |")
    print("|---|---|---|---|---|")
    for name in args.select or NAMES:
        results: dict[str, list[tuple[float, str]]] = {label: [] for label in versions}
        for _ in range(args.runs):
            for label, folder in versions.items():
                results[label].append(run_once(name, folder))
        for label, runs in results.items():
            times = [t for t, _ in runs]
            digests = sorted({d for _, d in runs})
            print(f"| {name} | {label} | {statistics.median(times):.2f} | {', '.join(f'{t:.2f}' for t in times)} | "
                  f"{', '.join(digests)} |", flush=True)


if __name__ == "__main__":
    main()
