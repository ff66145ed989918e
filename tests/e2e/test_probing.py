"""Probing a trained network in Chromium: the Invariance view's shift slider moves the answer,
the sweep compares two runs, Grad-CAM sits beside the occlusion map, and a handwritten digit
uploaded to Predict is warned about.

Uses the session's studio and its `finished_run` (a 1-epoch run trained into its store), which
each test opens by name, so none depends on another test's runs.
"""

import io
import time

import numpy as np
from PIL import Image

from browsertools import charts_drawn, shot
from test_browser import no_exception, settle

TOP_THREE = """() => {
  const bars = [...document.querySelectorAll('.js-plotly-plot')]
    .map(p => p.data && p.data[0]).filter(t => t && t.type === 'bar' && t.y.length === 3);
  return bars.length === 1 ? bars[0].y.map((y, i) => y + ' ' + bars[0].x[i]).join(', ') : null;
}"""
UNUSUAL = "This picture looks unlike the training images"
DIGITS = 300


def open_inspect(page, studio, run: dict) -> None:
    """Inspect on `run` (the link names it), its feature maps drawn."""
    page.goto(f"{studio}/inspect?run={run['id']}")
    settle(page, "Feature maps")


def slider(page, label: str):
    """(the thumb, the value shown on it) of the slider labelled `label`."""
    box = page.locator('[data-testid="stSlider"]').filter(has_text=label)
    return box.get_by_role("slider"), box.locator('[data-testid="stSliderThumbValue"]')


def test_the_shift_slider_moves_the_answer_and_the_sweep_compares_two_runs(
        studio, page, studio_home, finished_run):
    from fmnist_core.nets.model import build_model
    from fmnist_core.store.runs import RunStore
    from fmnist_core.nets.spec import preset

    store = RunStore(studio_home, recover=False)
    spec = preset("dense").replace(epochs=1)
    dense = store.create_run(spec, "probe-classmate", status="completed")
    store.save_model(dense, build_model(spec))  # an untrained dense baseline to compare with
    try:
        open_inspect(page, studio, finished_run)
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


def test_grad_cam_beside_the_occlusion_map(studio, page, finished_run):
    open_inspect(page, studio, finished_run)
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


def digit_upload(studio_home, run: dict) -> bytes:
    """A PNG of a handwritten digit, dark on a light page as a photo of one would be: of the
    first DIGITS handwritten digits, the one that `run`'s check finds the most unusual after
    the page's preprocessing."""
    from bench.ood import handwritten_digits
    from fmnist_core.explain import ood
    from fmnist_core.data.preprocessing import preprocess
    from fmnist_core.store.runs import RunStore

    store = RunStore(studio_home, recover=False)  # never recover the server's own runs
    pictures = []
    for digit in handwritten_digits()[:DIGITS]:
        buffer = io.BytesIO()
        Image.fromarray(255 - digit).resize((168, 168), Image.Resampling.BICUBIC).save(
            buffer, format="PNG")
        pictures.append(buffer.getvalue())
    seen = np.stack([preprocess(p, "fashion_mnist").image for p in pictures])
    check = ood.OodModel.load(store.run_file(run["id"], ood.FILE_NAME))
    margins = check.score(store.load_model(run["id"]), seen) - check.threshold
    assert margins.max() > 0, "no digit is unusual to the run"
    return pictures[int(margins.argmax())]


def test_a_handwritten_digit_upload_is_warned_about(studio, page, studio_home, tmp_path,
                                                     finished_run):
    png = tmp_path / "digit.png"
    png.write_bytes(digit_upload(studio_home, finished_run))
    page.goto(studio + "/predict")
    settle(page, "Draw")
    model = page.get_by_role("combobox", name="Model", exact=True)
    if not model.input_value().startswith(finished_run["id"][:6]):  # not the one it opens on
        model.click()
        page.get_by_role("option", name=finished_run["id"][:6]).first.click()
        settle(page)
    assert model.input_value().startswith(finished_run["id"][:6])
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
