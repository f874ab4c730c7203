"""The task registry: every task of the paper, its overrides, clear errors for unknown names and fields."""

import pytest

from hnnlib.experiments import TASKS, make_config, run_experiment, run_many

from .tiny import PAPER_TASKS


def test_registry_holds_every_task_of_table_1_and_2():
    """Every task of the paper's tables is registered, with a config that names it and a paper row."""
    assert set(PAPER_TASKS) <= set(TASKS)
    assert list(TASKS)[: len(PAPER_TASKS)] == list(PAPER_TASKS)  # the paper's order
    for name, task in TASKS.items():
        assert task.config.task == name
        assert set(task.paper["energy_mse"]) == {"baseline", "hnn"}
        assert task.table in ("Table 1", "Table 2")
        assert task.config.protocol()


def test_unknown_task_and_field_give_clear_errors():
    with pytest.raises(ValueError, match="valid tasks: mass_spring, pendulum, real_pendulum, two_body, three_body"):
        run_experiment("no_such_task")
    with pytest.raises(ValueError, match="has no field"):
        make_config("mass_spring", no_such_field=1)
    with pytest.raises(ValueError, match="seed must lie"):
        make_config("mass_spring", seed=-1)
    with pytest.raises(TypeError, match="seed must be an int"):
        make_config("mass_spring", seed=1.5)
    with pytest.raises(ValueError, match="distinct"):
        run_many("mass_spring", [0, 0])
    with pytest.raises(ValueError, match="at least one"):
        run_many("mass_spring", [])
