"""Progress bars that are stored finished: a notebook opened later shows "100%", not "0%".

``tqdm.auto`` draws an ipywidgets bar in a notebook. Its saved output has two parts: the
widget, which needs a live kernel or saved widget state, and a ``text/plain`` fallback, which
JupyterLab shows otherwise. tqdm writes that fallback once, when the bar starts, so a saved
notebook reads "0%| | 0/2000" as if nothing had run. :func:`progress_bar` displays the bar
under a display id and, when the bar closes, re-displays it there: the stored fallback is
then the finished bar. Outside a notebook it is plain ``tqdm`` on stderr.

A worker process (:mod:`hnnlib.experiments.workers`) draws no bar of its own: inside
:func:`bars_sent_to`, :func:`progress_bar` returns a stand-in that sends its count and postfix to
the parent, and the parent draws them with :func:`draw_sent_bars`, so a bar looks the same whichever
process did the work.

A notebook bar redraws at most every :data:`NOTEBOOK_INTERVAL` seconds (tqdm's default: 0.1 s).
Each redraw is a few kernel messages; a long training cell at 0.1 s sends thousands, and a client
that reads them only when the cell ends (``pytest --nbval``) loses the last ones once ZeroMQ's
queues are full, and then waits for an end it never sees.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from tqdm.auto import tqdm

__all__ = ["NOTEBOOK_INTERVAL", "bars_sent_to", "draw_sent_bars", "finished_bar", "progress_bar"]

#: Seconds between two redraws of a notebook bar.
NOTEBOOK_INTERVAL = 5.0


def _in_notebook() -> bool:
    """Whether tqdm.auto chose its notebook (ipywidgets) bar."""
    from tqdm.notebook import tqdm as notebook_tqdm

    return issubclass(tqdm, notebook_tqdm)


def progress_bar(iterable: Iterable | None = None, **kwargs: Any) -> tqdm:
    """A tqdm bar whose stored notebook output ends finished.

    Parameters
    ----------
    iterable
        What to iterate over, as for ``tqdm``.
    **kwargs
        ``tqdm``'s keywords (``total``, ``desc``, ``unit``, ``disable``, ``leave``, ...).

    Returns
    -------
    tqdm
        The bar; use it as tqdm's (iterate, ``set_postfix``, ``close``, ``with``).
    """
    if _send is not None:
        return _SentBar(_send, iterable, **kwargs)
    if not _in_notebook() or kwargs.get("disable"):
        return tqdm(iterable, **kwargs)
    kwargs.setdefault("mininterval", NOTEBOOK_INTERVAL)
    return _FinishedInNotebook(iterable, **kwargs)


#: A finished bar for work loaded rather than done: no elapsed time and no rate, which would
#: describe reading a file, not the work (tqdm would show e.g. "247839.04it/s").
FINISHED_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt}{postfix}"


def finished_bar(total: int, desc: str, **postfix: str) -> None:
    """Show a finished bar of ``total`` steps at once, for work loaded from a cache.

    A cell then shows the same outputs whether it did the work (a live bar) or loaded the result.
    ``postfix`` entries are shown after the count (for example ``train="1.2e-03"``).
    """
    bar = progress_bar(total=total, desc=desc, leave=True, bar_format=FINISHED_FORMAT)
    bar.update(total)
    if postfix:
        bar.set_postfix(postfix, refresh=False)
    bar.close()


class _FinishedInNotebook(tqdm):
    """The notebook bar, displayed under a display id and re-displayed when it closes."""

    def __init__(self, iterable: Iterable | None = None, **kwargs: Any) -> None:
        from IPython.display import display

        super().__init__(iterable, display=False, **kwargs)
        self._handle = display(self.container, display_id=True) if getattr(self, "container", None) else None
        self.displayed = True

    def close(self) -> None:
        already_closed = self.disable
        super().close()
        if self._handle is not None and not already_closed and self.leave:
            # The widget model is unchanged; the update stores the finished text/plain fallback.
            self._handle.update(self.container)


#: In a worker process inside :func:`bars_sent_to`: where bars send their messages.
_send: Callable[[tuple], None] | None = None

#: Seconds between two count messages of a sent bar.
SEND_INTERVAL = 0.5


@contextmanager
def bars_sent_to(send: Callable[[tuple], None]) -> Iterator[None]:
    """In the block, :func:`progress_bar` draws nothing and calls ``send(message)`` instead.

    Messages (tuples): ``("open", options)`` with tqdm's keywords, ``("count", n, seconds)`` at
    most every :data:`SEND_INTERVAL` seconds, ``("postfix", dict)``, ``("close", n, seconds)``,
    where ``seconds`` have passed since the bar opened. :func:`draw_sent_bars` draws them in
    another process.
    """
    global _send
    previous, _send = _send, send
    try:
        yield
    finally:
        _send = previous


class _SentBar:
    """Stands in for a tqdm bar in a worker process: counts, and sends what a bar would draw."""

    def __init__(self, send: Callable[[tuple], None], iterable: Iterable | None = None, **kwargs: Any) -> None:
        self.iterable, self.n, self.disable = iterable, 0, bool(kwargs.get("disable"))
        if kwargs.get("total") is None and iterable is not None and hasattr(iterable, "__len__"):
            kwargs["total"] = len(iterable)
        self._send, self._start = send, time.monotonic()
        self._last = self._start
        if not self.disable:
            send(("open", {k: v for k, v in kwargs.items() if k in ("total", "desc", "unit", "leave", "bar_format")}))

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()  # as tqdm's bar closes itself when its iterable ends

    def __enter__(self) -> "_SentBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        if not self.disable and time.monotonic() - self._last >= SEND_INTERVAL:
            self._last = time.monotonic()
            self._send(("count", self.n, self._last - self._start))

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **kwargs: Any) -> None:
        if not self.disable:
            self._send(("postfix", {**(ordered_dict or {}), **kwargs}))

    def close(self) -> None:
        if not self.disable:
            self._send(("close", self.n, time.monotonic() - self._start))
            self.disable = True


def draw_sent_bars(receive: Callable[[], tuple]) -> tuple:
    """Draw the bars that a worker sends (:func:`bars_sent_to`) until it sends anything else.

    ``receive()`` returns the worker's next message (blocking). Each bar is drawn with
    :func:`progress_bar` as it goes, with the worker's elapsed time and average rate (however
    long after the worker the messages are read). Returns the first message that is not a bar's
    (the worker's result).
    """
    bar = None
    while True:
        message = receive()
        kind = message[0]
        if kind == "open":
            bar = progress_bar(**message[1], smoothing=0)  # smoothing=0: the rate is steps / elapsed time
        elif kind in ("count", "close") and bar is not None:
            n, seconds = message[1:]
            bar.start_t = bar._time() - seconds  # the worker's elapsed time, not this process's
            bar.update(n - bar.n)
            if kind == "close":
                bar.close()
                bar = None
        elif kind == "postfix" and bar is not None:
            bar.set_postfix(message[1], refresh=False)
        elif kind not in ("count", "postfix", "close"):
            if bar is not None:
                bar.close()
            return message
