"""One plotting style for the whole book: the same names, colours and line styles everywhere.

The three curves of every comparison are labelled ``"ground truth"``, ``"baseline NN"`` and
``"Hamiltonian NN"`` (see :data:`LABELS`) and drawn in :data:`COLORS`.
"""

from __future__ import annotations

from typing import Callable, Mapping

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._checks import check_float_dtype
from .labels import BASELINE, GROUND_TRUTH, HNN_LABEL

LABELS = (GROUND_TRUTH, BASELINE, HNN_LABEL)
COLORS = {GROUND_TRUTH: "black", BASELINE: "tab:red", HNN_LABEL: "tab:blue", "data": "tab:gray"}
LINESTYLES = {GROUND_TRUTH: "--", BASELINE: "-", HNN_LABEL: "-"}


def use_book_style() -> None:
    """Set matplotlib defaults used by every chapter (size, fonts, grid)."""
    plt.rcParams.update(
        {
            "figure.dpi": 100,
            "figure.figsize": (9, 3.2),
            "font.size": 10,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
        }
    )


def _style(label: str) -> dict:
    return {"color": COLORS.get(label, None), "linestyle": LINESTYLES.get(label, "-"), "label": label}


def plot_vector_field(
    ax: Axes,
    field: Callable[[torch.Tensor], torch.Tensor],
    xlim: tuple[float, float] = (-2, 2),
    ylim: tuple[float, float] = (-2, 2),
    n: int = 17,
    color: str = "tab:gray",
    dtype: torch.dtype = torch.float32,
) -> None:
    """Quiver plot of a 2-D vector field ``field: (B, 2) -> (B, 2)`` on an ``n x n`` grid, evaluated in ``dtype`` (float32 or float64)."""
    dtype = check_float_dtype(dtype)
    q, p = np.meshgrid(np.linspace(*xlim, n), np.linspace(*ylim, n))
    states = torch.as_tensor(np.stack([q.ravel(), p.ravel()], axis=1), dtype=dtype)
    with torch.no_grad():
        v = field(states).detach().cpu().numpy()
    ax.quiver(q, p, v[:, 0].reshape(q.shape), v[:, 1].reshape(q.shape), color=color, alpha=0.6, angles="xy")
    ax.set_xlabel("position $q$")
    ax.set_ylabel("momentum $p$")
    ax.set_aspect("equal")


def plot_phase_trajectories(ax: Axes, trajectories: Mapping[str, np.ndarray], index: int = 0) -> None:
    """Draw trajectory ``index`` of each ``{label: (B, T, 2) array}`` in the ``(q, p)`` plane."""
    for label, traj in trajectories.items():
        ax.plot(traj[index, :, 0], traj[index, :, 1], lw=1.5, **_style(label))
    ax.set_xlabel("position $q$")
    ax.set_ylabel("momentum $p$")
    ax.legend(loc="upper right", fontsize=8)


def plot_over_time(
    ax: Axes, t: np.ndarray, curves: Mapping[str, np.ndarray], ylabel: str, logy: bool = False
) -> None:
    """Plot ``{label: (T,) array}`` against time ``t`` with the book's colours."""
    for label, y in curves.items():
        ax.plot(t, y, lw=1.5, **_style(label))
    ax.set_xlabel("time $t$")
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.legend(fontsize=8)


def plot_loss_curves(ax: Axes, histories: Mapping[str, object]) -> None:
    """Train (solid) and test (dotted) loss against step for ``{label: TrainingHistory}``."""
    for label, h in histories.items():
        color = COLORS.get(label)
        ax.plot(h.step, h.train_loss, color=color, label=f"{label}, train")
        ax.plot(h.step, h.test_loss, color=color, linestyle=":", label=f"{label}, test")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("L2 loss of $dx/dt$")
    ax.legend(fontsize=8)


