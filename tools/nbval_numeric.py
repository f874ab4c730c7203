"""nbval, with numbers compared to a tolerance: a pytest plugin for this book's notebooks.

nbval compares every stored text output of a notebook with a fresh run, character for
character. Float results differ in their last bits between CPUs (AVX-512 against AVX2
kernels, MKL against OpenBLAS, x86_64 against arm64), and for a trained model or a chaotic
rollout those bits grow into the printed digits. This plugin keeps nbval's comparison and
changes one thing: each text output is split into its words and its numbers. The words
(everything that is not a number) must match exactly, except that a run of spaces matches a
run of spaces of another length (a column of a table shifts when a number in it grows by a
digit); the numbers must match to a tolerance.

Tolerances
----------
* Default, for every number: the two values may differ by one unit in the last printed
  digit of the stored value (a rounding boundary crossed by round-off), or by a relative
  ``1e-9``, whichever is larger. Integers (no decimal point, no exponent) must be equal.
  Analytic and deterministic computations agree across CPUs to far more digits than a
  chapter prints, so this default still catches any real change.
* Per cell, looser: a tag ``nbval-rtol=0.05`` (relative) and/or ``nbval-atol=1e-4``
  (absolute) in the cell's metadata, for numbers downstream of training or of a chaotic
  rollout. Under such a tag integers are compared with the same tolerance. The cell's first
  comment line says why it needs it.

Widget outputs (``application/vnd.jupyter.widget-view+json``) are compared by their model id
only through nbval's sanitizers; their ``text/plain`` is the widget's fallback for a reader
without a kernel (a finished progress bar, a "run this cell" line), which a live run never
updates, so it is not compared.

Output timeout
--------------
nbval waits at most 5 seconds for each message of a cell's output once the cell has finished. On a
loaded machine (a laptop running other work, two notebooks per core) a training cell's last
progress-bar updates can take longer, and the cell then fails with "Timeout of 5 seconds exceeded
waiting for output" although it ran correctly. The plugin raises that wait to
:data:`OUTPUT_TIMEOUT` seconds; a cell that really hangs is still stopped by ``--nbval-cell-timeout``.

Enable with ``-p nbval_numeric`` (the repository's ``conftest.py`` does it).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass

from nbval import plugin as _nbval

__all__ = ["Tolerance", "numbers_match", "split_numbers", "tolerance_from_tags"]

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

# A decimal number: optional sign, digits with an optional fraction, optional exponent.
# A sign is part of the number only where it cannot be a hyphen or minus between words
# ("t=0-20" reads as 0 and -20 in both outputs alike, so the words still match).
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.])")

DEFAULT_RTOL = 1e-9

#: Seconds to wait for each output message of a finished cell (nbval's own: 5).
OUTPUT_TIMEOUT = 60

# Table padding: runs of spaces are compared as one space.
SPACES = re.compile(r" +")


@dataclass(frozen=True)
class Tolerance:
    """How far two printed numbers may differ. ``None`` fields mean the default rule."""

    rtol: float | None = None
    atol: float | None = None

    @property
    def is_default(self) -> bool:
        return self.rtol is None and self.atol is None


def tolerance_from_tags(tags: list[str]) -> Tolerance:
    """Read ``nbval-rtol=X`` / ``nbval-atol=X`` cell tags.

    Raises
    ------
    ValueError
        If a tag's value is not a finite number >= 0.
    """
    found: dict[str, float] = {}
    for tag in tags:
        for key in ("rtol", "atol"):
            prefix = f"nbval-{key}="
            if tag.startswith(prefix):
                text = tag[len(prefix):]
                try:
                    value = float(text)
                except ValueError:
                    raise ValueError(f"cell tag {tag!r}: expected a number after '{prefix}'") from None
                if not math.isfinite(value) or value < 0:
                    raise ValueError(f"cell tag {tag!r}: the tolerance must be finite and >= 0")
                found[key] = value
    return Tolerance(found.get("rtol"), found.get("atol"))


def split_numbers(text: str) -> tuple[list[str], list[str]]:
    """Split ``text`` into the words between numbers and the numbers themselves.

    ``words`` has one more element than ``numbers``; joining them alternately gives ``text``.
    """
    words, numbers, last = [], [], 0
    for match in NUMBER.finditer(text):
        words.append(text[last:match.start()])
        numbers.append(match.group())
        last = match.end()
    words.append(text[last:])
    return words, numbers


def _last_digit_unit(token: str) -> float:
    """One unit in the last printed digit: 0.001 for '1.205', 1e-5 for '8.96e-03'."""
    mantissa, _, exponent = token.lower().partition("e")
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return 10.0 ** (int(exponent or 0) - decimals)


def _is_integer(token: str) -> bool:
    return "." not in token and "e" not in token.lower()


def numbers_match(stored: str, fresh: str, tol: Tolerance) -> bool:
    """Whether two printed numbers agree under ``tol`` (see the module docstring)."""
    a, b = float(stored), float(fresh)
    if a == b:
        return True
    if tol.is_default:
        if _is_integer(stored) and _is_integer(fresh):
            return False
        allowed = max(DEFAULT_RTOL * abs(a), _last_digit_unit(stored))
        return abs(a - b) <= allowed * (1 + 1e-9)
    return math.isclose(a, b, rel_tol=tol.rtol or 0.0, abs_tol=tol.atol or 0.0)


def compare_text(stored: str, fresh: str, tol: Tolerance) -> str | None:
    """``None`` if the texts agree, else a one-line reason naming the first difference."""
    words_a, nums_a = split_numbers(stored)
    words_b, nums_b = split_numbers(fresh)
    words_a, words_b = [SPACES.sub(" ", w) for w in words_a], [SPACES.sub(" ", w) for w in words_b]
    if len(nums_a) != len(nums_b) or words_a != words_b:
        for wa, wb in zip(words_a, words_b):
            if wa != wb:
                return f"the text differs (not only its numbers) near {wa!r} vs {wb!r}"
        return f"the outputs hold {len(nums_a)} vs {len(nums_b)} numbers"
    for i, (na, nb) in enumerate(zip(nums_a, nums_b)):
        if not numbers_match(na, nb, tol):
            rule = "one unit in the last printed digit" if tol.is_default else f"{tol}"
            return f"number {i + 1}: stored {na}, computed {nb}, outside the tolerance ({rule})"
    return None


def _flatten(self, outputs, skip_compare):
    """nbval's grouping: key -> list of sanitized values; widget text fallbacks dropped."""
    grouped = defaultdict(list)
    for output in outputs:
        is_widget = WIDGET_MIME in output.get("data", {})
        for key, value in output.items():
            if key in skip_compare:
                continue
            if key == "data":
                for mime, data in value.items():
                    if mime in skip_compare or (is_widget and mime == "text/plain"):
                        continue
                    grouped[mime].append(self.sanitize(data))
            else:
                grouped[key].append(self.sanitize(value))
    return grouped


