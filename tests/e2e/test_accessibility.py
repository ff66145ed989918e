"""Every page in the states a student reaches, checked with axe-core (WCAG 2.1 AA: no serious or
critical violation), with the keyboard, and on a projector's 1024×768 (nothing cut, nothing
running off to the side), with a screenshot of each at 1400×1000 and 1024×768.

The module has its own server and run store, so its runs are its own whatever other browser
tests did before; the empty states are looked at on a server of their own.
"""

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.common import CHROMIUM, studio_server
from browsertools import TRAINING_MS, charts_drawn, shot, tables_drawn, training_shown
from test_browser import no_exception, settle

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PASSCODE = "quiet-otter-7"
SIZES = ((1400, 1000), (1024, 768))
# Text cut with an ellipsis, and anything wider than the page (a table or chart that the
# page would have to scroll sideways to show)
CUT = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  const cut = [...document.querySelectorAll('[data-testid="stMain"] *, [data-testid="stSidebar"] *')]
    .filter(el => getComputedStyle(el).textOverflow === 'ellipsis'
                  && el.scrollWidth > el.clientWidth + 1 && el.innerText.trim())
    .map(el => 'cut: ' + el.innerText.trim().slice(0, 60));
  const wide = [...document.querySelectorAll('[data-testid="stDataFrame"] .dvn-scroller')]
    .filter(el => el.scrollWidth > el.clientWidth + 1)
    .map(el => 'table wider than the page by ' + (el.scrollWidth - el.clientWidth) + ' px');
  if (main && main.scrollWidth > main.clientWidth + 1) wide.push('the page scrolls sideways');
  return cut.concat(wide);
}"""
AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 3)
      .map(n => n.target.join(' ') + ' ' + (n.failureSummary || '').split('\\n')[1]).join(' | '));
}"""
# the element that has the keyboard's focus, through shadow roots
FOCUSED = """() => { let el = document.activeElement;
  while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
  return (el.getAttribute('aria-label') || el.innerText || '').trim().slice(0, 60); }"""
# Start is reached after the navigation (seven pages), the sidebar's name field and the
# form's fields: each page added to the navigation adds one Tab
MOST_TABS_TO_START = 32
WHOLE_PAGE_PX = 2600


@contextlib.contextmanager
def a11y_server(home: Path):
    """A server on its own run store at `home`; axe-core from `make test`."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make browser)")
    assert AXE.is_file(), f"{AXE} is missing: `make test` fetches it with npm (make axe)"
    with studio_server(home, STUDIO_TRAIN_LIMIT="2000", STUDIO_TEST_LIMIT="500",
                       STUDIO_TRAINING_WORKER="process",
                       STUDIO_TEACHER_PASSCODE=PASSCODE) as (url, _):
        yield url


@pytest.fixture(scope="module")
def studio_a11y(tmp_path_factory):
    """A server of this module's own, where its tests train."""
    with a11y_server(tmp_path_factory.mktemp("a11y-home")) as url:
        yield url


@pytest.fixture
def empty_studio(tmp_path):
    """A server of one test's own, on which nothing has been trained."""
    with a11y_server(tmp_path / "home") as url:
        yield url


