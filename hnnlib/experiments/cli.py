"""The command line, ``python -m hnnlib.experiments``: reproduce Table 1 / Table 2 rows over seeds.

The chapters beyond the paper have their own protocols and tables, reached through the same
command: ``python -m hnnlib.experiments trajectories|friction|lagrangian|lnn_protocol [options]``.
"""

from __future__ import annotations

import argparse
import ast
import logging
import sys
import time
from typing import Any, Sequence

from .._checks import check_seed
from .cache import CACHE_ENV_VAR, as_cache
from .report import format_summary, write_csv, write_json
from .runner import logger, run_many
from .tasks import TASKS, make_config

__all__ = ["FOLLOWUP_COMMANDS", "build_parser", "main"]

# The chapters beyond the paper: each protocol's own command line, in hnnlib.experiments.<name>.
FOLLOWUP_COMMANDS = {
    "trajectories": "chapter 10: DGNet's ODE protocol, learning from observed trajectories",
    "friction": "chapter 12: the dissipative HNN under the D-HNN paper's and DGNet's protocols",
    "lagrangian": "chapter 13: the Lagrangian NN on the double pendulum, the LNN paper's metric",
    "lnn_protocol": "chapter 13: the LNN paper's protocol (whole state space, 40 states to t = 100 s)",
}


def _parse_override(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE, got {text!r}")
    if raw.strip().lower() in _NON_FINITE:
        return name.strip(), float(raw)  # a float, which the field's check then accepts or refuses by name
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw  # a bare word: a string
    return name.strip(), value


_NON_FINITE = {"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "nan", "+nan", "-nan"}


def _seed_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid seed {text!r}: not an integer") from None
    try:
        return check_seed(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"invalid seed {text!r}: {err}") from None


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of ``python -m hnnlib.experiments``."""
    tasks = ", ".join(TASKS)
    parser = argparse.ArgumentParser(
        prog="python -m hnnlib.experiments",
        description=(
            "Reproduce the paper's Table 1 / Table 2: train the baseline and the HNN of each task with the "
            "book's settings (the chapters' code path), measure train loss, test loss and energy MSE, and print them "
            "beside the paper's values (mean +- standard error over seeds, in the paper's units). Trained models are "
            f"cached (in ${CACHE_ENV_VAR}, else the per-user hnnlib cache /models), so a second run only re-measures."
        ),
        epilog=(
            f"tasks: {tasks}, or 'all'.\n"
            "examples:\n"
            "  python -m hnnlib.experiments mass_spring --seeds 0 1 2\n"
            "  python -m hnnlib.experiments all --seeds 0 --csv table1.csv --json table1.json\n"
            "  python -m hnnlib.experiments pendulum --set steps=200 --no-cache   # a quick, non-paper run\n"
            "Task 3 reads the real-pendulum recording from $HNNLIB_DATA_DIR (see hnnlib.realdata).\n"
            "beyond the paper (each with its own options; add --help):\n"
            + "".join(f"  python -m hnnlib.experiments {name:<12}  {what}\n" for name, what in FOLLOWUP_COMMANDS.items())
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("tasks", nargs="+", metavar="TASK", help=f"task names ({tasks}) or 'all'")
    parser.add_argument("--seeds", nargs="+", type=_seed_arg, default=[0], metavar="SEED",
                        help="seeds to run and aggregate (default: 0)")
    parser.add_argument("--csv", metavar="PATH", help="also write the rows as CSV")
    parser.add_argument("--json", metavar="PATH", help="also write configs, rows and per-seed results as JSON")
    parser.add_argument("--no-cache", action="store_true", help="train every model; read and write no cache")
    parser.add_argument("--cache-dir", metavar="DIR", help=f"cache folder (default: ${CACHE_ENV_VAR}, else the per-user cache)")
    parser.add_argument("--prune-cache", action="store_true",
                        help="first delete the cache entries of other hnnlib versions or sources (they are never loaded again)")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="torch threads for training and metrics (default: each config's, 1; part of the cache key)")
    parser.add_argument("--steps", type=int, metavar="N",
                        help="override the training steps of every task (smoke tests; the results are then not the paper's)")
    parser.add_argument("--set", dest="overrides", action="append", type=_parse_override, default=[], metavar="FIELD=VALUE",
                        help="override a config field of every task, e.g. --set metric_states=3 (repeatable; values are Python literals, "
                             "or inf/nan; each is checked against the field's type and range before anything runs)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars and no cache messages")
    return parser


def _expand_tasks(names: Sequence[str], parser: argparse.ArgumentParser) -> list[str]:
    tasks: list[str] = []
    for name in names:
        expanded = list(TASKS) if name == "all" else [name]
        for task in expanded:
            if task not in TASKS:
                parser.error(f"unknown task {task!r}; valid tasks: {', '.join(TASKS)}, or 'all'")
            if task not in tasks:
                tasks.append(task)
    return tasks


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m hnnlib.experiments``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in FOLLOWUP_COMMANDS:
        import importlib

        module = importlib.import_module(f"{__package__}.{argv[0]}")
        return int(module.main(argv[1:]) or 0)
    parser = build_parser()
    args = parser.parse_args(argv)
    tasks = _expand_tasks(args.tasks, parser)
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f"--seeds must be distinct, got {' '.join(map(str, args.seeds))}")
    overrides = dict(args.overrides)
    if "seed" in overrides:  # --seeds would silently win
        parser.error(f"--set seed={overrides['seed']!r}: give seeds with --seeds (e.g. --seeds {overrides['seed']!r})")
    if args.steps is not None:
        if args.steps < 1:
            parser.error(f"--steps must be a positive int, got {args.steps}")
        overrides["steps"] = args.steps
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be a positive int, got {args.threads}")
        overrides["threads"] = args.threads
    configs = []
    for task in tasks:  # every task's settings are checked before the first one runs
        try:
            configs.append(make_config(task, **overrides))
        except (TypeError, ValueError) as err:
            parser.error(f"--set for task {task!r}: {err}")
    cache: bool | str = False if args.no_cache else (args.cache_dir or True)
    if not args.quiet:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.prune_cache and cache is not False:
        store = as_cache(cache)
        removed = store.prune()
        logger.info("pruned %d stale cache file(s) from %s", len(removed), store.directory)

    summaries = []
    start = time.perf_counter()
    for config in configs:
        summary = run_many(config, args.seeds, cache=cache, progress=not args.quiet)
        summaries.append(summary)
        print(format_summary(summary), end="\n\n", flush=True)
    if args.csv:
        write_csv(summaries, args.csv)
    if args.json:
        write_json(summaries, args.json)
    print(f"{len(tasks)} task(s) x {len(args.seeds)} seed(s) in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return 0