def figure2_row(
    baseline: "RolloutComparison",  # noqa: F821 - hnnlib.metrics.RolloutComparison
    hnn: "RolloutComparison",  # noqa: F821
    hnn_conserved: np.ndarray,
    index: int = 0,
    title: str = "",
) -> Figure:
    """One row of the paper's Figure 2 for one initial state.

    Panels: predictions in phase space; coordinate MSE over time (mean over all rollouts);
    the HNN-conserved quantity ``H_theta`` along the HNN rollout; total energy along each rollout.

    Parameters
    ----------
    baseline, hnn : RolloutComparison
        From :func:`hnnlib.metrics.compare_rollouts` on the same states and times.
    hnn_conserved : numpy.ndarray, shape (T,)
        ``H_theta`` evaluated along HNN rollout ``index``.
    """
    if baseline.true.shape != hnn.true.shape or not np.allclose(baseline.t, hnn.t):
        raise ValueError("baseline and hnn comparisons must share initial states and times")
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.4))
    t = hnn.t
    plot_phase_trajectories(axes[0], {GROUND_TRUTH: hnn.true, BASELINE: baseline.predicted, HNN_LABEL: hnn.predicted}, index)
    axes[0].set_title("Predictions")
    plot_over_time(axes[1], t, {BASELINE: baseline.coordinate_mse_over_time, HNN_LABEL: hnn.coordinate_mse_over_time}, "MSE between coordinates", logy=True)
    axes[1].set_title("MSE between coordinates")
    energies = {GROUND_TRUTH: hnn.true_energy[index], BASELINE: baseline.predicted_energy[index], HNN_LABEL: hnn.predicted_energy[index]}
    plot_over_time(axes[2], t, {HNN_LABEL: hnn_conserved}, r"learned $H_\theta$")
    # Same vertical span as the energy panel (at least 5% of |H_theta|), so "flat" means flat.
    span = max(max(np.ptp(e) for e in energies.values()), 0.05 * abs(float(np.mean(hnn_conserved))))
    mid = float(np.mean(hnn_conserved))
    axes[2].set_ylim(mid - span, mid + span)
    axes[2].ticklabel_format(axis="y", useOffset=False)
    axes[2].set_title("Total HNN-conserved quantity")
    plot_over_time(axes[3], t, energies, "total energy $H$")
    axes[3].set_title("Total energy")
    for ax in axes:
        ax.get_legend().remove()
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, bbox_to_anchor=(0.5, -0.02))
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def plot_energy_contours(
    ax: Axes,
    energy: Callable[[np.ndarray], np.ndarray],
    xlim: tuple[float, float] = (-2, 2),
    ylim: tuple[float, float] = (-2, 2),
    levels: int | np.ndarray = 10,
    n: int = 101,
    color: str = "tab:gray",
    label_levels: bool = False,
) -> None:
    """Level sets of an energy ``H(q, p)`` in the phase plane: the orbits of a conservative system.

    Parameters
    ----------
    energy : callable
        Maps NumPy states ``(..., 2)`` to energies ``(...)``.
    levels : int or array
        Number of levels, or the levels themselves.
    label_levels : bool
        Write each level's value on its contour.
    """
    q, p = np.meshgrid(np.linspace(*xlim, n), np.linspace(*ylim, n))
    h = np.asarray(energy(np.stack([q, p], axis=-1)))
    if h.shape != q.shape:
        raise ValueError(f"energy must map states (..., 2) to (...), got shape {h.shape} for {q.shape + (2,)}")
    contours = ax.contour(q, p, h, levels=levels, colors=color, linewidths=0.8, alpha=0.7)
    if label_levels:
        ax.clabel(contours, fontsize=7, fmt="%.2g")
    ax.set_xlabel("position $q$")
    ax.set_ylabel("momentum $p$")


# --- N-body figures (Task 4 and Appendix B) ----------------------------------------------------------

BODY_LINESTYLES = ("-", "--", ":", "-.")


