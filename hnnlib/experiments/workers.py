"""Models trained side by side, each in its own process.

The models of one experiment are independent: none reads another's weights. :func:`start` runs
one job (training one model) in a fresh Python process while the caller trains another, so that
two cores each run one model. A job seeds, builds and trains its model exactly as the caller would,
with the config's torch threads (one), and takes the model cache's lock for its entry, so the
weights are the same bit for bit as training one model after the other (tested), and a model is
still trained at most once. :func:`hnnlib.experiments.runner.trained_models` and the chapter 13
protocols use it when asked for ``workers=2``.

The job's progress bars are drawn by the caller (:func:`hnnlib.progress.draw_sent_bars`) when it
asks for the result, so a cell's output is the same whichever way its models were trained.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import torch

from ..progress import bars_sent_to, draw_sent_bars

__all__ = ["WORKERS_ENV_VAR", "Worker", "WorkerError", "available_cores", "check_workers", "kinds_for_workers", "map_in_order", "start", "usable_workers"]


class WorkerError(RuntimeError):
    """A worker process failed without an exception that could be sent back (killed, or unpicklable)."""


def available_cores() -> int:
    """The CPU cores this process may run on (``os.sched_getaffinity`` where there is one, else ``os.cpu_count``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


#: Environment variable: the most processes any call may use (``1`` turns workers off).
WORKERS_ENV_VAR = "HNNLIB_MAX_WORKERS"


def usable_workers(workers: int) -> int:
    """How many processes to use when ``workers`` are asked for.

    At most the available cores and ``$HNNLIB_MAX_WORKERS`` (when set), and 1 on Windows (where a
    worker cannot be handed its pipe); with 1, the work is all done here, the same way.
    """
    workers = check_workers(workers)
    limit = os.environ.get(WORKERS_ENV_VAR, "").strip()
    if limit:
        if not limit.isdigit() or int(limit) < 1:
            raise ValueError(f"{WORKERS_ENV_VAR} must be a positive integer, got {limit!r}")
        workers = min(workers, int(limit))
    return 1 if os.name == "nt" else max(1, min(workers, available_cores()))


def _serve(fd: int) -> None:
    """The worker process's entry: read the job from stdin, run it, send messages to the pipe ``fd``."""
    with os.fdopen(fd, "wb") as out:
        def send(message: tuple) -> None:
            data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)  # whole, or nothing written
            out.write(data)
            out.flush()

        try:
            function, args, threads = pickle.load(sys.stdin.buffer)
            torch.set_num_threads(threads)  # the caller's
            with bars_sent_to(send):
                result = function(*args)
            send(("result", result))
        except BaseException as err:  # sent to the caller, which raises it
            try:
                pickle.dumps(err)
            except Exception:
                err = WorkerError(f"{type(err).__name__}: {err}")
            send(("error", err))


