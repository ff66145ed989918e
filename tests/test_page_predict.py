import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw
from pagetools import page_test, page_text

from fmnist_core.data.datasets import FASHION_CLASSES


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


def draw(monkeypatch, image: np.ndarray) -> None:
    """What the canvas gives the page from now on (AppTest cannot draw on a component)."""
    from ui import drawing as canvas

    monkeypatch.setattr(canvas, "canvas", lambda stroke_width, key: image)


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
    from ui import run_choice

    monkeypatch.setattr(run_choice, "finished_runs", lambda: [])
    at = page_test("pages/predict.py")
    assert not at.exception and not at.error
    assert "no trained model yet" in page_text(at)
    assert at.page_link[-1].proto.page == "train"


def test_page_opens_on_the_best_stored_run_with_an_empty_canvas(predict_page, trained_run,
                                                                app_home):
    from fmnist_core.store.runs import RunStore

    at = predict_page
    # a session without runs of its own starts on the best one stored (other tests' runs
    # share this store, and any of them may test better than the fixture's)
    finished = [run for run in RunStore(app_home, recover=False).list_runs(
        statuses=("completed", "stopped")) if run["model_path"]]
    assert trained_run in {run["id"] for run in finished}
    best = max(finished, key=lambda run: run["test_accuracy"] or 0)
    assert at.selectbox(key="predict_run").value == best["id"]
    assert "Draw something…" in page_text(at)
    assert not at.error and not probability_bars(at)


def test_a_drawing_is_preprocessed_and_classified(predict_page, trained_run, monkeypatch):
    at = predict_page
    draw(monkeypatch, drawing())
    at.run()
    assert not at.exception and not at.error
    text = page_text(at)
    assert "Grayscale" in text and "Centred on 28×28" in text and "The network thinks:" in text
    assert "**What the network sees** · 28×28" in text
    bars = probability_bars(at)
    assert len(bars) == 1 and len(bars[0]["y"]) == 5 and set(bars[0]["y"]) <= set(FASHION_CLASSES)
    last = at.session_state["last_drawing"]
    assert last.shape == (28, 28) and last.dtype == np.uint8 and last.max() > 200
    at.slider(key="predict_top_k").set_value(10).run()
    assert len(probability_bars(at)[0]["y"]) == 10


def test_switches_turn_steps_off_and_feature_maps_show_on_demand(predict_page, monkeypatch):
    at = predict_page
    draw(monkeypatch, drawing())
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


# -- the unusual-input warning and what it looks at --------------------------------------------

UNUSUAL = "This picture looks unlike the training images"
UNUSUAL_NOTE_START = "The check lets about {} of every 100 pictures"


def canvas_of(image: np.ndarray) -> np.ndarray:
    """(280, 280, 4) uint8: a (28, 28) light-on-dark picture as the canvas hands it over."""
    big = Image.fromarray(image).resize((280, 280), Image.Resampling.BILINEAR)
    return np.asarray(big.convert("RGBA")).copy()


@pytest.fixture(scope="module")
def scored_canvases(trained_run, app_home, fashion):
    """The most unusual of 60 handwritten digits and the most usual of 60 Fashion-MNIST
    test garments, drawn on the canvas, as the trained run's own check scores them after
    the page's preprocessing: (digit canvas, garment canvas)."""
    from bench.ood import handwritten_digits
    from fmnist_core.explain import ood
    from fmnist_core.data.preprocessing import preprocess
    from fmnist_core.store.runs import RunStore

    store = RunStore(app_home)
    check = ood.OodModel.load(store.run_file(trained_run, ood.FILE_NAME))
    model = store.load_model(trained_run)

    def scored(images):
        canvases = [canvas_of(image) for image in images]
        seen = np.stack([preprocess(c, "fashion_mnist").image for c in canvases])
        return canvases, check.score(model, seen)

    digits, digit_scores = scored(handwritten_digits()[:60])
    garments, garment_scores = scored(fashion.x_test[:60])
    assert digit_scores.max() > check.threshold >= garment_scores.min()
    return digits[int(digit_scores.argmax())], garments[int(garment_scores.argmin())]


def in_order(at) -> list[str]:
    """The page's warnings and subheaders, top to bottom."""
    return [f"{node.type}: {node.value}" for node in at.main
            if getattr(node, "type", None) in ("alert", "warning", "subheader")]


