"""The training loop: determinism, loss reduction, minibatches, history bookkeeping, input checks."""

import math
import random

import numpy as np
import pytest
import torch

from hnnlib.data import make_trajectory_dataset
from hnnlib import NonFiniteError
from hnnlib.models import HNN, BaselineNN, l2_loss
from hnnlib.training import TrainingHistory, evaluate_loss, fit, set_seed, train


@pytest.fixture(scope="module")
def data():
    """A tiny mass-spring dataset: 8 train / 2 test trajectories of 10 states (80 / 20 samples)."""
    return make_trajectory_dataset("mass_spring", n_trajectories=10, n_times=10, test_fraction=0.2, seed=1)


def new_model(cls=HNN, seed=0, hidden=16):
    set_seed(seed)
    return cls(2, hidden)


def run(data, model=None, **options):
    model = model or new_model()
    options = {"steps": 20, "progress": False, **options}
    return model, train(model, data, **options)


@pytest.mark.parametrize("batch_size", [None, 16])
def test_fit_is_deterministic(data, batch_size):
    """Two runs with the same seeds give identical losses and weights."""
    m1, h1 = run(data, batch_size=batch_size, seed=3)
    m2, h2 = run(data, batch_size=batch_size, seed=3)
    assert h1 == h2
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(p1, p2)


def test_minibatch_seed_changes_batches(data):
    """Another sampler seed draws other minibatches (same initial model, different batch losses)."""
    _, h1 = run(data, batch_size=16, seed=3)
    _, h2 = run(data, batch_size=16, seed=4)
    assert h1.batch_loss[0] != h2.batch_loss[0]
    assert h1.train_loss[0] == h2.train_loss[0]


@pytest.mark.parametrize("cls", [HNN, BaselineNN])
def test_fit_reduces_loss(data, cls):
    """200 full-batch Adam steps cut the train and test loss of a small model substantially."""
    _, history = run(data, new_model(cls), steps=200, learning_rate=1e-2, eval_every=50)
    assert history.train_loss[-1] < 0.3 * history.train_loss[0]
    assert history.test_loss[-1] < 0.5 * history.test_loss[0]
    assert all(math.isfinite(v) for v in history.batch_loss)


def test_minibatch_training_reduces_loss(data):
    """Minibatch mode (batch_size < n) also trains."""
    _, history = run(data, steps=200, batch_size=32, learning_rate=1e-2, eval_every=100)
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]


def test_history_lengths(data):
    """step has 0, every eval_every-th step and the last step; batch_loss has one entry per step."""
    _, h = run(data, steps=25, eval_every=10)
    assert h.step == [0, 10, 20, 25]
    assert len(h.train_loss) == len(h.test_loss) == 4
    assert len(h.batch_loss) == 25
    _, h = run(data, steps=20, eval_every=10)
    assert h.step == [0, 10, 20]  # the last step is not recorded twice
    _, h = run(data, steps=3, eval_every=100)
    assert h.step == [0, 3] and len(h.batch_loss) == 3


def test_history_values_are_the_losses(data):
    """train_loss[0] is the loss of the untrained model, equal to the first full batch's loss."""
    model = new_model()
    before = evaluate_loss(model, data.train.inputs, data.train.targets)
    _, h = run(data, model, steps=5)
    assert h.train_loss[0] == pytest.approx(before, rel=1e-6)
    assert h.batch_loss[0] == pytest.approx(before, rel=1e-5)
    assert h.train_loss[-1] == pytest.approx(evaluate_loss(model, data.train.inputs, data.train.targets), rel=1e-6)
    assert h.test_loss[-1] == pytest.approx(evaluate_loss(model, data.test.inputs, data.test.targets), rel=1e-6)
    with torch.no_grad():
        direct = float(l2_loss(model.time_derivative(data.test.inputs), data.test.targets))
    assert h.test_loss[-1] == pytest.approx(direct, rel=1e-6)


def test_l1_loss_is_trained_and_recorded(data):
    """loss="l1": the recorded losses are mean absolute errors, and training lowers them (the LNN paper's loss)."""
    model = new_model()
    with torch.no_grad():
        before = float((model.time_derivative(data.train.inputs) - data.train.targets).abs().mean())
    h = fit(model, data.train.inputs, data.train.targets, steps=30, loss="l1", progress=False)
    assert h.train_loss[0] == pytest.approx(before, rel=1e-6)
    assert h.train_loss[-1] == pytest.approx(evaluate_loss(model, data.train.inputs, data.train.targets, "l1"), rel=1e-6)
    assert h.train_loss[-1] < h.train_loss[0]


def test_fit_without_test_set(data):
    """Without x_test/dx_test the test loss is recorded as NaN; the model ends in eval mode."""
    model = new_model()
    h = fit(model, data.train.inputs, data.train.targets, steps=4, eval_every=2, progress=False)
    assert isinstance(h, TrainingHistory)
    assert len(h.test_loss) == 3 and all(math.isnan(v) for v in h.test_loss)
    assert not model.training


def test_progress_false_prints_nothing(data, capsys):
    """progress=False writes nothing to stdout or stderr; progress=True does draw a bar."""
    run(data, steps=3)
    out, err = capsys.readouterr()
    assert out == "" and err == ""
    run(data, steps=3, progress=True, description="unit-test")
    out, err = capsys.readouterr()
    assert "unit-test" in out + err


