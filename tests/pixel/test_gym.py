"""hnnlib.pixel.gym: the true states and energy of gymnasium's Pendulum-v1, against the environment itself."""

import gymnasium
import numpy as np
import pytest
import torch

from hnnlib.pixel import gym, render


def test_module_constants_are_the_environments():
    env = gymnasium.make("Pendulum-v1", g=gym.GRAVITY)
    u = env.unwrapped
    assert (u.g, u.l, u.m, u.dt, u.max_speed) == (gym.GRAVITY, gym.LENGTH, gym.MASS, gym.DT, gym.MAX_SPEED)
    assert u.screen_dim == render.GYM_SCREEN_DIM
    env.close()


@pytest.mark.parametrize(
    "phi0, phi_dot0",
    [(0.3, 0.0), (-np.pi / 6, 0.0), (0.1, -1.5), (np.pi - 0.05, 7.9), (2.5, -3.0)],
)
def test_states_follow_env_step(phi0, phi_dot0):
    """The vectorised update equals env.step(0) frame by frame (including the speed clip at 8 rad/s)."""
    n = 60
    env = gymnasium.make("Pendulum-v1", g=gym.GRAVITY)
    env.reset(seed=0)
    u = env.unwrapped
    u.state = np.array([phi0 + np.pi, phi_dot0])
    expected = [(gym.theta_to_phi(u.state[0]), u.state[1])]
    for _ in range(n - 1):
        env.step(np.array([0.0]))
        expected.append((gym.theta_to_phi(u.state[0]), u.state[1]))
    env.close()
    expected = np.array(expected)
    got = gym.gym_pendulum_states(phi0, phi_dot0, n)
    assert got.shape == (n, 2)
    np.testing.assert_allclose(gym.wrap_angle(got[:, 0] - expected[:, 0]), 0.0, atol=1e-12)
    np.testing.assert_allclose(got[:, 1], expected[:, 1], rtol=0, atol=1e-12)
    assert np.all(np.abs(got[:, 1]) <= gym.MAX_SPEED)


def test_states_broadcast_and_conventions():
    phi0 = np.array([[0.1, -0.2, 0.3]])
    states = gym.gym_pendulum_states(phi0, np.array([[0.0], [1.0]]), 7)
    assert states.shape == (2, 3, 7, 2) and states.dtype == np.float64
    np.testing.assert_array_equal(states[0, :, 0, 0], phi0[0])
    np.testing.assert_allclose(states[1, :, 0, 1], 1.0)
    # Angles stay in (-pi, pi]; theta and phi conventions invert each other.
    wild = gym.gym_pendulum_states(3.0, 6.0, 200)[:, 0]
    assert np.all(wild > -np.pi) and np.all(wild <= np.pi)
    np.testing.assert_allclose(gym.theta_to_phi(gym.phi_to_theta(wild)), wild, atol=1e-12)
    assert gym.theta_to_phi(0.0) == np.pi and gym.theta_to_phi(np.pi) == 0.0


def test_true_energy_bounded_and_modified_energy_conserved():
    """Semi-implicit Euler: E oscillates by about omega dt (no drift); the modified energy is constant."""
    phi0 = np.r_[np.linspace(-np.pi / 6, -0.05, 5), np.linspace(0.05, np.pi / 6, 5)]
    states = gym.gym_pendulum_states(phi0, 0.0, 2000)
    energy = gym.gym_pendulum_energy(states)
    spread = (energy.max(axis=1) - energy.min(axis=1)) / energy.mean(axis=1)
    omega_dt = np.sqrt(gym.GRAVITY_TERM) * gym.DT  # 0.194
    assert np.all(spread < 1.05 * omega_dt), spread
    drift = np.abs(energy[:, :1000].mean(axis=1) - energy[:, 1000:].mean(axis=1)) / energy.mean(axis=1)
    assert np.all(drift < 2e-3), drift
    modified = gym.gym_pendulum_energy(states, modified=True)
    assert np.all((modified.max(axis=1) - modified.min(axis=1)) / modified.mean(axis=1) < 1e-3)
    # Released at rest: the swing never exceeds its start by more than the step's 0.5 %.
    assert np.all(np.abs(states[..., 0]).max(axis=1) <= 1.006 * np.abs(phi0))


def test_energy_values_and_types():
    states = np.array([[0.0, 0.0], [np.pi / 2, 0.0], [0.0, 2.0], [np.pi, 1.0]])
    np.testing.assert_allclose(gym.gym_pendulum_energy(states), [0.0, 15.0, 2.0, 30.5])
    t = torch.tensor(states, dtype=torch.float32)
    e = gym.gym_pendulum_energy(t)
    assert isinstance(e, torch.Tensor) and e.dtype == torch.float32
    np.testing.assert_allclose(e.numpy(), [0.0, 15.0, 2.0, 30.5], rtol=1e-6)
    np.testing.assert_allclose(gym.gym_pendulum_energy(t, modified=True).numpy(), gym.gym_pendulum_energy(states, modified=True), rtol=1e-5, atol=1e-6)
    assert gym.gym_pendulum_energy(states.reshape(2, 2, 2)).shape == (2, 2)
    assert np.isnan(gym.gym_pendulum_energy(np.array([np.nan, 0.0])))


def test_bad_input_to_gym_functions():
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        gym.gym_pendulum_energy(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        gym.gym_pendulum_energy(torch.zeros(4, 3))
    with pytest.raises(TypeError, match="numpy.ndarray or torch.Tensor"):
        gym.gym_pendulum_energy([0.0, 1.0])
    with pytest.raises(TypeError, match="modified"):
        gym.gym_pendulum_energy(np.zeros(2), modified=1)
    with pytest.raises(ValueError, match="n_frames"):
        gym.gym_pendulum_states(0.1, 0.0, 0)
    with pytest.raises(ValueError, match="finite"):
        gym.gym_pendulum_states(np.inf, 0.0, 3)
    with pytest.raises(ValueError, match="broadcast"):
        gym.gym_pendulum_states(np.zeros(3), np.zeros(2), 3)
