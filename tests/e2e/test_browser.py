"""The studio in Debian's Chromium: every page, a live training, draw, upload (Stop and two
students at once: test_sessions.py).

Tests share one server; each that needs a trained model gets one (`finished_run`), so any
of them passes alone.
"""

import time

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from bench.common import wait_rendered
from browsertools import (TRAINING_MS, charts_drawn, shot, training_shown,
                          watch_while_training)

PAGES = {"data": "/", "train": "/train", "inspect": "/inspect", "predict": "/predict",
         "runs": "/runs"}
CURVE_POINTS = """() => {
  const plots = document.querySelectorAll('.js-plotly-plot');
  if (!plots.length || !plots[plots.length - 1].data) return null;
  return plots[plots.length - 1].data.map(t => (t.x || []).length).join(',');
}"""


CHART_TITLED = """(title) => [...document.querySelectorAll('.js-plotly-plot')]
  .some(p => p.layout && p.layout.title
             && (p.layout.title.text || '').replace(/<[^>]+>/g, '') === title)"""
CURVE_OF = """(run) => {
  for (const p of document.querySelectorAll('.js-plotly-plot'))
    for (const t of (p.data || []))
      if ((t.name || '').startsWith(run) && t.type === 'scatter')
        return {name: t.name, x: Array.from(t.x), y: Array.from(t.y)};
  return null;
}"""


def settle(page, text=None, timeout=120_000):
    """Waits for the app to finish its run (and for `text`, if given); fails on an
    exception shown on the page."""
    wait_rendered(page, text, timeout)


def no_exception(page):
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "Traceback" not in page.content()


def stop_button(page):
    """The page's Stop button (not Streamlit's own "Stop" in the running-script widget)."""
    return page.locator('[data-testid="stButton"]').get_by_role("button", name="Stop",
                                                                 exact=True)


