"""Published numbers of the follow-up papers that the "Beyond the paper" chapters compare with.

Like :mod:`hnnlib.paper`, these are constants copied from the papers, never results: every number
the book reports as its own is computed in the notebook that shows it. Each entry names its source
(paper, table or figure) and the protocol under which it was measured, so a chapter can print both
beside its own number.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Published"]


@dataclass(frozen=True)
class Published:
    """One published number, with where it comes from and how it was measured.

    Attributes
    ----------
    value : float
        The published mean (or single value).
    error : float or None
        The published spread (standard deviation or standard error, as ``protocol`` says), if any.
    source : str
        Paper and place, e.g. ``"Matsubara et al. 2020, Table 2"``.
    protocol : str
        One sentence: data, noise, horizon, metric, number of trials.
    """

    value: float
    error: float | None
    source: str
    protocol: str

    def __post_init__(self) -> None:
        if not self.source or not self.protocol:
            raise ValueError("a published number needs its source and its protocol")


# --- Chapter 13: the Lagrangian NN and the double pendulum (Cranmer et al. 2020) -----------------

#: The LNN paper's double-pendulum protocol, shared by its two numbers below.
_LNN_PROTOCOL = (
    "double pendulum m1 = m2 = l1 = l2 = 1, g = 9.8 (reference code experiment_dblpend/physics.py); models trained on "
    "the exact accelerations of states drawn over the whole state space, angles U[0, 2 pi), velocities U[-10, 10], "
    "fresh minibatches of 512 (reference notebook notebooks/DoublePendulum.ipynb: 300 epochs of 2000 minibatches, a "
    "600-wide softplus MLP, L1 loss, a one-cycle learning rate); 40 initial states, angles U[0, 2 pi), velocities "
    "U[0, 0.1), each rolled out to t = 100 s by JAX odeint (adaptive Dormand-Prince, rtol = atol = 1.4e-8); the error "
    "|E_model(100 s) - E_true(100 s)| divided by the maximum potential energy, 29.4 J, averaged over the 40 states "
    "(notebook cell 'all_errors')"
)

#: The LNN's relative energy error at t = 100 s on the double pendulum, averaged over 40 initial states
#: (0.4 % of the maximum potential energy; the baseline's 8 %).
LNN_DOUBLE_PENDULUM_ENERGY_ERROR = Published(
    4e-3, None, "Cranmer et al. 2020, Lagrangian Neural Networks (arXiv:2003.04630), double-pendulum energy-error figure",
    _LNN_PROTOCOL,
)

#: The baseline MLP's relative energy error at t = 100 s in the same figure.
LNN_BASELINE_DOUBLE_PENDULUM_ENERGY_ERROR = Published(
    8e-2, None, "Cranmer et al. 2020, Lagrangian Neural Networks (arXiv:2003.04630), double-pendulum energy-error figure",
    _LNN_PROTOCOL,
)


# --- Chapter 12: friction, the dissipative HNN (Sosanya & Greydanus 2022; Matsubara et al. 2020) ----

#: The D-HNN's real-pendulum test loss (reference notebook analyze_realpend.ipynb, print_stats).
DHNN_REAL_PENDULUM_TEST_LOSS = Published(
    9.46e-4, 1.01e-4,
    "Sosanya & Greydanus 2022, Dissipative Hamiltonian Neural Networks (arXiv:2201.10085), real-pendulum results; "
    "reference code DrewSosa/dissipative_hnns (analyze_realpend.ipynb)",
    "real_pend_h_1.txt; q = angle, p = angular velocity, the first sample dropped; targets the mean of the two forward "
    "finite differences around each sample; first int(0.8 * 556) = 444 samples train, the other 111 test; H and D "
    "MLPs of 256 tanh units with a residual hidden layer and t = 0 as a third input; Adam lr 5e-3, no weight decay, "
    "5000 steps of 128-sample minibatches taken in order; L2 loss of the derivatives on the 111 test samples, "
    "recorded every 200 steps: mean +- std of the last three records (steps 4400, 4600, 4800), one seed (42)",
)

#: DGNet's best energy error on the real pendulum (README "dissipative ODE dataset" table, DGNet + adaptive DP).
DGNET_REAL_PENDULUM_ENERGY_MSE = Published(
    4.92e-4, None,
    "Matsubara, Ishikawa & Yaguchi 2020, Deep Energy-Based Modeling of Discrete-Time Physics (NeurIPS), real pendulum; "
    "reference code tksmatsubara/discrete-autograd (README table, experiment-real/train_dgnet.py)",
    "real_pend_h_1.txt with the HNN reference code's preprocessing (forward finite differences, int(0.8 * 555) = 444 "
    "training and int(0.2 * 555) = 110 test samples); 200 tanh units, Adam lr 1e-3, weight decay 1e-5, 2000 "
    "full-batch steps; one rollout from the first test state over the test times (dopri5); MSE of "
    "E = 2.4 (1 - cos q) + p^2 between the recording and the rollout; average over 15 trials",
)

#: The same table's best model without a discrete gradient: the neural ODE with adaptive DP.
DGNET_TABLE_NODE_REAL_PENDULUM_ENERGY_MSE = Published(
    5.88e-4, None,
    "Matsubara, Ishikawa & Yaguchi 2020 (NeurIPS), real pendulum; README table of tksmatsubara/discrete-autograd",
    "as DGNET_REAL_PENDULUM_ENERGY_MSE, for the neural ODE trained and rolled out with adaptive Dormand-Prince",
)


# -- Chapter 10, "Learning Hamiltonians from trajectories": DGNet's table of conservative ODE results --------------

_DGNET_SOURCE = ("Matsubara, Ishikawa & Yaguchi 2020 (NeurIPS), 'Deep energy-based modeling of discrete-time physics': "
                 "results on the conservative ODE datasets, as printed in the README of the authors' code "
                 "(github.com/tksmatsubara/discrete-autograd)")
#: DGNet's ODE protocol per task, one sentence each (read from the authors' experiment scripts).
DGNET_PROTOCOLS: dict[str, str] = {
    "mass_spring": ("50 trajectories (25 train) of 100 points on t in [0, 20] (h = 20/99), noise 0.1, radius U[0.1, 1]; "
                    "full batch, 2000 Adam steps, lr 1e-3, weight decay 1e-4, 200 hidden units; derivative MSE on the "
                    "noisy test states; energy MSE of q^2 + p^2 over 15 orbits of 100 points; mean of 15 trials"),
    "pendulum": ("as mass_spring with radius U[1.3, 2.3]; the energy metric is also q^2 + p^2 (not H); mean of 15 trials"),
    "two_body": ("1000 orbits (800 train) of 500 points on t in [0, 25] (h = 25/499), no noise; minibatches of 200, "
                 "10,000 steps, lr 1e-3, no weight decay; energy MSE of the true H over the 15 orbits of "
                 "np.random.seed(0..14), 500 points; mean of 15 trials"),
}
_DGNET_ROWS = {  # (model, training integrator, prediction integrator): {task: (derivative, energy)}
    ("NODE", "RK2", "RK2"): {"mass_spring": (5.27e-2, 5.70e-1), "pendulum": (5.67e-2, 4.60e0), "two_body": (2.08e-5, 1.44e-1)},
    ("NODE", "ada. DP", "ada. DP"): {"mass_spring": (5.57e-2, 5.74e-1), "pendulum": (5.54e-2, 4.62e0),
                                     "two_body": (2.07e-5, 1.83e-1)},
    ("HNN", "RK2", "RK2"): {"mass_spring": (3.82e-2, 6.13e-2), "pendulum": (4.25e-2, 4.04e-1), "two_body": (5.39e-6, 9.39e-5)},
    ("HNN", "ada. DP", "ada. DP"): {"mass_spring": (3.99e-2, 1.74e-3), "pendulum": (4.09e-2, 1.66e-2),
                                    "two_body": (6.21e-6, 8.18e-5)},
    ("SRNN", "leapfrog", "leapfrog"): {"mass_spring": (3.95e-2, 6.90e-4), "pendulum": (3.92e-2, 1.12e-2),
                                       "two_body": (4.36e-6, 4.04e-5)},
    ("DGNet", "Eq. 6", "RK2"): {"mass_spring": (3.85e-2, 6.13e-2), "pendulum": (3.93e-2, 7.43e-1), "two_body": (7.80e-6, 8.11e-5)},
    ("DGNet", "Eq. 6", "ada. DP"): {"mass_spring": (3.85e-2, 6.16e-4), "pendulum": (3.93e-2, 1.61e-2),
                                    "two_body": (7.80e-6, 8.10e-5)},
    ("DGNet", "Eq. 6", "Eq. 6"): {"mass_spring": (3.85e-2, 6.17e-4), "pendulum": (3.93e-2, 1.08e-2),
                                  "two_body": (7.80e-6, 8.10e-5)},
}
#: ``DGNET_TABLE[(model, training, prediction)][task]["derivative" | "energy"]``: the published means (no spread is
#: published). DGNet's derivative error depends only on training, so its three rows share one ("ditto" in the source).
DGNET_TABLE: dict[tuple[str, str, str], dict[str, dict[str, Published]]] = {
    row: {task: {"derivative": Published(d, None, _DGNET_SOURCE, DGNET_PROTOCOLS[task]),
                 "energy": Published(e, None, _DGNET_SOURCE, DGNET_PROTOCOLS[task])}
          for task, (d, e) in cells.items()}
    for row, cells in _DGNET_ROWS.items()
}


def dgnet_best_energy(task: str) -> tuple[tuple[str, str, str], Published]:
    """The row and value of the lowest published energy error of DGNet's table on ``task``
    (mass_spring 6.16e-4, DGNet with adaptive Dormand-Prince; pendulum 1.08e-2, DGNet with Eq. 6; two_body 4.04e-5, SRNN)."""
    if task not in DGNET_PROTOCOLS:
        raise ValueError(f"unknown task {task!r}; expected one of {sorted(DGNET_PROTOCOLS)}")
    row = min(DGNET_TABLE, key=lambda r: DGNET_TABLE[r][task]["energy"].value)
    return row, DGNET_TABLE[row][task]["energy"]
