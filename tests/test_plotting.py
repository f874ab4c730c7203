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
    """The book style sets the figure size and turns the grid on."""
    plt.rcdefaults()
    plotting.use_book_style()
    assert tuple(plt.rcParams["figure.figsize"]) == (9, 3.2)
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