def press_stop(page, timeout_s: float = 120, ended=None):
    """Clicks Stop until the page says it is stopping: the live view redraws every second,
    and a click that lands during a redraw is lost. `ended`: a check that the run has ended,
    for a page that cannot say so (the run store's database away)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        button = stop_button(page)
        if page.get_by_text("Stopped by you").count() or (ended is not None and ended()) or (
                button.count() and _disabled(button.first)):
            return
        if button.count():
            try:
                button.first.click(timeout=3000)
            except PlaywrightTimeout:
                pass  # redrawn or already disabled between the check and the click
        page.wait_for_timeout(1000)  # the poll's pace, not a wait for something to happen
    raise AssertionError("Stop was never accepted")


def _disabled(button) -> bool:
    """Whether `button` is disabled; False when it went away meanwhile (the run ended and the
    page is redrawing to show the result)."""
    try:
        return button.is_disabled(timeout=2000)
    except PlaywrightTimeout:
        return False


def set_epochs(page, epochs):
    """Types the epochs and waits until the preview counts them (the rerun has run)."""
    box = page.get_by_label("Epochs", exact=True).first
    box.fill(str(epochs))
    box.press("Enter")
    total = f"All {epochs} epochs" if epochs > 1 else "The whole run"
    page.get_by_text(total).first.wait_for(timeout=60_000)
    settle(page)


def start_training(page, studio, epochs):
    """Opens Train in `page`, sets the epochs of the default spec and presses Start."""
    page.goto(studio + "/train")
    settle(page, "Start training")
    set_epochs(page, epochs)
    page.get_by_role("button", name="Start training").click()


def test_a_direct_link_on_a_fresh_server_goes_through_the_router(studio, page):
    # the very first request of this server: /runs, not /
    page.goto(studio + "/runs")
    # as long as any first wait here: this machine has stalled fresh servers for 30 s and more
    page.get_by_role("heading", name="Runs").first.wait_for(timeout=120_000)
    settle(page)
    page.get_by_text("Device:").first.wait_for()  # the shared sidebar is there
    assert page.get_by_role("link", name="Predict").count() == 1
    no_exception(page)


def test_every_page_opens_without_an_exception(studio, page):
    for name, path in PAGES.items():
        page.goto(studio + path)
        page.get_by_role("heading", name=name.capitalize()).first.wait_for(timeout=60_000)
        settle(page)
        charts_drawn(page)
        no_exception(page)
        shot(page, f"page-{name}-empty")


def test_convolution_by_hand_lab(studio, page):
    page.goto(studio + "/")
    settle(page, "Convolution by hand")
    page.get_by_text("Convolution by hand", exact=True).first.click()
    page.get_by_text("Convolved · 26×26").first.wait_for()
    settle(page)
    assert page.get_by_text("Max-pooled · 13×13").count() >= 1
    no_exception(page)
    shot(page, "data-convolution-lab")


def test_train_shows_live_curves_that_change_while_training(studio, page):
    start_training(page, studio, 8)  # long enough for several redraws on a fast machine
    training_shown(page, 8, TRAINING_MS)
    seen = watch_while_training(page, CURVE_POINTS, "Test accuracy", every_ms=400)
    assert len(seen) >= 3, f"the curves changed only {len(seen) - 1} times: {seen}"
    page.get_by_text("Download the model (.keras)").wait_for(timeout=TRAINING_MS)
    settle(page)
    page.get_by_text("Your latest run").wait_for(timeout=60_000)  # the sidebar caught up
    shot(page, "train-finished")
    no_exception(page)
    assert page.get_by_text("Test accuracy").count() == 1


def _draw_boot(page):
    canvas = page.locator("canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x, y = box["x"], box["y"]
    page.mouse.move(x + 90, y + 50)
    page.mouse.down()
    for px, py in [(140, 50), (140, 170), (240, 200), (240, 240), (60, 240), (60, 170),
                   (90, 150), (90, 50)]:
        page.mouse.move(x + px, y + py, steps=10)
    page.mouse.up()


def test_draw_with_the_mouse_and_get_a_prediction(studio, page, finished_run):
    page.goto(studio + "/predict")
    settle(page, "Draw")
    page.locator("canvas").first.wait_for()
    _draw_boot(page)
    page.get_by_text("The network thinks").first.wait_for(timeout=60_000)
    settle(page)
    no_exception(page)
    assert page.get_by_text("What the network sees").count() >= 1
    shot(page, "predict-drawing")


def test_upload_a_png_and_get_a_prediction(studio, page, fashion, tmp_path, finished_run):
    trouser = fashion.x_test[np.flatnonzero(fashion.y_test == 1)[0]]
    png = tmp_path / "trouser.png"
    Image.fromarray(255 - trouser).resize((168, 168)).save(png)
    page.goto(studio + "/predict")
    settle(page, "Draw")
    page.get_by_text("Upload", exact=True).first.click()
    settle(page)
    page.locator('input[type="file"]').set_input_files(str(png))
    page.get_by_text("The network thinks").first.wait_for(timeout=60_000)
    settle(page)
    no_exception(page)
    shot(page, "predict-upload")

    junk = tmp_path / "junk.png"
    junk.write_bytes(b"definitely not a picture")
    page.locator('input[type="file"]').set_input_files(str(junk))
    page.get_by_text("is not a PNG, JPEG").first.wait_for(timeout=30_000)
    no_exception(page)


def test_inspect_and_runs_show_the_trained_model(studio, page, finished_run):
    from fmnist_core.nets.anatomy import describe

    run_id, spec = finished_run["id"][:6], finished_run["spec"]
    page.goto(f"{studio}/inspect?run={finished_run['id']}")
    page.get_by_role("heading", name="Inspect").first.wait_for()
    settle(page, "Feature maps")
    # the run picked by the link, named by its network, and its first layer's feature maps
    picked = page.get_by_role("combobox", name="Run", exact=True).input_value()
    assert picked.startswith(f"{run_id} · {spec.summary()} · "), picked
    conv = next(row for row in describe(spec)["layers"] if row["type"] == "Conv2D")
    page.wait_for_function(CHART_TITLED, arg=f"{conv['name']} · "
                           + "×".join(map(str, conv["output_shape"])), timeout=60_000)
    charts_drawn(page)
    no_exception(page)
    shot(page, "inspect-feature-maps")

    page.goto(studio + "/runs")
    page.get_by_role("heading", name="Runs").first.wait_for()
    settle(page, "Compare runs")
    chooser = page.locator('[data-testid="stMultiSelect"]').first
    if chooser.get_by_text(run_id).count() == 0:  # not the run the page opens on
        chooser.locator("input").fill(run_id)
        chooser.locator("input").press("Enter")
        page.keyboard.press("Escape")
    settle(page, f"{run_id} ·")
    # its validation curve, named by its network: one epoch, at the accuracy the run stored
    curve = page.wait_for_function(CURVE_OF, arg=run_id, timeout=60_000).json_value()
    assert curve["name"] == f"{run_id} · {spec.brief()}" and curve["x"] == [1]
    assert curve["y"] == [pytest.approx(finished_run["best_val_accuracy"], abs=1e-6)]
    charts_drawn(page)
    no_exception(page)
    shot(page, "runs")
