"""hnnlib.progress: the bar a saved notebook shows is the finished one."""

import nbclient
import nbformat
import pytest

from hnnlib.progress import progress_bar


def test_outside_a_notebook_it_is_plain_tqdm(capsys):
    assert list(progress_bar(range(5), desc="counting")) == list(range(5))
    assert "5/5" in capsys.readouterr().err

def test_disabled_bar_prints_nothing(capsys):
    assert sum(progress_bar(range(4), disable=True)) == 6
    assert capsys.readouterr().err == ""


@pytest.fixture(scope="module")
def executed_cells():
    """The outputs of three cells run in one kernel (a kernel's start is most of the cost)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from hnnlib.progress import progress_bar\n"
            "for _ in progress_bar(range(30), desc='steps'):\n"
            "    pass"
        ),
        nbformat.v4.new_code_cell("from tqdm.auto import tqdm\nfor _ in tqdm(range(30)):\n    pass"),
        nbformat.v4.new_code_cell(
            "from hnnlib.progress import NOTEBOOK_INTERVAL, progress_bar\n"
            "bar = progress_bar(range(3))\n"
            "print(bar.mininterval == NOTEBOOK_INTERVAL >= 1, progress_bar(range(3), mininterval=0.5).mininterval)\n"
            "bar.close()"
        ),
    ]
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    return [cell.outputs for cell in nb.cells]


def test_stored_notebook_output_is_the_finished_bar(executed_cells):
    """Executed in a kernel, the saved fallback text reads 100% (tqdm alone stores 0%)."""
    ours, plain, _ = executed_cells
    (bar,) = [o for o in ours if o.output_type == "display_data"]
    assert "application/vnd.jupyter.widget-view+json" in bar.data
    assert bar.data["text/plain"].startswith("steps: 100%") and "30/30" in bar.data["text/plain"]
    # The control: tqdm's own notebook bar stores the state it was drawn in.
    (plain_bar,) = [o for o in plain if o.output_type == "display_data"]
    assert "0/30" in plain_bar.data["text/plain"]


def test_notebook_bar_redraws_rarely(executed_cells):
    """In a kernel the bar redraws every NOTEBOOK_INTERVAL seconds, not tqdm's 0.1 s (fewer kernel messages)."""
    (printed,) = [o for o in executed_cells[2] if o.output_type == "stream"]
    assert printed.text.strip() == "True 0.5"
