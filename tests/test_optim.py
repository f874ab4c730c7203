"""hnnlib.optim.Adam: the same weights as torch.optim.Adam(fused=True), bit for bit, without its wrapper."""

import subprocess
import sys

import pytest
import torch

from hnnlib.models import HNN, BaselineNN
from hnnlib.optim import Adam


def train(model, make_optimizer, steps=40, seed=0):
    """``steps`` full-batch steps on fixed random data; the weights afterwards."""
    generator = torch.Generator().manual_seed(seed)
    param = next(model.parameters())
    x = torch.randn(64, 2, generator=generator).to(param)
    dx = torch.randn(64, 2, generator=generator).to(param)
    optimizer = make_optimizer(model.parameters())
    for _ in range(steps):
        optimizer.zero_grad()
        (model.time_derivative(x) - dx).pow(2).mean().backward()
        optimizer.step()
    return {name: value.clone() for name, value in model.state_dict().items()}


@pytest.mark.parametrize("model_class", [HNN, BaselineNN])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-4])
def test_same_weights_as_torch_fused_adam(model_class, dtype, weight_decay):
    weights = []
    for make in (lambda p: Adam(p, lr=1e-3, weight_decay=weight_decay),
                 lambda p: torch.optim.Adam(p, lr=1e-3, weight_decay=weight_decay, fused=True)):
        torch.manual_seed(0)
        weights.append(train(model_class(2, hidden_dim=16).to(dtype), make))
    ours, theirs = weights
    assert ours.keys() == theirs.keys()
    for name in ours:
        assert torch.equal(ours[name], theirs[name]), name


def test_a_parameter_without_gradient_is_left_alone():
    torch.manual_seed(0)
    model = HNN(2, hidden_dim=8)  # the last bias does not enter dH/dx: it never gets a gradient
    before = model.mlp.net[4].bias.clone()
    train(model, lambda p: Adam(p, lr=1e-2), steps=5)
    assert torch.equal(model.mlp.net[4].bias, before)
    assert not torch.equal(model.mlp.net[0].weight, torch.zeros_like(model.mlp.net[0].weight))


def test_the_step_moves_the_weights_against_the_gradient():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    optimizer = Adam([p], lr=0.1)
    p.pow(2).sum().backward()
    optimizer.step()
    # first step: m / (1 - beta1) = g and v / (1 - beta2) = g^2, so theta moves by lr * sign(g)
    assert torch.allclose(p.detach(), torch.tensor([0.9, -1.9]), atol=1e-6)
    optimizer.zero_grad()
    assert p.grad is None


def test_mixed_dtypes_fall_back_to_torch_adam():
    a = torch.nn.Parameter(torch.ones(3))
    b = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    optimizer = Adam([a, b], lr=0.1)
    (a.sum() + b.sum()).backward()
    optimizer.step()
    assert torch.allclose(a.detach(), torch.full((3,), 0.9))
    assert torch.allclose(b.detach(), torch.full((3,), 0.9, dtype=torch.float64))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(lr=0.0), ValueError, "lr"),
        (dict(lr=float("nan")), ValueError, "lr"),
        (dict(lr=1e-3, weight_decay=-1.0), ValueError, "weight_decay"),
    ],
)
def test_bad_settings_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        Adam([torch.nn.Parameter(torch.ones(2))], **kwargs)


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="no parameters"):
        Adam([], lr=1e-3)
    with pytest.raises(TypeError, match="floating-point"):
        Adam([torch.ones(2, dtype=torch.int64)], lr=1e-3)


def test_training_does_not_import_torch_dynamo():
    """The reason for this class: torch.optim imports torch._dynamo (about a second) on first use."""
    code = (
        "import sys, torch\n"
        "from hnnlib.models import HNN\n"
        "from hnnlib.training import fit\n"
        "x = torch.randn(32, 2)\n"
        "fit(HNN(2, hidden_dim=8), x, x, steps=3, progress=False)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
