"""The Inspect page under AppTest, on a small finished run of someone else."""

import base64
import json
import os
import re

import numpy as np
import pytest

from fmnist_core.nets.model import build_model
from fmnist_core.store.runs import RunStore
from fmnist_core.nets.spec import preset
from pagetools import page_test, page_text

PAGE = "pages/inspect.py"


@pytest.fixture
def untrained_run(app_home):
    """Stores a finished run of an untrained preset ("seed-cnn", "dense") in the pages'
    store for one test, then deletes it; returns its id."""
    store, made = RunStore(app_home), []

    def make(name: str) -> str:
        spec = preset(name).replace(epochs=1)
        run_id = store.create_run(spec, "untrained-owner", status="completed")
        store.save_model(run_id, build_model(spec))
        made.append(run_id)
        return run_id

    yield make
    for run_id in made:
        store.delete_run(run_id, "untrained-owner")


def chart_titles(at) -> str:
    """The JSON of every plotly figure on the page (titles included)."""
    return "\n".join(json.dumps(json.loads(el.proto.spec), ensure_ascii=False)
                     for el in at.get("plotly_chart"))


def show(at, view):
    at.segmented_control(key="inspect_view").set_value(view).run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def at(trained_run):
    at = page_test(PAGE)
    assert not at.exception, at.exception
    at.selectbox(key="inspect_run").set_value(trained_run).run()
    return at


def test_renders_with_the_run_and_its_feature_maps(at, trained_run):
    assert at.selectbox(key="inspect_run").value == trained_run
    assert at.query_params["run"] == trained_run
    assert at.segmented_control(key="inspect_view").value == "Feature maps"
    text = page_text(at)
    assert "Pooling keeps the strongest response of each 2×2 block" in text
    assert "the network says" in text
    assert (f"Run {trained_run[:6]} trained on all the training images the server allowed, "
            "its validation images among them.") in text
    titles = chart_titles(at)
    assert "conv1 · 26×26×16" in titles and "pool1 · 13×13×16" in titles
    assert not at.error


def test_another_class_and_example(at):
    at.selectbox(key="inspect_class").set_value(9).run()
    at.number_input(key="inspect_pick").set_value(3).run()
    assert not at.exception
    assert "it really is an **Ankle boot**" in page_text(at)


def test_filters_view(at):
    show(at, "Filters")
    assert "conv1 · 16 filters of 3×3" in chart_titles(at)
    assert "learned 3×3 kernel" in page_text(at)
    assert not [t for t in at.toggle if t.key == "inspect_deeper"]  # one conv layer only


def test_seed_cnn_maps_and_deeper_filters(untrained_run):
    run_id = untrained_run("seed-cnn")
    at = page_test(PAGE)
    at.selectbox(key="inspect_run").set_value(run_id).run()
    titles = chart_titles(at)
    for title in ("conv1 · 26×26×64", "pool1 · 13×13×64", "conv2 · 11×11×64",
                  "pool2 · 5×5×64"):
        assert title in titles
    assert "slide over the 13×13×64 input" in page_text(at)
    show(at, "Filters")
    assert "conv1 · 64 filters of 3×3" in chart_titles(at)
    at.toggle(key="inspect_deeper").set_value(True).run()
    at.number_input(key="inspect_deep_filter").set_value(5).run()
    assert not at.exception
    assert "conv2 · filter 5 · one 3×3 kernel per input map (64)" in chart_titles(at)


def test_a_run_says_how_many_images_it_trained_on(app_home):
    store = RunStore(app_home)
    spec = preset("dense").replace(epochs=1, train_images=2000)
    run_id = store.create_run(spec, "images-owner", status="completed")
    store.save_model(run_id, build_model(spec))
    try:
        at = page_test(PAGE)
        at.selectbox(key="inspect_run").set_value(run_id).run()
        assert not at.exception
        assert (f"Run {run_id[:6]} trained on 2,000 training images, its validation images "
                "among them.") in page_text(at)
    finally:
        store.delete_run(run_id, "images-owner")


