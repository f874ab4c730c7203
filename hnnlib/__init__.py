"""hnnlib: the small library behind the book "Hamiltonian Neural Networks, tested".

Modules, one job each:

- :mod:`hnnlib.hamiltonian`: the symplectic and Riemann gradients (paper Eq. 2).
- :mod:`hnnlib.systems`: Hamiltonian systems with analytic energies and derivatives (spring,
  pendulum, N bodies, double pendulum, damped oscillator).
- :mod:`hnnlib.data`: seeded trajectory datasets.
- :mod:`hnnlib.realdata`: the recorded real pendulum of Task 3, found, checked and preprocessed.
- :mod:`hnnlib.models`: the baseline MLP, the HNN, the separable HNN and the dissipative HNN.
- :mod:`hnnlib.lagrangian`: the Euler-Lagrange equation with ``torch.func`` and the Lagrangian NN (chapter 13).
- :mod:`hnnlib.checkpoints`: saving and loading models, without unpickling code.
- :mod:`hnnlib.training`: the training loop.
- :mod:`hnnlib.optim`: Adam, one fused kernel per step (the same weights as ``torch.optim.Adam``).
- :mod:`hnnlib.memory`: the training loop's allocator setting (freed arrays are reused).
- :mod:`hnnlib.integrators`: batched rollouts (solve_ivp, RK4, leapfrog, implicit midpoint).
- :mod:`hnnlib.long_horizon`: long rollouts: modified Hamiltonians, energy drift, phase error, fitted orders.
- :mod:`hnnlib.rk45_batched`: SciPy's RK45 with one step size per trajectory, all evaluated together.
- :mod:`hnnlib.metrics`: derivative losses, energy and coordinate errors (Table 1).
- :mod:`hnnlib.plotting`: the figures' shared style and plots.
- :mod:`hnnlib.pixel`: Task 5's pixel pendulum: frames rendered by gymnasium, read back from their
  pixels, and the autoencoder with an HNN (or a baseline) in its latent space.
- :mod:`hnnlib.properties`: Section 6: adding energy, reversibility, phase-space area.
- :mod:`hnnlib.experiments`: every task through one runner, with a model cache and a command line
  (``python -m hnnlib.experiments``); imported on demand, not here.
- :mod:`hnnlib.labels`: the model kinds, their labels and the energy functions' names, once.
- :mod:`hnnlib.progress`: progress bars that are stored finished in a notebook.
- :mod:`hnnlib.paper`: the paper's published Table 1 and Table 2, for side-by-side tables.
- :mod:`hnnlib.followups`: published numbers of the follow-up papers (DGNet, D-HNN, LNN), each
  with its source and protocol.
- :mod:`hnnlib.tables`: small tables that render as HTML in a notebook and as stable text.
- :mod:`hnnlib.observed`: observed trajectories (states at a fixed step, with noise, no derivatives).
- :mod:`hnnlib.steppers`: differentiable one-step integrators for training (Euler, RK2, RK4, leapfrog,
  implicit midpoint, DGNet's discrete gradient step) and k-step rollouts.
- :mod:`hnnlib.trajectory_losses`: losses that take an integrator, and finite-difference targets.
- :mod:`hnnlib.stacked`: several seeds of one model trained as one batched model.
"""

__version__ = "0.1.0"

from . import pixel, properties, realdata
from ._checks import NonFiniteError
from .checkpoints import load_checkpoint, save_checkpoint
from .data import Split, TrajectoryDataset, make_nbody_dataset, make_trajectory_dataset
from .hamiltonian import divergence, riemann_gradient, symplectic_gradient
from .integrators import implicit_midpoint, leapfrog, rk4, solve_ivp_rollout
from .metrics import MeanWithError, RolloutComparison, compare_rollouts, compare_to_observed, derivative_loss, energy_mse_under
from .models import HNN, BaselineNN
from .pixel import PixelPendulumData, PixelSplit, make_pixel_pendulum_dataset
from .rk45_batched import solve_ivp_batched
from .systems import MassSpring, NBody, Pendulum, ThreeBody, TwoBody, get_system
from .training import TrainingHistory, fit, set_seed, train

__all__ = [
    "HNN", "BaselineNN", "MassSpring", "MeanWithError", "NBody", "NonFiniteError", "Pendulum", "PixelPendulumData", "PixelSplit",
    "RolloutComparison", "Split", "ThreeBody", "TrainingHistory", "TrajectoryDataset", "TwoBody", "compare_rollouts",
    "compare_to_observed", "derivative_loss", "divergence", "energy_mse_under", "fit", "get_system", "implicit_midpoint", "leapfrog", "load_checkpoint",
    "make_nbody_dataset", "make_pixel_pendulum_dataset", "make_trajectory_dataset", "pixel", "properties", "realdata",
    "riemann_gradient", "rk4", "save_checkpoint", "set_seed", "solve_ivp_batched", "solve_ivp_rollout",
    "symplectic_gradient", "train",
]
