"""How fast this machine is right now: two fixed training workloads, to put beside a timing.

The CI kind of machine is a VM whose speed drifts by up to a third within a day (the same
workload, the same code: `benchmarks/README.md`). A `make test` time means little without the
machine's speed at that hour, so run this just before or after it and record both::

    .venv/bin/python benchmarks/speed_probe.py

Two workloads, one torch thread, each three times in this process, the median time of a step:
Task 1's HNN (the chapter's settings from the task registry: 750 samples, 200 hidden units, full
batch), mostly matrix products, and Task 5's pixel HNN (minibatches of 200 pairs of 28 x 28
frames), mostly memory traffic, which drifts the most. The frames come from the frame cache
(rendered once, about 12 s, if it is empty). About 35 s. Nothing here is asserted by a test.
"""

from __future__ import annotations

import os
import statistics
import time

import torch

from hnnlib import experiments
from hnnlib.training import set_seed

REPEATS = 3
#: name -> (task, a short and a long run in steps): a step's time is the difference of the two
#: runs over the difference of their steps, so the evaluations of the whole train and test sets
#: (at the first and last step) drop out.
WORKLOADS = {"Task 1 HNN": ("mass_spring", 200, 1000), "Task 5 pixel HNN": ("pixel_pendulum", 50, 250)}


def step_time(task_name: str, short: int, long: int) -> list[float]:
    """Seconds per training step of the task's HNN, ``REPEATS`` times."""
    task = experiments.get_task(task_name)
    data = task.make_data(experiments.make_config(task_name, seed=0))
    times = []
    for _ in range(REPEATS):
        run = {}
        for steps in (short, long):
            config = experiments.make_config(task_name, seed=0, steps=steps)
            set_seed(config.seed)
            model = task.make_model(config, "hnn", data)
            start = time.perf_counter()
            task.train_model(config, model, data, progress=False, description=None)
            run[steps] = time.perf_counter() - start
        times.append((run[long] - run[short]) / (long - short))
    return times


def main() -> None:
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    torch.set_num_threads(1)
    for label, (task_name, short, long) in WORKLOADS.items():
        times = [t * 1e3 for t in step_time(task_name, short, long)]
        print(f"{label}: {statistics.median(times):.2f} ms a step (median of {REPEATS}, each {long:,} steps less "
              f"{short:,}; min {min(times):.2f}, max {max(times):.2f})", flush=True)


if __name__ == "__main__":
    main()
