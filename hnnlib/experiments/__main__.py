"""``python -m hnnlib.experiments``: see :mod:`hnnlib.experiments.cli`."""

import sys

from .cli import main

sys.exit(main())
