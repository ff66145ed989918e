import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw
from pagetools import page_test, page_text

from fmnist_core.datasets import FASHION_CLASSES


def drawing() -> np.ndarray:
    """(280, 280, 4) uint8: a canvas like st_canvas returns it, white trousers on black."""
    canvas = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    pen = ImageDraw.Draw(canvas)
    pen.rectangle((90, 40, 190, 70), fill=(255, 255, 255, 255))
    pen.rectangle((90, 40, 130, 250), fill=(255, 255, 255, 255))
    pen.rectangle((150, 40, 190, 250), fill=(255, 255, 255, 255))
    return np.asarray(canvas).copy()


def png_bytes() -> bytes:
    """A dark bag on a white page, the way a photo of a drawing looks."""
    page = Image.new("RGB", (400, 300), "white")
    pen = ImageDraw.Draw(page)
    pen.rectangle((100, 110, 300, 260), fill=(40, 30, 20))
    pen.arc((150, 40, 250, 160), 180, 360, fill=(40, 30, 20), width=14)
    buffer = io.BytesIO()
    page.save(buffer, format="PNG")
    return buffer.getvalue()


def chart_titles(at) -> list[str]:
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    return [s["layout"].get("title", {}).get("text", "") for s in specs]


def probability_bars(at) -> list[dict]:
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    return [s["data"][0] for s in specs if s["data"][0]["type"] == "bar"]


@pytest.fixture
def predict_page(trained_run):
    at = page_test("pages/predict.py")
    assert not at.exception
    return at


def test_no_model_yet_is_a_caption_with_a_link(monkeypatch):
    from ui import resources

    monkeypatch.setattr(resources, "finished_runs", lambda: [])
    at = page_test("pages/predict.py")
    assert not at.exception and not at.error
    assert "no trained model yet" in page_text(at)
    assert at.page_link[-1].proto.page == "train"


def test_page_renders_with_the_trained_run_and_an_empty_canvas(predict_page, trained_run):
    at = predict_page
    assert at.selectbox(key="predict_run").value == trained_run
    assert "Draw something…" in page_text(at)
    assert not at.error and not probability_bars(at)


def test_injected_drawing_is_preprocessed_and_classified(predict_page, trained_run):
    at = predict_page
    at.session_state["injected_canvas"] = drawing()
    at.run()
    assert not at.exception and not at.error
    text = page_text(at)
    assert "Grayscale" in text and "Centred on 28×28" in text and "The network thinks:" in text
    assert "What the network sees · 28×28" in chart_titles(at)
    bars = probability_bars(at)
    assert len(bars) == 1 and len(bars[0]["y"]) == 5 and set(bars[0]["y"]) <= set(FASHION_CLASSES)
    last = at.session_state["last_drawing"]
    assert last.shape == (28, 28) and last.dtype == np.uint8 and last.max() > 200
    at.slider(key="predict_top_k").set_value(10).run()
    assert len(probability_bars(at)[0]["y"]) == 10


def test_switches_turn_steps_off_and_feature_maps_show_on_demand(predict_page):
    at = predict_page
    at.session_state["injected_canvas"] = drawing()
    at.run()
    assert not any(t.startswith("conv") for t in chart_titles(at))
    at.toggle(key="predict_trim").set_value(False).run()
    at.toggle(key="predict_center").set_value(False).run()
    at.segmented_control(key="predict_invert").set_value("on").run()
    assert not at.exception
    text = page_text(at)
    assert "Trimmed background" not in text and "Top-left on 28×28" in text
    assert "Inversion was forced on" in text
    at.toggle(key="predict_maps").set_value(True).run()
    assert not at.exception
    assert any(t.startswith("conv") and "filters" in t for t in chart_titles(at))


def test_uploaded_png_is_classified(predict_page):
    at = predict_page
    at.segmented_control(key="predict_source").set_value("Upload").run()
    assert "Upload a PNG" in page_text(at)
    at.file_uploader(key="predict_upload").set_value(("bag.png", png_bytes(), "image/png"))
    at.run()
    assert not at.exception and not at.error
    text = page_text(at)
    assert "Inverted (dataset is light on dark)" in text and "The network thinks:" in text
    assert len(probability_bars(at)) == 1
    assert at.session_state["last_drawing"].shape == (28, 28)


def test_junk_upload_is_one_sentence(predict_page):
    at = predict_page
    at.segmented_control(key="predict_source").set_value("Upload").run()
    at.file_uploader(key="predict_upload").set_value(
        ("holiday.png", b"this is not a picture at all", "image/png"))
    at.run()
    assert not at.exception
    assert len(at.error) == 1
    message = at.error[0].value
    assert message.count(".") == 1 and message.endswith(".") and "Traceback" not in message
    assert not probability_bars(at)