def test_weight_decay_changes_training(data):
    """weight_decay is passed to Adam (the runs differ)."""
    m1, _ = run(data, steps=5)
    m2, _ = run(data, steps=5, weight_decay=0.1)
    assert not torch.equal(m1.mlp.net[0].weight, m2.mlp.net[0].weight)


def test_set_seed_seeds_all_generators():
    """set_seed makes Python, NumPy and torch draws repeatable."""
    set_seed(11)
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    set_seed(11)
    assert a == (random.random(), np.random.rand(), torch.rand(1).item())


@pytest.mark.parametrize(
    "change, error, match",
    [
        (dict(x=torch.zeros(4, 3, 2)), ValueError, r"\(n_samples, D\)"),
        (dict(dx=torch.zeros(79, 2)), ValueError, r"\(n_samples, D\)"),
        (dict(dx=torch.zeros(80, 3)), ValueError, "dx"),
        (dict(x=torch.full((80, 2), float("nan"))), ValueError, "NaN"),
        (dict(x_test=torch.zeros(5, 2)), ValueError, "x_test and dx_test"),
        (dict(x_test=torch.zeros(5, 3), dx_test=torch.zeros(5, 3)), ValueError, "x_test"),
        (dict(steps=0), ValueError, "steps"),
        (dict(steps=2.0), TypeError, "steps"),
        (dict(eval_every=0), ValueError, "eval_every"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(batch_size=81), ValueError, "batch_size=81 exceeds the 80"),
        (dict(batch_size=True), TypeError, "batch_size"),
        (dict(x=torch.zeros(80, 2, dtype=torch.float64), dx=torch.zeros(80, 2, dtype=torch.float64)), TypeError, "dtype"),
        (dict(learning_rate=float("inf")), ValueError, "learning_rate must be a finite number > 0, got inf"),
        (dict(learning_rate=float("nan")), ValueError, "learning_rate must be a finite number > 0, got nan"),
        (dict(learning_rate=0), ValueError, "learning_rate must be a finite number > 0, got 0"),
        (dict(learning_rate=-1e-3), ValueError, "learning_rate must be a finite number > 0"),
        (dict(learning_rate="1e-3"), TypeError, "learning_rate must be a real number, got '1e-3'"),
        (dict(weight_decay=-1e-4), ValueError, "weight_decay must be a finite number >= 0"),
        (dict(weight_decay=float("inf")), ValueError, "weight_decay must be a finite number >= 0"),
        (dict(weight_decay=None), TypeError, "weight_decay must be a real number"),
        (dict(seed=-1), ValueError, "seed must lie in"),
        (dict(seed=1.5), TypeError, "seed must be an int"),
        (dict(loss="huber"), ValueError, r"loss must be one of \['l1', 'l2'\], got 'huber'"),
    ],
)
def test_fit_bad_inputs(data, change, error, match):
    """Inconsistent shapes, NaNs, half a test set, non-positive counts, oversize batches, wrong dtype: all refused."""
    kwargs = {"x": data.train.inputs, "dx": data.train.targets, "steps": 2, "progress": False, **change}
    with pytest.raises(error, match=match):
        fit(new_model(), kwargs.pop("x"), kwargs.pop("dx"), **kwargs)


def test_batch_size_equal_to_n_is_allowed(data):
    """batch_size = n (a shuffled full batch) is the largest allowed; it matches full batch training at step 1."""
    _, h = run(data, steps=1, batch_size=80)
    _, h_full = run(data, steps=1)
    assert h.batch_loss[0] == pytest.approx(h_full.batch_loss[0], rel=1e-5)


def test_train_needs_a_dataset():
    """train() refuses anything but a TrajectoryDataset."""
    with pytest.raises(TypeError, match="TrajectoryDataset"):
        train(new_model(), (torch.zeros(4, 2), torch.zeros(4, 2)))


@pytest.mark.parametrize("model", [torch.nn.Linear(2, 2), "HNN", None, lambda x: x], ids=["module", "str", "none", "function"])
def test_fit_needs_a_dynamics_model(data, model):
    """Anything but an nn.Module with time_derivative is a TypeError that says what is expected."""
    with pytest.raises(TypeError, match=r"model must be a torch.nn.Module with a time_derivative\(x\) method"):
        fit(model, data.train.inputs, data.train.targets, steps=1, progress=False)


def test_a_diverging_loss_stops_training_and_names_the_step(data):
    """A ReLU baseline with learning rate 1e6 overflows after its first step: NonFiniteError naming the step."""
    set_seed(0)
    model = BaselineNN(2, 16, "relu")
    with pytest.raises(NonFiniteError, match=r"the training loss became (nan|inf) at step [2-9][0-9]* of 50"):
        fit(model, data.train.inputs, data.train.targets, steps=50, learning_rate=1e6, progress=False)
    assert all(torch.isfinite(p).all() for p in model.parameters()), "no step is taken with a non-finite loss"


def test_a_non_finite_loss_from_the_start_is_reported_at_step_0(data):
    """A model whose output is NaN: the evaluation before training says so, naming step 0."""
    model = new_model()
    with torch.no_grad():
        model.mlp.net[0].bias.fill_(float("nan"))
    with pytest.raises(NonFiniteError, match="at step 0 of 3"):
        fit(model, data.train.inputs, data.train.targets, steps=3, progress=False)


@pytest.mark.parametrize("seed, error", [(-1, ValueError), (2**32, ValueError), (1.0, TypeError), ("1", TypeError), (True, TypeError)])
def test_set_seed_refuses_bad_seeds(seed, error):
    with pytest.raises(error, match="seed"):
        set_seed(seed)