class Worker:
    """A job running in another process (see :func:`start`)."""

    def __init__(self, process: subprocess.Popen, messages: IO[bytes], feeder: threading.Thread, name: str):
        self.process, self.messages, self.feeder, self.name = process, messages, feeder, name

    def _receive(self) -> tuple:
        try:
            return pickle.load(self.messages)
        except EOFError:
            code = self.process.wait()
            raise WorkerError(f"the worker for {self.name} exited with code {code} without a result "
                              "(its error, if any, is on this process's stderr)") from None

    def stop(self) -> None:
        """End the process if it still runs (after a failure elsewhere); nothing if it has finished."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.feeder.join()
        self.messages.close()

    def result(self) -> Any:
        """Draw the job's progress bars here as they come, then return what the job returned.

        Raises the job's exception if it failed, :class:`WorkerError` if the process died.
        """
        try:
            message = draw_sent_bars(self._receive)
        finally:
            self.stop()
        if message[0] == "error":
            raise message[1]
        return message[1]


def start(function: Callable[..., Any], *args: Any, name: str = "a job") -> Worker:
    """Run ``function(*args)`` in a new process; returns at once. ``Worker.result()`` gives its return value.

    The process is a fresh interpreter (``sys.executable``, the same environment), not a fork: no
    copied torch threads or locks, and nothing of the caller's ``__main__`` is run again. It imports
    the same hnnlib as the caller and runs with the caller's number of torch threads
    (``torch.get_num_threads()``). It gets
    the job through its stdin (pickled: ``function`` must be importable from a module, and
    ``args`` and the result picklable) and sends its progress bars and its result back through a
    pipe.

    Raises
    ------
    TypeError
        If ``function`` or ``args`` cannot be sent to another process (a function defined in a
        notebook, say).
    """
    job = (function, args, torch.get_num_threads())
    try:
        payload = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as err:
        raise TypeError(f"a worker runs its job in another process, but {name} cannot be pickled ({err}): its "
                        "functions must be importable from a module. Use workers=1.") from err
    read_end, write_end = os.pipe()
    # The worker imports this very hnnlib (its folder first on the path), whatever made it importable here.
    package_root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join([package_root, *filter(None, [os.environ.get("PYTHONPATH")])])
    process = subprocess.Popen(  # the pipe's write end keeps its number in the child
        [sys.executable, "-c", "import sys; from hnnlib.experiments.workers import _serve; _serve(int(sys.argv[1]))", str(write_end)],
        stdin=subprocess.PIPE, pass_fds=(write_end,), env={**os.environ, "PYTHONPATH": path},
    )
    os.close(write_end)

    def feed() -> None:  # in a thread, so that the caller goes on at once
        try:
            process.stdin.write(payload)
            process.stdin.close()
        except OSError:
            pass  # the worker died: its result reports it

    feeder = threading.Thread(target=feed, name=f"hnnlib worker input: {name}", daemon=True)
    feeder.start()
    return Worker(process, os.fdopen(read_end, "rb"), feeder, name)


def check_workers(workers: int) -> int:
    """``workers`` if it is a positive int (ValueError otherwise)."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    return workers


def kinds_for_workers(kinds: Sequence[str], needs_training: Callable[[str], bool], workers: int) -> list[str]:
    """The kinds to train in worker processes: the last ``workers - 1`` (:func:`usable_workers`) of those that
    ``needs_training``, never the first kind, which the caller trains (so its bar comes first)."""
    spare = usable_workers(workers) - 1
    to_train = [kind for kind in kinds[1:] if needs_training(kind)]
    return to_train[max(0, len(to_train) - spare):] if spare > 0 else []


def _calls(function: Callable[..., Any], calls: Sequence[tuple], kwargs: dict[str, Any]) -> list[Any]:
    """``function(*args, **kwargs)`` for each ``args`` of ``calls``, in order (one process's share of :func:`map_in_order`)."""
    return [function(*args, **kwargs) for args in calls]


def map_in_order(function: Callable[..., Any], calls: Sequence[tuple], workers: int = 1, **kwargs: Any) -> list[Any]:
    """``[function(*args, **kwargs) for args in calls]``, shared among ``workers`` processes.

    The calls are cut into ``workers`` runs of consecutive calls (:func:`usable_workers`: capped at
    the cores this process may use): this process makes the first run, worker processes (:func:`start`) the others,
    meanwhile. The results come back in the calls' order, and the workers' progress bars are drawn
    here in that order too. ``function`` must be importable from a module and its arguments and
    results picklable.
    """
    calls = [tuple(args) for args in calls]
    parts = min(usable_workers(workers), max(1, len(calls)))
    bounds = [round(k * len(calls) / parts) for k in range(parts + 1)]
    runs = [calls[a:b] for a, b in zip(bounds, bounds[1:])]
    name = getattr(function, "__qualname__", "the function")
    started = [start(_calls, function, run, kwargs, name=f"{len(run)} calls of {name}") for run in runs[1:]]
    try:
        results = _calls(function, runs[0], kwargs)
        for worker in started:
            results += worker.result()
    finally:
        for worker in started:
            worker.stop()
    return results
