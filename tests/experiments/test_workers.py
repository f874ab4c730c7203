"""Training in worker processes (``trained_models(..., workers=2)``): the same models, errors raised here."""

import dataclasses

import pytest
import torch

from hnnlib import experiments
from hnnlib.experiments import runner, workers
from hnnlib.progress import _SentBar, draw_sent_bars
from hnnlib.training import NonFiniteError

from .tiny import tiny


def _same_models(a, b):
    for kind in a:
        sa, sb = a[kind].state_dict(), b[kind].state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[n], sb[n]) for n in sa), kind


def test_a_worker_gives_the_same_model_bit_for_bit_and_caches_it_once(tmp_path, monkeypatch):
    """The HNN trained in a second process equals the one trained here after the baseline, to the last bit."""
    config = tiny(steps=60)
    alone, alone_histories, _ = experiments.trained_models(config, cache=tmp_path / "one", progress=False)
    rng_alone = torch.get_rng_state()
    both, histories, from_cache = experiments.trained_models(config, cache=tmp_path / "two", progress=False, workers=2)
    assert from_cache == {"baseline": False, "hnn": False}
    _same_models(alone, both)
    for kind in alone:
        assert dataclasses.asdict(alone_histories[kind]) == dataclasses.asdict(histories[kind]), kind
        assert not both[kind].training
    assert torch.equal(rng_alone, torch.get_rng_state())  # the global generator left as without workers
    # Both now in the cache: loaded here, no process started.
    monkeypatch.setattr(workers, "start", lambda *a, **k: pytest.fail("a worker was started for a cached model"))
    again, _, from_cache = experiments.trained_models(config, cache=tmp_path / "two", progress=False, workers=2)
    assert from_cache == {"baseline": True, "hnn": True}
    _same_models(alone, again)


def _job(config, kind):
    spec = experiments.get_task(config.task)
    return (runner._trained_state, spec, config, kind, spec.make_data(config), None, False)


def test_a_workers_error_is_raised_here():
    worker = workers.start(*_job(tiny(learning_rate=1e30), "hnn"))  # the loss overflows at once
    with pytest.raises(NonFiniteError, match="not finite|became"):
        worker.result()
    assert worker.process.poll() is not None  # the process has ended


def test_a_killed_worker_is_reported():
    worker = workers.start(*_job(tiny(steps=10**6), "hnn"), name="the killed job")
    worker.process.kill()
    with pytest.raises(workers.WorkerError, match="the killed job exited with code"):
        worker.result()


def test_bad_workers_and_unpicklable_jobs():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="workers must be a positive int"):
            experiments.trained_models(tiny(), cache=False, progress=False, workers=bad)
    config = tiny()
    spec = dataclasses.replace(experiments.get_task(config.task), make_model=lambda config, kind, data: None)
    with pytest.raises(TypeError, match="workers=1"):
        workers.start(runner._trained_state, spec, config, "hnn", None, None, False)


def test_a_sent_bar_is_drawn_by_the_receiver(capsys):
    """A worker's bar (open, counts, postfix, close) is drawn here, then the worker's result is returned."""
    sent = []
    bar = _SentBar(sent.append, range(5), total=5, desc="worker steps", leave=True)
    for step in bar:
        if step == 2:
            bar.set_postfix({"train": "1.0e-03"}, refresh=False)
    assert [m[0] for m in sent][0] == "open" and sent[-1][:2] == ("close", 5)  # closed when its iterable ends, as tqdm's
    bar.close()
    assert sent[-2][0] != "close"  # once
    assert _SentBar(sent.append, range(3), disable=True).n == 0 and len(sent) == 3  # disabled: sends nothing
    sent[-1] = ("close", 5, 125.0)  # as if the worker took 125 s: the bar shows its time, not the reader's
    messages = iter([*sent, ("result", 42)])
    assert draw_sent_bars(lambda: next(messages)) == ("result", 42)
    err = capsys.readouterr().err
    assert "worker steps: 100%" in err and "5/5" in err and "train=1.0e-03" in err and "[02:05<" in err


