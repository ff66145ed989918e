import base64
import json

import numpy as np
from pagetools import page_test, page_text

from fmnist_core.explain import convolution, kernels
from fmnist_core.data.datasets import FASHION_CLASSES


def chart_specs(at) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def chart_titles(at) -> list[str]:
    """Titles of every chart and of every panel of a chart with subplots."""
    return [title for spec in chart_specs(at) for title in (
        spec["layout"].get("title", {}).get("text", ""),
        *(a.get("text", "") for a in spec["layout"].get("annotations", ())))]


def array(value) -> np.ndarray:
    """An array from a chart's JSON: a list, or plotly's {"dtype", "bdata", "shape"}."""
    if isinstance(value, dict):
        shape = [int(n) for n in str(value.get("shape", "-1")).split(",")]
        return np.frombuffer(base64.b64decode(value["bdata"]), value["dtype"]).reshape(shape)
    return np.asarray(value)


def lab_spec(at) -> dict:
    return json.loads(at.get("plotly_chart")[1].proto.spec)


def test_page_shows_the_classes_and_a_sample_grid():
    at = page_test("pages/data.py")
    assert not at.exception
    assert list(at.selectbox(key="data_class").options) == list(FASHION_CLASSES)
    grid = chart_specs(at)[-1]
    assert grid["layout"]["yaxis"]["ticktext"] == list(FASHION_CLASSES)
    assert "70,000 grayscale pictures" in page_text(at)
    at.button(key="data_shuffle").click().run()
    assert not at.exception and at.session_state["data_seed"] is not None


def test_pick_a_sample_by_class_split_and_index():
    at = page_test("pages/data.py")
    at.selectbox(key="data_class").set_value(1).run()
    at.number_input(key="data_index").set_value(5999).run()
    assert not at.exception
    assert "Trouser · 28×28" in chart_titles(at)
    # the test set has only 1,000 trousers: the index follows instead of failing
    at.segmented_control(key="data_split").set_value("Test set").run()
    assert not at.exception
    assert at.number_input(key="data_index").value == 999
    text = page_text(at)
    assert "in the test set (Python counts from 0)" in text and "x_test[" in text


def test_class_counts_show_train_and_test():
    at = page_test("pages/data.py")
    at.segmented_control(key="data_view").set_value("Class counts").run()
    assert not at.exception
    bars = chart_specs(at)[-1]["data"]
    assert [b["name"] for b in bars] == ["train", "test"]
    assert bars[0]["x"] == list(FASHION_CLASSES)


def test_edge_kernel_lab_gives_26_and_13():
    at = page_test("pages/data.py")
    at.segmented_control(key="data_view").set_value("Convolution by hand").run()
    assert not at.exception
    assert at.selectbox(key="lab_kernel").value == "Edge detection (8 / −1)"
    assert at.number_input(key="lab_k11").value == 8
    titles = chart_titles(at)
    assert "Convolved · 26×26" in titles and "Max-pooled · 13×13" in titles
    assert "outlines light up" in page_text(at)
    at.toggle(key="lab_normalize").set_value(True).run()
    assert not at.exception and "stretched" in page_text(at)


def correlate(image: np.ndarray, kernel) -> np.ndarray:
    """Each output pixel the sum of the 3×3 patch under the kernel times its weights (a
    Conv2D's cross-correlation, no padding), written out here rather than taken from the
    engine."""
    patches = np.lib.stride_tricks.sliding_window_view(image.astype(np.float64), (3, 3))
    return np.einsum("ijkl,kl->ij", patches, np.asarray(kernel, np.float64))


