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


def test_decay_only_parameters_move_as_with_an_exact_zero_gradient():
    """A decay_only parameter ends where torch's fused Adam puts it when its gradient is an exact zero."""
    torch.manual_seed(0)
    start = torch.randn(5, 3)
    trained, apart = torch.nn.Parameter(torch.randn(3)), torch.nn.Parameter(start.clone())
    ours = Adam([trained], lr=1e-2, weight_decay=1e-3, decay_only=[apart])
    reference_trained, reference = torch.nn.Parameter(trained.detach().clone()), torch.nn.Parameter(start.clone())
    theirs = torch.optim.Adam([reference_trained, reference], lr=1e-2, weight_decay=1e-3, fused=True)
    for _ in range(30):
        ours.zero_grad()
        trained.pow(2).sum().backward()
        ours.step()
        theirs.zero_grad()
        reference_trained.pow(2).sum().backward()
        reference.grad = torch.zeros_like(reference)
        theirs.step()
    assert torch.equal(apart, reference) and torch.equal(trained, reference_trained)
    assert not torch.equal(apart, start)  # weight decay moved it


def test_decay_only_checks():
    p, q = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    with pytest.raises(ValueError, match="twice"):
        Adam([p], lr=1e-3, decay_only=[p])
    optimizer = Adam([p], lr=1e-3, decay_only=[q])
    (p * q).sum().backward()  # the loss depends on q after all
    with pytest.raises(RuntimeError, match="decay_only parameter received a gradient"):
        optimizer.step()


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


def test_cosine_learning_rate_goes_from_full_to_almost_zero():
    from hnnlib.optim import cosine_learning_rate, scheduled_learning_rate

    rates = [cosine_learning_rate(1e-3, s, 100) for s in range(100)]
    assert rates[0] == 1e-3 and rates[50] == pytest.approx(5e-4) and 0 < rates[-1] < 1e-6
    assert all(a > b for a, b in zip(rates, rates[1:]))
    assert scheduled_learning_rate("constant", 1e-3, 99, 100) == 1e-3
    with pytest.raises(ValueError, match="lr_schedule"):
        scheduled_learning_rate("linear", 1e-3, 0, 100)


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_the_training_loop_follows_the_schedule(schedule):
    """Under a constant gradient each Adam step moves a weight by that step's learning rate."""
    import numpy as np

    from hnnlib.optim import scheduled_learning_rate
    from hnnlib.training import optimize

    class Weight(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

    model, seen = Weight(), []

    def batch_loss(idx):
        seen.append(float(model.w.detach()))
        return (model.w - 1e6).pow(2).sum()  # gradient -2e6, constant to 1e-6

    steps, lr = 10, 1e-2
    optimize(model, batch_loss, lambda: (0.0, float("nan")), [None] * steps, steps=steps, learning_rate=lr,
             weight_decay=0.0, eval_every=100, progress=False, description=None, lr_schedule=schedule)
    expected = [scheduled_learning_rate(schedule, lr, s, steps) for s in range(steps - 1)]
    np.testing.assert_allclose(np.diff(seen), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="lr_schedule"):
        optimize(model, batch_loss, lambda: (0.0, float("nan")), [None], steps=1, learning_rate=lr,
                 weight_decay=0.0, eval_every=1, progress=False, description=None, lr_schedule="step")
