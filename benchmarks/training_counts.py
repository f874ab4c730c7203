"""How many times each model was trained in one run: read a $HNNLIB_TRAINING_LOG file.

Usage (a cold `make test`, counting the chapters' trainings per fingerprint; the unit tests write
nothing to the log, see tests/conftest.py):

    rm -f /tmp/trainings.log
    HNNLIB_CACHE_DIR=$(mktemp -d) HNNLIB_TRAINING_LOG=/tmp/trainings.log make test
    .venv/bin/python benchmarks/training_counts.py /tmp/trainings.log

Each line of the log is written by hnnlib.training.log_training when a model is trained: the
fingerprint of what determines its weights (class, initial weights, data, options), then the run's
description. Prints every fingerprint with its count; exits 1 if any model was trained more than once,
except a training whose every description ends with ON_PURPOSE: an experiment that repeats a run to
compare the two (the appendix trains one 100-step model twice, with different evaluation schedules,
to show the weights come out bit-identical). Those are listed apart.
"""

from __future__ import annotations

import argparse
import collections
import sys

ON_PURPOSE = "(repeated on purpose)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", help="the file $HNNLIB_TRAINING_LOG named")
    args = parser.parse_args(argv)
    runs: dict[str, list[str]] = collections.defaultdict(list)
    with open(args.log, encoding="utf-8") as handle:
        for line in handle:
            fingerprint, _, description = line.rstrip("\n").partition(" ")
            runs[fingerprint].append(description)
    for fingerprint, descriptions in sorted(runs.items(), key=lambda item: (-len(item[1]), item[1][0])):
        print(f"{len(descriptions)}  {fingerprint[:16]}  {' | '.join(descriptions)}")
    deliberate = sum(len(d) > 1 and all(x.endswith(ON_PURPOSE) for x in d) for d in runs.values())
    repeated = sum(len(d) > 1 for d in runs.values()) - deliberate
    print(f"{len(runs)} models, {sum(map(len, runs.values()))} trainings, {repeated} trained more than once"
          f" (and {deliberate} repeated on purpose, to compare the runs)")
    return 1 if repeated else 0


if __name__ == "__main__":
    sys.exit(main())