def test_other_and_custom_kernels_convolve_with_the_weights_typed(fashion):
    at = page_test("pages/data.py")
    at.segmented_control(key="data_view").set_value("Convolution by hand").run()
    at.selectbox(key="lab_kernel").set_value("Sobel x (vertical edges)").run()
    assert not at.exception and at.number_input(key="lab_k10").value == -2
    image = fashion.x_train[fashion.y_train == 0][0]  # the lab's first picture
    sobel = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    np.testing.assert_allclose(array(lab_spec(at)["data"][1]["customdata"]),
                               correlate(image, sobel), rtol=1e-6)
    at.selectbox(key="lab_kernel").set_value("Custom").run()
    assert not at.number_input(key="lab_k00").disabled
    assert at.number_input(key="lab_k10").value == -2, "custom starts from the last kernel"
    at.number_input(key="lab_k11").set_value(3).run()
    at.number_input(key="lab_k00").set_value(0.5).run()
    assert not at.exception
    assert "Convolved · 26×26" in chart_titles(at)
    typed = [[0.5, 0, 1], [-2, 3, 2], [-1, 0, 1]]
    conv = lab_spec(at)["data"][1]
    np.testing.assert_allclose(array(conv["customdata"]), correlate(image, typed), rtol=1e-6)
    # the pooled map is the largest of each 2×2 block of that convolution
    pooled = correlate(image, typed)[:26, :26].reshape(13, 2, 13, 2).max(axis=(1, 3))
    np.testing.assert_allclose(array(lab_spec(at)["data"][2]["customdata"]), pooled, rtol=1e-6)


def test_arithmetic_of_one_pixel_matches_the_feature_map():
    at = page_test("pages/data.py")
    at.segmented_control(key="data_view").set_value("Convolution by hand").run()
    at.toggle(key="lab_explain").set_value(True).run()
    at.slider(key="lab_row").set_value(10).run()
    at.slider(key="lab_col").set_value(7).run()
    assert not at.exception
    formula = at.code[0].value
    assert formula.count("×") == 9 and "=" in formula
    text = page_text(at)
    assert "Output pixel (10, 7)" in text and "Pooled pixel (5, 3)" in text
    assert "rows 10–11, columns 6–7" in text
    titles = chart_titles(at)
    assert {"Patch of the image", "Kernel", "Products", "2×2 pooling window"} <= set(titles)
    shapes = lab_spec(at)["layout"]["shapes"]
    assert len([s for s in shapes if s["xref"] == "x2"]) == 2, "output pixel and pooling window"
    assert [s["xref"] for s in shapes].count("x") == [s["xref"] for s in shapes].count("x3") == 1


def open_lab(at):
    at.segmented_control(key="data_view").set_value("Convolution by hand").run()
    return at


def weights(at) -> list[list[float]]:
    return [[at.number_input(key=f"lab_k{r}{c}").value for c in range(3)] for r in range(3)]


def test_a_weight_out_of_range_is_clipped_and_explained():
    at = open_lab(page_test("pages/data.py"))
    at.selectbox(key="lab_kernel").set_value("Custom").run()
    at.number_input(key="lab_k11").set_value(300).run()
    assert not at.exception
    assert at.number_input(key="lab_k11").value == 255, "the cell shows the weight in use"
    assert [el.value for el in at.info] == [
        "A weight goes from -255 to 255, so 300 became 255."]
    at.number_input(key="lab_k00").set_value(2).run()
    assert not at.info, "the sentence goes once the weights are fine"
    assert weights(at)[1][1] == 255


def test_box_blur_cells_show_the_kernel_in_use_rounded(fashion):
    at = open_lab(page_test("pages/data.py"))
    at.selectbox(key="lab_kernel").set_value("Custom").run()
    at.number_input(key="lab_k11").set_value(300).run()
    at.selectbox(key="lab_kernel").set_value("Box blur").run()
    assert not at.exception
    assert weights(at) == [[0.111] * 3] * 3, "no stale 300, no 0.1111111119389534"
    assert all(at.number_input(key=f"lab_k{r}{c}").disabled for r in range(3) for c in range(3))
    assert "every weight is a multiple of 1/9" in page_text(at)
    # the map is computed with the exact 1/9, not with the rounded 0.111
    image = fashion.x_train[fashion.y_train == 0][0]
    conv = lab_spec(at)["data"][1]
    expected = convolution.convolve2d(image, kernels.KERNELS["Box blur"])
    np.testing.assert_allclose(array(conv["customdata"]), expected, rtol=1e-6)


