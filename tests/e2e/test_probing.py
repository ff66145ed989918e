"""Probing a trained network in Chromium: the Invariance view's shift slider moves the answer,
the sweep compares two runs, Grad-CAM sits beside the occlusion map, and a handwritten digit
uploaded to Predict is warned about.

Uses the session's studio; when no run has finished there yet, one 1-epoch run is trained
through the Train page first.
"""

import io
import time

import numpy as np
from PIL import Image

from browsertools import TRAINING_MS, charts_drawn, shot
from test_browser import no_exception, settle, start_training

TOP_THREE = """() => {
  const bars = [...document.querySelectorAll('.js-plotly-plot')]
    .map(p => p.data && p.data[0]).filter(t => t && t.type === 'bar' && t.y.length === 3);
  return bars.length === 1 ? bars[0].y.map((y, i) => y + ' ' + bars[0].x[i]).join(', ') : null;
}"""
UNUSUAL = "This picture looks unlike the training images"
DIGITS = 300


def finished_runs(studio_home) -> list[dict]:
    from fmnist_core.explain import ood
    from fmnist_core.store.runs import RunStore

    store = RunStore(studio_home, recover=False)  # never recover the server's own runs
    return [run for run in store.list_runs()
            if run["model_path"] and run["status"] in ("completed", "stopped")
            and store.run_file(run["id"], ood.FILE_NAME).is_file()]


def a_trained_run(page, studio, studio_home) -> list[dict]:
    """The finished runs with an unusual-input check; trains one first if there is none."""
    if not finished_runs(studio_home):
        start_training(page, studio, 1)
        page.get_by_text("Download the model (.keras)").first.wait_for(timeout=TRAINING_MS)
        settle(page)
    runs = finished_runs(studio_home)
    assert runs, "the training finished without a stored model and check"
    return runs


def slider(page, label: str):
    """(the thumb, the value shown on it) of the slider labelled `label`."""
    box = page.locator('[data-testid="stSlider"]').filter(has_text=label)
    return box.get_by_role("slider"), box.locator('[data-testid="stSliderThumbValue"]')


def test_the_shift_slider_moves_the_answer_and_the_sweep_compares_two_runs(
        studio, page, studio_home):
    from fmnist_core.nets.model import build_model
    from fmnist_core.store.runs import RunStore
    from fmnist_core.nets.spec import preset

    a_trained_run(page, studio, studio_home)
    store = RunStore(studio_home, recover=False)
    spec = preset("dense").replace(epochs=1)
    dense = store.create_run(spec, "probe-classmate", status="completed")
    store.save_model(dense, build_model(spec))  # an untrained dense baseline to compare with
    try:
        page.goto(studio + "/inspect")
        settle(page, "Feature maps")
        page.get_by_text("Invariance", exact=True).first.click()
        settle(page, "Shift right (pixels)")
        page.wait_for_function(f"({TOP_THREE})() !== null", timeout=60_000)
        before = page.evaluate(TOP_THREE)
        thumb, shown = slider(page, "Shift right (pixels)")
        thumb.scroll_into_view_if_needed()
        box = thumb.bounding_box()
        track = page.locator('[data-testid="stSlider"]').filter(
            has_text="Shift right (pixels)").bounding_box()
        released = time.perf_counter()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(track["x"] + track["width"] - 2, box["y"] + box["height"] / 2, steps=8)
        page.mouse.up()
        page.wait_for_function(f"(before) => ({TOP_THREE})() !== before", arg=before,
                               timeout=60_000)
        print(f"shift dragged: answer redrawn after {time.perf_counter() - released:.2f} s")
        settle(page)
        assert shown.inner_text() == "8"
        assert page.evaluate(TOP_THREE) != before
        page.get_by_text("Changed, the network says").first.wait_for()
        no_exception(page)

        rotate, angle = slider(page, "Rotate (degrees, anticlockwise)")
        rotate.focus()
        page.keyboard.press("End")  # +45°
        page.wait_for_function(f"(before) => ({TOP_THREE})() !== before",
                               arg=page.evaluate(TOP_THREE), timeout=60_000)
        settle(page)
        assert angle.inner_text() == "45"
        page.get_by_text("Compare with another run (dashed)").first.wait_for()
        page.locator('[data-testid="stSelectbox"]').filter(
            has_text="Compare with another run").click()
        page.get_by_role("option", name=dense[:6]).first.click()
        page.wait_for_function(
            "(id) => [...document.querySelectorAll('.js-plotly-plot')].some(p => p.data && "
            "p.data.some(t => (t.name || '').startsWith(id) && t.line.dash === 'dash'))",
            arg=dense[:6], timeout=60_000)
        settle(page)
        charts_drawn(page)
        no_exception(page)
        shot(page, "inspect-invariance")
    finally:
        store.delete_run(dense, "probe-classmate")


