"""The take-home downloads on the Runs page: a notebook, a script and a TFLite file, each
made when its button is clicked (the Train page's are checked with its finished run in
tests/test_page_train.py)."""

import ast
import json

import pytest
from streamlit.runtime.media_file_manager import MediaFileManager

from fmnist_core.store.runs import RunStore
from pagetools import page_test, page_text


@pytest.fixture
def deferred(monkeypatch):
    """{file name: the callable a download button runs when clicked}, as the page made
    them (AppTest's runtime keeps its media files only while a script runs)."""
    made = {}
    add = MediaFileManager.add_deferred

    def record(self, data_callable, mimetype, coordinates, file_name=None, **kw):
        made[file_name] = data_callable
        return add(self, data_callable, mimetype, coordinates, file_name=file_name, **kw)

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    return made


def test_a_run_downloads_as_a_notebook_a_script_and_tflite(trained_run, deferred, app_home):
    at = page_test("pages/runs.py")
    at.multiselect(key="runs_selected").set_value([trained_run]).run()
    assert not at.exception, at.exception
    keys = {button.key for button in at.get("download_button")}
    assert {f"runs_notebook_{trained_run}", f"runs_script_{trained_run}",
            f"runs_tflite_{trained_run}"} <= keys
    labels = [button.proto.label for button in at.get("download_button")]
    assert {"Notebook", "Script", "TFLite"} <= set(labels)
    book = json.loads(deferred[f"fmnist-{trained_run}.ipynb"]())
    code = [cell for cell in book["cells"] if cell["cell_type"] == "code"]
    assert code[0]["metadata"]["tags"] == ["parameters"]
    accuracy = RunStore(app_home).get_run(trained_run)["test_accuracy"]
    assert f"{accuracy:.2%}" in "".join(book["cells"][0]["source"])
    script = deferred[f"fmnist-{trained_run}.py"]()
    ast.parse(script)
    assert "layers.Conv2D(16, 3" in script and "epochs, limit_train = args.epochs" in script
    assert deferred[f"fmnist-{trained_run}.tflite"]()[4:8] == b"TFL3"
    assert "Download, inspect, delete" in page_text(at)


def test_a_run_without_a_model_offers_its_recipe_but_no_tflite(app_home, deferred):
    from fmnist_core.nets.spec import preset

    store = RunStore(app_home)
    run_id = store.create_run(preset("dense"), "someone-else")
    store.finish_run(run_id, "diverged")
    try:
        at = page_test("pages/runs.py")
        at.multiselect(key="runs_selected").set_value([run_id]).run()
        assert not at.exception, at.exception
        keys = {button.key for button in at.get("download_button")}
    finally:  # the pages' run store is shared with the other page tests
        store.delete_run(run_id, "someone-else")
    assert {f"runs_notebook_{run_id}", f"runs_script_{run_id}"} <= keys
    assert f"runs_tflite_{run_id}" not in keys
    assert "Dense 128" in deferred[f"fmnist-{run_id}.py"]().split("\n\n")[0]
