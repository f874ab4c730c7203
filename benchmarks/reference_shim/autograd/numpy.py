"""``autograd.numpy`` stand-in: NumPy itself (see ../README.md)."""

from numpy import *  # noqa: F401,F403
from numpy import random  # noqa: F401
