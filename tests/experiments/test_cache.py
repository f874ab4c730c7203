"""The model cache: keys, round trips, changed settings, bad entries, pruning, locking."""

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from hnnlib import _io, experiments
from hnnlib.checkpoints import save_checkpoint
from hnnlib.experiments import CacheWarning, ModelCache, OscillatorConfig, cache, model_key, run_experiment, steps
from hnnlib.models import HNN, BaselineNN

from ..test_checkpoints import flip_a_weight_byte, resaved_with
from .tiny import TINY, no_fit, tiny


def test_model_key_covers_kind_version_and_source(monkeypatch):
    config = tiny()
    keys = {model_key(config, "baseline"), model_key(config, "hnn")}
    assert len(keys) == 2
    monkeypatch.setattr(cache, "__version__", "0.0.0-other")
    assert model_key(config, "hnn") not in keys
    monkeypatch.undo()
    monkeypatch.setattr(cache, "source_hash", lambda: "0" * 64)
    assert model_key(config, "hnn") not in keys
    with pytest.raises(ValueError, match="unknown model kind"):
        model_key(config, "cnn")


def test_source_hash_is_the_code_hash_of_the_package():
    h = experiments.source_hash()
    assert len(h) == 64 and int(h, 16) >= 0
    assert h == cache.package_code_hash(Path(experiments.__file__).resolve().parents[1])


MODULE = '''"""A module."""

import math


def f(x, scale=2.0):
    """Doc of f."""
    return math.sqrt(x) * scale  # a comment


class C:
    """Doc of C."""

    label = "a label"

    def g(self):
        """Doc of g."""
        "not a docstring: a second statement"
        return 2
'''


def _hash_of(tmp_path, name, files):
    root = tmp_path / name
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return cache.package_code_hash(root)


@pytest.mark.parametrize("edit", [
    ("A module.", "Another text."),                       # the module's docstring
    ("Doc of f.", "Longer, and\n    on two lines."),       # a function's
    ("Doc of C.", "Other."),                              # a class's
    ("  # a comment", ""),                                # a comment
    ("\n\n\ndef f", "\n\ndef f"),                          # blank lines
    ("return math.sqrt(x) * scale", "return (math.sqrt(x)\n            * scale)"),  # layout
])
def test_code_hash_ignores_docs_comments_and_layout(tmp_path, edit):
    assert MODULE.count(edit[0]) == 1
    base = _hash_of(tmp_path, "base", {"m.py": MODULE, "sub/n.py": "X = 1\n"})
    assert _hash_of(tmp_path, "edited", {"m.py": MODULE.replace(*edit), "sub/n.py": "X = 1\n"}) == base


@pytest.mark.parametrize("edit", [
    ("* scale", "+ scale"),                                                # an operation
    ("scale=2.0", "scale=3.0"),                                            # a default
    ('"a label"', '"another label"'),                                      # a string that is data
    ('"not a docstring: a second statement"', '"a changed second statement"'),  # a string after the docstring
    ("def g(self):", "def g(self) -> int:"),                               # an annotation
])
def test_code_hash_sees_every_change_to_the_code(tmp_path, edit):
    assert MODULE.count(edit[0]) == 1
    base = _hash_of(tmp_path, "base", {"m.py": MODULE})
    assert _hash_of(tmp_path, "edited", {"m.py": MODULE.replace(*edit)}) != base


def test_code_hash_sees_files_added_and_renamed(tmp_path):
    base = _hash_of(tmp_path, "base", {"m.py": MODULE})
    assert _hash_of(tmp_path, "added", {"m.py": MODULE, "extra.py": ""}) != base
    assert _hash_of(tmp_path, "renamed", {"other.py": MODULE}) != base


def test_code_hash_rejects_a_file_that_is_not_python(tmp_path):
    with pytest.raises(SyntaxError):
        _hash_of(tmp_path, "broken", {"m.py": "def f(:\n"})


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("HNNLIB_CACHE_DIR", str(tmp_path))
    assert experiments.default_cache_dir() == tmp_path
    monkeypatch.delenv("HNNLIB_CACHE_DIR")
    assert experiments.default_cache_dir() == _io.cache_dir() / "models"


def test_cache_round_trip_skips_training_and_gives_identical_results(tmp_path, monkeypatch):
    first = run_experiment(tiny(), cache=tmp_path, progress=False)
    assert first.from_cache == {"baseline": False, "hnn": False}
    assert len(list(tmp_path.rglob("mass_spring-*.pt"))) == 2
    monkeypatch.setattr(steps, "fit", no_fit)
    second = run_experiment(tiny(), cache=tmp_path, progress=False)
    assert second.from_cache == {"baseline": True, "hnn": True}
    assert second.row == first.row
    assert second.energy_mse_by_energy == first.energy_mse_by_energy
    assert second.histories == first.histories
    for kind in ("baseline", "hnn"):
        for (name, p1), p2 in zip(first.models[kind].state_dict().items(), second.models[kind].state_dict().values()):
            assert torch.equal(p1, p2), name
        assert np.array_equal(first.comparisons[kind].predicted, second.comparisons[kind].predicted)


def test_cache_metadata_records_key_and_config(tmp_path):
    config = tiny()
    run_experiment(config, cache=tmp_path, progress=False)
    ckpt = torch.load(ModelCache(tmp_path).path(config, "hnn"), weights_only=True)
    meta = ckpt["metadata"]
    assert meta["key"] == model_key(config, "hnn")
    assert meta["config"] == config.to_dict()
    assert meta["model"] == "hnn" and meta["task"] == "mass_spring"