@pytest.fixture
def run_page(trained_run):
    def open_with(run_id: str):
        at = page_test("pages/predict.py")
        at.selectbox(key="predict_run").set_value(run_id).run()
        assert not at.exception
        return at
    return open_with


def test_unusual_drawing_is_warned_above_the_prediction(run_page, trained_run,
                                                        scored_canvases, monkeypatch):
    at = run_page(trained_run)
    draw(monkeypatch, scored_canvases[0])
    at.run()
    assert not at.exception and not at.error
    assert len(at.warning) == 1
    message = at.warning[0].value
    assert message.startswith(UNUSUAL) and "draw one garment filling the frame" in message
    assert message.count(". ") == 0 and message.endswith(".")
    order = in_order(at)
    assert order.index(f"warning: {message}") < next(
        i for i, line in enumerate(order) if "The network thinks:" in line)
    # the caption under it says what the check trades off, with the run's own share
    notes = [c.value for c in at.caption if "of every 100 pictures" in c.value]
    assert len(notes) == 1 and notes[0].startswith(UNUSUAL_NOTE_START.format(99))
    assert "misses some odd pictures" in notes[0] and notes[0].count(". ") == 1
    at.segmented_control(key="predict_source").set_value("Upload").run()
    assert not at.warning


def test_usual_drawing_gets_no_warning(run_page, trained_run, scored_canvases, monkeypatch):
    at = run_page(trained_run)
    draw(monkeypatch, scored_canvases[1])
    at.run()
    assert not at.exception and not at.error and not at.warning
    assert "The network thinks:" in page_text(at)
    assert not [c for c in at.caption if "of every 100 pictures" in c.value]


def test_unusual_upload_says_to_photograph_one_garment(run_page, trained_run, scored_canvases):
    at = run_page(trained_run)
    at.segmented_control(key="predict_source").set_value("Upload").run()
    buffer = io.BytesIO()
    Image.fromarray(scored_canvases[0]).convert("L").save(buffer, format="PNG")
    at.file_uploader(key="predict_upload").set_value(("digit.png", buffer.getvalue(),
                                                      "image/png"))
    at.run()
    assert not at.exception and not at.error
    assert len(at.warning) == 1 and "photograph one garment alone" in at.warning[0].value


def test_a_run_without_the_check_shows_no_cue(app_home, trained_run, scored_canvases,
                                             monkeypatch):
    from fmnist_core.nets.model import build_model
    from fmnist_core.store.runs import RunStore
    from fmnist_core.nets.spec import preset

    store = RunStore(app_home)
    spec = preset("quick").replace(epochs=1)
    run_id = store.create_run(spec, "old-owner", status="completed")
    store.save_model(run_id, build_model(spec))  # an older run: a model and nothing beside it
    try:
        at = page_test("pages/predict.py")
        at.selectbox(key="predict_run").set_value(run_id).run()
        draw(monkeypatch, scored_canvases[0])
        at.run()
        assert not at.exception and not at.error and not at.warning
        assert "The network thinks:" in page_text(at)
    finally:
        store.delete_run(run_id, "old-owner")


def test_what_it_looks_at_on_your_drawing(run_page, trained_run, monkeypatch):
    at = run_page(trained_run)
    draw(monkeypatch, drawing())
    at.run()
    assert not [t for t in chart_titles(at) if "Grad-CAM" in t]
    at.toggle(key="predict_looks").set_value(True).run()
    assert not at.exception and not at.error
    titles = chart_titles(at)
    assert any(t.startswith("Grad-CAM at conv1 · ") for t in titles)
    assert any(t.startswith("Occlusion · ") for t in titles)
    at.segmented_control(key="predict_cam_method").set_value("HiResCAM").run()
    at.selectbox(key="predict_explain").set_value(1).run()
    assert "HiResCAM at conv1 · Trouser" in chart_titles(at)


def test_a_picture_is_read_once_however_often_the_page_reruns(monkeypatch):
    import fmnist_core.data.preprocessing as preprocessing_module
    from ui import resources

    calls = []
    real = preprocessing_module.preprocess

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(preprocessing_module, "preprocess", counted)
    resources.preprocessed.clear()  # another test may have read the same picture
    damaged = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3  # refused: kept as refused too
    for data in (png_bytes(), damaged):
        calls.clear()
        answers = [resources.preprocessed(data, "fashion_mnist", "auto", True, True, True)
                   for _ in range(3)]
        assert len(calls) == 1
        assert (answers[0][0] is None) == (data is damaged) and answers[0][1] != ""
