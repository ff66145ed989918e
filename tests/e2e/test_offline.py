"""A classroom without internet: no request leaves the server's loopback address, and no emoji
needs a font the laptop may lack. Also what such a class sees first: the sidebar finds the
device without a click, the convolution lab and the run table (screenshots to look at).

The file starts its own server on a fresh run store, and the device test one more of its
own, so the device probe is still running when its first page renders.
"""

import re
from urllib.parse import urlparse

import pytest

from bench.common import studio_server, wait_rendered
from browsertools import charts_drawn, shot
from ui.sidebar import DEVICE_POLL_SECONDS

PAGES = ("/", "/train", "/inspect", "/predict", "/runs")
# emoji and pictographs: ⭐ and friends render as an empty box without an emoji font
EMOJI = re.compile("[\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff]")
LAB_SCALE = """() => {
  const gd = [...document.querySelectorAll('.js-plotly-plot')]
    .find(p => p.data && p.data.length === 3 && p.data.every(t => t.type === 'heatmap'));
  if (!gd) return null;
  const L = gd._fullLayout;
  return [L.xaxis._length / 28, L.xaxis2._length / 26, L.xaxis3._length / 13,
          L.yaxis._length / 28];
}"""
OVERLAY = """() => {
  const gd = [...document.querySelectorAll('.js-plotly-plot')]
    .find(p => p.data && p.data.length >= 3 && p.data.every(t => t.type === 'scatter'));
  return gd && {colours: gd._fullData.map(t => t.line.color),
                range: gd._fullLayout.yaxis.range, ticks: gd.layout.yaxis.ticktext};
}"""
# when the page sent each of its websocket messages (a rerun request for each poll)
COUNT_SENT = """
window.sentTimes = [];
const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (...args) {
  window.sentTimes.push(performance.now());
  return send.apply(this, args);
};
"""
SPECS = (("quick", {}, 0.905), ("seed-cnn", {}, 0.912), ("quick", {"kernel_size": 5}, 0.874),
         ("dense", {}, 0.861))


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    """A fresh studio with four finished runs of a classmate (untrained models, made-up
    curves) and one cancelled run; yields (base URL, run ids)."""
    from fmnist_core.nets.model import build_model
    from fmnist_core.store.runs import RunStore
    from fmnist_core.nets.spec import preset

    home = tmp_path_factory.mktemp("offline-home")
    store, ids = RunStore(home), []
    for name, changes, best in SPECS:
        spec = preset(name).replace(epochs=3, **changes)
        run = store.create_run(spec, "a-classmate", status="completed")
        for epoch in (1, 2, 3):
            val = best - 0.02 * (3 - epoch)
            store.add_epoch(run, epoch, {"loss": 0.6 - 0.1 * epoch, "accuracy": val + 0.01,
                                         "val_loss": 0.5 - 0.05 * epoch, "val_accuracy": val})
        model = build_model(spec)
        store.update_run(run, test_accuracy=best - 0.004, best_val_accuracy=best,
                         params=model.count_params(), train_seconds=40.0 * len(ids) + 12,
                         device="CPU", epochs_run=3)
        store.save_model(run, model)
        ids.append(run)
    store.create_run(preset("quick"), "a-classmate", status="cancelled")
    with studio_server(home, STUDIO_TRAIN_LIMIT="3000", STUDIO_TEST_LIMIT="500") as (url, _):
        yield url, ids


@pytest.fixture
def requests(page):
    """Every URL the page asks for (HTTP and websockets); the test ends by checking them."""
    seen: list[str] = []
    page.context.on("request", lambda request: seen.append(request.url))
    page.on("websocket", lambda ws: seen.append(ws.url))
    yield seen
    outside = [url for url in seen if urlparse(url).scheme not in ("data", "blob", "about")
               and urlparse(url).hostname != "127.0.0.1"]
    assert not outside, f"requests leaving the server: {outside}"


def visible_text(page) -> str:
    return page.evaluate("() => document.body.innerText")


def sidebar_text(page) -> str:
    return page.locator('[data-testid="stSidebar"]').inner_text()


def open_page(page, url: str, text: str | None = None) -> None:
    """Goes to `url` and waits for the router's page (the shared sidebar) and `text`."""
    page.goto(url)
    page.locator('[data-testid="stSidebar"]').get_by_text("Device:").wait_for(timeout=120_000)
    wait_rendered(page, text)


