"""The exported notebook: its cells, and the truth test: every preset's and a few random
specs' notebooks executed short (nbclient, one kernel for all, the `parameters` cell
overridden as papermill does) build the studio's network."""

import json

import nbformat
import pytest

from exporttools import (LIMIT_TRAIN, TABLE_SOURCE, code_env, idx_folder, short_run_counts,
                         specs_to_run, studio_table)
from fmnist_core.export.code import setup_link
from fmnist_core.export.notebook import PARAMETERS_TAG, notebook, notebook_text
from fmnist_core.export.steps import Origin
from fmnist_core.nets.spec import preset

CELL_TIMEOUT = 300  # seconds: a cell that trains, on a busy 2-core machine


def test_the_first_code_cell_holds_the_parameters_and_each_step_is_explained():
    origin = Origin("0123456789ab", 0.9068, "http://studio.example:8501")
    book = nbformat.reads(notebook_text(preset("seed-cnn"), origin), as_version=4)
    nbformat.validate(book)
    code = [cell for cell in book.cells if cell.cell_type == "code"]
    assert code[0].metadata["tags"] == [PARAMETERS_TAG]
    assert code[0].source.startswith("epochs = 5\nlimit_train = None")
    assert book.cells[0].cell_type == "markdown"
    assert f"]({setup_link(preset('seed-cnn'), origin)})" in book.cells[0].source
    assert "90.68%" in book.cells[0].source
    # a Markdown cell before every code cell, in the studio's words
    for before, cell in zip(book.cells, book.cells[1:]):
        if cell.cell_type == "code":
            assert before.cell_type == "markdown" and before.source.startswith("**")
    assert "keras.Sequential([" in "".join(cell.source for cell in code)
    assert "fmnist_core" not in json.dumps(book)
    assert book.metadata["kernelspec"]["name"] == "python3"


def test_the_notebook_draws_its_curves_inline():
    cells = [cell.source for cell in notebook(preset("quick")).cells]
    drawing = [source for source in cells if "plt.subplots" in source]
    assert len(drawing) == 1 and "plt.show()" in drawing[0]
    assert 'matplotlib.use("Agg")' not in drawing[0]


@pytest.fixture(scope="module")
def notebooks_run(tmp_path_factory, fashion):
    """Every spec's notebook executed short in one shared kernel; {name: (spec, the text
    of its outputs)}."""
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    root = tmp_path_factory.mktemp("notebooks")
    data_dir = idx_folder(root / "data", fashion)
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(cwd=str(root), env=code_env(data_dir))
    outputs = {}
    try:
        for name, spec in specs_to_run().items():
            book = notebook(spec, Origin(name))
            _short(book)
            client = NotebookClient(book, km=manager, timeout=CELL_TIMEOUT,
                                    resources={"metadata": {"path": str(root)}})
            client.execute()
            outputs[name] = (spec, _text(book))
    finally:
        manager.shutdown_kernel(now=True)
    return root, outputs


def _short(book) -> None:
    """papermill's way: a cell after the `parameters` cell sets them anew; a last cell
    prints what the notebook built."""
    new = nbformat.v4.new_code_cell
    index = next(i for i, cell in enumerate(book.cells)
                 if PARAMETERS_TAG in cell.metadata.get("tags", []))
    book.cells.insert(index + 1, new(f"epochs = 1\nlimit_train = {LIMIT_TRAIN}"))
    book.cells.append(new(TABLE_SOURCE))


def _text(book) -> str:
    lines = []
    for cell in book.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                lines.append(output.text)
            elif output.output_type == "display_data" and "image/png" in output.data:
                lines.append("[image/png]\n")
    return "".join(lines)


@pytest.mark.parametrize("name", list(specs_to_run()))
def test_the_notebook_builds_and_trains_the_studios_network(notebooks_run, name):
    root, outputs = notebooks_run
    spec, out = outputs[name]
    (line,) = [line for line in out.splitlines() if line.startswith("TABLE ")]
    built = json.loads(line[len("TABLE "):])
    assert {k: built[k] for k in ("layers", "params")} == studio_table(spec)
    assert short_run_counts(spec) in out
    assert f"Test accuracy: {built['test_accuracy']:.4f}" in out
    assert "[image/png]" in out  # the curves, drawn inline
    assert (root / f"fmnist-{name}.keras").is_file()
