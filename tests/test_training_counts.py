"""benchmarks/training_counts.py: a model trained twice fails the count, a declared repeat does not."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "training_counts.py"
spec = importlib.util.spec_from_file_location("training_counts", SCRIPT)
training_counts = importlib.util.module_from_spec(spec)
spec.loader.exec_module(training_counts)


def _count(tmp_path, lines):
    log = tmp_path / "trainings.log"
    log.write_text("".join(line + "\n" for line in lines))
    return training_counts.main([str(log)])


def test_each_model_once_passes(tmp_path, capsys):
    assert _count(tmp_path, ["aa task, seed 0: HNN", "bb task, seed 0: baseline NN"]) == 0
    assert "2 models, 2 trainings, 0 trained more than once" in capsys.readouterr().out


def test_a_model_trained_twice_fails(tmp_path, capsys):
    assert _count(tmp_path, ["aa task, seed 0: HNN", "aa task, seed 0: HNN"]) == 1
    assert "1 trained more than once" in capsys.readouterr().out


def test_a_declared_repeat_is_listed_apart(tmp_path, capsys):
    mark = training_counts.ON_PURPOSE
    assert _count(tmp_path, [f"aa check {mark}", f"aa check {mark}"]) == 0
    assert "1 repeated on purpose" in capsys.readouterr().out
    # one undeclared run among them still fails
    assert _count(tmp_path, [f"aa check {mark}", "aa task, seed 0: HNN"]) == 1