def test_dense_baseline_says_so_instead_of_failing(untrained_run):
    run_id = untrained_run("dense")
    at = page_test(PAGE)
    at.selectbox(key="inspect_run").set_value(run_id).run()
    assert "dense baseline" in page_text(at) and "no feature maps" in page_text(at)
    show(at, "Filters")
    assert "no filters" in page_text(at)
    show(at, "What it looks at")
    assert "Occlusion · " in chart_titles(at)
    assert not at.error


def test_confusion_matrix_cell_lists_examples_that_open_feature_maps(at):
    show(at, "Confusion matrix")
    assert "Rows are the true class" in page_text(at)
    matrix = at.get("plotly_chart")[0]
    assert "true class" in matrix.proto.spec and list(matrix.proto.selection_mode) == [0]  # points
    at.selectbox(key="inspect_true").set_value(6)  # Shirt
    at.selectbox(key="inspect_pred").set_value(6).run()
    assert "Shirt images right, most confident first" in page_text(at)
    at.selectbox(key="inspect_pred").set_value(0).run()  # Shirt taken for a T-shirt/top
    assert "called T-shirt/top" in page_text(at)
    buttons = [b for b in at.button if b.key and b.key.startswith("inspect_open_")]
    assert buttons, "no misclassified shirt in the gallery"
    index = int(buttons[0].key.rsplit("_", 1)[1])
    buttons[0].click().run()
    assert at.segmented_control(key="inspect_view").value == "Feature maps"
    assert f"test image #{index}" in page_text(at)
    assert "it really is a **Shirt**" in page_text(at)


def test_per_class_accuracy_view(at):
    show(at, "Per-class accuracy")
    assert "Right answers per class" in chart_titles(at)
    assert "Hardest here:" in page_text(at)


def test_saliency_view(at):
    show(at, "What it looks at")
    assert "Occlusion · " in chart_titles(at)
    at.selectbox(key="inspect_explain").set_value(7).run()
    assert "Occlusion · Sneaker" in chart_titles(at)


def explained(at, fashion) -> tuple[str, np.ndarray, np.ndarray]:
    """(the class the two maps explain, the picture under the occlusion map, the picture
    under Grad-CAM), each checked against the shown sample: its test image's pixels."""
    index = int(re.search(r"test image #(\d+)", page_text(at)).group(1))
    maps = [f for f in figures_of(at) if "Occlusion · " in f["layout"]["title"]["text"]
            or "Grad-CAM at" in f["layout"]["title"]["text"]]
    assert len(maps) == 2
    occlusion, cam = (decoded(f["data"][0]["z"]) for f in maps)
    np.testing.assert_array_equal(occlusion, fashion.x_test[index])
    np.testing.assert_array_equal(cam, fashion.x_test[index])
    shown = re.search(r"Occlusion · (.+?) \(", maps[0]["layout"]["title"]["text"]).group(1)
    assert maps[1]["layout"]["title"]["text"].endswith(f"· {shown}")
    return shown


def test_the_explanation_follows_a_new_sample(at, fashion):
    show(at, "What it looks at")
    box = at.selectbox(key="inspect_explain")
    options, first = box.options, box.value
    assert box.index == 0
    answer = re.search(r"the network says \*\*(.+?)\*\*", page_text(at)).group(1)
    assert explained(at, fashion) == answer
    at.selectbox(key="inspect_class").set_value(9).run()  # Ankle boot
    at.number_input(key="inspect_pick").set_value(7).run()
    assert not at.exception and "Ankle boot example 7" in page_text(at)
    # the box still shows its choice, among the same options: a label that changed with the
    # sample left the browser holding an option that was gone, and the box went blank
    box = at.selectbox(key="inspect_explain")
    assert box.options == options and box.index == 0 and box.value == first
    answer = re.search(r"the network says \*\*(.+?)\*\*", page_text(at)).group(1)
    assert explained(at, fashion) == answer
    # a class picked by the student stays picked, and is explained for the next sample too
    at.selectbox(key="inspect_explain").set_value(7).run()
    at.number_input(key="inspect_pick").set_value(8).run()
    assert at.selectbox(key="inspect_explain").value == 7
    assert "Ankle boot example 8" in page_text(at) and explained(at, fashion) == "Sneaker"