def plot_orbits(ax: Axes, positions: np.ndarray, label: str = GROUND_TRUTH, *, lw: float = 1.3) -> None:
    """Paths of ``N`` bodies in the plane, in ``label``'s colour, body ``i`` with line style ``BODY_LINESTYLES[i]``.

    Parameters
    ----------
    positions : numpy.ndarray, shape (T, N, 2)
        E.g. the first output of :meth:`hnnlib.systems.NBody.bodies` for one trajectory.
    label : str
        One of :data:`LABELS` (sets the colour).

    A dot marks every body's starting point.
    """
    positions = np.asarray(positions)
    if positions.ndim != 3 or positions.shape[-1] != 2:
        raise ValueError(f"positions must have shape (T, N, 2), got {positions.shape}")
    color = COLORS.get(label)
    for i in range(positions.shape[1]):
        ax.plot(positions[:, i, 0], positions[:, i, 1], color=color, lw=lw,
                linestyle=BODY_LINESTYLES[i % len(BODY_LINESTYLES)], label=f"body {i + 1}")
        ax.plot(positions[0, i, 0], positions[0, i, 1], "o", color=color, ms=4)
    ax.set_xlabel("$x$")
    ax.set_ylabel("$y$")
    ax.set_aspect("equal", adjustable="datalim")


def nbody_figure(system: "NBody", t: np.ndarray, trajectories: Mapping[str, np.ndarray], title: str = "") -> Figure:  # noqa: F821
    """The paper's Figure 3 (two bodies) and Figure B.3 (three bodies) for one initial state.

    One column per model: the bodies' paths (top row) and the kinetic, potential and total
    energy along the rollout (bottom row; total in the model's colour, the terms in grey).

    Parameters
    ----------
    system : hnnlib.systems.NBody
        Used to split states into bodies and to compute the energies.
    t : numpy.ndarray, shape (T,)
    trajectories : dict
        ``{label: states of shape (T, 4N)}``, typically ground truth, baseline NN, Hamiltonian NN.
    """
    fig, axes = plt.subplots(2, len(trajectories), figsize=(4 * len(trajectories), 7.2), squeeze=False)
    for col, (label, traj) in enumerate(trajectories.items()):
        q, _ = system.bodies(np.asarray(traj))
        plot_orbits(axes[0, col], q, label)
        axes[0, col].set_title(label)
        ax = axes[1, col]
        ax.plot(t, system.kinetic_energy(traj), color="tab:gray", ls=":", label="kinetic")
        ax.plot(t, system.potential_energy(traj), color="tab:gray", ls="-.", label="potential")
        ax.plot(t, system.hamiltonian(traj), color=COLORS.get(label), lw=2, label="total")
        ax.set_xlabel("time $t$")
        ax.set_ylabel("energy")
    low = min(ax.get_ylim()[0] for ax in axes[1])
    high = max(ax.get_ylim()[1] for ax in axes[1])
    for ax in axes[1]:
        ax.set_ylim(low, high)  # one energy scale for all models
    axes[0, 0].legend(fontsize=8, loc="upper right")
    axes[1, 0].legend(fontsize=8, loc="upper right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def energy_grid(t: np.ndarray, energies: Mapping[str, np.ndarray], ncols: int = 5, title: str = "") -> Figure:
    """Figure B.2: total energy against time for every rollout, one small panel per initial state.

    Parameters
    ----------
    t : numpy.ndarray, shape (T,)
    energies : dict
        ``{label: array of shape (B, T)}``, the same ``B`` initial states for every label.
    """
    shapes = {np.shape(e) for e in energies.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"energies must all have the same shape (B, T), got {sorted(shapes)}")
    n = next(iter(shapes))[0]
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.0 * nrows), sharex=True, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.axis("off")
            continue
        for label, e in energies.items():
            ax.plot(t, e[i], lw=1.2, **_style(label))
        ax.set_title(f"state {i}", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("time $t$")
    for ax in axes[:, 0]:
        ax.set_ylabel("total energy")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), bbox_to_anchor=(0.5, -0.01))
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig
