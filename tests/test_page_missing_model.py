"""A server whose models folder lacks a run's file (STUDIO_HOME not shared, a file deleted by
hand) says so in one sentence on Inspect, Predict and Runs, under AppTest."""

import pytest

from fmnist_core.nets.model import build_model
from fmnist_core.nets.spec import preset
from fmnist_core.store.runs import RunStore
from pagetools import page_test, page_text
from test_page_predict import draw, drawing


@pytest.fixture
def without_model(app_home, trained_run):
    """A finished run of a classmate whose row names a model file the models folder lacks
    (another finished run, `trained_run`, is there to pick instead); returns its id."""
    store = RunStore(app_home)
    spec = preset("quick").replace(epochs=1)
    run_id = store.create_run(spec, "elsewhere-owner", status="completed")
    store.save_model(run_id, build_model(spec))
    store.update_run(run_id, test_accuracy=0.11)  # never the run a page opens on
    store.model_file(run_id).unlink()  # trained on a server whose folder this one lacks
    yield run_id
    store.delete_run(run_id, "elsewhere-owner")


def one_sentence(text: str) -> bool:
    return text.endswith(".") and ". " not in text and "\n" not in text \
        and "Traceback" not in text


def test_inspect_says_the_model_cannot_be_opened(without_model):
    at = page_test("pages/inspect.py")
    at.selectbox(key="inspect_run").set_value(without_model).run()
    assert not at.exception
    (sentence,) = [e.value for e in at.error]
    assert sentence == (f"The saved model of run {without_model[:6]} could not be opened; "
                        "pick another run.")
    assert one_sentence(sentence)


def test_predict_says_the_model_cannot_be_opened(without_model, monkeypatch):
    at = page_test("pages/predict.py")
    at.selectbox(key="predict_run").set_value(without_model).run()
    draw(monkeypatch, drawing())
    at.run()
    assert not at.exception
    (sentence,) = [e.value for e in at.error]
    assert without_model[:6] in sentence and one_sentence(sentence)
    assert "The network thinks" not in page_text(at)


def test_runs_say_the_run_has_no_saved_model(without_model, trained_run):
    at = page_test("pages/runs.py")
    at.multiselect(key="runs_selected").set_value([trained_run, without_model]).run()
    at.toggle(key="runs_filters").set_value(True).run()
    assert not at.exception and not at.error
    text = page_text(at)
    assert "No saved model" in text  # its line offers no download and no Inspect
    assert f"No filters for {without_model[:6]} (no saved model)." in text
    downloads = [button.proto.id for button in at.get("download_button")]
    assert any(i.endswith(f"runs_download_{trained_run}") for i in downloads)
    assert not any(i.endswith(f"runs_download_{without_model}") for i in downloads)
