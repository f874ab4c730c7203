"""Checkpoints: round trips, and refusal of corrupt, foreign or malicious files."""

import os
import pickle

import pytest
import torch

from hnnlib.checkpoints import load_checkpoint, save_checkpoint
from hnnlib.models import HNN, BaselineNN

F64 = torch.float64


@pytest.mark.parametrize(
    "cls, nonlinearity, dtype",
    [(HNN, "tanh", torch.float32), (HNN, "softplus", F64), (BaselineNN, "relu", torch.float32), (BaselineNN, "tanh", F64)],
)
def test_checkpoint_round_trip(tmp_path, cls, nonlinearity, dtype):
    """save -> load gives the same class, config, dtype, metadata and outputs, in eval mode."""
    torch.manual_seed(1)
    model = cls(2, 12, nonlinearity).to(dtype)
    path = tmp_path / "model.pt"
    metadata = {"seed": 7, "task": "mass_spring", "noise": 0.1, "ok": True, "steps": [0, 100], "extra": {"lr": 1e-3}}
    save_checkpoint(model, path, metadata)
    loaded = load_checkpoint(path)
    assert type(loaded) is cls and not loaded.training
    assert loaded.config == model.config
    assert all(p.dtype == dtype for p in loaded.parameters())
    assert loaded.metadata == metadata
    x = torch.randn(9, 2, dtype=dtype)
    torch.testing.assert_close(loaded.time_derivative(x), model.time_derivative(x), rtol=0, atol=0)
    for (n1, p1), (n2, p2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert n1 == n2 and torch.equal(p1, p2)


def test_checkpoint_without_metadata_and_str_path(tmp_path):
    """metadata defaults to {}; a str path works like a Path; device argument accepted."""
    model = HNN(2, 4)
    save_checkpoint(model, str(tmp_path / "m.pt"))
    loaded = load_checkpoint(str(tmp_path / "m.pt"), device="cpu")
    assert loaded.metadata == {}


def test_save_refuses_other_modules(tmp_path):
    """Only BaselineNN and HNN can be saved."""
    with pytest.raises(TypeError, match="can only save"):
        save_checkpoint(torch.nn.Linear(2, 2), tmp_path / "x.pt")


def test_missing_checkpoint(tmp_path):
    """A missing file is a FileNotFoundError naming the path."""
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(tmp_path / "nope.pt")


def test_corrupt_checkpoint(tmp_path):
    """Random bytes and an empty file are ValueErrors, not unpickling crashes."""
    path = tmp_path / "random.pt"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(ValueError, match="not a readable hnnlib checkpoint"):
        load_checkpoint(path)
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="not a readable hnnlib checkpoint"):
        load_checkpoint(path)


def test_truncated_checkpoint(tmp_path):
    """A checkpoint cut short (interrupted copy) is a ValueError."""
    path = tmp_path / "model.pt"
    save_checkpoint(HNN(2, 16), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable hnnlib checkpoint"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "payload",
    [{"weight": torch.zeros(2)}, HNN(2, 4).state_dict(), [1, 2, 3], torch.zeros(3), {"format": "other"}],
    ids=["dict", "state_dict", "list", "tensor", "other_format"],
)
def test_foreign_torch_file(tmp_path, payload):
    """A torch.save file that is not an hnnlib checkpoint is a ValueError saying so."""
    path = tmp_path / "foreign.pt"
    torch.save(payload, path)
    with pytest.raises(ValueError, match="not an hnnlib checkpoint"):
        load_checkpoint(path)


class Arbitrary:
    """A harmless custom class: a weights-only loader must not instantiate it."""

    def __init__(self):
        self.value = 3


class Malicious:
    """Unpickling this object would create the file at ``self.marker`` (the attack a weights-only load prevents)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_arbitrary_object_is_refused(tmp_path):
    """A torch.save'd custom class instance (inside a checkpoint-like dict) is refused with a ValueError."""
    path = tmp_path / "obj.pt"
    torch.save(Arbitrary(), path)
    with pytest.raises(ValueError, match="weights_only"):
        load_checkpoint(path)
    model = HNN(2, 4)
    save_checkpoint(model, path)
    ckpt = torch.load(path, weights_only=True)
    ckpt["metadata"] = {"note": Arbitrary()}
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match="weights_only"):
        load_checkpoint(path)


