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
from matplotlib.lines import Line2D

from ._checks import check_float_dtype
from .labels import BASELINE, GROUND_TRUTH, HNN_LABEL

LABELS = (GROUND_TRUTH, BASELINE, HNN_LABEL)
COLORS = {GROUND_TRUTH: "black", BASELINE: "tab:red", HNN_LABEL: "tab:blue", "data": "tab:gray"}
COLORS["Lagrangian NN"] = "tab:green"  # chapter 13
COLORS["mechanical LNN"] = "tab:orange"  # chapter 13, the LNN paper's protocol
DHNN_LABEL = "dissipative HNN"  # chapter 12
COLORS[DHNN_LABEL] = "tab:purple"
LINESTYLES = {GROUND_TRUTH: "--", BASELINE: "-", HNN_LABEL: "-"}


#: The book's page: a figure this wide (inches) is shown at about its natural size on the website.
PAGE_WIDTH = 8.0


def use_book_style() -> None:
    """Set matplotlib defaults used by every chapter (size, fonts, grid).

    Figures are at most :data:`PAGE_WIDTH` inches wide, drawn at 120 dpi with 11-point text, so
    that tick labels stay readable when the website scales a figure to its text column.
    """
    plt.rcParams.update(
        {
            "figure.dpi": 120,
            "figure.figsize": (PAGE_WIDTH, 3.6),
            "font.size": 11,
            "axes.titlesize": 11,
            "legend.fontsize": 10,
            "xtick.labelsize": 10,
            "ytick.labelsize": 10,
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
    color: str = "0.2",
    dtype: torch.dtype = torch.float32,
) -> None:
    """Quiver plot of a 2-D vector field ``field: (B, 2) -> (B, 2)`` on an ``n x n`` grid, evaluated in ``dtype`` (float32 or float64).

    Arrows are dark (``color``, default a near-black grey) so that they stand out on the grid.
    """
    dtype = check_float_dtype(dtype)
    q, p = np.meshgrid(np.linspace(*xlim, n), np.linspace(*ylim, n))
    states = torch.as_tensor(np.stack([q.ravel(), p.ravel()], axis=1), dtype=dtype)
    with torch.no_grad():
        v = field(states).detach().cpu().numpy()
    ax.quiver(q, p, v[:, 0].reshape(q.shape), v[:, 1].reshape(q.shape), color=color, alpha=0.85, angles="xy")
    ax.set_xlabel("position $q$")
    ax.set_ylabel("momentum $p$")
    ax.set_aspect("equal")


def plot_phase_trajectories(ax: Axes, trajectories: Mapping[str, np.ndarray], index: int = 0) -> None:
    """Draw trajectory ``index`` of each ``{label: (B, T, 2) array}`` in the ``(q, p)`` plane."""
    for label, traj in trajectories.items():
        ax.plot(traj[index, :, 0], traj[index, :, 1], lw=1.5, **_style(label))
    ax.set_xlabel("position $q$")
    ax.set_ylabel("momentum $p$")
    ax.legend(loc="upper right")


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
    ax.legend()


def plot_loss_curves(ax: Axes, histories: Mapping[str, object]) -> None:
    """Train (solid) and test (dotted) loss against step for ``{label: TrainingHistory}``."""
    for label, h in histories.items():
        color = COLORS.get(label)
        ax.plot(h.step, h.train_loss, color=color, label=f"{label}, train")
        ax.plot(h.step, h.test_loss, color=color, linestyle=":", label=f"{label}, test")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("L2 loss of $dx/dt$")
    ax.legend()


def figure2_row(
    baseline: "RolloutComparison",  # noqa: F821 - hnnlib.metrics.RolloutComparison
    hnn: "RolloutComparison",  # noqa: F821
    hnn_conserved: np.ndarray,
    index: int = 0,
    title: str = "",
) -> Figure:
    """One row of the paper's Figure 2 for one initial state, laid out 2 x 2 to fit the page.

    Panels (left to right, top to bottom): predictions in phase space; coordinate MSE over time (mean over all rollouts);
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
    fig, axes = plt.subplots(2, 2, figsize=(PAGE_WIDTH, 6.6))
    axes = axes.ravel()
    t = hnn.t
    plot_phase_trajectories(axes[0], {GROUND_TRUTH: hnn.true, BASELINE: baseline.predicted, HNN_LABEL: hnn.predicted}, index)
    axes[0].set_title("Predictions")
    plot_over_time(axes[1], t, {BASELINE: baseline.coordinate_mse_over_time, HNN_LABEL: hnn.coordinate_mse_over_time},
                   "coordinate MSE", logy=True)
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
    fig.legend(handles, labels, loc="lower center", ncol=3, bbox_to_anchor=(0.5, 0.0))
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
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
    width = min(PAGE_WIDTH * len(trajectories) / 3, 2.9 * len(trajectories))
    fig, axes = plt.subplots(2, len(trajectories), figsize=(width, 6.8), squeeze=False)
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
    # One legend under the panels, in black and grey (each column has its model's colour), so
    # that no legend covers a path or an energy curve.
    handles = [Line2D([], [], color="black", lw=1.3, linestyle=BODY_LINESTYLES[i % len(BODY_LINESTYLES)],
                      label=f"body {i + 1}") for i in range(q.shape[1])]  # q: the last column's bodies
    handles += [Line2D([], [], color="tab:gray", ls=":", label="kinetic"),
                Line2D([], [], color="tab:gray", ls="-.", label="potential"),
                Line2D([], [], color="black", lw=2, label="total")]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), bbox_to_anchor=(0.5, -0.01))
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
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
    # PAGE_WIDTH wide like every figure, so that its tick labels stay readable on the page
    fig, axes = plt.subplots(nrows, ncols, figsize=(PAGE_WIDTH, 1.9 * nrows + 0.7), sharex=True, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.axis("off")
            continue
        for label, e in energies.items():
            ax.plot(t, e[i], lw=1.2, **_style(label))
        ax.set_title(f"state {i}", fontsize=10)
        ax.tick_params(labelsize=9)
        ax.locator_params(axis="both", nbins=3)
    for ax in axes[-1]:
        ax.set_xlabel("time $t$")
    for ax in axes[:, 0]:
        ax.set_ylabel("energy")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), bbox_to_anchor=(0.5, -0.01))
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


# --- Figure A.1: the HNN schema ----------------------------------------------------------------------

#: The boxes of :func:`hnn_schema`, per panel: (text, kind). Kinds set the colour.
SCHEMA_STEPS = {
    "baseline": [
        ("input\n$(q, p)$", "data"),
        ("MLP\n(2 hidden layers)", "model"),
        ("output\n$(\\dot q, \\dot p)_\\theta$", "model"),
        ("L2 loss against\n$(dq/dt,\\ dp/dt)$", "loss"),
    ],
    "hnn": [
        ("input\n$(q, p)$", "data"),
        ("MLP\n(2 hidden layers)", "model"),
        ("scalar\n$H_\\theta(q, p)$", "model"),
        ("autograd\n$\\partial H_\\theta/\\partial q,\\ \\partial H_\\theta/\\partial p$", "grad"),
        ("$S_H = (\\partial H_\\theta/\\partial p,$\n$-\\partial H_\\theta/\\partial q)$", "grad"),
        ("L2 loss against\n$(dq/dt,\\ dp/dt)$", "loss"),
    ],
}
_SCHEMA_COLORS = {"data": "0.92", "model": "#cfe0f3", "grad": "#d9ecd0", "loss": "#f6d5d0"}


def hnn_schema() -> Figure:
    """The paper's Figure A.1, drawn: (a) a baseline NN, (b) a Hamiltonian NN.

    The baseline maps ``(q, p)`` straight to a predicted time derivative. The HNN maps ``(q, p)``
    to one scalar ``H_theta``, differentiates it with autograd *inside* the graph
    (``create_graph=True``), rearranges the gradient into the symplectic gradient ``S_H``
    (Eq. 2) and compares that with the data's derivatives (Eq. 3); the loss's own backward pass
    therefore differentiates through a backward pass. Greydanus et al. (2019), Figure A.1.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels, one box per step of :data:`SCHEMA_STEPS`, arrows between them.
    """
    from matplotlib.patches import FancyBboxPatch

    fig, axes = plt.subplots(2, 1, figsize=(PAGE_WIDTH, 4.4), gridspec_kw={"height_ratios": [1, 1.25]})
    titles = {"baseline": "(a) Baseline NN", "hnn": "(b) Hamiltonian NN"}
    n_max = max(len(v) for v in SCHEMA_STEPS.values())
    for ax, (kind, steps) in zip(axes, SCHEMA_STEPS.items()):
        ax.set_xlim(0, n_max)
        ax.set_ylim(-0.3 if kind == "hnn" else 0.1, 0.9)
        ax.axis("off")
        ax.set_title(titles[kind], loc="left", fontsize=11)
        pitch = n_max / len(steps)
        width = 0.78 * pitch
        centres = [(i + 0.5) * pitch for i in range(len(steps))]
        for x, (text, role) in zip(centres, steps):
            ax.add_patch(FancyBboxPatch((x - width / 2, 0.22), width, 0.56, boxstyle="round,pad=0.02",
                                        facecolor=_SCHEMA_COLORS[role], edgecolor="0.3", lw=1))
            ax.text(x, 0.5, text, ha="center", va="center", fontsize=8.5)
        for left, right in zip(centres[:-1], centres[1:]):
            ax.annotate("", xy=(right - width / 2 - 0.02, 0.5), xytext=(left + width / 2 + 0.02, 0.5),
                        arrowprops={"arrowstyle": "->", "color": "0.2", "lw": 1.3})
        if kind == "hnn":  # the backward pass inside the forward pass
            ax.annotate("", xy=(centres[1], 0.2), xytext=(centres[3], 0.2),
                        arrowprops={"arrowstyle": "->", "color": "tab:green", "lw": 1.3, "ls": "--",
                                    "connectionstyle": "arc3,rad=-0.25"})
            ax.text((centres[1] + centres[3]) / 2, -0.12, "backward pass through the MLP, kept in the graph (create_graph=True)",
                    ha="center", va="top", fontsize=8.5, color="tab:green")
    fig.tight_layout()
    return fig


# --- Rollouts in their vector fields (Figure 1) and more Figure 2 examples (Figure A.2) -------------


def field_rollouts_figure(
    fields: Mapping[str, Callable[[torch.Tensor], torch.Tensor]],
    rollouts: Mapping[str, np.ndarray],
    t: np.ndarray,
    energy: Callable[[np.ndarray], np.ndarray],
    xlim: tuple[float, float] = (-2, 2),
    ylim: tuple[float, float] = (-2, 2),
    title: str = "",
) -> Figure:
    """Each model's vector field with its rollout, and the true energy along every rollout: 2 x 2.

    Parameters
    ----------
    fields : dict
        ``{label: field}`` for three labels (ground truth, baseline NN, Hamiltonian NN); each
        field maps states ``(B, 2)`` to time derivatives ``(B, 2)`` (float32).
    rollouts : dict
        ``{label: array of shape (1, T, 2)}``, one rollout per label of ``fields``.
    t : numpy.ndarray, shape (T,)
        The rollouts' times.
    energy : callable
        The true Hamiltonian, NumPy states ``(T, 2)`` to energies ``(T,)``.

    Returns
    -------
    matplotlib.figure.Figure
        Three phase-plane panels (one per label, titled with it) and the energy panel.
    """
    if len(fields) != 3 or set(fields) != set(rollouts):
        raise ValueError(f"fields and rollouts must have the same three labels, got {list(fields)} "
                         f"and {list(rollouts)}")
    for label, traj in rollouts.items():
        if np.shape(traj) != (1, len(t), 2):
            raise ValueError(f"rollouts[{label!r}] must have shape (1, {len(t)}, 2), got {np.shape(traj)}")
    fig, axes = plt.subplots(2, 2, figsize=(PAGE_WIDTH, 7.6))
    axes = axes.ravel()
    for ax, (label, field) in zip(axes, fields.items()):
        plot_vector_field(ax, field, xlim=xlim, ylim=ylim, n=15)
        ax.plot(rollouts[label][0, :, 0], rollouts[label][0, :, 1], color=COLORS.get(label), lw=2)
        ax.set_title(label)
    plot_over_time(axes[3], t, {label: energy(np.asarray(traj[0])) for label, traj in rollouts.items()},
                   "total energy $H$")
    axes[3].set_title("True energy along each rollout")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def figure2_examples(
    baseline: "RolloutComparison",  # noqa: F821 - hnnlib.metrics.RolloutComparison
    hnn: "RolloutComparison",  # noqa: F821
    indices: tuple[int, ...] = (1, 2),
    title: str = "",
) -> Figure:
    """More examples in the manner of Figure 2 (the paper's Figure A.2): one row per initial state.

    Each row: the three orbits in phase space, and the total energy along each rollout.

    Parameters
    ----------
    baseline, hnn : RolloutComparison
        From :func:`hnnlib.metrics.compare_rollouts` on the same states and times.
    indices : tuple of int
        Which rollouts to draw, each in ``[0, B)``.
    """
    if baseline.true.shape != hnn.true.shape or not np.allclose(baseline.t, hnn.t):
        raise ValueError("baseline and hnn comparisons must share initial states and times")
    n = hnn.true.shape[0]
    if not indices or any(not 0 <= int(i) < n for i in indices):
        raise ValueError(f"indices must be a non-empty tuple of rollouts in [0, {n}), got {indices}")
    fig, axes = plt.subplots(len(indices), 2, figsize=(PAGE_WIDTH, 3.3 * len(indices) + 0.5), squeeze=False)
    for row, i in zip(axes, indices):
        plot_phase_trajectories(row[0], {GROUND_TRUTH: hnn.true, BASELINE: baseline.predicted,
                                         HNN_LABEL: hnn.predicted}, int(i))
        row[0].set_title(f"state {i}: predictions")
        plot_over_time(row[1], hnn.t, {GROUND_TRUTH: hnn.true_energy[i], BASELINE: baseline.predicted_energy[i],
                                       HNN_LABEL: hnn.predicted_energy[i]}, "total energy $H$")
        row[1].set_title(f"state {i}: total energy")
        for ax in row:
            ax.get_legend().remove()
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, bbox_to_anchor=(0.5, 0.0))
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig
