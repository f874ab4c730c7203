"""Repository-wide pytest setup: nbval with numbers compared to a tolerance (tools/nbval_numeric.py),
and the order in which the two workers of ``make test`` take the test files."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "tools"))

pytest_plugins = ["nbval_numeric"]

# `make test` runs two workers, each taking whole files in collection order (--dist loadfile with
# --no-loadscope-reorder). The chapters that train longest start first, so that neither worker is
# left with a long chapter at the end; the unit tests fill the gaps; the chapters that mostly read
# models other chapters train (8 reads chapter 7's pixel models, 9 every task's) come last, when
# those models are in the model cache. Costs alone on the 2-core CI kind: benchmarks/README.md.
RUN_FIRST = (
    "07_pixel_pendulum", "10_learning_from_trajectories", "13_lagrangian_nn", "12_friction",
    "11_integrators_long_horizons", "06_three_body", "appendix_reproducibility", "02_mass_spring",
    "05_two_body", "03_ideal_pendulum", "04_real_pendulum", "01_hamiltonian_mechanics",
)
RUN_LAST = ("08_useful_properties", "09_results")


def run_rank(path: Path) -> int:
    """Where a test file goes in the run: notebooks of RUN_FIRST in their order, other files, then RUN_LAST."""
    if path.stem in RUN_FIRST:
        return RUN_FIRST.index(path.stem)
    if path.stem in RUN_LAST:
        return len(RUN_FIRST) + 1 + RUN_LAST.index(path.stem)
    return len(RUN_FIRST)


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: run_rank(Path(str(item.path))))  # stable: a file's tests keep their order
