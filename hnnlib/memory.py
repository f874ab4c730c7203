"""Keep freed memory in the process while training, instead of handing it back to the OS each step.

A training step of the paper's MLP allocates and frees some twenty arrays of 0.6 MB (750 samples
x 200 units, float32). With glibc's default settings (Linux), arrays of that size are often taken
from fresh pages of the OS and given back when freed, so every step pays for page faults on
memory it just released: about a tenth of a Task 1 HNN step on the 2-core CI machine
(``benchmarks/README.md``). :func:`keep_freed_memory` raises two of glibc's thresholds so that
freed blocks are reused. It changes where memory comes from, never a computed value (tested:
the trained weights are the same bit for bit), at the price of a peak memory up to about 128 MB
higher. :func:`hnnlib.training.optimize` calls it; set ``HNNLIB_KEEP_FREED_MEMORY=0`` to keep
glibc's defaults. Elsewhere than glibc (macOS, Windows, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

__all__ = ["KEEP_FREED_MEMORY_ENV_VAR", "keep_freed_memory"]

#: Set to ``0`` to leave glibc's allocator settings alone.
KEEP_FREED_MEMORY_ENV_VAR = "HNNLIB_KEEP_FREED_MEMORY"

# mallopt parameters, from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Blocks below this come from the heap and are reused when freed (glibc's largest allowed value
#: on 64-bit Linux; the default starts at 128 kB).
MMAP_THRESHOLD_BYTES = 32 * 2**20
#: Free memory at the top of the heap kept for reuse before any is given back (default 128 kB,
#: raised by glibc as it sees larger blocks).
TRIM_THRESHOLD_BYTES = 128 * 2**20

_done: bool | None = None


def keep_freed_memory() -> bool:
    """Set glibc's malloc to reuse freed blocks of up to 32 MB (once per process).

    Returns
    -------
    bool
        True when the settings are in force (glibc, and not switched off by
        ``HNNLIB_KEEP_FREED_MEMORY=0``), False otherwise.
    """
    global _done
    if _done is None:
        _done = False
        if os.environ.get(KEEP_FREED_MEMORY_ENV_VAR, "1") != "0" and sys.platform.startswith("linux") \
                and platform.libc_ver()[0] == "glibc":
            try:
                mallopt = ctypes.CDLL("libc.so.6").mallopt
            except (OSError, AttributeError):
                return False
            mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
            _done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    return _done
