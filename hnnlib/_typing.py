"""The type aliases of the library, once."""

from __future__ import annotations

from typing import Callable

import torch

#: ``f(x) -> dx/dt``: a vector field on states ``(..., D)``, returning ``(..., D)``.
VectorField = Callable[[torch.Tensor], torch.Tensor]

#: ``H(x) -> H``: a scalar function (a Hamiltonian) of states ``(..., D)``, returning ``(...)`` or ``(..., 1)``.
ScalarField = Callable[[torch.Tensor], torch.Tensor]