def test_the_device_caption_updates_without_a_click(page, requests, tmp_path):
    # a server of its own: the device is found once per server, at its first page
    with studio_server(tmp_path / "home") as (url, _):
        page.add_init_script(COUNT_SENT)
        open_page(page, url)
        assert "Device: detecting…" in sidebar_text(page), "a fresh server is still probing"
        page.locator('[data-testid="stSidebar"]').get_by_text(
            re.compile(r"Device: (CPU|GPU|unavailable)")).wait_for(timeout=120_000)
        assert "detecting" not in sidebar_text(page)
        # while it was detecting, the page asked for a rerun every DEVICE_POLL_SECONDS
        assert page.evaluate("window.sentTimes.length") >= 2
        # once the device is known it stops: the page falls quiet for longer than two polls
        quiet_ms = 2 * DEVICE_POLL_SECONDS * 1000 + 500
        page.wait_for_function(
            "(quiet) => performance.now() - window.sentTimes[window.sentTimes.length - 1] "
            "> quiet", arg=quiet_ms, timeout=60_000)
        assert "Device: detecting…" not in sidebar_text(page)


def test_no_request_leaves_the_server_and_no_emoji_on_any_page(classroom, page, requests):
    url, _ = classroom
    open_page(page, url)
    icon = page.evaluate("() => document.querySelector(\"link[rel~='icon']\").href")
    assert icon.startswith("data:image/svg+xml"), icon
    for path in PAGES:
        open_page(page, url + path)
        # icons, fonts and charts load after the script run
        page.wait_for_load_state("networkidle")
        charts_drawn(page)
        assert not EMOJI.findall(visible_text(page)), (path, EMOJI.findall(visible_text(page)))


def test_convolution_lab_in_the_browser(classroom, page, requests):
    url, _ = classroom
    open_page(page, url, "grayscale pictures")
    page.get_by_role("button", name="Convolution by hand").or_(
        page.get_by_role("radio", name="Convolution by hand")).first.click()
    wait_rendered(page, "Pick “Custom” to edit the weights.")
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Kernel").click()
    page.get_by_role("option", name="Custom").click()
    wait_rendered(page, "Type your own nine weights")
    centre = page.get_by_label("w11", exact=True)
    centre.fill("300")
    centre.press("Enter")
    wait_rendered(page, "A weight goes from -255 to 255, so 300 became 255.")
    page.wait_for_function("() => document.querySelector('input[aria-label=\"w11\"]')"
                           ".value === '255'")
    shot(page, "offline-lab-clipped")

    page.locator('[data-testid="stSelectbox"]').filter(has_text="Kernel").click()
    page.get_by_role("option", name="Box blur").click()
    wait_rendered(page, "every weight is a multiple of 1/9")
    page.wait_for_function("() => document.querySelector('input[aria-label=\"w11\"]')"
                           ".value === '0.111'")
    cells = [page.get_by_label(f"w{r}{c}", exact=True).input_value()
             for r in range(3) for c in range(3)]
    assert cells == ["0.111"] * 9, cells
    assert "A weight goes from" not in visible_text(page)
    scale = page.wait_for_function(LAB_SCALE).json_value()
    assert max(scale) - min(scale) < 0.02 * max(scale), f"pixels per cell {scale}"
    shot(page, "offline-data-lab")

    page.get_by_text("Show the arithmetic of one pixel").click()
    wait_rendered(page, "Multiply patch and kernel")
    outlines = page.wait_for_function(LAB_SCALE.replace(
        "return [L.xaxis", "return (L.shapes || []).length !== 4 ? null : "
        "L.shapes.map(s => s.xref); [L.xaxis")).json_value()
    assert outlines == ["x", "x2", "x2", "x3"], outlines
    shot(page, "offline-lab-explain")


def test_run_table_overlay_and_filters_in_the_browser(classroom, page, requests):
    url, ids = classroom
    open_page(page, url + "/runs", "Download, inspect, delete")
    assert page.get_by_text("Show cancelled runs (1)").count() == 1
    chooser = page.locator('[data-testid="stMultiSelect"]').first
    for run in ids:
        if chooser.get_by_text(run[:6]).count() == 0:
            chooser.locator("input").fill(run[:6])
            chooser.locator("input").press("Enter")
            wait_rendered(page)
    page.keyboard.press("Escape")
    page.get_by_text("Compare their first-layer filters").click()
    wait_rendered(page, "all runs on one colour scale")
    shot(page, "offline-runs")
    overlay = page.wait_for_function(OVERLAY).json_value()
    assert len(set(overlay["colours"])) == 4, overlay
    assert overlay["range"][0] > 0.5 and len(set(overlay["ticks"])) == len(overlay["ticks"])
    assert "No filters for" in visible_text(page), "the dense baseline has none"
    assert not EMOJI.findall(visible_text(page))
