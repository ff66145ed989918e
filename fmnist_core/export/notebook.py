"""A run's recipe as a Jupyter notebook: its heading, a `parameters` cell, then each step of
`fmnist_core.export.code` as a Markdown cell and the code cell it explains.

The first code cell is tagged `parameters` (papermill's convention) and holds `epochs` and
`limit_train`, so the notebook can be run short.
"""

from __future__ import annotations

from fmnist_core.export.code import parameters_code, parameters_text, steps, title
from fmnist_core.export.steps import Origin
from fmnist_core.nets.spec import ModelSpec

PARAMETERS_TAG = "parameters"


def notebook(spec: ModelSpec, origin: Origin = Origin()):
    """The recipe as an `nbformat` v4 notebook (not executed: no outputs).

    Raises:
        RuntimeError: nbformat is not installed (a sentence).
    """
    nbformat = _nbformat()
    new_code, new_markdown = nbformat.v4.new_code_cell, nbformat.v4.new_markdown_cell
    cells = [new_markdown(title(spec, origin)), new_markdown(parameters_text(False)),
             new_code(parameters_code(spec, False), metadata={"tags": [PARAMETERS_TAG]})]
    for step in steps(spec, origin):
        cells.append(new_markdown(step.text))
        if step.code:
            cells.append(new_code(step.code))
    book = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    })
    nbformat.validate(book)
    return book


def notebook_text(spec: ModelSpec, origin: Origin = Origin()) -> str:
    """The notebook as the JSON text of an .ipynb file."""
    return _nbformat().writes(notebook(spec, origin))


def _nbformat():
    try:
        import nbformat
    except ImportError as err:
        raise RuntimeError("The notebook export writes with nbformat; install it: "
                           "pip install nbformat") from err
    return nbformat
