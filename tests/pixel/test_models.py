"""hnnlib.pixel.models: the autoencoder, the pixel HNN and baseline, their loss, training and rollouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hnnlib.checkpoints import load_checkpoint, save_checkpoint
from hnnlib.pixel.models import (
    DYNAMICS_LOSS_WEIGHT,
    MLPAutoencoder,
    PixelDynamicsModel,
    evaluate_pixel_loss,
    fit_pixel_model,
    lit_pixels,
    pixel_loss,
    rollout_latent,
)

SIDE = 6
INPUT_DIM = 2 * SIDE * SIDE


def small_model(kind: str = "hnn", seed: int = 0) -> PixelDynamicsModel:
    torch.manual_seed(seed)
    return PixelDynamicsModel(kind, input_dim=INPUT_DIM, hidden_dim=16, latent_dim=2)


def moving_blob_data(n_traj: int = 6, n_frames: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairs of consecutive frames of a bright pixel row that oscillates: (x, x_next)."""
    rng = np.random.default_rng(seed)
    xs, xns = [], []
    grid = np.arange(SIDE)
    for _ in range(n_traj):
        amp, phase = rng.uniform(0.5, 2.0), rng.uniform(0, 2 * np.pi)
        centres = SIDE / 2 - 0.5 + amp * np.cos(0.4 * np.arange(n_frames + 2) + phase)
        frames = np.exp(-((grid[None, None, :] - centres[:, None, None]) ** 2)) * np.ones((1, SIDE, 1))
        flat = frames.reshape(n_frames + 2, -1)
        xs.append(np.concatenate([flat[:-2], flat[1:-1]], axis=1))
        xns.append(np.concatenate([flat[1:-1], flat[2:]], axis=1))
    return torch.tensor(np.concatenate(xs), dtype=torch.float32), torch.tensor(np.concatenate(xns), dtype=torch.float32)


def test_autoencoder_shapes_and_residual_structure():
    torch.manual_seed(0)
    ae = MLPAutoencoder(INPUT_DIM, 16, 2)
    x = torch.rand(5, INPUT_DIM)
    z = ae.encode(x)
    assert z.shape == (5, 2)
    assert ae.decode(z).shape == (5, INPUT_DIM)
    assert ae(x).shape == (5, INPUT_DIM)
    # four layers each side, the middle two residual: zeroing them leaves a two-layer net
    for layer in (ae.encoder_layers[1], ae.encoder_layers[2]):
        torch.nn.init.zeros_(layer.weight)
        torch.nn.init.constant_(layer.bias, -1.0)  # relu(-1) = 0: the residual branches add nothing
    first, last = ae.encoder_layers[0], ae.encoder_layers[3]
    torch.testing.assert_close(ae.encode(x), last(torch.relu(first(x))))


@pytest.mark.parametrize("kind", ["hnn", "baseline"])
def test_loss_terms_match_their_definitions(kind):
    model = small_model(kind)
    x, x_next = moving_blob_data()
    terms = model.losses(x, x_next)
    z, z_next = model.encode(x), model.encode(x_next)
    ae = (model.decode(z) - x).pow(2).mean()
    cc = (z[:, 1] - (z_next[:, 0] - z[:, 0])).pow(2).mean()
    dyn = (z_next - z - model.time_derivative(z)).pow(2).mean()
    torch.testing.assert_close(terms.autoencoder, ae)
    torch.testing.assert_close(terms.canonical, cc)
    torch.testing.assert_close(terms.dynamics, dyn)
    torch.testing.assert_close(terms.total, ae + cc + DYNAMICS_LOSS_WEIGHT * dyn)
    terms.total.backward()
    no_grad = {"dynamics.mlp.net.4.bias"} if kind == "hnn" else set()  # H's output bias does not enter S_H
    for name, p in model.named_parameters():
        assert (p.grad is None) == (name in no_grad), name
        assert p.grad is None or torch.isfinite(p.grad).all()


def test_hnn_latent_dynamics_is_symplectic_gradient_of_h():
    model = small_model("hnn")
    z = torch.randn(7, 2, requires_grad=True)
    h = model.hamiltonian(z)
    (grad,) = torch.autograd.grad(h.sum(), z)
    torch.testing.assert_close(model.time_derivative(z), torch.stack([grad[:, 1], -grad[:, 0]], dim=1))
    with pytest.raises(AttributeError, match="kind 'hnn'"):
        small_model("baseline").hamiltonian(z)


