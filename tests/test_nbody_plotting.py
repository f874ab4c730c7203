"""The N-body figures: orbits, Figure 3 / B.3 panels and the Figure B.2 energy grid."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from hnnlib.data import sample_ring_states
from hnnlib.rk45_batched import solve_ivp_batched
from hnnlib.plotting import BASELINE, COLORS, GROUND_TRUTH, HNN_LABEL, energy_grid, nbody_figure, plot_orbits
from hnnlib.systems import ThreeBody


@pytest.fixture(scope="module")
def rollout():
    system = ThreeBody()
    x0 = sample_ring_states(1, np.random.default_rng(0), system=system)[0]
    t = np.linspace(0, 1, 20)
    return system, t, solve_ivp_batched(system.time_derivative, x0, t)


def test_plot_orbits_draws_one_path_and_start_per_body(rollout):
    """Three bodies: three paths (solid, dashed, dotted) in the label's colour, plus three start markers."""
    system, _, traj = rollout
    fig, ax = plt.subplots()
    plot_orbits(ax, system.bodies(traj)[0], HNN_LABEL)
    paths = [line for line in ax.lines if line.get_label().startswith("body")]
    assert [line.get_linestyle() for line in paths] == ["-", "--", ":"]
    assert len(ax.lines) == 6 and all(line.get_color() == COLORS[HNN_LABEL] for line in ax.lines)
    with pytest.raises(ValueError, match=r"\(T, N, 2\)"):
        plot_orbits(ax, traj)


def test_nbody_figure_layout(rollout):
    """One column per model; bottom row shows kinetic, potential and total energy on a shared scale."""
    system, t, traj = rollout
    fig = nbody_figure(system, t, {GROUND_TRUTH: traj, BASELINE: traj * 1.01, HNN_LABEL: traj}, title="test")
    axes = np.array(fig.axes).reshape(2, 3)
    assert [ax.get_title() for ax in axes[0]] == [GROUND_TRUTH, BASELINE, HNN_LABEL]
    assert len({ax.get_ylim() for ax in axes[1]}) == 1
    total = axes[1, 0].lines[2].get_ydata()
    np.testing.assert_allclose(total, system.hamiltonian(traj))


def test_energy_grid_layout():
    """15 rollouts in 5 columns give 3 rows of panels; extra panels are hidden; shapes must agree."""
    t = np.linspace(0, 1, 10)
    energies = {GROUND_TRUTH: np.zeros((13, 10)), HNN_LABEL: np.ones((13, 10))}
    fig = energy_grid(t, energies, ncols=5)
    visible = [ax for ax in fig.axes if ax.axison]
    assert len(fig.axes) == 15 and len(visible) == 13
    assert visible[0].get_title() == "state 0" and len(visible[0].lines) == 2
    with pytest.raises(ValueError, match="same shape"):
        energy_grid(t, {GROUND_TRUTH: np.zeros((3, 10)), HNN_LABEL: np.zeros((4, 10))})
