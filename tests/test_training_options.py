"""fit's options for large datasets: evaluation on a fixed subset (eval_samples) and O(batch) minibatch sampling."""

import numpy as np
import pytest
import torch

from hnnlib.data import make_trajectory_dataset
from hnnlib.models import HNN
from hnnlib.training import evaluate_loss, fit, set_seed, train


@pytest.fixture(scope="module")
def data():
    """Mass-spring: 16 train / 4 test trajectories of 10 states (160 / 40 samples)."""
    return make_trajectory_dataset("mass_spring", n_trajectories=20, n_times=10, test_fraction=0.2, seed=2)


def new_model(seed=0):
    set_seed(seed)
    return HNN(2, 16)


def test_eval_samples_larger_than_the_data_changes_nothing(data):
    """eval_samples >= n evaluates every sample: the history equals the default one."""
    h_all = train(new_model(), data, steps=20, progress=False, eval_every=5)
    h_big = train(new_model(), data, steps=20, progress=False, eval_every=5, eval_samples=1000)
    assert h_all == h_big


def test_eval_samples_uses_a_fixed_seeded_subset(data):
    """The recorded losses are those of one fixed subset of each split, the same at every evaluation and for the same seed."""
    model = new_model()
    history = train(model, data, steps=10, progress=False, eval_every=5, eval_samples=30, seed=4)
    x, dx = data.train.inputs, data.train.targets
    full = evaluate_loss(model, x, dx)
    losses = torch.stack([(model.time_derivative(x[i:i + 1]) - dx[i:i + 1]).pow(2).mean() for i in range(len(x))]).detach()
    # the final train loss is the mean over some 30 of the 160 samples: find them by the reproduced loss
    rng = np.random.default_rng([4, 1])
    rows = np.sort(rng.choice(160, 30, replace=False))
    assert history.train_loss[-1] == pytest.approx(losses[rows].mean().item(), rel=1e-5)
    assert history.train_loss[-1] != pytest.approx(full, rel=1e-6)
    again = train(new_model(), data, steps=10, progress=False, eval_every=5, eval_samples=30, seed=4)
    assert again == history
    assert len(history.step) == 3 and len(history.batch_loss) == 10


@pytest.mark.parametrize("sampler", ["randperm", "choice"])
def test_samplers_are_deterministic(data, sampler):
    """Each sampler gives identical runs for the same seed and different batches for another seed."""
    runs = [train(new_model(), data, steps=8, batch_size=16, seed=s, sampler=sampler, progress=False) for s in (1, 1, 2)]
    assert runs[0] == runs[1]
    assert runs[0].batch_loss != runs[2].batch_loss


def test_default_sampler_is_randperm(data):
    """The default stays torch.randperm (chapters trained before the option keep their numbers); choice draws other batches."""
    default = train(new_model(), data, steps=8, batch_size=16, seed=1, progress=False)
    explicit = train(new_model(), data, steps=8, batch_size=16, seed=1, sampler="randperm", progress=False)
    other = train(new_model(), data, steps=8, batch_size=16, seed=1, sampler="choice", progress=False)
    assert default == explicit and default.batch_loss != other.batch_loss


def test_choice_sampler_draws_without_replacement():
    """With batch_size = n every step sees each sample exactly once: the batch loss equals the full-batch loss."""
    x = torch.randn(50, 2)
    dx = torch.randn(50, 2)
    model = new_model()
    history = fit(model, x, dx, steps=1, batch_size=50, sampler="choice", progress=False)
    assert history.batch_loss[0] == pytest.approx(history.train_loss[0], rel=1e-6)


def test_choice_sampler_is_uniform():
    """Over many steps every sample is drawn about equally often (batch 4 of 20, 500 steps: 100 +- 9 each)."""
    x = torch.arange(20, dtype=torch.float32)[:, None].repeat(1, 2)
    seen = []

    class Recorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def time_derivative(self, xb):
            seen.append(xb[:, 0].long())
            assert xb[:, 0].unique().numel() == xb.shape[0]  # no repeats within a batch
            return xb * self.w

    fit(Recorder(), x, x, steps=500, batch_size=4, sampler="choice", progress=False, eval_every=500)
    counts = torch.bincount(torch.cat(seen[1:-1]), minlength=20)  # drop the two evaluations (steps 0 and 500)
    assert counts.sum() == 2000 and counts.min() > 60 and counts.max() < 140


def test_bad_options(data):
    """An unknown sampler or a non-positive eval_samples is refused."""
    with pytest.raises(ValueError, match="sampler must be 'randperm' or 'choice'"):
        train(new_model(), data, steps=2, batch_size=4, sampler="shuffle", progress=False)
    with pytest.raises(ValueError, match="eval_samples"):
        train(new_model(), data, steps=2, eval_samples=0, progress=False)
    with pytest.raises(TypeError, match="eval_samples"):
        train(new_model(), data, steps=2, eval_samples=2.5, progress=False)