def compare_outputs(self, test, ref, skip_compare=None):
    """Replacement for ``nbval.plugin.IPyNbCell.compare_outputs`` with numeric tolerance."""
    skip_compare = skip_compare or self.parent.skip_compare
    tags = self.cell.get("metadata", {}).get("tags", [])
    tol = tolerance_from_tags(tags)
    fresh = _flatten(self, _nbval.transform_streams_for_comparison(test), skip_compare)
    stored = _flatten(self, _nbval.transform_streams_for_comparison(ref), skip_compare)
    self.comparison_traceback = []
    if set(stored) != set(fresh):
        self.comparison_traceback.append(
            f"output fields differ: stored {sorted(stored)}, computed {sorted(fresh)}"
        )
        return False
    for key, stored_values in stored.items():
        fresh_values = fresh[key]
        if len(stored_values) != len(fresh_values):
            self.comparison_traceback.append(
                f'{len(stored_values)} stored vs {len(fresh_values)} computed outputs for "{key}"'
            )
            return False
        for a, b in zip(stored_values, fresh_values):
            if a == b:
                continue
            reason = compare_text(a, b, tol) if isinstance(a, str) and isinstance(b, str) else "differs"
            if reason is not None:
                self.comparison_traceback.append(f'"{key}": {reason}')
                self.format_output_compare(key, a, b)
                return False
    return True


def _init_with_output_timeout(self, *args, **kwargs):
    _nbval_init(self, *args, **kwargs)
    self.output_timeout = max(self.output_timeout, OUTPUT_TIMEOUT)


_nbval_init = _nbval.IPyNbCell.__init__


def pytest_configure(config):
    """Install the numeric comparison and the longer output timeout into nbval's cell items."""
    _nbval.IPyNbCell.compare_outputs = compare_outputs
    _nbval.IPyNbCell.__init__ = _init_with_output_timeout
