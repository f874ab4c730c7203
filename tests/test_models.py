"""Models: the fused HNN gradient against autograd, conservation, input checks, initialisation."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hnnlib.hamiltonian import gradient
from hnnlib.models import (
    HNN,
    MLP,
    BaselineNN,
    TanhMLPGradient,
    mlp_input_gradient,
    l2_loss,
)

F64 = torch.float64


def make_hnn(input_dim=2, hidden_dim=8, nonlinearity="tanh", dtype=F64, seed=0):
    torch.manual_seed(seed)
    model = HNN(input_dim, hidden_dim, nonlinearity).to(dtype)
    # random (not zero) biases, so every term of the fused backward pass is exercised
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 1:
                p.normal_(0, 0.5)
    return model


# ---------------------------------------------------------------------------------------------
# The fused symplectic gradient


@settings(max_examples=25)
@given(
    n_dof=st.integers(1, 3),
    hidden=st.integers(1, 12),
    batch=st.integers(1, 9),
    seed=st.integers(0, 2**31 - 1),
)
def test_fused_time_derivative_equals_autograd(n_dof, hidden, batch, seed):
    """HNN.time_derivative (hand-written TanhMLPGradient) equals autograd's symplectic gradient."""
    model = make_hnn(2 * n_dof, hidden, seed=seed)
    x = torch.randn(batch, 2 * n_dof, dtype=F64, generator=torch.Generator().manual_seed(seed)) * 2
    torch.testing.assert_close(model.time_derivative(x), model.symplectic_gradient_autograd(x), rtol=1e-12, atol=1e-12)