def test_the_lnn_protocols_last_model_from_a_worker_is_the_same(tmp_path):
    """Chapter 13's path (``lagrangian.cached_models``): the mechanical LNN, trained in a worker, equals it trained here."""
    from hnnlib.experiments import lnn_protocol

    config = lnn_protocol.make_config(pool_size=300, test_size=50, steps=30, lnn_steps=20, batch_size=32, eval_every=10)
    data = lnn_protocol.make_data(config)
    alone, alone_histories, _ = lnn_protocol.trained_models(config, data, cache=False, progress=False)
    both, histories, from_cache = lnn_protocol.trained_models(config, data, cache=tmp_path, progress=False, workers=2)
    assert from_cache == {"baseline": False, "lnn": False, "mechanical": False}
    _same_models(alone, both)
    assert dataclasses.asdict(alone_histories["mechanical"]) == dataclasses.asdict(histories["mechanical"])
    _, _, from_cache = lnn_protocol.trained_models(config, data, cache=tmp_path, progress=False, workers=2)
    assert from_cache == {"baseline": True, "lnn": True, "mechanical": True}


def test_trajectory_jobs_split_between_two_processes_give_the_same_models():
    """Chapter 10's path (``trajectories.train_methods``): the later half of the jobs in a worker, the same bits."""
    from hnnlib.experiments import trajectories as tr

    from .test_trajectories import TINY

    seeds = [0, 1]
    datas = [tr.make_data(TINY, s) for s in seeds]
    jobs = [(TINY, method, datas) for method in ("rk2", "leapfrog", "discrete_gradient")]
    here = tr.train_methods(jobs, seeds, cache=False, progress=False)
    split = tr.train_methods(jobs, seeds, cache=False, progress=False, workers=2)
    assert len(here) == len(split) == 3
    for (models_a, history_a), (models_b, history_b) in zip(here, split):
        for a, b in zip(models_a, models_b):
            _same_models({"member": a}, {"member": b})
        for key, values in dataclasses.asdict(history_a).items():
            assert torch.equal(torch.tensor(values), torch.tensor(getattr(history_b, key))) or \
                torch.allclose(torch.tensor(values), torch.tensor(getattr(history_b, key)), rtol=0, atol=0, equal_nan=True), key
    with pytest.raises(ValueError, match="workers must be a positive int"):
        tr.train_methods(jobs, seeds, cache=False, progress=False, workers=0)


def test_map_in_order_keeps_the_order_and_passes_keywords():
    import operator

    calls = [(k,) for k in range(5)]
    assert workers.map_in_order(operator.neg, calls, workers=2) == [0, -1, -2, -3, -4]
    assert workers.map_in_order(int, [("11",), ("7",)], workers=2, base=8) == [9, 7]
    assert workers.map_in_order(operator.neg, [], workers=2) == []


def test_a_result_that_cannot_be_sent_back_is_an_error_here():
    import threading

    with pytest.raises(TypeError, match="pickle"):
        workers.start(threading.Lock).result()  # a lock cannot be pickled


def test_the_environment_can_cap_the_workers(monkeypatch):
    monkeypatch.setattr(workers, "available_cores", lambda: 8)
    assert workers.usable_workers(3) == 3
    monkeypatch.setenv(workers.WORKERS_ENV_VAR, "1")
    assert workers.usable_workers(3) == 1
    monkeypatch.setattr(workers, "start", lambda *a, **k: pytest.fail("a worker was started with HNNLIB_MAX_WORKERS=1"))
    assert workers.map_in_order(abs, [(-1,), (-2,)], workers=2) == [1, 2]
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(workers.WORKERS_ENV_VAR, bad)
        with pytest.raises(ValueError, match="HNNLIB_MAX_WORKERS must be a positive integer"):
            workers.usable_workers(2)