@pytest.mark.parametrize("bogus,why", [("../../etc/passwd", "is not a run id"),
                                       ("0123456789ab", "does not exist")])
def test_bogus_query_param_is_one_info_sentence(trained_run, bogus, why):
    at = page_test(PAGE)
    at.query_params["run"] = bogus
    at.run()
    assert not at.exception and not at.error
    assert len(at.info) == 1 and why in at.info[0].value
    assert at.info[0].value.count(". ") == 0  # one sentence
    assert at.selectbox(key="inspect_run").value  # fell back to a real run
    assert at.query_params["run"] == at.selectbox(key="inspect_run").value


def test_query_param_names_the_run(trained_run):
    at = page_test(PAGE)
    at.query_params["run"] = trained_run
    at.run()
    assert at.selectbox(key="inspect_run").value == trained_run and not at.info


def test_the_six_characters_pages_show_open_the_run(trained_run):
    at = page_test(PAGE)
    at.query_params["run"] = trained_run[:6]  # as the sidebar and the tables show it
    at.run()
    assert not at.exception and not at.info
    assert at.selectbox(key="inspect_run").value == trained_run
    assert at.query_params["run"] == trained_run  # the link to share has the whole id


def test_the_start_of_several_ids_is_one_sentence(trained_run, app_home):
    store, ids = RunStore(app_home), ["abcdef000001", "abcdef000002"]
    for run_id in ids:
        made = store.create_run(preset("quick"), "someone-else", status="failed")
        with store.db.transaction() as tx:
            tx.execute("UPDATE runs SET id=? WHERE id=?", (run_id, made))
    try:
        at = page_test(PAGE)
        at.query_params["run"] = "abcdef"
        at.run()
        assert not at.exception and len(at.info) == 1
        said = at.info[0].value
        assert "could be any of 2 runs (abcdef000002, abcdef000001)" in said or \
            "could be any of 2 runs (abcdef000001, abcdef000002)" in said
        assert said.count(". ") == 0  # one sentence
        assert at.selectbox(key="inspect_run").value == trained_run  # a real run instead
        at.query_params["run"] = "abcdef9"  # a start no stored id has
        at.run()
        assert "does not exist" in at.info[0].value
    finally:
        for run_id in ids:
            store.delete_run(run_id, "someone-else")


def test_last_drawing_can_be_chosen(at):
    drawing = np.zeros((28, 28), np.uint8)
    drawing[6:22, 10:18] = 255
    at.session_state["last_drawing"] = drawing
    at.run()
    at.segmented_control(key="inspect_source").set_value("My last drawing").run()
    assert not at.exception
    assert "For your last drawing the network says" in page_text(at)
    show(at, "What it looks at")
    assert "For your last drawing" in page_text(at)


@pytest.fixture(scope="module")
def three_epoch_run(app_home, small_data):
    """A finished 3-epoch run in the pages' store, its weights kept after every epoch."""
    from fmnist_core.training.job import TrainingJob
    from fmnist_core.nets.spec import ModelSpec

    spec = ModelSpec(conv_blocks=1, filters=8, dense_units=32, epochs=3, batch_size=64)
    job = TrainingJob(spec, "scrubber-owner", RunStore(app_home), dataset=small_data)
    job.start()
    assert job.wait(120) and job.status == "completed"
    return job.run_id