def test_fused_time_derivative_float32_and_leading_axes():
    """The fused path keeps float32, accepts (D,) and (3, 4, D) inputs, and matches autograd there too."""
    model = make_hnn(4, 16, dtype=torch.float32)
    for shape in [(4,), (7, 4), (3, 4, 4)]:
        x = torch.randn(*shape)
        out = model.time_derivative(x)
        assert out.shape == shape and out.dtype == torch.float32
        torch.testing.assert_close(out, model.symplectic_gradient_autograd(x), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(model(x), model.time_derivative(x))  # forward is time_derivative


@pytest.mark.parametrize("needs_x_grad", [True, False])
def test_gradcheck_fused_function(needs_x_grad):
    """torch.autograd.gradcheck passes on TanhMLPGradient.apply (float64, small sizes)."""
    g = torch.Generator().manual_seed(3)
    b, d, h = 3, 4, 5

    def rand(*shape, requires_grad=True):
        return torch.randn(*shape, dtype=F64, generator=g).requires_grad_(requires_grad)

    inputs = (rand(b, d, requires_grad=needs_x_grad), rand(h, d), rand(h), rand(h, h), rand(h), rand(1, h))
    assert torch.autograd.gradcheck(TanhMLPGradient.apply, inputs, eps=1e-6, atol=1e-7)


def test_fused_input_gradient_matches_autograd():
    """d(loss)/dx through the fused function equals double-backward autograd's."""
    model = make_hnn(2, 6)
    x1 = torch.randn(5, 2, dtype=F64, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    w = torch.randn(5, 2, dtype=F64)
    (gx1,) = torch.autograd.grad((model.time_derivative(x1) * w).sum(), x1)
    (gx2,) = torch.autograd.grad((model.symplectic_gradient_autograd(x2, create_graph=True) * w).sum(), x2)
    torch.testing.assert_close(gx1, gx2, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_dof", [1, 2])
def test_parameter_gradients_of_l2_loss_match_autograd(n_dof):
    """Weight gradients of the L2 loss (Eq. 3) via the fused path equal those of create_graph autograd."""
    model = make_hnn(2 * n_dof, 7)
    x = torch.randn(11, 2 * n_dof, dtype=F64)
    target = torch.randn(11, 2 * n_dof, dtype=F64)

    def grads(prediction):
        model.zero_grad(set_to_none=True)
        l2_loss(prediction, target).backward()
        return {n: (p.grad if p.grad is not None else torch.zeros_like(p)) for n, p in model.named_parameters()}

    fused = grads(model.time_derivative(x))
    reference = grads(model.symplectic_gradient_autograd(x, create_graph=True))
    assert set(fused) == set(reference)
    for name in reference:
        torch.testing.assert_close(fused[name], reference[name], rtol=1e-11, atol=1e-12, msg=name)
    assert fused["mlp.net.0.weight"].abs().sum() > 0  # the check is not vacuous
    torch.testing.assert_close(fused["mlp.net.4.bias"], torch.zeros(1, dtype=F64))  # b3 does not enter S_H


@pytest.mark.parametrize("nonlinearity", ["tanh", "softplus"])
def test_hnn_conserves_its_own_hamiltonian(nonlinearity):
    """grad H_theta . S_H = 0: the learned vector field conserves the learned Hamiltonian."""
    model = make_hnn(4, 10, nonlinearity)
    x = torch.randn(20, 4, dtype=F64) * 2
    grad_h = gradient(model.hamiltonian, x)
    flow = model.time_derivative(x)
    dot = (grad_h * flow).sum(-1)
    assert flow.abs().max() > 1e-3
    assert dot.abs().max() < 1e-12
    assert model.hamiltonian(x).shape == (20,)


def test_softplus_hnn_uses_autograd_path(monkeypatch):
    """A non-tanh HNN never calls the tanh-specific fused function; it still trains (weights get gradients)."""

    def refuse(*args):
        raise AssertionError("the fused tanh function must not run for softplus")

    monkeypatch.setattr(TanhMLPGradient, "apply", refuse)
    model = make_hnn(2, 8, "softplus")
    x = torch.randn(6, 2, dtype=F64)
    out = model.time_derivative(x)
    torch.testing.assert_close(out, model.symplectic_gradient_autograd(x))
    l2_loss(out, torch.zeros_like(out)).backward()
    assert model.mlp.net[0].weight.grad is not None and model.mlp.net[0].weight.grad.abs().sum() > 0
    with torch.no_grad():
        assert not model.time_derivative(x).requires_grad


def test_time_derivative_under_no_grad():
    """Evaluation under torch.no_grad works for the fused path and builds no graph."""
    model = make_hnn()
    x = torch.randn(5, 2, dtype=F64)
    with torch.no_grad():
        out = model.time_derivative(x)
    assert not out.requires_grad
    torch.testing.assert_close(out, model.symplectic_gradient_autograd(x))


def test_mlp_initialisation():
    """The MLP has three linear layers with orthogonal weights; bias_init="zeros" gives zero biases."""
    mlp = MLP(2, 16, 1)
    linears = [m for m in mlp.net if isinstance(m, torch.nn.Linear)]
    assert [tuple(m.weight.shape) for m in linears] == [(16, 2), (16, 16), (1, 16)]
    w = linears[1].weight.detach()
    torch.testing.assert_close(w @ w.T, torch.eye(16), atol=1e-5, rtol=0)
    zeros = [m for m in MLP(2, 16, 1, bias_init="zeros").net if isinstance(m, torch.nn.Linear)]
    assert all(torch.all(m.bias == 0) for m in zeros)


def test_baseline_shapes():
    """BaselineNN maps (..., D) to (..., D) with the MLP's output, for any D (odd too)."""
    torch.manual_seed(0)
    for d in (2, 3, 4):
        model = BaselineNN(d, 8)
        for shape in [(d,), (5, d), (2, 3, d)]:
            x = torch.randn(*shape)
            out = model.time_derivative(x)
            assert out.shape == shape
            torch.testing.assert_close(out, model.mlp(x))
            torch.testing.assert_close(model(x), out)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: HNN(3), ValueError, "even input_dim"),
        (lambda: HNN(2, 0), ValueError, "hidden_dim"),
        (lambda: BaselineNN(0), ValueError, "input_dim"),
        (lambda: HNN(2, 8, "sigmoid"), ValueError, "unknown nonlinearity"),
        (lambda: BaselineNN(2, True), TypeError, "hidden_dim"),
        (lambda: HNN(2.0), TypeError, "input_dim"),
    ],
)
def test_bad_model_configuration(make, error, match):
    """Invalid sizes or nonlinearities are refused at construction, naming the argument."""
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("cls", [HNN, BaselineNN])
def test_bad_model_input(cls):
    """Wrong last axis, integer dtype, NaN, and dtype mismatch: each error names what was expected."""
    model = cls(2, 8)  # float32
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        model.time_derivative(torch.zeros(5, 3))
    with pytest.raises(TypeError, match="floating"):
        model.time_derivative(torch.zeros(5, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match="NaN"):
        model.time_derivative(torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(TypeError, match="torch.float32"):
        model.time_derivative(torch.zeros(5, 2, dtype=F64))
    with pytest.raises(TypeError, match="torch.float64"):
        model.to(F64).time_derivative(torch.zeros(5, 2))
    if cls is HNN:
        with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
            model.symplectic_gradient_autograd(torch.zeros(5, 4, dtype=F64))
        with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
            model.hamiltonian(torch.zeros(5, 1))


def test_l2_loss():
    """l2_loss is the mean squared error and refuses mismatched shapes."""
    a, b = torch.randn(4, 2), torch.randn(4, 2)
    torch.testing.assert_close(l2_loss(a, b), ((a - b) ** 2).mean())
    with pytest.raises(ValueError, match="same shape"):
        l2_loss(a, b[:, :1])


# ---------------------------------------------------------------------------------------------
# Checkpoints


def test_bias_init_torch_matches_pytorch_default_distribution():
    """Default biases are drawn like nn.Linear's (uniform in +-1/sqrt(fan_in)) and are not all zero."""
    torch.manual_seed(0)
    mlp = HNN(2).mlp
    for layer in mlp.net:
        if isinstance(layer, torch.nn.Linear):
            bound = 1 / layer.in_features**0.5
            assert layer.bias.abs().max() <= bound
            if layer.out_features >= 50:  # a large sample of U[-bound, bound] reaches near its ends
                assert layer.bias.abs().max() > 0.8 * bound


def test_bias_init_zeros_gives_an_odd_network():
    """With zero biases the untrained tanh MLP is odd, f(-x) = -f(x); with default biases it is not."""
    x = torch.randn(16, 4)
    zero = BaselineNN(4, bias_init="zeros")
    torch.testing.assert_close(zero(-x), -zero(x))
    default = BaselineNN(4)
    assert not torch.allclose(default(-x), -default(x))


def test_bias_init_unknown_is_value_error():
    with pytest.raises(ValueError, match="bias_init"):
        HNN(2, bias_init="ones")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_without_a_graph_the_gradient_is_the_fused_one_bit_for_bit(dtype):
    """Under no_grad, mlp_input_gradient skips the fused function's backward factors; its value is the same."""
    model = HNN(4, 16).to(dtype)
    first, _, second, _, last = model.mlp.net
    x = torch.randn(33, 4, dtype=dtype)
    fused = TanhMLPGradient.apply(x, first.weight, first.bias, second.weight, second.bias, last.weight).detach()
    with torch.no_grad():
        lean = mlp_input_gradient(model.mlp, x)
    assert torch.equal(lean, fused)