def test_grad_cam_beside_the_occlusion_map(studio, page, studio_home):
    a_trained_run(page, studio, studio_home)
    page.goto(studio + "/inspect")
    settle(page, "Feature maps")
    page.get_by_text("What it looks at", exact=True).first.click()
    settle(page, "Grad-CAM layer")
    page.get_by_text("Occlusion: a black 4×4 square").first.wait_for()
    assert page.get_by_text("Grad-CAM (Selvaraju et al., 2017)").count() + page.get_by_text(
        "The map is empty").count() == 1
    charts_drawn(page)
    shot(page, "inspect-grad-cam-standard")
    page.get_by_text("HiResCAM", exact=True).first.click()
    page.get_by_text("HiResCAM (Draelos and Carin, 2020) differs").first.wait_for(timeout=60_000)
    settle(page)
    charts_drawn(page)
    no_exception(page)
    shot(page, "inspect-grad-cam")


def digit_upload(studio_home) -> bytes:
    """A PNG of a handwritten digit, dark on a light page as a photo of one would be: of the
    first DIGITS handwritten digits, the one that every finished run's check finds the
    most unusual after the page's preprocessing (the session's other tests leave runs of
    their own, some trained well enough to find most digits merely odd clothes)."""
    from bench.ood import handwritten_digits
    from fmnist_core.explain import ood
    from fmnist_core.data.preprocessing import preprocess
    from fmnist_core.store.runs import RunStore

    store = RunStore(studio_home, recover=False)
    pictures = []
    for digit in handwritten_digits()[:DIGITS]:
        buffer = io.BytesIO()
        Image.fromarray(255 - digit).resize((168, 168), Image.Resampling.BICUBIC).save(
            buffer, format="PNG")
        pictures.append(buffer.getvalue())
    seen = np.stack([preprocess(p, "fashion_mnist").image for p in pictures])
    margins = []
    for run in finished_runs(studio_home):
        check = ood.OodModel.load(store.run_file(run["id"], ood.FILE_NAME))
        margins.append(check.score(store.load_model(run["id"]), seen) - check.threshold)
    worst = np.min(margins, axis=0)
    assert worst.max() > 0, "no digit is unusual to every finished run"
    return pictures[int(worst.argmax())]


def test_a_handwritten_digit_upload_is_warned_about(studio, page, studio_home, tmp_path):
    a_trained_run(page, studio, studio_home)
    png = tmp_path / "digit.png"
    png.write_bytes(digit_upload(studio_home))
    page.goto(studio + "/predict")
    settle(page, "Draw")
    page.get_by_text("Upload", exact=True).first.click()
    settle(page)
    page.locator('input[type="file"]').set_input_files(str(png))
    page.get_by_text(UNUSUAL).first.wait_for(timeout=60_000)
    page.get_by_text("The network thinks").first.wait_for()
    settle(page)
    warning = page.locator('[data-testid="stAlert"]').filter(has_text=UNUSUAL).first
    answer = page.get_by_text("The network thinks").first
    assert warning.bounding_box()["y"] < answer.bounding_box()["y"]  # above the answer
    page.get_by_text("Show what it looks at").first.click()
    settle(page, "Grad-CAM layer")
    charts_drawn(page)
    no_exception(page)
    shot(page, "predict-unusual-digit")
