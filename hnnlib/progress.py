"""Progress bars that are stored finished: a notebook opened later shows "100%", not "0%".

``tqdm.auto`` draws an ipywidgets bar in a notebook. Its saved output has two parts: the
widget, which needs a live kernel or saved widget state, and a ``text/plain`` fallback, which
JupyterLab shows otherwise. tqdm writes that fallback once, when the bar starts, so a saved
notebook reads "0%| | 0/2000" as if nothing had run. :func:`progress_bar` displays the bar
under a display id and, when the bar closes, re-displays it there: the stored fallback is
then the finished bar. Outside a notebook it is plain ``tqdm`` on stderr.

A notebook bar redraws at most every :data:`NOTEBOOK_INTERVAL` seconds (tqdm's default: 0.1 s).
Each redraw is a few kernel messages; a long training cell at 0.1 s sends thousands, and a client
that reads them only when the cell ends (``pytest --nbval``) loses the last ones once ZeroMQ's
queues are full, and then waits for an end it never sees.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm

__all__ = ["NOTEBOOK_INTERVAL", "progress_bar"]

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
