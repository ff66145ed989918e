import json

from pagetools import page_test, page_text

from fmnist_core.datasets import FASHION_CLASSES


def chart_specs(at) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def chart_titles(at) -> list[str]:
    return [spec["layout"].get("title", {}).get("text", "") for spec in chart_specs(at)]


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
    assert "of the test set" in page_text(at)


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


def test_other_and_custom_kernels_update_without_errors():
    at = page_test("pages/data.py")
    at.segmented_control(key="data_view").set_value("Convolution by hand").run()
    at.selectbox(key="lab_kernel").set_value("Sobel x (vertical edges)").run()
    assert not at.exception and at.number_input(key="lab_k10").value == -2
    at.selectbox(key="lab_kernel").set_value("Custom").run()
    assert not at.number_input(key="lab_k00").disabled
    assert at.number_input(key="lab_k10").value == -2, "custom starts from the last kernel"
    at.number_input(key="lab_k11").set_value(3).run()
    at.number_input(key="lab_k00").set_value(0.5).run()
    assert not at.exception
    assert "Convolved · 26×26" in chart_titles(at)


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
    conv = next(s for s in chart_specs(at) if s["layout"]["title"]["text"].startswith("Conv"))
    assert len(conv["layout"]["shapes"]) == 2, "the output pixel and its pooling window"
