"""The Runs page under AppTest: the table, overlaid curves, downloads and owner-only delete."""

import json

from fmnist_core.model import build_model
from fmnist_core.runs import RunStore
from fmnist_core.spec import preset
from pagetools import page_test, page_text

PAGE = "pages/runs.py"


def keys(widgets, prefix: str) -> list[str]:
    return [w.key for w in widgets if w.key and w.key.startswith(prefix)]


def test_table_lists_the_run(trained_run):
    at = page_test(PAGE)
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    row = table[table["id"] == trained_run].iloc[0]
    assert row["status"] == "completed" and row["yours"] == ""
    assert row["model"] == "Conv 32 3×3 → MaxPool 2 → Dense 128"
    assert row["params"] == 693_962 and 0 < row["test acc"] <= 100  # percent
    assert {"created", "best val acc", "train s", "device"} <= set(table.columns)


def test_selecting_runs_overlays_their_curves(trained_run):
    at = page_test(PAGE)
    at.multiselect(key="runs_selected").set_value([]).run()
    assert "Pick one or more runs" in page_text(at)
    at.multiselect(key="runs_selected").set_value([trained_run]).run()
    overlay = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert overlay["data"][0]["name"].startswith(trained_run[:6])
    assert overlay["data"][0]["x"] == [1]  # one epoch
    assert overlay["layout"]["yaxis"]["title"]["text"] == "val accuracy"
    at.segmented_control(key="runs_metric").set_value("loss").run()
    overlay = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert overlay["layout"]["yaxis"]["title"]["text"] == "loss"
    at.toggle(key="runs_filters").set_value(True).run()
    assert not at.exception
    filters = json.loads(at.get("plotly_chart")[1].proto.spec)
    assert filters["layout"]["title"]["text"] == "conv1 · 32 filters"


def test_download_and_inspect_link_but_no_delete_for_someone_elses_run(trained_run):
    at = page_test(PAGE)
    at.multiselect(key="runs_selected").set_value([trained_run]).run()
    assert keys(at.get("download_button"), "runs_download_") == [f"runs_download_{trained_run}"]
    links = [(link.proto.page, link.proto.query_string) for link in at.get("page_link")]
    assert links == [("inspect", f"run={trained_run}")], links
    assert keys(at.button, "runs_delete_") == []
    assert "A classmate's run" in page_text(at)


def test_delete_your_own_run(trained_run, app_home):
    store = RunStore(app_home)
    spec = preset("dense").replace(epochs=1)
    mine = store.create_run(spec, "me-test", status="completed")
    path = store.save_model(mine, build_model(spec))
    at = page_test(PAGE)
    at.session_state["owner"] = "me-test"
    at.run()
    table = at.dataframe[0].value
    assert table.set_index("id").loc[mine, "yours"] == "⭐ yours"
    at.multiselect(key="runs_selected").set_value([mine, trained_run]).run()
    assert keys(at.button, "runs_delete_") == [f"runs_delete_{mine}"]
    at.button(key=f"runs_delete_{mine}").click().run()
    assert not at.exception and not at.error
    assert f"Run {mine[:6]} is deleted." in page_text(at)
    assert not path.exists() and mine not in [run["id"] for run in store.list_runs()]
    assert at.multiselect(key="runs_selected").value == [trained_run]


def test_your_run_still_training_cannot_be_deleted(app_home):
    store = RunStore(app_home)
    busy = store.create_run(preset("quick"), "me-busy", status="running")  # this process's pid
    try:
        at = page_test(PAGE)
        at.session_state["owner"] = "me-busy"
        at.run()
        at.multiselect(key="runs_selected").set_value([busy]).run()
        button = at.button(key=f"runs_delete_{busy}")
        assert button.disabled and "stop it" in button.help
        assert "No saved model" in page_text(at) and not at.get("download_button")
    finally:
        store.update_run(busy, status="cancelled")
        store.delete_run(busy, "me-busy")
