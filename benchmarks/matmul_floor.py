"""How close a training step is to its floor: the large matrix products it cannot avoid.

A training step of the book's models is bound by a few large matrix products (200 hidden units,
hundreds of samples); element-wise work, small products and Python come on top. This script times
each product a step needs, alone (median of many repetitions, one thread), and compares their sum
with the measured step of the book's training loop in the same process:

- Task 1 (750 samples, full batch, 2000 steps): the baseline needs 3 products of
  (750 x 200) x (200 x 200) per step (forward, weight gradient, input gradient of the middle
  layer); the HNN needs 6 (:class:`hnnlib.models.TanhMLPGradient`). The reference code's step adds a
  forward pass on the test set, 1 product more for the baseline and 2 for the HNN, which bounds the
  speed-up any implementation of the same step can reach over it.
- Task 5 (the pixel model, minibatches of 200 pairs, 10,000 steps per model): the encoder's first
  layer on the lit pixels (:func:`hnnlib.pixel.lit_pixels`), the decoder's last layer on all 1568
  pixels, and the 200-wide layers of the autoencoder and of the latent HNN.

Usage::

    .venv/bin/python benchmarks/matmul_floor.py

Prints a Markdown table; speed is measured here, never asserted in a test.
"""

from __future__ import annotations

import os
import statistics
import time

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import torch

torch.set_num_threads(1)


def product_time(m: int, k: int, n: int, repeats: int = 200) -> float:
    """Median seconds of one float32 product (m x k) @ (k x n)."""
    a, b = torch.randn(m, k), torch.randn(k, n)
    for _ in range(20):
        a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def task1_step_times(steps: int = 2000) -> dict[str, float]:
    """Measured seconds per step of the book's Task 1 training (baseline and HNN), in this process."""
    from hnnlib import experiments
    from hnnlib.training import set_seed

    config = experiments.make_config("mass_spring", seed=0, steps=steps)
    task = experiments.get_task("mass_spring")
    data = task.make_data(config)
    out = {}
    for kind in ("baseline", "hnn"):
        set_seed(0)
        model = task.make_model(config, kind, data)
        start = time.perf_counter()
        task.train_model(config, model, data, progress=False, description=None)
        out[kind] = (time.perf_counter() - start) / steps
    return out


def pixel_step_time(steps: int = 1000) -> tuple[float, int]:
    """Measured seconds per step of the book's pixel-model training, in this process, and the lit pixels."""
    from hnnlib import experiments, pixel
    from hnnlib.training import set_seed

    config = experiments.make_config("pixel_pendulum", seed=0)
    data = pixel.make_pixel_pendulum_dataset(**config.data_options(), progress=False, cache_dir=True)
    x, x_next = data.train.to_torch()
    set_seed(0)
    model = pixel.PixelDynamicsModel("hnn")
    pixel.fit_pixel_model(model, x, x_next, steps=20, progress=False)  # warm up
    start = time.perf_counter()
    pixel.fit_pixel_model(model, x, x_next, steps=steps, eval_every=10 * steps, progress=False)
    return (time.perf_counter() - start) / steps, len(pixel.lit_pixels(x, x_next))


def main() -> None:
    big = product_time(750, 200, 200)
    measured = task1_step_times()
    pixel_step, lit = pixel_step_time()
    pixel_products = {  # (m, k, n, how many per step)
        "encoder, first layer on the lit pixels (forward, weight gradient)": [(400, lit, 200, 1), (200, 400, lit, 1)],
        "decoder, last layer (forward, weight gradient, input gradient)": [(200, 200, 1568, 1), (1568, 200, 200, 1),
                                                                          (200, 1568, 200, 1)],
        "autoencoder, 200-wide layers (2 x 400 rows, 2 x 200 rows; 3 products each)": [(400, 200, 200, 6), (200, 200, 200, 6)],
        "latent HNN (200 rows; 6 products)": [(200, 200, 200, 6)],
    }
    pixel_floor = 0.0
    for parts in pixel_products.values():
        pixel_floor += sum(count * product_time(m, k, n) for m, k, n, count in parts)
    print("| step | large products per step | their time alone (ms) | measured step (ms) | floor / measured |")
    print("|---|---|---|---|---|")
    for name, kind, count in (("Task 1 baseline", "baseline", 3), ("Task 1 HNN", "hnn", 6)):
        floor = count * big
        print(f"| {name} | {count} of 750x200x200 | {1e3 * floor:.2f} | {1e3 * measured[kind]:.2f} | {floor / measured[kind]:.2f} |")
    print(f"| Task 5 pixel HNN ({lit} lit pixels) | see the module doc | {1e3 * pixel_floor:.2f} | {1e3 * pixel_step:.2f} | "
          f"{pixel_floor / pixel_step:.2f} |")
    print()
    print(f"One 750x200x200 product: {1e6 * big:.0f} us ({2 * 750 * 200 * 200 / big / 1e9:.0f} GFLOP/s).")
    print(f"Task 5, two models of 10,000 steps: at least {2e4 * pixel_floor:.0f} s of large products, "
          f"{2e4 * pixel_step:.0f} s as measured.")
    for name, kind, ours, theirs in (("baseline", "baseline", 3, 4), ("HNN", "hnn", 6, 8)):
        print(f"Task 1 {name}: the reference's step has {theirs} large products to the book's {ours}; even at the floor "
              f"the book's 2000 steps take {2000 * ours * big:.2f} s of them, the reference's {2000 * theirs * big:.2f} s.")


if __name__ == "__main__":
    main()
