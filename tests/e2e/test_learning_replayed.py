"""Learning replayed in Chromium: a shared link fills Train's form without starting anything,
the class × epoch view grows while the run trains, and Inspect's epoch slider replays the
run (its answer and feature maps after epoch 1, then after the last).
"""

import re

from browsertools import charts_drawn, shot, watch_while_training
from test_browser import no_exception, settle

# enough small batches that the run lasts several of the page's 1 s refreshes on a fast host
EPOCHS = 12
BATCH_SIZE = 32
CLASS_EPOCHS = """() => {
  const plot = [...document.querySelectorAll('.js-plotly-plot')].find(p => {
    const title = p.layout && p.layout.title;
    return String((title && title.text) || title || '')
      .includes('Each class, epoch by epoch');  // Streamlit bolds titles
  });
  return plot ? plot.data[0].x.length : 0;
}"""


def stored_run(studio_home, before: set) -> str:
    """The one run stored since `before` (the run ids there were)."""
    from fmnist_core.store.runs import RunStore

    runs = [run["id"] for run in RunStore(studio_home, recover=False).list_runs()
            if run["id"] not in before]
    assert len(runs) == 1, runs
    return runs[0]


def test_a_shared_link_trains_and_inspect_replays_its_epochs(studio, page, studio_home):
    from fmnist_core.store.runs import RunStore

    before = {run["id"] for run in RunStore(studio_home, recover=False).list_runs()}
    page.goto(f"{studio}/train?preset=quick&epochs={EPOCHS}&filters=8&batch_size={BATCH_SIZE}")
    settle(page, "Start training")
    page.get_by_text("Conv 8 3×3").first.wait_for(timeout=60_000)  # the link filled the form
    page.get_by_text(f"All {EPOCHS} epochs").first.wait_for(timeout=60_000)
    assert page.get_by_text(re.compile(r"Epoch \d+/")).count() == 0  # nothing started
    shot(page, "replay-link-filled")

    page.get_by_role("button", name="Start training").click()
    columns = watch_while_training(page, CLASS_EPOCHS, "Download the model (.keras)")
    settle(page)
    charts_drawn(page)
    shown = page.evaluate(CLASS_EPOCHS)
    if not columns or columns[-1] != shown:
        columns.append(shown)
    assert columns[-1] == EPOCHS and len(columns) >= 2, f"the view grew through {columns}"
    shot(page, "replay-class-epochs")
    no_exception(page)

    run_id = stored_run(studio_home, before)
    page.goto(f"{studio}/inspect?run={run_id}")
    settle(page, "Inspect")
    charts_drawn(page)
    page.get_by_text(f"after epoch {EPOCHS}").first.wait_for(timeout=60_000)  # the slider
    answer = page.get_by_text(re.compile(r"the network (after epoch \d+ )?says"))
    assert "after epoch" not in answer.first.inner_text()  # the saved model: the last epoch
    thumb = page.locator('[data-testid="stSlider"]').filter(
        has_text="Epoch").get_by_role("slider")
    thumb.focus()
    thumb.press("Home")  # the weights before training, then one step on: epoch 1
    page.get_by_text(re.compile(r"the network before training says")).first.wait_for(
        timeout=60_000)
    settle(page)
    thumb.press("ArrowRight")
    page.get_by_text(re.compile(r"the network after epoch 1 says")).first.wait_for(
        timeout=60_000)
    settle(page)
    charts_drawn(page)
    no_exception(page)
    shot(page, "replay-inspect-epoch-1")
    thumb.press("End")
    page.get_by_text(re.compile(r"the network says")).first.wait_for(timeout=60_000)
    settle(page)
    no_exception(page)
