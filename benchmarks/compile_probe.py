"""Would `torch.compile` pay off on the book's training steps? Compile time against time saved a step.

Issue 15 names `torch.compile` as a candidate lever for Task 1's training and chapter 7's pixel
models, "where the compile time pays off". This measures it on the book's own training loops
(`task.train_model`, the chapters' settings), one torch thread, in this process:

- **eager**: the library as it is;
- **compiled**: the same loop with the model's loss path wrapped in ``torch.compile`` (Task 1: the
  model's ``time_derivative``; Task 5: the pixel model's ``_stacked_losses``), TorchInductor's C++
  backend, with an empty on-disk cache (``TORCHINDUCTOR_CACHE_DIR`` in a fresh temporary folder),
  as in a first run on a reader's machine or a clean CI.

For each, the median time of a training step (the time between consecutive calls of the loss,
steps after the 20th; the few calls of the evaluations drop out of the median) and the time until
the first step has finished (compiled: tracing and compiling the forward and backward graphs).
The break-even number of steps is that compile time over the time saved a step. Nothing here
changes the library, and nothing is asserted by a test. Needs a C++ compiler (g++) for Inductor.

    .venv/bin/python benchmarks/compile_probe.py            # Task 1 baseline and HNN, Task 5 pixel HNN
    .venv/bin/python benchmarks/compile_probe.py --select pixel --mode max-autotune-no-cudagraphs
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch

from hnnlib import experiments
from hnnlib.training import set_seed

#: label -> (task, model kind, training steps, the model attribute wrapped by torch.compile)
WORKLOADS = {
    "Task 1 baseline": ("mass_spring", "baseline", 600, "time_derivative"),
    "Task 1 HNN": ("mass_spring", "hnn", 600, "time_derivative"),
    "Task 5 pixel HNN": ("pixel_pendulum", "hnn", 200, "_stacked_losses"),
}
WARM_UP = 20


def graph_breaks() -> int:
    """Graph breaks TorchDynamo has counted in this process so far."""
    from torch._dynamo.utils import counters

    return sum(counters["graph_break"].values())


def timed_training(task_name: str, kind: str, steps: int, attribute: str, compiled: bool, mode: str = "default") -> tuple[float, float]:
    """(seconds until the first step ended, median seconds a step) of one training run."""
    task = experiments.get_task(task_name)
    config = experiments.make_config(task_name, seed=0, steps=steps)
    data = task.make_data(config)
    set_seed(config.seed)
    model = task.make_model(config, kind, data)
    # The input check ends in a Python bool (`.item()`), which would split the compiled graph in
    # two; it costs microseconds, so both variants skip it here.
    dynamics = model.dynamics if task_name == "pixel_pendulum" else model
    dynamics._check = lambda x: x
    function = getattr(model, attribute)
    if compiled:
        function = torch.compile(function, mode=mode)
    stamps: list[float] = []

    def stamped(*args, **kwargs):
        if torch.is_grad_enabled():  # a training step; the evaluations run without a graph
            stamps.append(time.perf_counter())
        return function(*args, **kwargs)

    setattr(model, attribute, stamped)
    start = time.perf_counter()
    task.train_model(config, model, data, progress=False, description=None)
    steps_times = [b - a for a, b in zip(stamps, stamps[1:])][WARM_UP:]
    first = stamps[1] - start if len(stamps) > 1 else float("nan")
    return first, statistics.median(steps_times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--select", help="only the workloads whose label contains this (case-insensitive)")
    parser.add_argument("--mode", default="default", help="torch.compile's mode (default, max-autotune-no-cudagraphs, ...)")
    args = parser.parse_args()
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache  # cold: nothing compiled before
        for label, (task_name, kind, steps, attribute) in WORKLOADS.items():
            if args.select and args.select.lower() not in label.lower():
                continue
            eager_first, eager_step = timed_training(task_name, kind, steps, attribute, compiled=False)
            breaks = graph_breaks()
            compiled_first, compiled_step = timed_training(task_name, kind, steps, attribute, compiled=True, mode=args.mode)
            breaks = graph_breaks() - breaks
            saved = eager_step - compiled_step
            compile_time = compiled_first - eager_first
            break_even = f"{compile_time / saved:,.0f} steps" if saved > 0 else "never (no step saved)"
            print(f"{label}: eager {eager_step * 1e3:.2f} ms a step, compiled {compiled_step * 1e3:.2f} ms "
                  f"({eager_step / compiled_step:.2f}x); first step {eager_first:.2f} s eager, {compiled_first:.2f} s compiled "
                  f"(compile about {compile_time:.1f} s, {breaks} graph breaks); break-even after {break_even}", flush=True)


if __name__ == "__main__":
    main()
