"""A run to take home: its recipe as a notebook and as a script in plain Keras, and its
trained model for a TFLite interpreter (a phone, a Raspberry Pi), as download buttons on Runs
and under Train's finished run.

Every file is made only when its button is clicked (Streamlit's deferred download): the
recipe is text made in milliseconds, the TFLite conversion takes a few seconds.
"""

from __future__ import annotations

from fmnist_core.export import code, notebook, tflite
from fmnist_core.export.steps import Origin
from fmnist_core.store.records import RunNotFoundError
from ui import resources

NOTEBOOK_HELP = ("The run's recipe as a Jupyter notebook in plain Keras: load the data, build "
                 "this network, train and test it, draw the curves; each step explained.")
SCRIPT_HELP = "The same recipe as one Python script: python FILE.py --epochs 1 to try it."
TFLITE_HELP = ("The trained network as a TensorFlow Lite file, to answer on a phone or a "
               "Raspberry Pi (the README says how).")


def buttons(run: dict, where, key: str) -> None:
    """The three downloads of `run` (a stored run's row) in `where`, three containers
    (columns); the TFLite one only when the run has a saved model. `key` prefixes the
    buttons' keys, so the same run's buttons can be on two pages."""
    store = resources.run_store()
    run_id, spec, origin = run["id"], run["spec"], Origin.of_run(run)
    book, script, lite = where
    book.download_button("Notebook", lambda: notebook.notebook_text(spec, origin),
                         file_name=f"fmnist-{run_id}.ipynb", mime="application/x-ipynb+json",
                         on_click="ignore", key=f"{key}_notebook_{run_id}",
                         icon=":material/menu_book:", help=NOTEBOOK_HELP)
    script.download_button("Script", lambda: code.script_text(spec, origin),
                           file_name=f"fmnist-{run_id}.py", mime="text/x-python",
                           on_click="ignore", key=f"{key}_script_{run_id}",
                           icon=":material/code:", help=SCRIPT_HELP)
    if store.model_file(run_id).is_file():
        lite.download_button("TFLite", lambda: tflite.tflite_bytes(store, run_id),
                             file_name=f"fmnist-{run_id}.tflite",
                             mime="application/octet-stream", on_click="ignore",
                             key=f"{key}_tflite_{run_id}", icon=":material/smartphone:",
                             help=TFLITE_HELP)


def run_buttons(run_id: str, where, key: str) -> None:
    """`buttons` for the stored run `run_id`; none when it has been deleted meanwhile (from
    Runs, in another tab)."""
    try:
        run = resources.run_store().get_run(run_id)
    except RunNotFoundError:
        return
    buttons(run, where, key)
