"""Smoke tests for the book's plots (Agg backend): each function draws what it says."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from matplotlib.quiver import Quiver

from hnnlib import plotting
from hnnlib.metrics import MeanWithError, RolloutComparison
from hnnlib.models import HNN
from hnnlib.systems import MassSpring
from hnnlib.training import TrainingHistory


def comparison(seed: int, b: int = 3, n_t: int = 20) -> RolloutComparison:
    """A RolloutComparison filled with positive random numbers of the right shapes."""
    rng = np.random.default_rng(seed)
    true, pred = rng.normal(size=(b, n_t, 2)), rng.normal(size=(b, n_t, 2))
    m = MeanWithError(1.0, 0.1, b)
    return RolloutComparison(
        t=np.linspace(0, 1, n_t), true=true, predicted=pred,
        true_energy=rng.uniform(1, 2, (b, n_t)), predicted_energy=rng.uniform(1, 2, (b, n_t)),
        energy_mse=m, coordinate_mse=m, coordinate_mse_over_time=rng.uniform(0.1, 1, n_t),
    )


def test_use_book_style():
    """The book style sets a page-wide figure size, a sharp dpi, readable fonts and the grid."""
    plt.rcdefaults()
    plotting.use_book_style()
    assert tuple(plt.rcParams["figure.figsize"]) == (plotting.PAGE_WIDTH, 3.6)
    assert plt.rcParams["figure.dpi"] >= 120 and plt.rcParams["font.size"] >= 11
    assert plt.rcParams["axes.grid"] is True
    plt.rcdefaults()


@pytest.mark.parametrize("n", [5, 9])
def test_plot_vector_field_adds_quiver(n):
    """plot_vector_field draws one quiver with n x n arrows, the field's values, axis labels."""
    _, ax = plt.subplots()
    plotting.plot_vector_field(ax, MassSpring().time_derivative, n=n)
    quivers = [c for c in ax.collections if isinstance(c, Quiver)]
    assert len(quivers) == 1
    quiver = quivers[0]
    assert quiver.N == n * n
    # at the grid point (q, p) = (2, 2) the mass-spring field is (2p, -2q) = (4, -4)
    last = np.argmax(quiver.X + quiver.Y)
    np.testing.assert_allclose([quiver.U[last], quiver.V[last]], [4.0, -4.0], rtol=1e-6)
    assert "q" in ax.get_xlabel() and "p" in ax.get_ylabel()


def test_plot_vector_field_of_a_model():
    """A model's time_derivative (float32 default dtype, with autograd inside) can be drawn."""
    _, ax = plt.subplots()
    plotting.plot_vector_field(ax, HNN(2, 8).time_derivative, n=4)
    assert any(isinstance(c, Quiver) for c in ax.collections)
    _, ax = plt.subplots()
    plotting.plot_vector_field(ax, HNN(2, 8, "softplus").double().time_derivative, n=4, dtype=torch.float64)
    assert any(isinstance(c, Quiver) for c in ax.collections)


def test_plot_phase_trajectories():
    """One line per label, in the book's colours, with a legend."""
    _, ax = plt.subplots()
    c = comparison(0)
    plotting.plot_phase_trajectories(ax, {plotting.GROUND_TRUTH: c.true, plotting.HNN_LABEL: c.predicted}, index=1)
    lines = ax.get_lines()
    assert [l.get_label() for l in lines] == [plotting.GROUND_TRUTH, plotting.HNN_LABEL]
    np.testing.assert_array_equal(lines[0].get_xdata(), c.true[1, :, 0])
    assert lines[0].get_color() == plotting.COLORS[plotting.GROUND_TRUTH]
    assert ax.get_legend() is not None


@pytest.mark.parametrize("logy", [False, True])
def test_plot_over_time(logy):
    """Curves against time, optional log scale."""
    _, ax = plt.subplots()
    t = np.linspace(0, 1, 10)
    plotting.plot_over_time(ax, t, {plotting.BASELINE: t + 1, "other": t + 2}, "y", logy=logy)
    assert len(ax.get_lines()) == 2
    assert ax.get_yscale() == ("log" if logy else "linear")
    assert ax.get_ylabel() == "y"


def test_plot_loss_curves():
    """Train and test curves per history, on a log scale."""
    _, ax = plt.subplots()
    h = TrainingHistory(step=[0, 10, 20], train_loss=[1.0, 0.5, 0.2], test_loss=[1.1, 0.6, 0.3], batch_loss=[0.5] * 20)
    plotting.plot_loss_curves(ax, {plotting.BASELINE: h, plotting.HNN_LABEL: h})
    assert len(ax.get_lines()) == 4
    assert ax.get_yscale() == "log"
    assert f"{plotting.HNN_LABEL}, test" in [l.get_label() for l in ax.get_lines()]


