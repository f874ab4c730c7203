"""hnnlib.stacked's fused input gradient: gradcheck, equal to autograd's double backward, and to one model's."""

import pytest
import torch

from hnnlib import stacked
from hnnlib.models import HNN

F64 = torch.float64


@pytest.mark.parametrize("needs_x_grad", [True, False])
def test_gradcheck_fused_stacked_function(needs_x_grad):
    """torch.autograd.gradcheck passes on StackedTanhMLPGradient.apply (float64, 3 members, small sizes)."""
    g = torch.Generator().manual_seed(5)
    s, b, d, h = 3, 4, 2, 5

    def rand(*shape, requires_grad=True):
        return torch.randn(*shape, dtype=F64, generator=g).requires_grad_(requires_grad)

    inputs = (rand(s, b, d, requires_grad=needs_x_grad), rand(s, d, h), rand(s, 1, h), rand(s, h, h), rand(s, 1, h),
              rand(s, h, 1))
    assert torch.autograd.gradcheck(stacked.StackedTanhMLPGradient.apply, inputs, eps=1e-6, atol=1e-7)


def _stack(members=3, dim=4, hidden=6):
    models = []
    for seed in range(members):
        torch.manual_seed(seed)
        models.append(HNN(dim, hidden).double())
    return models, stacked.stack(models)


def test_fused_equals_double_backward_in_value_and_gradients():
    """Values and the gradients of a loss on them (weights and states) equal autograd's double backward."""
    _, model = _stack()
    x = torch.randn(3 * 5, 4, dtype=F64, requires_grad=True)
    weights = torch.randn(3 * 5, 4, dtype=F64)
    params = [x, *model.parameters()]
    fused = model.mlp.input_gradient(x)
    reference = model.mlp.input_gradient_autograd(x)
    torch.testing.assert_close(fused, reference, rtol=1e-12, atol=1e-12)
    got = torch.autograd.grad((fused.pow(2) * weights).sum(), params, allow_unused=True)
    want = torch.autograd.grad((reference.pow(2) * weights).sum(), params, allow_unused=True)
    for a, b in zip(got, want):
        if b is None:  # the last bias does not enter the gradient
            assert a is None or torch.count_nonzero(a) == 0
        else:
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_without_a_graph_the_value_is_the_same_and_each_member_is_its_model():
    """Under no_grad the lean forward gives the fused value, and member s's rows are model s's symplectic gradient."""
    models, model = _stack()
    x = torch.randn(3 * 5, 4, dtype=F64)
    with torch.no_grad():
        lean = model.time_derivative(x)
    fused = model.time_derivative(x).detach()
    torch.testing.assert_close(lean, fused, rtol=1e-13, atol=1e-14)
    for s, alone in enumerate(models):
        torch.testing.assert_close(lean[5 * s: 5 * (s + 1)], alone.time_derivative(x[5 * s: 5 * (s + 1)]).detach(),
                                   rtol=1e-12, atol=1e-13)