@pytest.mark.parametrize("kind", ["hnn", "baseline"])
def test_training_lowers_the_loss_and_is_deterministic(kind):
    x, x_next = moving_blob_data()
    runs = []
    for _ in range(2):
        model = small_model(kind)
        history = fit_pixel_model(model, x, x_next, x_test=x[:10], x_next_test=x_next[:10], steps=150, batch_size=32, eval_every=50, progress=False)
        runs.append((model, history))
    (model, history), (_, again) = runs
    assert history.step == [0, 50, 100, 150]
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert history.train_loss == again.train_loss
    assert history.train_loss[-1] == pytest.approx(evaluate_pixel_loss(model, x, x_next), rel=1e-6)
    assert len(history.batch_loss) == 150 and not model.training


@pytest.mark.parametrize("kind", ["hnn", "baseline"])
def test_training_minibatches_are_the_checked_loss_of_the_sampled_pairs(kind):
    """fit_pixel_model gathers each minibatch straight into cat([x, x_next]); its first step must be
    exactly one Adam step on losses(x[idx], x_next[idx]) for the sampler's first idx."""
    from hnnlib.training import minibatch_indices

    x, x_next = moving_blob_data()
    by_loop = small_model(kind)
    fit_pixel_model(by_loop, x, x_next, steps=1, batch_size=16, weight_decay=0.0, seed=3, progress=False)
    by_hand = small_model(kind)
    idx = next(iter(minibatch_indices(x.shape[0], 16, 1, seed=3, device=x.device)))
    optimizer = torch.optim.Adam(by_hand.parameters(), lr=1e-3, fused=True)
    by_hand.losses(x[idx], x_next[idx]).total.backward()
    optimizer.step()
    for (name, a), b in zip(by_loop.named_parameters(), by_hand.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def dark_mask(columns: torch.Tensor) -> torch.Tensor:
    """True at the pixels that are not in ``columns`` (the lit ones)."""
    dark = torch.ones(INPUT_DIM, dtype=torch.bool)
    dark[columns] = False
    return dark


def dark_border_data() -> tuple[torch.Tensor, torch.Tensor]:
    """moving_blob_data with the first and last pixel column of every frame always zero."""
    x, x_next = moving_blob_data()
    dark = torch.zeros(2, SIDE, SIDE, dtype=torch.bool)
    dark[:, :, 0] = dark[:, :, -1] = True
    dark = dark.reshape(-1)
    return x.masked_fill(dark, 0.0), x_next.masked_fill(dark, 0.0)


def test_lit_pixels_are_the_columns_nonzero_somewhere():
    x, x_next = dark_border_data()
    x_next[3, 0] = 0.5  # lit in x_next only: still lit
    columns = lit_pixels(x, x_next)
    assert torch.equal(columns, ((x != 0).any(0) | (x_next != 0).any(0)).nonzero().squeeze(1))
    assert columns.dtype == torch.int64 and 0 in columns.tolist()
    assert len(columns) == INPUT_DIM - (2 * 2 * SIDE - 1)


@pytest.mark.parametrize("kind", ["hnn", "baseline"])
def test_losses_on_lit_pixels_equal_the_losses_on_all_pixels(kind):
    """Dark pixels multiply zero in the encoder: dropping them changes no loss and no gradient."""
    x, x_next = dark_border_data()
    columns = lit_pixels(x, x_next)
    full, compact = small_model(kind), small_model(kind)
    both = torch.cat([x, x_next])
    on_all = full._stacked_losses(both)
    on_lit = compact._stacked_losses(both.index_select(1, columns), columns, x)
    for name in ("autoencoder", "canonical", "dynamics", "total"):
        torch.testing.assert_close(getattr(on_lit, name), getattr(on_all, name), msg=name)
    on_all.total.backward()
    on_lit.total.backward()
    for (name, a), b in zip(full.named_parameters(), compact.parameters()):
        if a.grad is None:
            assert b.grad is None, name
            continue
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-5, atol=1e-7, msg=name)
    dark = dark_mask(columns)
    assert (compact.autoencoder.encoder_layers[0].weight.grad[:, dark] == 0).all()  # exactly, as on all pixels


def test_training_on_frames_with_dark_pixels_is_adam_on_all_pixels():
    """fit_pixel_model trains on the lit pixels, the dark pixels' encoder weights held apart
    (decay_only); three steps equal Adam on the loss over all pixels, weight decay included (dark
    weights decay as before)."""
    from hnnlib.training import minibatch_indices

    x, x_next = dark_border_data()
    by_loop = small_model("hnn")
    fit_pixel_model(by_loop, x, x_next, steps=3, batch_size=16, weight_decay=1e-2, seed=3, progress=False)
    by_hand = small_model("hnn")
    optimizer = torch.optim.Adam(by_hand.parameters(), lr=1e-3, weight_decay=1e-2, fused=True)
    for idx in minibatch_indices(x.shape[0], 16, 3, seed=3, device=x.device):
        optimizer.zero_grad()
        by_hand.losses(x[idx], x_next[idx]).total.backward()
        optimizer.step()
    for (name, a), b in zip(by_loop.named_parameters(), by_hand.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7, msg=name)
    untouched = small_model("hnn").autoencoder.encoder_layers[0].weight
    dark = dark_mask(lit_pixels(x, x_next))
    moved = (by_loop.autoencoder.encoder_layers[0].weight - untouched)[:, dark]
    assert dark.any() and (moved != 0).all()  # weight decay still acts on the dark pixels' weights