def test_the_epoch_slider_replays_filters_feature_maps_and_the_confusion_matrix(
        three_epoch_run, app_home, fashion):
    at = page_test(PAGE)
    at.selectbox(key="inspect_run").set_value(three_epoch_run).run()
    show(at, "Filters")
    slider = at.select_slider(key=f"inspect_epoch_{three_epoch_run}")
    assert slider.options == ["before training", "after epoch 1", "after epoch 2",
                              "after epoch 3"]
    assert slider.value == 3
    last = chart_titles(at)
    slider.set_value(1).run()
    first = chart_titles(at)
    assert not at.exception and "after epoch 1" in first and first != last
    assert "filter 1" in first  # a filter's life across the epochs
    show(at, "Feature maps")
    assert "the network after epoch 1 says" in page_text(at)
    assert "Its answer for this picture, epoch by epoch" in chart_titles(at)
    # the matrix shown is the one of the weights after the chosen epoch
    shown = {}
    for epoch in (1, 3):
        at.select_slider(key=f"inspect_epoch_{three_epoch_run}").set_value(epoch).run()
        show(at, "Confusion matrix")
        shown[epoch] = shown_matrix(at)
        np.testing.assert_array_equal(
            shown[epoch], stored_matrix(app_home, three_epoch_run, epoch, fashion))
    assert (shown[1] != shown[3]).any(), "the network changed between epochs 1 and 3"
    assert shown[1].sum() == shown[3].sum() == len(evaluated_images(fashion))


def evaluated_images(fashion) -> np.ndarray:
    """The test images the pages evaluate on (conftest's STUDIO_TEST_LIMIT)."""
    return fashion.x_test[:int(os.environ["STUDIO_TEST_LIMIT"])]


def shown_matrix(at) -> np.ndarray:
    """The Confusion matrix view's counts, rows the true class, as the chart writes them."""
    (matrix,) = [f for f in figures_of(at) if "true class" in json.dumps(f["layout"])]
    return decoded(matrix["data"][0]["text"]).astype(int)


def stored_matrix(app_home, run_id: str, epoch: int, fashion) -> np.ndarray:
    """The confusion matrix of the run's weights as stored after `epoch`, on the test
    images the pages evaluate on."""
    store = RunStore(app_home)
    network = build_model(store.get_run(run_id)["spec"])
    network.load_weights(store.checkpoints(run_id)[epoch])
    x = evaluated_images(fashion)
    predicted = network.predict(x, verbose=0).argmax(axis=1)
    matrix = np.zeros((10, 10), int)
    np.add.at(matrix, (fashion.y_test[:len(x)], predicted), 1)
    return matrix


def figure_titled(at, start: str) -> dict:
    found = [f for f in figures_of(at)
             if f["layout"].get("title", {}).get("text", "").startswith(start)]
    assert len(found) == 1, chart_titles(at)[:2000]
    return found[0]


def start_kernel(app_home, run_id: str) -> np.ndarray:
    """conv1's (3, 3, 1, filters) kernel as the run kept it before its first batch."""
    store = RunStore(app_home)
    network = build_model(store.get_run(run_id)["spec"])
    network.load_weights(store.checkpoints(run_id)[0])
    return network.get_layer("conv1").get_weights()[0]


def test_epoch_0_shows_the_random_start_with_numbered_filters(three_epoch_run, app_home):
    start = start_kernel(app_home, three_epoch_run)
    at = page_test(PAGE)
    at.selectbox(key="inspect_run").set_value(three_epoch_run).run()
    show(at, "Filters")
    at.select_slider(key=f"inspect_epoch_{three_epoch_run}").set_value(0).run()
    assert not at.exception
    mosaic = figure_titled(at, "conv1 · 8 filters of 3×3 · before training")
    assert "as the network started, before its first batch: random weights" in page_text(at)
    # each filter's number sits right above its own square, and hover names it
    heat = mosaic["data"][0]
    z, numbers = decoded(heat["z"]), decoded(heat["customdata"])
    assert heat["hovertemplate"].startswith("filter %{customdata}")
    labels = mosaic["layout"]["annotations"]
    assert [a["text"] for a in labels] == [str(n) for n in range(1, 9)]
    for label in labels:
        below = numbers[int(label["y"] + 0.5), int(round(label["x"]))]
        assert below == int(label["text"])
        rows, cols = np.nonzero(numbers == below)
        square = z[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1]
        np.testing.assert_allclose(square, start[:, :, 0, below - 1], rtol=1e-6)
    # a filter's life begins with epoch 0, the filter picked by the number the student sees
    at.number_input(key="inspect_life_filter").set_value(5).run()
    life = figure_titled(at, "conv1 · filter 5 · its life")
    assert life["layout"]["xaxis"]["ticktext"] == ["0 (random)", "1", "2", "3"]
    np.testing.assert_allclose(decoded(life["data"][0]["z"])[:, :3], start[:, :, 0, 4],
                               rtol=1e-6)
    assert "Filter 5 before training and after each stored epoch" in page_text(at)
    show(at, "Feature maps")
    assert "the network before training says" in page_text(at)
    answers = figure_titled(at, "Its answer for this picture")
    assert answers["layout"]["xaxis"]["ticktext"][0] == "0 (random)"
    for view in ("Confusion matrix", "Per-class accuracy"):
        show(at, view)
        assert "Before training the weights are random: the network gets" in page_text(at)
        assert "after epoch 0" not in page_text(at) + chart_titles(at)