def test_figure2_row():
    """figure2_row returns a Figure with 4 titled panels, each with data drawn."""
    fig = plotting.figure2_row(comparison(1), comparison(2), np.linspace(1, 2, 20), index=2, title="Task 1")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4
    assert [ax.get_title() for ax in fig.axes] == [
        "Predictions", "MSE between coordinates", "Total HNN-conserved quantity", "Total energy"]
    assert [len(ax.get_lines()) for ax in fig.axes] == [3, 2, 1, 3]
    assert fig.axes[1].get_yscale() == "log"
    assert fig._suptitle.get_text() == "Task 1"
    width, height = fig.get_size_inches()
    assert width <= plotting.PAGE_WIDTH and height > width / 2  # 2 x 2, fits the page


def test_figure2_row_refuses_mismatched_comparisons():
    """Comparisons on different states or times are refused."""
    with pytest.raises(ValueError, match="share"):
        plotting.figure2_row(comparison(1, b=3), comparison(2, b=4), np.zeros(20))
    with pytest.raises(ValueError, match="share"):
        plotting.figure2_row(comparison(1, n_t=20), comparison(2, n_t=21), np.zeros(20))


@pytest.mark.parametrize("dtype", [torch.int64, torch.float16])
def test_plot_vector_field_refuses_non_float_dtypes(dtype):
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="torch.float32 or torch.float64"):
        plotting.plot_vector_field(ax, MassSpring().time_derivative, dtype=dtype)
    plt.close(fig)


def test_hnn_schema_draws_every_step_of_both_models():
    """Figure A.1: one box and one label per step, arrows between consecutive boxes."""
    from matplotlib.patches import FancyBboxPatch
    from matplotlib.text import Annotation

    fig = plotting.hnn_schema()
    baseline, hnn = fig.axes
    assert baseline.get_title(loc="left") == "(a) Baseline NN" and hnn.get_title(loc="left") == "(b) Hamiltonian NN"
    for ax, kind in [(baseline, "baseline"), (hnn, "hnn")]:
        steps = plotting.SCHEMA_STEPS[kind]
        assert sum(isinstance(p, FancyBboxPatch) for p in ax.patches) == len(steps)
        texts = [t.get_text() for t in ax.texts]
        assert all(text in texts for text, _ in steps)
        arrows = [t for t in ax.texts if isinstance(t, Annotation)]
        assert len(arrows) == len(steps) - 1 + (kind == "hnn")  # the HNN's backward-pass arrow
    assert any("create_graph=True" in t.get_text() for t in hnn.texts)
    assert fig.get_size_inches()[0] <= plotting.PAGE_WIDTH
    plt.close(fig)


def test_field_rollouts_figure_is_2x2_with_energy_panel():
    system = MassSpring()
    t = np.linspace(0, 1, 30)
    traj = np.stack([np.cos(2 * t), -np.sin(2 * t)], axis=-1)[None]
    labels = (plotting.GROUND_TRUTH, plotting.BASELINE, plotting.HNN_LABEL)
    fields = {label: system.time_derivative for label in labels}
    fig = plotting.field_rollouts_figure(fields, {label: traj for label in labels}, t,
                                         system.hamiltonian, title="Figure 1")
    assert [ax.get_title() for ax in fig.axes] == [*labels, "True energy along each rollout"]
    assert len(fig.axes[3].get_lines()) == 3
    np.testing.assert_allclose(fig.axes[3].get_lines()[0].get_ydata(), system.hamiltonian(traj[0]))
    with pytest.raises(ValueError, match=r"shape \(1, 30, 2\)"):
        plotting.field_rollouts_figure(fields, {label: traj[0] for label in labels}, t, system.hamiltonian)
    with pytest.raises(ValueError, match="same three labels"):
        plotting.field_rollouts_figure(fields, {labels[0]: traj}, t, system.hamiltonian)
    plt.close("all")


def test_figure2_examples_one_row_per_state():
    fig = plotting.figure2_examples(comparison(1), comparison(2), indices=(0, 2), title="Figure A.2")
    assert [ax.get_title() for ax in fig.axes] == [
        "state 0: predictions", "state 0: total energy", "state 2: predictions", "state 2: total energy"]
    assert [len(ax.get_lines()) for ax in fig.axes] == [3, 3, 3, 3]
    with pytest.raises(ValueError, match=r"indices must be .* in \[0, 3\)"):
        plotting.figure2_examples(comparison(1), comparison(2), indices=(3,))
    with pytest.raises(ValueError, match="share"):
        plotting.figure2_examples(comparison(1, b=3), comparison(2, b=4))
    plt.close("all")