def test_lab_draws_image_and_maps_at_one_pixel_scale():
    at = open_lab(page_test("pages/data.py"))
    layout = lab_spec(at)["layout"]
    sizes = {"": 28, "2": 26, "3": 13}
    per_cell = {s: (layout[f"xaxis{s}"]["domain"][1] - layout[f"xaxis{s}"]["domain"][0]) / n
                for s, n in sizes.items()}
    assert max(per_cell.values()) - min(per_cell.values()) < 1e-9, per_cell
    for s in sizes:
        y = layout[f"yaxis{s}"]
        assert abs(y["range"][0] - y["range"][1]) == 28 and y["scaleanchor"] == f"x{s}"


def test_state_survives_a_round_trip_through_another_page():
    at = page_test("pages/data.py")
    at.selectbox(key="data_class").set_value(3).run()
    at.segmented_control(key="data_split").set_value("Test set").run()
    at.number_input(key="data_index").set_value(7).run()
    open_lab(at)
    at.selectbox(key="lab_kernel").set_value("Custom").run()
    at.number_input(key="lab_k11").set_value(3).run()
    at.toggle(key="lab_normalize").set_value(True).run()
    at.toggle(key="lab_explain").set_value(True).run()
    at.slider(key="lab_row").set_value(4).run()
    before = weights(at)
    at.switch_page("pages/runs.py")
    at.run()
    at.switch_page("pages/data.py")
    at.run()
    assert not at.exception
    assert at.selectbox(key="data_class").value == 3
    assert at.segmented_control(key="data_split").value == "Test set"
    assert at.number_input(key="data_index").value == 7
    assert at.segmented_control(key="data_view").value == "Convolution by hand"
    assert at.selectbox(key="lab_kernel").value == "Custom"
    assert weights(at) == before and before[1][1] == 3
    assert at.toggle(key="lab_normalize").value and at.slider(key="lab_row").value == 4
    # a detour through another view keeps the lab too
    at.segmented_control(key="data_view").set_value("Class counts").run()
    open_lab(at)
    assert at.selectbox(key="lab_kernel").value == "Custom" and weights(at) == before


def test_the_real_mnist_digits_say_what_they_are():
    at = page_test("pages/data.py")
    at.session_state["dataset"] = "mnist"  # the sidebar's dataset box
    at.run()
    text = page_text(at)
    assert not at.exception
    assert "10,000 grayscale pictures" in text and "8,000 to train on" in text
    assert "10,000 of the 70,000 official MNIST digits" in text
    assert list(at.selectbox(key="data_class").options) == [str(d) for d in range(10)]


def test_the_sidebar_names_the_class_s_other_servers_and_calls_the_device_this_server_s(
        app_home):
    """Server B of a class whose runs may train on server A (one line for both): the
    sidebar says so instead of "this machine", and its device is the server's own."""
    import time

    from fmnist_core.store.runs import RunStore

    def sidebar_text() -> str:
        return "\n".join(c.value for c in page_test("pages/data.py").sidebar.caption)

    text = sidebar_text()
    assert "Trainings run on this machine." in text and "Device" in text
    assert "Device of this server" not in text
    store = RunStore(app_home)
    with store.db.transaction() as tx:
        tx.execute("INSERT INTO servers (id, host, pid, executor, started, heartbeat) "
                   "VALUES (?, ?, ?, ?, ?, ?)",
                   ("other-server", "server-a.school", 1, "process", time.time(), time.time()))
    try:
        text = sidebar_text()
        assert ("Trainings run on this machine or on the class's 1 other server "
                "(server-a.school).") in text
        assert "Device of this server:" in text
        with store.db.transaction() as tx:  # gone silent: no longer named
            tx.execute("UPDATE servers SET heartbeat=0 WHERE id='other-server'")
        assert "Trainings run on this machine." in sidebar_text()
    finally:
        store.remove_server("other-server")
