"""Checkpoints: round trips, and refusal of corrupt, foreign or malicious files."""

import os
import pickle
import zipfile

import numpy as np

import pytest
import torch

from hnnlib.checkpoints import load_checkpoint, save_checkpoint, weights_sha256
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
        ({"format_version": 1}, "format_version 1"),
        ({"format_version": KeyError}, "format_version None"),
        ({"format": KeyError}, "not an hnnlib checkpoint"),
        ({"config": None}, "configuration"),
        ({"config": {"input_dim": 2, "hidden_dim": 16, "nonlinearity": "tanh"}}, "do not fit"),
        ({"config": {"input_dim": 4, "hidden_dim": 8, "nonlinearity": "tanh"}}, "do not fit"),
        ({"config": {"input_dim": 2, "hidden_dim": 8, "nonlinearity": "tanh", "depth": 5}}, "does not build"),
        ({"config": {"input_dim": 3, "hidden_dim": 8, "nonlinearity": "tanh"}}, "does not build"),
        ({"model_class": "BaselineNN"}, "do not fit"),
        ({"state_dict": {}}, "non-empty dict"),
        ({"state_dict": KeyError}, "non-empty dict"),
        ({"weights_sha256": KeyError}, "does not match the recorded None"),
        ({"dtype": "not_a_dtype"}, "recorded dtype 'not_a_dtype' is not one of"),
        ({"dtype": "int64"}, "recorded dtype 'int64' is not one of"),
        ({"dtype": "float16"}, "recorded dtype 'float16'"),
        ({"dtype": "complex64"}, "recorded dtype 'complex64'"),
        ({"dtype": "float64"}, "the weights are float32 but the checkpoint says float64"),
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


def flip_a_weight_byte(path):
    """Flip one byte inside a stored tensor's record of the zip (the record's name and the file's keys unchanged)."""
    with zipfile.ZipFile(path) as archive:
        info = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    raw = bytearray(path.read_bytes())
    name_len, extra_len = int.from_bytes(raw[info.header_offset + 26:info.header_offset + 28], "little"), int.from_bytes(raw[info.header_offset + 28:info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    raw[start + info.file_size // 2] ^= 0x10
    path.write_bytes(bytes(raw))


def test_a_flipped_weight_byte_is_detected(tmp_path):
    """torch.load does not check the zip's CRC; the recorded sha256 of the weights does."""
    path = tmp_path / "m.pt"
    save_checkpoint(HNN(2, 8), path)
    flip_a_weight_byte(path)
    assert torch.load(path, weights_only=True)["model_class"] == "HNN"  # the file still reads
    with pytest.raises(ValueError, match="sha256 .* does not match the recorded .*corrupt or was altered"):
        load_checkpoint(path)


def resaved_with(path, edit):
    """Edit a checkpoint's weights and record their new sha256, as a careless writer would."""
    ckpt = torch.load(path, weights_only=True)
    edit(ckpt["state_dict"])
    ckpt["weights_sha256"] = weights_sha256(ckpt["state_dict"])
    torch.save(ckpt, path)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(tmp_path, value):
    path = tmp_path / "m.pt"
    save_checkpoint(HNN(2, 8), path)
    resaved_with(path, lambda state: state["mlp.net.2.weight"].__setitem__((0, 0), value))
    with pytest.raises(ValueError, match="'mlp.net.2.weight' holds NaN or inf"):
        load_checkpoint(path)


def test_weights_of_another_dtype_than_the_label_are_refused(tmp_path):
    """float64 weights labelled float32 would be downcast; they are refused instead. So are integer weights."""
    path = tmp_path / "m.pt"
    save_checkpoint(HNN(2, 8), path)
    resaved_with(path, lambda state: state.update({k: v.double() for k, v in state.items()}))
    with pytest.raises(ValueError, match="the weights are float64 but the checkpoint says float32"):
        load_checkpoint(path)
    resaved_with(path, lambda state: state.update({k: v.to(torch.int64) for k, v in state.items()}))
    with pytest.raises(ValueError, match=r"must all be float32 or all float64, got \['int64'\]"):
        load_checkpoint(path)


def test_a_huge_config_is_refused_before_anything_is_built(tmp_path, monkeypatch):
    """hidden_dim=100000 against 8-wide weights: refused from the shapes, with no full-size model built."""
    path = edited_checkpoint(tmp_path, config={"input_dim": 2, "hidden_dim": 100_000, "nonlinearity": "tanh"})
    real_init = torch.nn.init.orthogonal_

    def only_on_meta(tensor, *args, **kwargs):
        assert tensor.device.type == "meta", "a model was built at full size before its shapes were checked"
        return real_init(tensor, *args, **kwargs)

    monkeypatch.setattr(torch.nn.init, "orthogonal_", only_on_meta)
    with pytest.raises(ValueError, match="do not fit a HNN with config .*100000"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "metadata, where",
    [({"loss": np.float64(0.5)}, r"metadata\['loss'\] is a numpy.float64"),
     ({"history": {"steps": [1, np.int64(2)]}}, r"metadata\['history'\]\['steps'\]\[1\] is a numpy.int64"),
     ({"array": np.zeros(2)}, "numpy.ndarray"),
     ({"tensor": torch.zeros(2)}, "torch.Tensor"),
     ({1: "int key"}, "keys must be str")],
)
def test_save_refuses_metadata_that_would_not_load(tmp_path, metadata, where):
    """What load_checkpoint (weights_only=True) would refuse is refused at save time, naming the key; nothing is written."""
    path = tmp_path / "m.pt"
    with pytest.raises(TypeError, match=where):
        save_checkpoint(HNN(2, 8), path, metadata)
    assert not path.exists()


def test_save_refuses_non_finite_or_half_precision_weights(tmp_path):
    model = HNN(2, 8)
    with torch.no_grad():
        model.mlp.net[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf"):
        save_checkpoint(model, tmp_path / "m.pt")
    with pytest.raises(ValueError, match="must all be float32 or all float64"):
        save_checkpoint(HNN(2, 8).half(), tmp_path / "m.pt")


def test_load_checkpoint_names_a_bad_device(tmp_path):
    save_checkpoint(HNN(2, 8), tmp_path / "m.pt")
    with pytest.raises(ValueError, match="device 'gpu' is not a device name"):
        load_checkpoint(tmp_path / "m.pt", device="gpu")
