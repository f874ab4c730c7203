"""Cost of training through a one-step integrator against training on derivatives, at the same batch.

Each measurement is a fresh ``python`` process with one thread (import time excluded from the
timed loop, which runs ``--steps`` Adam steps after 10 warm-up steps); each method is timed
``--runs`` times, alternating, and the median is reported with its ratio to the derivative-trained
HNN step (the paper's loss, Eq. 3). The claim of issue 13: a step through a one-step integrator
costs at most about twice a derivative-trained step at the same batch.

Usage::

    .venv/bin/python benchmarks/trajectory_training.py                    # batch 200 and 2475, 5 runs
    .venv/bin/python benchmarks/trajectory_training.py --batch 200 --runs 3 --hidden 200
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKER = """
import time, torch
torch.set_num_threads(1)
from hnnlib.models import HNN, SeparableHNN
from hnnlib.trajectory_losses import discrete_gradient_loss, finite_difference_loss, one_step_loss
from hnnlib.models import l2_loss
torch.manual_seed(0)
batch, hidden, steps, method = {batch}, {hidden}, {steps}, "{method}"
x, y, dx = torch.randn(batch, 2), torch.randn(batch, 2), torch.randn(batch, 2)
h = 20 / 99
model = (SeparableHNN if method == "leapfrog" else HNN)(2, hidden)
losses = {{
    "derivatives": lambda: l2_loss(model.time_derivative(x), dx),
    "finite_differences": lambda: finite_difference_loss(model, (x + y) / 2, (y - x) / h),
    "rk2": lambda: one_step_loss("rk2", model, x, y, h),
    "rk4": lambda: one_step_loss("rk4", model, x, y, h),
    "leapfrog": lambda: one_step_loss("leapfrog", model, x, y, h),
    "discrete_gradient": lambda: discrete_gradient_loss(model, x, y, h),
}}
loss_fn = losses[method]
opt = torch.optim.Adam(model.parameters(), 1e-3, fused=True)
def step():
    loss = loss_fn()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
for _ in range(10):
    step()
start = time.perf_counter()
for _ in range(steps):
    step()
print("MS_PER_STEP", (time.perf_counter() - start) / steps * 1e3)
"""

METHODS = ("derivatives", "finite_differences", "rk2", "leapfrog", "discrete_gradient", "rk4")


def measure(method: str, batch: int, hidden: int, steps: int) -> float:
    code = WORKER.format(batch=batch, hidden=hidden, steps=steps, method=method)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return float(next(line.split()[1] for line in out.splitlines() if line.startswith("MS_PER_STEP")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[200, 2475])
    parser.add_argument("--hidden", type=int, default=200)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"| batch | method | ms per step (median of {args.runs}) | ratio to derivatives |")
    print("|---:|---|---:|---:|")
    for batch in args.batch:
        times = {m: [] for m in METHODS}
        for _ in range(args.runs):  # alternate the methods, so that a slow moment hits all of them
            for m in METHODS:
                times[m].append(measure(m, batch, args.hidden, args.steps))
        base = statistics.median(times["derivatives"])
        for m in METHODS:
            med = statistics.median(times[m])
            print(f"| {batch} | {m} | {med:.2f} | {med / base:.2f} |")


if __name__ == "__main__":
    main()
