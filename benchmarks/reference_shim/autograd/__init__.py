"""Stand-in for ``autograd.grad`` (see ../README.md): complex-step gradients of analytic NumPy code."""

import numpy

from . import numpy as numpy  # noqa: F401  (``import autograd.numpy as np`` is NumPy)

STEP = 1e-30


def grad(fun):
    """The gradient of a scalar ``fun`` of one array, by the complex step (exact for analytic ``fun``)."""

    def gradient(x, *args, **kwargs):
        x = numpy.asarray(x, dtype=float)
        out = numpy.empty_like(x)
        for j in numpy.ndindex(x.shape):
            shifted = x.astype(complex)
            shifted[j] += 1j * STEP
            out[j] = numpy.sum(fun(shifted, *args, **kwargs)).imag / STEP
        return out

    return gradient
