"""Tests of hnnlib.properties against systems with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hnnlib import Pendulum
from hnnlib.properties import circle, energy_bump, polygon_area, reversal_error, transported_area


def spring_h(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (x[..., 0] ** 2 + x[..., 1] ** 2)


def spring_field(x: torch.Tensor) -> torch.Tensor:
    return torch.stack([x[..., 1], -x[..., 0]], dim=-1)


def damped_field(gamma: float):
    def field(x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x[..., 1], -x[..., 0] - gamma * x[..., 1]], dim=-1)

    return field


@pytest.mark.parametrize("amount", [0.3, -0.3])
def test_energy_bump_on_a_spring_scales_energy_exactly(amount):
    # For H = (q^2 + p^2) / 2, R_H = x: following it for time a multiplies x by e^a, H by e^(2a).
    x0 = torch.tensor([[1.0, 0.0], [0.0, 0.5]], dtype=torch.float64)
    path = energy_bump(spring_h, x0, before=2.0, amount=amount, after=3.0, dt=0.05, substeps=4)
    h = {name: spring_h(getattr(path, name)) for name in ("before", "bump", "after")}
    for name in ("before", "after"):  # conserved along S_H, up to RK4's tiny drift
        torch.testing.assert_close(h[name], h[name][:, :1].expand_as(h[name]), rtol=1e-8, atol=0)
    torch.testing.assert_close(h["after"][:, 0], h["before"][:, 0] * np.exp(2 * amount), rtol=1e-7, atol=0)
    torch.testing.assert_close(path.bump[:, 0], path.before[:, -1])
    torch.testing.assert_close(path.after[:, 0], path.bump[:, -1])
    assert path.before.shape == (2, 41, 2) and path.bump.shape == (2, 7, 2) and path.after.shape == (2, 61, 2)


def test_leapfrog_reverses_to_round_off_and_rk4_to_its_order():
    x0 = torch.tensor([[1.0, 0.2], [-0.3, 0.7]], dtype=torch.float64)
    assert reversal_error(spring_field, x0, 20.0, dt=0.1, method="leapfrog").max() < 1e-12
    pendulum = Pendulum()

    def pendulum_field(x):
        return torch.as_tensor(pendulum.time_derivative(x.numpy()))

    dts = np.array([0.2, 0.1, 0.05, 0.025])
    errors = np.array([float(reversal_error(pendulum_field, x0, 10.0, dt=dt, method="rk4").max()) for dt in dts])
    slope = np.polyfit(np.log(dts), np.log(errors), 1)[0]
    # RK4's local error C h^5 changes sign with h, so a forward and a backward step cancel it to
    # leading order: the round trip's local error is O(h^6), its global error O(h^5).
    assert 4.5 < slope < 5.5, f"RK4 round-trip error should shrink like dt^5, fitted slope {slope:.2f}"
    assert reversal_error(pendulum_field, x0, 10.0, dt=0.1, method="leapfrog").max() < 1e-10


def test_polygon_area():
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
    assert polygon_area(square) == pytest.approx(1.0)
    assert polygon_area(square[::-1]) == pytest.approx(1.0)  # orientation does not matter
    for n in (100, 1000):
        assert polygon_area(circle([0.3, -1.0], 0.5, n)) == pytest.approx(np.pi * 0.25, rel=2 * (2 * np.pi / n) ** 2)
    np.testing.assert_allclose(polygon_area(np.stack([square, 2 * square])), [1.0, 4.0])


def test_hamiltonian_flow_keeps_area_and_damped_flow_shrinks_it_as_predicted():
    pendulum = Pendulum()
    t = np.linspace(0, 10, 101)
    boundary = circle([1.0, 0.0], 0.1, 400)

    def pendulum_field(x):
        return torch.as_tensor(pendulum.time_derivative(x.numpy()))

    _, areas = transported_area(pendulum_field, boundary, t)
    np.testing.assert_allclose(areas / areas[0], 1.0, atol=1e-5)
    gamma = 0.1  # divergence -gamma everywhere: area(t) = area(0) exp(-gamma t) (Liouville's formula)
    boundaries, areas = transported_area(damped_field(gamma), boundary, t)
    np.testing.assert_allclose(areas / areas[0], np.exp(-gamma * t), rtol=1e-6)
    assert boundaries.shape == (101, 400, 2)


def test_bad_input():
    x0 = torch.zeros(1, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match=">= 0"):
        energy_bump(spring_h, x0, before=-1.0, amount=0.1, after=1.0)
    with pytest.raises(ValueError, match=r"\(B, 2N\)"):
        energy_bump(spring_h, torch.zeros(3, dtype=torch.float64), before=1.0, amount=0.1, after=1.0)
    with pytest.raises(ValueError, match="duration"):
        reversal_error(spring_field, x0, 0.0)
    with pytest.raises(ValueError, match="method"):
        reversal_error(spring_field, x0, 1.0, method="euler")
    with pytest.raises(ValueError, match="n_vertices >= 3"):
        polygon_area(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"\(n_vertices, 2\)"):
        transported_area(spring_field, np.zeros((5, 3)), np.linspace(0, 1, 3))