@pytest.fixture
def page(browser):
    """One student's page; `check` looks at it at each size in turn."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


def check(page, name: str) -> None:
    """axe on the page as it is, at 1400×1000 and at 1024×768, a screenshot at each, and at
    1024 pixels nothing cut."""
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        settle(page)
        charts_drawn(page)
        tables_drawn(page)
        page.evaluate(AXE.read_text())
        violations = page.evaluate(AXE_RUN)
        shot(page, f"a11y-{name}-{width}")
        assert violations == [], f"{name} at {width} px: {violations}"
        if width <= 1024:
            assert page.evaluate(CUT) == [], f"{name} at {width} px"
        no_exception(page)
    # the whole page at the projector's width, for a person to look at
    page.set_viewport_size({"width": 1024, "height": WHOLE_PAGE_PX})
    charts_drawn(page)
    shot(page, f"a11y-{name}-1024-whole")
    page.set_viewport_size({"width": 1400, "height": 1000})


def open_page(page, url: str, text: str) -> None:
    page.goto(url)
    settle(page, text)


def test_every_page_when_nothing_is_trained_yet(empty_studio, page):
    for path, text, name in (("/", "Samples per class", "data"),
                             ("/train", "Start training", "train"),
                             ("/inspect", "No finished run yet", "inspect"),
                             ("/predict", "There is no trained model yet", "predict"),
                             ("/runs", "No run yet", "runs"),
                             ("/teacher", "Passcode", "teacher-locked")):
        open_page(page, empty_studio + path, text)
        check(page, f"{name}-empty")


def test_the_keyboard_reaches_start_in_a_few_tabs(studio_a11y, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        open_page(page, studio_a11y + "/train", "Start training")
        for tabs in range(1, 100):
            page.keyboard.press("Tab")
            if page.evaluate(FOCUSED) == "Start training":
                break
        assert tabs <= MOST_TABS_TO_START, f"{tabs} Tabs to Start"
    finally:
        context.close()


def test_the_canvas_is_named_and_its_toolbar_takes_no_tab(studio_a11y, page):
    open_page(page, studio_a11y + "/train?preset=dense&epochs=1", "Start training")
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("Test accuracy").first.wait_for(timeout=TRAINING_MS)
    open_page(page, studio_a11y + "/predict", "Pen width")
    canvas = page.locator("canvas.upper-canvas")  # inside the component's shadow root
    canvas.wait_for()
    page.locator('canvas[aria-label^="Drawing canvas"]').wait_for()  # pierces shadow roots
    assert "choose Upload" in canvas.get_attribute("aria-label")
    focused = []
    for _ in range(40):
        page.keyboard.press("Tab")
        focused.append(page.evaluate(FOCUSED))
        if focused[-1].startswith("keyboard_arrow") or "Preprocessing switches" in focused[-1]:
            break
    assert "Clear the canvas" in focused
    toolbar = {"Update the app with this drawing", "Edit", "Reset canvas & history", "Undo",
               "Redo"}
    assert not toolbar & set(focused), focused


def test_training_finished_inspected_and_predicted(studio_a11y, page, fashion):
    # training: on the projector the curves are in sight without scrolling
    page.set_viewport_size({"width": 1024, "height": 768})
    open_page(page, studio_a11y + "/train?preset=quick&epochs=3&filters=8", "Conv 8 3×3")
    page.get_by_role("button", name="Start training").click()
    training_shown(page, 3, TRAINING_MS)
    # read in one step: the live view redraws its chart every second
    top = page.wait_for_function("""() => {
        const plot = document.querySelector('.js-plotly-plot');
        return plot ? plot.getBoundingClientRect().top + 0.001 : null; }""",
                                 timeout=TRAINING_MS).json_value()
    assert top < 768 - 150, f"the live curves start {top:.0f} px down a 768-pixel screen"
    shot(page, "a11y-train-training-curves-1024")
    check(page, "train-training")
    page.get_by_text("Test accuracy").first.wait_for(timeout=TRAINING_MS)
    check(page, "train-finished")

    open_page(page, studio_a11y + "/inspect", "Feature maps")
    for view in ("Feature maps", "Filters", "Confusion matrix", "Per-class accuracy",
                 "What it looks at", "Invariance"):
        page.get_by_text(view, exact=True).first.click()
        settle(page)
        check(page, "inspect-" + re.sub(r"\W+", "-", view.lower()))

    data = io.BytesIO()
    Image.fromarray(255 - np.asarray(fashion.x_test[0])).resize((140, 140)).save(data, "PNG")
    open_page(page, studio_a11y + "/predict", "Draw")
    page.get_by_text("Upload", exact=True).first.click()
    settle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        files=[{"name": "boot.png", "mimeType": "image/png", "buffer": data.getvalue()}])
    settle(page, "The network thinks:")
    check(page, "predict-upload")

    open_page(page, studio_a11y + "/runs", "Download, inspect, delete")
    check(page, "runs")

    open_page(page, studio_a11y + "/teacher", "Passcode")
    page.get_by_role("textbox", name="Passcode").fill(PASSCODE)
    page.get_by_role("button", name="Unlock").click()
    settle(page, "Sign out")
    for view in ("Class", "Line", "Leaderboard"):
        page.get_by_text(view, exact=True).first.click()
        settle(page)
        check(page, f"teacher-{view.lower()}")