def test_malicious_pickle_never_runs(tmp_path):
    """Loading a pickle whose __reduce__ creates a file raises ValueError and never creates the file."""
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save(Malicious(marker), path)
    with pytest.raises(ValueError):
        load_checkpoint(path)
    assert not marker.exists()
    # the same payload hidden in an otherwise valid checkpoint's metadata
    save_checkpoint(HNN(2, 4), path)
    ckpt = torch.load(path, weights_only=True)
    ckpt["metadata"] = {"seed": Malicious(marker)}
    torch.save(ckpt, path)
    with pytest.raises(ValueError):
        load_checkpoint(path)
    assert not marker.exists()
    # control: the payload is real -- an unrestricted unpickle does create the file
    pickle.loads(pickle.dumps(Malicious(marker))).close()
    assert marker.exists()


def edited_checkpoint(tmp_path, **changes):
    """Save a valid HNN checkpoint, then overwrite some of its fields."""
    path = tmp_path / "edited.pt"
    save_checkpoint(HNN(2, 8), path)
    ckpt = torch.load(path, weights_only=True)
    for key, value in changes.items():
        if value is KeyError:
            del ckpt[key]
        else:
            ckpt[key] = value
    torch.save(ckpt, path)
    return path


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"model_class": "Transformer"}, "unknown model class 'Transformer'"),
        ({"model_class": KeyError}, "unknown model class None"),
        ({"format_version": 2}, "format_version 2"),
        ({"format_version": KeyError}, "format_version None"),
        ({"format": KeyError}, "not an hnnlib checkpoint"),
        ({"config": None}, "configuration"),
        ({"config": {"input_dim": 2, "hidden_dim": 16, "nonlinearity": "tanh"}}, "do not fit"),
        ({"config": {"input_dim": 4, "hidden_dim": 8, "nonlinearity": "tanh"}}, "do not fit"),
        ({"config": {"input_dim": 2, "hidden_dim": 8, "nonlinearity": "tanh", "depth": 5}}, "do not fit"),
        ({"config": {"input_dim": 3, "hidden_dim": 8, "nonlinearity": "tanh"}}, "do not fit"),
        ({"model_class": "BaselineNN"}, "do not fit"),
        ({"state_dict": {}}, "do not fit"),
        ({"state_dict": KeyError}, "do not fit"),
        ({"dtype": "not_a_dtype"}, "do not fit"),
        ({"dtype": "int64"}, "do not fit"),
    ],
)
def test_invalid_checkpoint_contents(tmp_path, changes, match):
    """Unknown class, wrong version, missing fields, weights that do not fit the config: each a ValueError."""
    with pytest.raises(ValueError, match=match):
        load_checkpoint(edited_checkpoint(tmp_path, **changes))


@pytest.mark.parametrize("model_class", [["HNN"], {"name": "HNN"}], ids=["list", "dict"])
def test_unhashable_model_class_is_value_error(tmp_path, model_class):
    """A weights-only-loadable but malformed model_class (a list or dict) should be a ValueError like other bad fields."""
    with pytest.raises(ValueError, match="unknown model class"):
        load_checkpoint(edited_checkpoint(tmp_path, model_class=model_class))


@pytest.mark.parametrize("changes", [{"metadata": 5}, {"format_version": torch.tensor([1.0])}], ids=["metadata", "version"])
def test_malformed_fields_are_value_errors(tmp_path, changes):
    """A non-dict metadata or a non-int format_version is rejected, not silently accepted."""
    with pytest.raises(ValueError):
        load_checkpoint(edited_checkpoint(tmp_path, **changes))


def test_float64_model_reloads_as_float64(tmp_path):
    """A float64 HNN (random biases) reloads as float64 with bit-identical outputs: the recorded dtype wins over the default."""
    torch.manual_seed(0)
    model = HNN(2, 8).to(F64)
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 1:
                p.normal_(0, 0.5)
    save_checkpoint(model, tmp_path / "m.pt")
    loaded = load_checkpoint(tmp_path / "m.pt")
    assert next(loaded.parameters()).dtype == F64
    x = torch.randn(4, 2, dtype=F64)
    assert torch.equal(loaded.time_derivative(x), model.time_derivative(x))
