"""hnnlib._checks: the finiteness test every rollout and input check runs, and its errors."""

import numpy as np
import pytest
import torch

from hnnlib._checks import all_finite, as_state_tensor

BIG32 = torch.finfo(torch.float32).max


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "values",
    [
        [],  # empty: nothing is non-finite
        [0.0, 1.5, -2.0],
        [float("nan"), 1.0],
        [1.0, float("inf")],
        [float("-inf"), 1.0],
        [float("inf"), float("-inf")],  # their sum is NaN
        [float("nan"), float("inf")],
    ],
)
def test_all_finite_is_the_elementwise_test(values, dtype):
    x = torch.tensor(values, dtype=dtype)
    assert all_finite(x) == bool(torch.isfinite(x).all())


def test_all_finite_on_integer_and_complex_tensors():
    assert all_finite(torch.arange(5))
    z = torch.tensor([1 + 2j, 3 - 1j])
    assert all_finite(z)
    assert not all_finite(torch.tensor([1 + 2j, complex(float("nan"), 0.0)]))


def test_all_finite_when_the_sum_overflows():
    """Finite entries whose sum overflows to inf are finite; the element-wise test settles it."""
    x = torch.tensor([BIG32, BIG32, 1.0], dtype=torch.float32)
    assert torch.isinf(x.sum())
    assert all_finite(x)
    assert not all_finite(torch.cat([x, torch.tensor([float("nan")])]))


def test_all_finite_on_shapes_views_and_graphs():
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(5, 7, 4)), requires_grad=True)
    assert all_finite(x) and all_finite(x[:, ::2].transpose(0, 1))
    y = x * 2
    assert all_finite(y) and y.grad_fn is not None  # checking a tensor of a graph leaves the graph alone
    bad = x.detach().clone()
    bad[3, 6, 2] = float("nan")
    assert not all_finite(bad) and not all_finite(bad[3:, 5:])
    assert all_finite(bad[:3])


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_as_state_tensor_refuses_non_finite_states(bad):
    x = np.zeros((3, 2))
    x[1, 0] = bad
    with pytest.raises(ValueError, match="x contains NaN or inf values"):
        as_state_tensor(x, 2)
    with pytest.raises(ValueError, match="x contains NaN or inf values"):
        as_state_tensor(torch.from_numpy(x), 2)


def test_as_state_tensor_names_what_it_expected():
    with pytest.raises(TypeError, match="must hold floating-point numbers, got numpy dtype int64"):
        as_state_tensor(np.zeros((3, 2), dtype=np.int64), 2)
    with pytest.raises(TypeError, match="float32 or float64, got torch.float16"):
        as_state_tensor(np.zeros((3, 2), dtype=np.float16), 2)
    with pytest.raises(ValueError, match=r"must have shape \(\.\.\., 4\)"):
        as_state_tensor(np.zeros((3, 2)), 4)
    x = as_state_tensor(np.ones((3, 2), dtype=np.float32), 2)
    assert x.dtype == torch.float32 and x.shape == (3, 2)