def test_cache_respects_changed_settings(tmp_path, monkeypatch):
    """Another config (here: more steps) is another entry: it trains instead of loading."""
    run_experiment(tiny(), cache=tmp_path, progress=False)
    calls = []
    original = steps.fit
    monkeypatch.setattr(steps, "fit", lambda *a, **k: calls.append(1) or original(*a, **k))
    result = run_experiment(tiny(steps=21), cache=tmp_path, progress=False)
    assert len(calls) == 2 and result.from_cache == {"baseline": False, "hnn": False}


def corrupt_with_garbage(path, config, kind):
    path.write_bytes(b"not a checkpoint")


def corrupt_with_wrong_key(path, config, kind):
    ckpt = torch.load(path, weights_only=True)
    ckpt["metadata"]["key"] = "0" * 64
    torch.save(ckpt, path)


def corrupt_with_wrong_shapes(path, config, kind):
    """A well-formed checkpoint with the right key but a model of another width."""
    model = HNN(2, hidden_dim=8) if kind == "hnn" else BaselineNN(2, hidden_dim=8)
    meta = torch.load(path, weights_only=True)["metadata"]
    save_checkpoint(model, path, meta)


def corrupt_history(path, config, kind):
    ckpt = torch.load(path, weights_only=True)
    ckpt["metadata"]["history"] = "lost"
    torch.save(ckpt, path)


def corrupt_a_weight_byte(path, config, kind):
    """One flipped byte inside a weight record; the key and everything else unchanged."""
    flip_a_weight_byte(path)


def corrupt_with_nan_weights(path, config, kind):
    """NaN weights with a matching hash (an entry written by a careless tool): never trusted."""
    resaved_with(path, lambda state: state[next(iter(state))].fill_(float("nan")))


@pytest.mark.parametrize("corrupt", [corrupt_with_garbage, corrupt_with_wrong_key, corrupt_with_wrong_shapes, corrupt_history,
                                     corrupt_a_weight_byte, corrupt_with_nan_weights])
def test_bad_cache_entry_is_retrained_with_a_warning(tmp_path, corrupt):
    config = tiny()
    first = run_experiment(config, cache=tmp_path, progress=False)
    path = ModelCache(tmp_path).path(config, "hnn")
    corrupt(path, config, "hnn")
    with pytest.warns(CacheWarning, match="retraining"):
        second = run_experiment(config, cache=tmp_path, progress=False)
    assert second.from_cache == {"baseline": True, "hnn": False}
    assert second.row == first.row
    third = run_experiment(config, cache=tmp_path, progress=False)  # the entry was overwritten with a good one
    assert third.from_cache == {"baseline": True, "hnn": True}


def test_prune_removes_only_other_generations(tmp_path):
    run_experiment(tiny(), cache=tmp_path, progress=False)
    stale = tmp_path / "0.0.9-0123456789abcdef"
    stale.mkdir()
    (stale / "mass_spring-hnn-0.pt").write_bytes(b"old")
    (stale / "x.pt.1.part").write_bytes(b"partial")
    unrelated = tmp_path / "notes"
    unrelated.mkdir()
    (unrelated / "keep.pt").write_bytes(b"not ours")
    removed = ModelCache(tmp_path).prune()
    assert sorted(p.name for p in removed) == ["mass_spring-hnn-0.pt", "x.pt.1.part"]
    assert not stale.exists() and (unrelated / "keep.pt").exists()
    assert run_experiment(tiny(), cache=tmp_path, progress=False).from_cache == {"baseline": True, "hnn": True}


def test_no_cache_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("HNNLIB_CACHE_DIR", str(tmp_path))
    run_experiment(tiny(), cache=False, progress=False)
    assert not list(tmp_path.iterdir())
    run_experiment(tiny(), progress=False)  # cache=True: the folder of $HNNLIB_CACHE_DIR
    assert len(list(tmp_path.rglob("*.pt"))) == 2


def test_unwritable_cache_warns_but_runs(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    with pytest.warns(CacheWarning, match="could not write"):
        result = run_experiment(tiny(), cache=blocker / "models", progress=False)
    assert result.from_cache == {"baseline": False, "hnn": False}


def test_parallel_runs_of_one_experiment_train_it_once(tmp_path):
    # Two processes ask for the same uncached model at once: the cache lock makes one train and
    # store it while the other waits, then loads it. Whatever the interleaving (a loaded machine may
    # finish the first before the second starts), each model is trained exactly once; no wall-clock
    # limit is set, so a slow machine only makes the test slower.
    script = (
        "import sys, json; from hnnlib import experiments\n"
        f"r = experiments.run_experiment('mass_spring', cache=sys.argv[1], progress=False, **{TINY[OscillatorConfig]!r})\n"
        "print(json.dumps(r.from_cache))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [json.loads(p.communicate()[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    trained = sum(not out[kind] for out in outputs for kind in ("baseline", "hnn"))
    assert trained == 2, f"each model should be trained exactly once over both processes, got {outputs}"
    assert not list(tmp_path.rglob("*.lock")), "the lock files are removed after use"
    assert experiments.ModelCache(tmp_path).prune() == []  # current generation: nothing to prune


def test_cache_lock_excludes_and_removes_its_file(tmp_path):
    """Eight threads take one entry's lock (each its own open file, as processes do): never two inside at once,
    even though each holder deletes the lock file on leaving; afterwards no lock file is left."""
    store, config = ModelCache(tmp_path), tiny()
    inside, overlaps, entries = [], [], []

    def worker():
        with store.lock(config, "hnn"):
            inside.append(1)
            overlaps.append(len(inside))
            time.sleep(0.01)
            entries.append(1)
            inside.pop()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(entries) == 8 and max(overlaps) == 1
    assert not list(tmp_path.rglob("*.lock"))
