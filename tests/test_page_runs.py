"""The Runs page under AppTest: the table, overlaid curves, downloads and owner-only delete."""

import base64
import json

import numpy as np
import pyarrow as pa

from fmnist_core.nets.model import build_model
from fmnist_core.store.runs import RunStore
from fmnist_core.nets.spec import preset
from fmnist_core.words import duration
from pagetools import page_test, page_text

PAGE = "pages/runs.py"


def keys(widgets, prefix: str) -> list[str]:
    return [w.key for w in widgets if w.key and w.key.startswith(prefix)]


def decoded(values) -> np.ndarray:
    """A plotly figure's array: a plain list, or plotly's {"dtype", "bdata", "shape"}."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), values["dtype"])
    return np.asarray(values)


def shown_table(at):
    """The run table as the page shows it: the text of every cell, indexed by run id."""
    raw = at.dataframe[0].proto.arrow_data.styler.display_values
    return pa.ipc.open_stream(raw).read_pandas()


def test_table_lists_the_run(trained_run, app_home):
    at = page_test(PAGE)
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    row = table.loc[trained_run]
    assert row["status"] == "completed" and row["student"] == "classmate"
    assert row["run"] == trained_run[:6] and row["network"] == "Conv 16 → Dense 128"
    assert row["params"] == 347_690 and 0 < row["test acc"] <= 100  # percent
    assert list(table.columns) == ["run", "student", "status", "test acc", "val acc",
                                   "training time", "images", "params", "network"]
    # the same training time as the Train page's, written the same way
    assert shown_table(at).loc[trained_run, "training time"] == duration(
        RunStore(app_home).get_run(trained_run)["train_seconds"])


def test_selecting_runs_overlays_their_curves(trained_run):
    at = page_test(PAGE)
    at.multiselect(key="runs_selected").set_value([]).run()
    assert "Pick one or more runs" in page_text(at)
    at.multiselect(key="runs_selected").set_value([trained_run]).run()
    overlay = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert overlay["data"][0]["name"].startswith(trained_run[:6])
    assert overlay["data"][0]["x"] == [1]  # one epoch
    assert overlay["layout"]["yaxis"]["title"]["text"] == "val accuracy"
    low, high = overlay["layout"]["yaxis"]["range"]
    assert 0 < low < high - 0.01 and high - low < 0.2, "fitted to the curve, not 0–100 %"
    ticks = overlay["layout"]["yaxis"]["ticktext"]
    assert len(set(ticks)) == len(ticks) >= 3
    at.segmented_control(key="runs_metric").set_value("loss").run()
    overlay = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert overlay["layout"]["yaxis"]["title"]["text"] == "loss"
    at.toggle(key="runs_filters").set_value(True).run()
    assert not at.exception
    filters = json.loads(at.get("plotly_chart")[1].proto.spec)
    assert [a["text"] for a in filters["layout"]["annotations"]] == [
        f"{trained_run[:6]} · 16 of 3×3"]


def test_download_and_inspect_link_but_no_delete_for_someone_elses_run(trained_run):
    at = page_test(PAGE)
    at.multiselect(key="runs_selected").set_value([trained_run]).run()
    assert keys(at.get("download_button"), "runs_download_") == [f"runs_download_{trained_run}"]
    assert keys(at.get("download_button"), "runs_csv_") == [f"runs_csv_{trained_run}"]
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
    assert table.loc[mine, "student"] == "you"
    at.multiselect(key="runs_selected").set_value([mine, trained_run]).run()
    assert keys(at.button, "runs_delete_") == [f"runs_delete_{mine}"]
    # the first click only asks
    at.button(key=f"runs_delete_{mine}").click().run()
    assert not at.exception and path.exists()
    assert f"Delete run {mine[:6]} and its model for everyone?" in page_text(at)
    at.button(key=f"runs_keep_{mine}").click().run()
    assert path.exists() and not at.warning and keys(at.button, "runs_confirm_") == []
    at.button(key=f"runs_delete_{mine}").click().run()
    at.button(key=f"runs_confirm_{mine}").click().run()
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
        assert "No saved model" in page_text(at)
        # no epoch yet: a sentence, not an empty chart
        assert (f"No validation accuracy to draw for {busy[:6]}: it has no complete epoch "
                "with validation images." in page_text(at))
        assert not at.get("plotly_chart")
        assert keys(at.get("download_button"), "runs_") == [f"runs_csv_{busy}"]  # history only
    finally:
        store.update_run(busy, status="cancelled")
        store.delete_run(busy, "me-busy")


def test_empty_cells_read_a_dash_and_no_emoji(trained_run, app_home):
    store = RunStore(app_home)
    bare = store.create_run(preset("dense"), "me-bare", status="completed")  # no figures
    try:
        at = page_test(PAGE)
        at.session_state["owner"] = "me-bare"
        at.run()
        table = shown_table(at)
        assert (table.loc[bare, ["test acc", "val acc", "params", "training time"]]
                == "–").all(), table.loc[bare]
        assert "None" not in table.to_string() and "nan" not in table.to_string()
        # the browser's grid draws its own placeholder in an empty cell, not the styler's
        assert at.dataframe[0].proto.placeholder == "–"
        assert table.loc[bare, "student"] == "you"
        assert table.loc[trained_run, "student"] == "classmate"
        assert table.loc[trained_run, "params"] == "347,690"
        assert table.loc[trained_run, "test acc"].endswith(" %")
        assert all(ord(ch) < 0x2600 for ch in table.to_string()), "no emoji in the table"
    finally:
        store.delete_run(bare, "me-bare")


def test_cancelled_runs_are_hidden_until_asked_for(trained_run, app_home):
    store = RunStore(app_home)
    gone = store.create_run(preset("quick"), "me-gone", status="cancelled")
    try:
        at = page_test(PAGE)
        assert gone not in list(at.dataframe[0].value.index)
        assert trained_run in list(at.dataframe[0].value.index)
        assert gone not in at.multiselect(key="runs_selected").options
        at.toggle(key="runs_show_cancelled").set_value(True).run()
        assert not at.exception
        assert gone in list(at.dataframe[0].value.index)
    finally:
        store.delete_run(gone, "me-gone")


def test_filters_of_several_runs_share_one_colour_scale(trained_run, app_home):
    store = RunStore(app_home)
    spec = preset("quick").replace(epochs=1)
    other = store.create_run(spec, "me-filters", status="completed")
    store.save_model(other, build_model(spec))  # untrained: smaller weights than trained_run
    try:
        at = page_test(PAGE)
        at.multiselect(key="runs_selected").set_value([trained_run, other]).run()
        at.toggle(key="runs_filters").set_value(True).run()
        assert not at.exception
        specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
        mosaics = [s for s in specs if s["layout"].get("coloraxis")]
        assert len(mosaics) == 1, "one figure for all the compared runs"
        fig = mosaics[0]
        assert [t.get("coloraxis") for t in fig["data"]] == ["coloraxis", "coloraxis"]
        axis = fig["layout"]["coloraxis"]
        assert axis["cmin"] == -axis["cmax"] > -10
        assert [a["text"][:6] for a in fig["layout"]["annotations"]] == [trained_run[:6],
                                                                        other[:6]]
    finally:
        store.delete_run(other, "me-filters")


def test_runs_compare_each_class(trained_run, app_home):
    from fmnist_core.data.datasets import FASHION_CLASSES

    store = RunStore(app_home)
    # a classmate's run whose last epoch measured each class: 0.50, 0.55, … 0.95
    other = store.create_run(preset("dense").replace(epochs=2), "me-classes",
                             status="completed")
    store.add_epoch(other, 1, {"val_accuracy": 0.5}, class_accuracy=[0.1] * 10)
    made_up = [0.5 + 0.05 * i for i in range(10)]
    store.add_epoch(other, 2, {"val_accuracy": 0.725}, class_accuracy=made_up)
    try:
        at = page_test(PAGE)
        at.multiselect(key="runs_selected").set_value([trained_run, other]).run()
        at.toggle(key="runs_classes").set_value(True).run()
        assert not at.exception
        (figure,) = [json.loads(c.proto.spec) for c in at.get("plotly_chart")
                     if "class_comparison" in (c.key or "")]
        bars = {bar["name"][:6]: bar for bar in figure["data"]}
        assert list(bars) == [trained_run[:6], other[:6]]  # one bar per run and class
        measured = store.epochs(trained_run)[-1]["class_accuracy"]
        for run_id, values in ((trained_run, measured), (other, made_up)):
            bar = bars[run_id[:6]]
            assert bar["type"] == "bar" and bar["x"] == list(FASHION_CLASSES)
            np.testing.assert_allclose(decoded(bar["y"]), values)
    finally:
        store.delete_run(other, "me-classes")


def test_every_own_run_has_its_actions_without_being_compared(trained_run, app_home):
    store = RunStore(app_home)
    spec = preset("dense").replace(epochs=1)
    older, newer = (store.create_run(spec, "me-many", status="completed") for _ in range(2))
    try:
        for run_id in (older, newer):
            store.save_model(run_id, build_model(spec))
        at = page_test(PAGE)
        at.session_state["owner"] = "me-many"
        at.run()
        at.multiselect(key="runs_selected").set_value([trained_run]).run()
        assert sorted(keys(at.button, "runs_delete_")) == sorted(
            [f"runs_delete_{older}", f"runs_delete_{newer}"])
        assert {f"runs_download_{older}", f"runs_download_{newer}",
                f"runs_download_{trained_run}"} == set(keys(at.get("download_button"),
                                                            "runs_download_"))
    finally:
        for run_id in (older, newer):
            store.delete_run(run_id, "me-many")


def test_a_markdown_name_is_shown_as_its_characters_never_as_a_picture(app_home, trained_run):
    store = RunStore(app_home)
    # as a store written before names were checked would hold it
    store.set_owner_name("mallory-000000", "![](http://127.0.0.1:9/x)")
    spec = preset("dense").replace(epochs=1)
    theirs = store.create_run(spec, "mallory-000000", status="completed")
    store.save_model(theirs, build_model(spec))
    try:
        at = page_test(PAGE)
        at.multiselect(key="runs_selected").set_value([theirs]).run()
        lines = [m.value for m in at.markdown if theirs[:6] in m.value]
        assert lines and all("![](" not in line for line in lines)
        assert any("\\!\\[\\]\\(http\\://127\\.0\\.0\\.1\\:9/x\\)" in line for line in lines)
    finally:
        store.delete_run(theirs, "mallory-000000")
        store.set_owner_name("mallory-000000", "")


def test_each_run_says_its_training_images(trained_run, app_home):
    store = RunStore(app_home)
    spec = preset("dense").replace(epochs=1, train_images=2000)
    counted = store.create_run(spec, "me-images", status="completed")
    try:
        at = page_test(PAGE)
        at.session_state["owner"] = "me-images"
        at.run()
        table = shown_table(at)
        assert table.loc[counted, "images"] == "2,000"
        # a spec that names no number trained on every image the server allowed
        assert table.loc[trained_run, "images"] == "all"
        (line,) = [m.value for m in at.markdown if m.value.startswith(f"**{counted[:6]}**")]
        assert " · 2,000 training images · " in line
        assert "all: every one the server allowed" in page_text(at)
    finally:
        store.delete_run(counted, "me-images")