def test_rollout_shapes_and_latent_energy_conservation():
    model = small_model("hnn")
    x, _ = moving_blob_data()
    z, frames = rollout_latent(model, x[:3], 40, substeps=4)
    assert z.shape == (3, 40, 2) and frames.shape == (3, 40, INPUT_DIM)
    torch.testing.assert_close(z[:, 0], model.encode(x[:3]))
    torch.testing.assert_close(frames, model.decode(z))
    h = model.hamiltonian(z).detach()
    assert (h - h[:, :1]).abs().max() < 1e-4 * max(1.0, float(h.abs().max()))


def test_checkpoint_round_trip(tmp_path):
    model = small_model("baseline")
    path = tmp_path / "pixel.pt"
    save_checkpoint(model, path, metadata={"seed": 0})
    loaded = load_checkpoint(path)
    assert isinstance(loaded, PixelDynamicsModel) and loaded.config == model.config
    x, x_next = moving_blob_data()
    torch.testing.assert_close(loaded.losses(x, x_next).total, model.losses(x, x_next).total)


def test_bad_input_gives_clear_errors():
    with pytest.raises(ValueError, match="'hnn' or 'baseline'"):
        PixelDynamicsModel("lnn", input_dim=INPUT_DIM)
    with pytest.raises(ValueError, match="even"):
        PixelDynamicsModel("hnn", input_dim=INPUT_DIM, latent_dim=3)
    model = small_model()
    x, x_next = moving_blob_data()
    with pytest.raises(ValueError, match=rf"\(\.\.\., {INPUT_DIM}\)"):
        model.losses(x[:, :-1], x_next)
    with pytest.raises(ValueError, match="same shape|both have shape"):
        model.losses(x, x_next[:-1])
    with pytest.raises(TypeError, match="dtype"):
        model.losses(x.double(), x_next.double())
    with pytest.raises(ValueError, match="NaN"):
        model.losses(torch.full_like(x, float("nan")), x_next)
    with pytest.raises(TypeError, match="PixelDynamicsModel"):
        fit_pixel_model(torch.nn.Linear(2, 2), x, x_next)
    with pytest.raises(ValueError, match="both x_test and x_next_test"):
        fit_pixel_model(model, x, x_next, x_test=x)
    with pytest.raises(ValueError, match="batch_size"):
        fit_pixel_model(model, x, x_next, batch_size=10_000, progress=False)
    with pytest.raises(ValueError, match="n_frames"):
        rollout_latent(model, x[:2], 0)


def test_per_sample_loss_averages_to_the_total():
    model = small_model("hnn")
    x, x_next = moving_blob_data()
    per_sample = pixel_loss(model, x, x_next, batch_size=7)
    assert per_sample.n == len(x)
    assert per_sample.mean == pytest.approx(evaluate_pixel_loss(model, x, x_next), rel=1e-6)
    assert per_sample.mean == pytest.approx(model.losses(x, x_next).total.item(), rel=1e-6)
    assert per_sample.stderr > 0


def test_flush_denormals_is_scoped():
    from hnnlib.pixel.models import flush_denormals

    tiny = torch.tensor([1e-40], dtype=torch.float32)  # subnormal in float32
    assert (tiny * 1.0).item() != 0.0
    with flush_denormals():
        assert (tiny * 1.0).item() == 0.0
    assert (tiny * 1.0).item() != 0.0


def test_recorded_losses_are_the_whole_set_losses_with_the_test_sets_own_lit_pixels():
    """fit_pixel_model records the losses from each set's lit pixels: the same numbers as
    evaluate_pixel_loss on all pixels, also where the test set lights pixels the train set never does."""
    x, x_next = dark_border_data()
    x_test, x_next_test = moving_blob_data(n_traj=3, seed=1)  # its border pixels are lit
    assert len(lit_pixels(x_test, x_next_test)) > len(lit_pixels(x, x_next))
    model = small_model("hnn")
    history = fit_pixel_model(model, x, x_next, x_test=x_test, x_next_test=x_next_test, steps=4, batch_size=16,
                              eval_every=2, progress=False)
    assert history.step == [0, 2, 4]
    assert history.train_loss[-1] == pytest.approx(evaluate_pixel_loss(model, x, x_next), rel=1e-5)
    assert history.test_loss[-1] == pytest.approx(evaluate_pixel_loss(model, x_test, x_next_test), rel=1e-5)