def test_a_run_trained_before_the_start_was_kept_says_so(three_epoch_run, app_home):
    import shutil

    from fmnist_core.training.checkpoints import checkpoint_name

    store = RunStore(app_home)
    run = store.get_run(three_epoch_run)
    older = store.create_run(run["spec"], "older-owner", status="completed")
    store.save_model(older, store.load_model(three_epoch_run))
    for epoch, path in store.checkpoints(three_epoch_run).items():
        if epoch:
            shutil.copy(path, store.run_file(older, checkpoint_name(epoch)))
    try:
        at = page_test(PAGE)
        at.selectbox(key="inspect_run").set_value(older).run()
        show(at, "Filters")
        assert at.select_slider(key=f"inspect_epoch_{older}").options == [
            "after epoch 1", "after epoch 2", "after epoch 3"]
        life = figure_titled(at, "conv1 · filter 1 · its life")
        assert life["layout"]["xaxis"]["ticktext"] == ["1", "2", "3"]
        text = page_text(at)
        assert "trained before the studio kept its starting weights" in text
        assert "starts as random weights" not in text
    finally:
        store.delete_run(older, "older-owner")


def figures_of(at) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def decoded(values) -> np.ndarray:
    """A plotly figure's array as numpy: plain lists, or plotly's typed arrays
    ({"dtype", "bdata" in base64, "shape"})."""
    if isinstance(values, dict):
        flat = np.frombuffer(base64.b64decode(values["bdata"]), values["dtype"])
        shape = [int(n) for n in str(values.get("shape", len(flat))).split(",")]
        return flat.reshape(shape)
    return np.asarray(values)


def top_three(at) -> dict[str, float]:
    """The Invariance view's top-3 bars: class name → probability."""
    bars = [f["data"][0] for f in figures_of(at)
            if f["data"][0]["type"] == "bar" and len(f["data"][0]["y"]) == 3]
    assert len(bars) == 1
    return dict(zip(bars[0]["y"], bars[0]["x"]))


def changed_image(at) -> np.ndarray:
    shown = [f for f in figures_of(at) if f["layout"].get("title", {}).get("text", "")
             .startswith("Changed")]
    assert len(shown) == 1
    return decoded(shown[0]["data"][0]["z"]).astype(np.float32)


def sweep_figure(at) -> dict:
    found = [f for f in figures_of(at)
             if "as the picture moves and turns" in f["layout"].get("title", {}).get("text", "")]
    assert len(found) == 1
    return found[0]


def test_grad_cam_beside_the_occlusion_map(at):
    show(at, "What it looks at")
    titles = chart_titles(at)
    assert "Occlusion · " in titles and "Grad-CAM at conv1 · " in titles
    assert at.selectbox(key="inspect_cam_layer").value == "conv1"
    text = page_text(at)
    assert "Occlusion: a black 4×4 square" in text
    # the caption says what the method computes, not what the map should look like
    assert ("each of conv1's feature maps gets one weight, the gradient of the score" in text
            and "averaged over the map's 26×26 grid" in text
            or "The map is empty: at conv1, the feature maps weighted by their averaged" in text)
    at.segmented_control(key="inspect_cam_method").set_value("HiResCAM").run()
    at.selectbox(key="inspect_explain").set_value(7).run()
    assert not at.exception and not at.error
    text = page_text(at)
    assert ("HiResCAM (Draelos and Carin, 2020) differs from Grad-CAM in one step: instead of "
            "one averaged weight per feature map, each cell of conv1's 26×26 grid multiplies "
            "its activation by its own gradient of the score of Sneaker" in text
            or "The map is empty: at conv1, activation times gradient for Sneaker" in text)
    assert "HiResCAM at conv1 · Sneaker" in chart_titles(at)
    assert "Occlusion · Sneaker" in chart_titles(at)
    cam = [f for f in figures_of(at) if "HiResCAM at" in f["layout"]["title"]["text"]][0]
    heat = decoded(cam["data"][1]["z"])
    assert heat.shape == (28, 28) and 0 <= heat.min() and heat.max() <= 1


