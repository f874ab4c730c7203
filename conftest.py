"""Repository-wide pytest setup: nbval with numbers compared to a tolerance (tools/nbval_numeric.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "tools"))

pytest_plugins = ["nbval_numeric"]