def test_grad_cam_at_a_chosen_layer_and_none_for_the_dense_baseline(untrained_run):
    seed_cnn, dense = untrained_run("seed-cnn"), untrained_run("dense")
    at = page_test(PAGE)
    at.selectbox(key="inspect_run").set_value(seed_cnn).run()
    show(at, "What it looks at")
    layers = at.selectbox(key="inspect_cam_layer")
    assert layers.options == ["conv1", "conv2"] and layers.value == "conv2"
    layers.set_value("conv1").run()
    assert not at.exception
    assert "Grad-CAM at conv1" in chart_titles(at)
    at.selectbox(key="inspect_run").set_value(dense).run()
    assert not at.exception and not at.error
    assert "dense baseline: it has no convolution layer, so it has no Grad-CAM" in page_text(at)
    assert "Occlusion · " in chart_titles(at) and "Grad-CAM at" not in chart_titles(at)
    show(at, "Invariance")
    assert not at.error and len(top_three(at)) == 3


def test_invariance_sliders_change_the_picture_and_the_probabilities(at):
    show(at, "Invariance")
    before, still = top_three(at), changed_image(at)
    at.slider(key="probe_dx").set_value(8).run()
    moved = changed_image(at)
    assert not at.exception
    assert not moved[:, :8].any() and np.array_equal(moved[:, 8:], still[:, :-8])
    at.slider(key="probe_rotate").set_value(45).run()
    at.slider(key="probe_noise").set_value(60).run()
    after = top_three(at)
    assert after != before
    assert "Changed, the network says" in page_text(at)
    at.toggle(key="probe_erase").set_value(True).run()
    at.slider(key="probe_erase_size").set_value(14).run()
    at.toggle(key="probe_invert").set_value(True).run()
    assert not at.exception and changed_image(at)[10:24, 10:24].max() == 0
    at.button(key="probe_reset").click().run()
    assert at.slider(key="probe_dx").value == 0 and not at.toggle(key="probe_invert").value
    assert np.array_equal(changed_image(at), still) and top_three(at) == before


def test_sweep_chart_and_a_second_run_dashed(trained_run, untrained_run):
    other = untrained_run("seed-cnn")
    at = page_test(PAGE)
    at.selectbox(key="inspect_run").set_value(trained_run).run()
    show(at, "Invariance")
    sweep = sweep_figure(at)
    assert "Confidence in T-shirt/top" in sweep["layout"]["title"]["text"]
    assert [t["name"] for t in sweep["data"]] == [
        "shifted sideways (x)", "shifted up or down (y)", "turned"]
    assert [len(t["x"]) for t in sweep["data"]] == [17, 17, 19]
    assert all(0 <= p <= 1 for t in sweep["data"] for p in t["y"])
    centre = [t["y"][t["x"].index(0)] for t in sweep["data"]]
    assert max(centre) - min(centre) < 1e-6  # unmoved, all three lines see the same picture
    assert "CNN with pooling usually shrugs off a shift" in page_text(at)
    at.selectbox(key="probe_compare").set_value(other).run()
    assert not at.exception
    dashes = [t["line"].get("dash", "solid") for t in sweep_figure(at)["data"]]
    names = [t["name"] for t in sweep_figure(at)["data"]]
    assert dashes == ["solid"] * 3 + ["dash"] * 3
    assert names[3].startswith(other[:6]) and "(this run)" in names[0]
